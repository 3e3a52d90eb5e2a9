"""``python -m lakehouse.dev``: what ``make dev`` runs (see :mod:`lakehouse.dev` for why).

First a local Spark Connect server (:mod:`lakehouse.connect`, sc://127.0.0.1:15002, log in
``data/logs/spark-connect.log``); once it answers a query, ``dagster dev``, whose runs inherit
``LAKEHOUSE_SPARK_REMOTE`` and so connect to it instead of starting a JVM each. No local server
when ``LAKEHOUSE_SPARK_REMOTE`` is already set (runs use that endpoint) or with ``--no-connect`` /
``LAKEHOUSE_DEV_CONNECT=off`` (each run starts its own embedded Spark, as before).

    python -m lakehouse.dev                               # http://127.0.0.1:3000
    python -m lakehouse.dev --host 0.0.0.0 --port 3001 --grace 5
    python -m lakehouse.dev --no-connect                  # embedded Spark in every run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from lakehouse.connect import DEFAULT_LOG_FILE, DEFAULT_PORT, ConnectError, redact, wait_until_ready
from lakehouse.dev.runs import cancel_runs, code_server_addresses, instance_from_env
from lakehouse.dev.supervisor import GRACE_SECONDS, Service, StopReport, Supervisor, describe
from lakehouse.governance.dev_key import use_dev_key
from lakehouse.settings import PROJECT_ROOT, REMOTE_VARIABLE, switch_from

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# How the one-line summary names the processes it stopped (first match in the command line wins).
KINDS = {
    "lakehouse.connect": "Spark Connect launcher", "SparkConnectServer": "Spark Connect server", "dagster dev": "dagster dev", "dagster_webserver": "webserver", "dagster._daemon": "daemon",
    "code-server": "code server", "api grpc": "code server", "spawn_main": "run worker", "bin/java": "Spark JVM",
}


CONNECT = "spark connect"
DAGSTER_DEV = "dagster dev"
CONNECT_SWITCH = "LAKEHOUSE_DEV_CONNECT"


def services(host: str, port: int, connect_port: int | None = DEFAULT_PORT,
             connect_log: Path = DEFAULT_LOG_FILE) -> list[Service]:
    """What ``make dev`` runs, in start order: the Spark Connect server (unless ``connect_port`` is None), then dagster dev.

    The server is ``python -m lakehouse.connect``, stopped with SIGTERM: it passes it on to its JVM.
    """
    dagster_dev = [sys.executable, "-m", "dagster", "dev", "-h", host, "-p", str(port), "-w", "workspace.yaml"]
    connect = [sys.executable, "-m", "lakehouse.connect", "--port", str(connect_port), "--log-file", str(connect_log), "--quiet"]
    return [*([Service(CONNECT, connect, cwd=PROJECT_ROOT, stop_signal=signal.SIGTERM)] if connect_port is not None else []),
            Service(DAGSTER_DEV, dagster_dev, cwd=PROJECT_ROOT)]


def connect_choice(no_connect: bool, env: Mapping[str, str]) -> str | None:
    """Why no local Spark Connect server is started, or ``None`` to start one."""
    if no_connect or not switch_from(env, CONNECT_SWITCH, default=True):
        return f"no Spark Connect server (--no-connect or {CONNECT_SWITCH}=off): each run starts its own Spark JVM"
    if env.get(REMOTE_VARIABLE, "").strip():
        return f"runs use the Spark Connect server at {redact(env[REMOTE_VARIABLE])} ({REMOTE_VARIABLE}); none started here"
    master = env.get("LAKEHOUSE_SPARK_MASTER", "").strip()
    if master and not master.startswith("local"):
        # A local server would run everything in its own local[*] JVM, not on the cluster the user named.
        return f"runs are drivers on the cluster at {master} (LAKEHOUSE_SPARK_MASTER); no Spark Connect server started"
    return None


class StopRequest:
    """The first SIGINT/SIGTERM/SIGHUP asks for a stop; any later one skips the rest of the grace period."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.signum: int | None = None
        self.event = threading.Event()
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame) -> None:
        if self.signum is None:
            self.signum = signum
            self.event.set()
        else:
            self.supervisor.hurry()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        no_connect = connect_choice(args.no_connect, os.environ)
    except ValueError as error:
        parser.error(str(error))  # exits 2 with the usage line and the message
    connect_port = None if no_connect else args.connect_port
    supervisor = Supervisor(services(args.host, args.port, connect_port), grace=args.grace)
    stop = StopRequest(supervisor)  # before anything starts, so no signal finds the default handler
    # Before dagster dev starts, which would otherwise create a new instance's storage at the same time.
    instance = instance_from_env()
    _say(use_dev_key())  # the Dagster processes inherit LAKEHOUSE_PII_KEY (data/pii_dev.key when it is unset)
    exited = None
    failed = 0
    try:
        if connect_port is None:
            _say(str(no_connect))
        else:
            url = f"sc://127.0.0.1:{connect_port}"
            supervisor.start(CONNECT)
            _say(f"Spark Connect server starting on {url} (log: {_relative(DEFAULT_LOG_FILE)}); dagster dev waits for it")
            seconds = wait_until_ready(url, alive=lambda: not stop.event.is_set() and supervisor.exited() is None)
            os.environ[REMOTE_VARIABLE] = url  # inherited by dagster dev, its code servers and every run
            _say(f"Spark Connect server ready after {seconds:.0f} s; starting dagster dev, whose runs use it "
                 f"({REMOTE_VARIABLE}={url})")
        supervisor.start(DAGSTER_DEV)
        _say(f"dagster dev on http://{args.host}:{args.port}: Ctrl-C stops it and everything it starts")
        while not stop.event.wait(0.5) and exited is None:
            exited = supervisor.exited()
    except ConnectError as error:
        exited = supervisor.exited()
        if stop.signum is None and exited is None:  # not a Ctrl-C, and the server did not exit on its own: a timeout
            _say(f"error: {error}")
            failed = 1
    finally:  # whatever happened here, nothing the session started outlives it
        report = supervisor.stop()
    runs = cancel_runs(instance, code_server_addresses(report.stopped.values()),
                       "Stopped with make dev (Ctrl-C): its run worker was killed before it could end the run.")
    _say(_summary(report, args.grace, runs, exited))
    if stop.signum is not None:  # exit "killed by SIGINT", as callers such as make expect after Ctrl-C
        signal.signal(stop.signum, signal.SIG_DFL)
        os.kill(os.getpid(), stop.signum)
    return exited[1] if exited else failed


def _relative(path: Path) -> Path:
    return path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path


def _summary(report: StopReport, grace: float, runs: list[str], exited: tuple[Service, int] | None) -> str:
    why = f"{exited[0].name} exited with code {exited[1]}; " if exited else ""
    line = f"{why}stopped {len(report.stopped)} processes in {report.seconds:.1f} s"
    if report.stopped:
        line += f" ({describe(report.stopped, KINDS)})"
    if report.killed:
        when = "on the second Ctrl-C" if report.hurried else f"after the {grace:g} s grace period"
        line += f", {len(report.killed)} of them killed {when}"
    if runs:
        line += f"; runs marked canceled: {', '.join(run[:8] for run in runs)}"
    if report.left:
        line += f"; STILL RUNNING: {', '.join(str(pid) for pid in report.left)}"
    return line


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # the terminal is gone (SIGHUP)
        print(f"\033[1m[dev]\033[0m {message}", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lakehouse.dev",
        description="Run dagster dev so that Ctrl-C stops it and everything it started within 10 s.")
    parser.add_argument("--host", default="127.0.0.1", help="address the Dagster UI binds (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port of the Dagster UI (default 3000)")
    parser.add_argument("--grace", type=float, default=GRACE_SECONDS,
                        help=f"seconds to wait after Ctrl-C before killing what is left (default {GRACE_SECONDS:g})")
    parser.add_argument("--connect-port", type=int, default=DEFAULT_PORT,
                        help=f"port of the local Spark Connect server (default {DEFAULT_PORT})")
    parser.add_argument("--no-connect", action="store_true",
                        help=f"start no Spark Connect server: each run starts its own Spark JVM (also {CONNECT_SWITCH}=off)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
