"""``python -m lakehouse.dev``: what ``make dev`` runs (see :mod:`lakehouse.dev` for why).

    python -m lakehouse.dev                               # http://127.0.0.1:3000
    python -m lakehouse.dev --host 0.0.0.0 --port 3001 --grace 5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from lakehouse.dev.runs import cancel_runs, code_server_addresses, instance_from_env
from lakehouse.dev.supervisor import GRACE_SECONDS, Service, StopReport, Supervisor, describe
from lakehouse.governance.dev_key import use_dev_key
from lakehouse.settings import PROJECT_ROOT

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# How the one-line summary names the processes it stopped (first match in the command line wins).
KINDS = {
    "dagster dev": "dagster dev", "dagster_webserver": "webserver", "dagster._daemon": "daemon",
    "code-server": "code server", "api grpc": "code server", "spawn_main": "run worker", "bin/java": "Spark JVM",
}


def services(host: str, port: int) -> list[Service]:
    """What ``make dev`` runs. A Spark Connect server would be one more entry, stopped with SIGTERM (a JVM)."""
    dagster_dev = [sys.executable, "-m", "dagster", "dev", "-h", host, "-p", str(port), "-w", "workspace.yaml"]
    return [Service("dagster dev", dagster_dev, cwd=PROJECT_ROOT)]


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
    args = _parser().parse_args(argv)
    supervisor = Supervisor(services(args.host, args.port), grace=args.grace)
    stop = StopRequest(supervisor)  # before anything starts, so no signal finds the default handler
    # Before dagster dev starts, which would otherwise create a new instance's storage at the same time.
    instance = instance_from_env()
    _say(use_dev_key())  # the Dagster processes inherit LAKEHOUSE_PII_KEY (data/pii_dev.key when it is unset)
    supervisor.start()
    exited = None
    try:
        _say(f"dagster dev on http://{args.host}:{args.port}: Ctrl-C stops it and everything it starts")
        while not stop.event.wait(0.5) and exited is None:
            exited = supervisor.exited()
    finally:  # whatever happened here, nothing the session started outlives it
        report = supervisor.stop()
    runs = cancel_runs(instance, code_server_addresses(report.stopped.values()),
                       "Stopped with make dev (Ctrl-C): its run worker was killed before it could end the run.")
    _say(_summary(report, args.grace, runs, exited))
    if stop.signum is not None:  # exit "killed by SIGINT", as callers such as make expect after Ctrl-C
        signal.signal(stop.signum, signal.SIG_DFL)
        os.kill(os.getpid(), stop.signum)
    return exited[1] if exited else 0


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
    return parser


if __name__ == "__main__":
    sys.exit(main())
