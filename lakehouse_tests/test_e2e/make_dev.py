"""``make dev`` started by a test over a generated landing zone, everything else in a tmp dir, and stopped whatever happens.

The end-to-end package starts one for its GraphQL and browser tests (``conftest.py``).

Example::

    manifest = generate_landing_zone(root / "landing", first_day, days=4, rows_per_day=40)
    with running_make_dev(root, manifest, startup_timeout=180) as dev:
        dev.graphql(RUNS_QUERY, filter={})       # dev.url, dev.port, dev.warehouse, dev.home, dev.env
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.generator import Manifest
from lakehouse.home import prepare_home
from lakehouse.settings import PROJECT_ROOT
from lakehouse_tests.conftest import free_port
from lakehouse_tests.test_e2e.dagster_ui import DagsterUI
from lakehouse_tests.test_e2e.processes import Tree, make_dev_recipe

SHUTDOWN_TIMEOUT = 30  # SIGTERM to the process group, then SIGKILL to what is left


@dataclass
class DagsterDev(DagsterUI):
    """A running ``make dev``, the lakehouse folders it was pointed at, and every process it started."""

    warehouse: Path
    manifest: Manifest
    home: Path
    port: int
    tree: Tree
    env: dict[str, str] = field(default_factory=dict)  # its environment: run a CLI on the same tables and instance

    @property
    def base_url(self) -> str:
        """The UI's address, as a browser opens it."""
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def running_make_dev(root: Path, manifest: Manifest, startup_timeout: float,
                     extra_env: Mapping[str, str] | None = None) -> Iterator[DagsterDev]:
    """``make dev``'s command on a free port over the landing zone ``root/landing`` (generated as ``manifest``).

    Warehouse, checkpoints and ``DAGSTER_HOME`` go under ``root``; the landing sensors are off (the test launches
    what runs) and so is the Spark Connect server (each run starts its own Spark JVM); ``extra_env`` adds or overrides
    variables (e.g. ``LAKEHOUSE_SPARK_CONF``). Yields once the code
    location loaded; on exit, however the test ended, the process group is stopped and every process it
    started is killed.
    """
    home = root / "dagster_home"
    prepare_home(home)  # as scripts/setup.sh prepares data/dagster_home
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LAKEHOUSE_LANDING": str(root / "landing"),
        "LAKEHOUSE_WAREHOUSE": str(root / "warehouse"),
        "LAKEHOUSE_CHECKPOINTS": str(root / "checkpoints"),
        "LAKEHOUSE_LANDING_SENSORS": "off",  # the test launches its own backfills; sensors would materialize every day
        "LAKEHOUSE_DEV_CONNECT": "off",  # embedded Spark per run (and 15002 may be taken)
        "PYTHONUNBUFFERED": "1",  # so the log tail is current when a test fails
        **(extra_env or {}),
    }
    port = free_port()
    log = root / "make_dev.log"
    with log.open("wb") as out:
        # Its own session, as a shell starts a foreground job: Ctrl-C and teardown signal the whole group.
        process = subprocess.Popen(make_dev_recipe(port), cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    dev = DagsterDev(f"http://127.0.0.1:{port}/graphql", log, process, warehouse=root / "warehouse", manifest=manifest,
                     home=home, port=port, tree=Tree(process.pid), env=env)
    try:
        dev.wait_until_loaded(startup_timeout)
        yield dev
    finally:
        dev.tree.update()
        stop_process_group(process)
        dev.tree.kill()  # whatever failed, leave no server or JVM behind


def stop_process_group(process: subprocess.Popen, timeout: float = SHUTDOWN_TIMEOUT) -> None:
    """SIGTERM to the whole process group, SIGKILL to whatever is left after ``timeout`` s (unless it ended)."""
    if process.returncode is not None:  # already stopped (Ctrl-C) and reaped
        return
    _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    # Wait without reaping: the group id stays reserved until the SIGKILL below has been sent.
    while time.monotonic() < deadline and not os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
        time.sleep(0.2)
    _signal_group(process.pid, signal.SIGKILL)  # a hung child or a stray JVM
    process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
