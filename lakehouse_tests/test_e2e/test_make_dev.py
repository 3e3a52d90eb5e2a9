"""``make dev``, then Ctrl-C while a sensor-launched run is running: everything is gone within 10 s.

The command is the recipe of ``make dev`` itself (``make -n`` prints it without running it),
started in a process group of its own as a shell starts a foreground job; Ctrl-C is SIGINT to
that group. The landing sensors are on, as in ``make dev``, so soon after start a run is in its
first step with a Spark JVM: the case that used to outlive Ctrl-C (see :mod:`lakehouse.dev`).
The test follows the processes itself (session, parent chain), independently of the launcher.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.generator import generate_landing_zone
from lakehouse.settings import PROJECT_ROOT
from lakehouse_tests.test_e2e.dagster_ui import RUNS_QUERY, DagsterUI, free_port

pytestmark = pytest.mark.e2e

STARTUP_TIMEOUT, RUN_TIMEOUT, STOP_SECONDS = 180, 180, 10
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


class Tree:
    """Every process seen in the job's sessions or below it, remembered even after it re-parents or moves."""

    def __init__(self, root: int) -> None:
        self.sessions = {root}
        self.seen: dict[tuple[int, str], str] = {}  # (pid, start time) -> command line
        self.update()

    def update(self) -> None:
        table = {pid: stat for pid in _pids() if (stat := _stat(pid))}
        pids = {pid for pid, (_, _, sid, _) in table.items() if sid in self.sessions}
        pids |= {pid for pid, start in self.seen if pid in table and table[pid][3] == start}  # not a reused pid
        grew = True
        while grew:  # descendants, and the sessions they lead (dagster dev runs in one of its own)
            below = {pid for pid, (ppid, _, _, _) in table.items() if ppid in pids} - pids
            grew = bool(below)
            pids |= below
        for pid in pids & table.keys():
            _, state, sid, start = table[pid]
            self.sessions.add(sid)
            if state != "Z":
                self.seen.setdefault((pid, start), _command(pid))

    def alive(self) -> dict[int, str]:
        """The remembered processes still running (same pid *and* start time; zombies do not count)."""
        return {pid: command for (pid, start), command in self.seen.items()
                if (stat := _stat(pid)) and stat[3] == start and stat[1] != "Z"}

    def kill(self) -> None:
        for pid in self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_ctrl_c_stops_make_dev_and_every_process_it_started_within_10_s(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
    generate_landing_zone(tmp_path / "landing", date(2025, 1, 1), days=2, rows_per_day=100, customers=50,
                          products=20, clicks_per_day=50)
    env = {key: value for key, value in os.environ.items() if key != "LAKEHOUSE_LANDING_SENSORS"}  # sensors on
    # Embedded Spark: the case of a run's own JVM; the Spark Connect server's stop is test_dev's (and 15002 may be taken).
    env |= {"LAKEHOUSE_DEV_CONNECT": "off"}
    env |= {"DAGSTER_HOME": str(home), "LAKEHOUSE_LANDING": str(tmp_path / "landing"),
            "LAKEHOUSE_WAREHOUSE": str(tmp_path / "warehouse"), "LAKEHOUSE_CHECKPOINTS": str(tmp_path / "checkpoints"),
            "PYTHONUNBUFFERED": "1"}
    port = free_port()
    log = tmp_path / "make_dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(_make_dev_recipe(port), cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    ui = DagsterUI(f"http://127.0.0.1:{port}/graphql", log, process)
    tree = Tree(process.pid)
    try:
        ui.wait_until_loaded(STARTUP_TIMEOUT)
        run_id = _wait_for_a_sensor_run_with_its_jvm(ui, tree)

        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        signalled = time.monotonic()
        while time.monotonic() - signalled < STOP_SECONDS and (tree.alive() or _port_taken(port)):
            tree.update()
            time.sleep(0.2)
        seconds = time.monotonic() - signalled

        alive = tree.alive()
        assert not alive, f"alive {seconds:.0f} s after Ctrl-C:\n" + "\n".join(
            f"{pid} {command[:160]}" for pid, command in alive.items()) + ui.log_tail()
        assert not _port_taken(port), f"port {port} still taken {seconds:.0f} s after Ctrl-C"
        assert process.wait(timeout=1) == -signal.SIGINT, ui.log_tail()  # exits as interrupted, for make
        with dg.DagsterInstance.from_config(str(home)) as instance:
            left = instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS))
            run = instance.get_run_by_id(run_id)
            status = run.status if run else None
        assert left == [], [(run.run_id, run.status) for run in left]
        assert status in {dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS}
        assert "[dev]" in log.read_text(errors="replace").splitlines()[-1], ui.log_tail()  # the one-line summary
    finally:
        tree.kill()  # whatever failed, leave no server behind
        process.kill()
        process.wait()


def _make_dev_recipe(port: int) -> list[str]:
    """The command ``make dev`` runs for this port (``make -n`` prints it, after setup's, without running either)."""
    printed = subprocess.run(["make", "-n", "--no-print-directory", "dev", "HOST=127.0.0.1", f"PORT={port}"],
                             cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    return shlex.split(printed.strip().splitlines()[-1])


def _wait_for_a_sensor_run_with_its_jvm(ui: DagsterUI, tree: Tree) -> str:
    """Until a run a sensor launched is STARTED and a Spark JVM runs in the tree; its run id."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        if ui.process.poll() is not None:
            pytest.fail(f"make dev exited with code {ui.process.returncode}{ui.log_tail()}")
        tree.update()
        runs = ui.graphql(RUNS_QUERY, filter={"statuses": ["STARTED"]})["runsOrError"]["results"]
        by_sensor = [run for run in runs if any(tag["key"] == "dagster/sensor_name" for tag in run["tags"])]
        if by_sensor and any("java" in command.split(" ", 1)[0] for command in tree.alive().values()):
            return by_sensor[0]["runId"]
        time.sleep(1)
    pytest.fail(f"no sensor-launched run with a Spark JVM after {RUN_TIMEOUT} s{ui.log_tail()}")


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _stat(pid: int) -> tuple[int, str, int, str] | None:
    """``(ppid, state, session id, start time)`` of ``pid``, or ``None`` once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0], int(fields[3]), fields[19]


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
