"""Run a few servers as one: each in its own session; stopping them stops everything they started.

A :class:`Service` is started with ``setsid`` (so a terminal's Ctrl-C reaches only the
supervisor, which decides what each service gets) and with a marker in its environment (so
its processes are found even after they leave its session, see :mod:`lakehouse.dev.processes`).
:meth:`Supervisor.stop` asks each service to stop with its own signal, waits up to ``grace``
seconds for *every* process of the session to end, then SIGKILLs whatever is left, until
nothing is. Adding a server (the Spark Connect server of :mod:`lakehouse.connect`) is adding a
:class:`Service`; ``start(name)`` starts services one at a time, so one can wait for the one before.

Example::

    supervisor = Supervisor([Service("dagster dev", ["dagster", "dev", "-p", "3000"])], grace=5)
    supervisor.start()
    ...                                  # until Ctrl-C, or until a service exits
    report = supervisor.stop()           # SIGINT, up to 5 s, then SIGKILL
    print(len(report.stopped), "processes stopped,", len(report.killed), "of them killed")
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.dev.processes import Proc, family, process_table

GRACE_SECONDS = 5.0
KILL_SECONDS = 2.0  # SIGKILL is not ignorable; this only bounds a process that keeps forking
MARKER_VARIABLE = "LAKEHOUSE_DEV_SESSION"
_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Service:
    """A server to run: its name, command and working directory, and the signal that asks it to stop.

    ``SIGINT`` suits Python servers (Dagster shuts down on it as on Ctrl-C in a terminal); a JVM
    server such as Spark Connect wants ``SIGTERM``, which runs its shutdown hooks.
    """

    name: str
    argv: Sequence[str]
    cwd: Path | None = None
    stop_signal: signal.Signals = signal.SIGINT


@dataclass
class StopReport:
    """What :meth:`Supervisor.stop` stopped: every process of the session, those it had to SIGKILL, how long it took."""

    seconds: float
    stopped: dict[int, Proc] = field(default_factory=dict)
    killed: dict[int, Proc] = field(default_factory=dict)
    left: dict[int, Proc] = field(default_factory=dict)  # still alive after KILL_SECONDS: should stay empty
    hurried: bool = False  # the grace period was cut short by hurry()


class Supervisor:
    """Starts :class:`Service` s and stops them together with every process they started."""

    def __init__(self, services: Sequence[Service], grace: float = GRACE_SECONDS) -> None:
        self.services = list(services)
        self.grace = grace
        self.marker = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._popens: dict[str, subprocess.Popen] = {}
        self._hurry = threading.Event()

    def start(self, *names: str) -> None:
        """Start the named services (all not yet started when none is named), each in a session of its own,
        stdin closed, output to ours, environment ours as it is now."""
        env = {**os.environ, MARKER_VARIABLE: self.marker}
        for service in self.services:
            if (names and service.name not in names) or service.name in self._popens:
                continue
            self._popens[service.name] = subprocess.Popen(
                list(service.argv), cwd=service.cwd, env=env, stdin=subprocess.DEVNULL, start_new_session=True)

    def pid(self, name: str) -> int:
        return self._popens[name].pid

    def exited(self) -> tuple[Service, int] | None:
        """The first started service that has exited and its exit code, or ``None`` while all run."""
        for service in self.services:
            popen = self._popens.get(service.name)
            code = popen.poll() if popen is not None else None
            if code is not None:
                return service, code
        return None

    def processes(self) -> dict[int, Proc]:
        """The live processes of the session: the services and everything they started, wherever it went."""
        table = process_table(f"{MARKER_VARIABLE}={self.marker}".encode())
        return family(table, [popen.pid for popen in self._popens.values()])

    def hurry(self) -> None:
        """Skip what is left of the grace period (a second Ctrl-C)."""
        self._hurry.set()

    def stop(self) -> StopReport:
        """Stop signal to each service's group, up to ``grace`` s for all to end, then SIGKILL until none is left."""
        start = time.monotonic()
        report = StopReport(0.0, stopped=self.processes())
        groups = {proc.pgid for proc in report.stopped.values()}
        for service in self.services:
            popen = self._popens.get(service.name)
            if popen is not None and popen.pid in groups:  # never signal a group id that may have been reused
                _signal_group(popen.pid, service.stop_signal)
        alive = report.stopped
        while alive and time.monotonic() - start < self.grace and not self._hurry.is_set():
            time.sleep(_POLL_SECONDS)
            alive = self._poll(report)
        # Whatever is left ignores the signal or waits for something that will not come (a run
        # that goes on, a JVM that ignores SIGINT). A process may fork meanwhile: loop until none is left.
        kill_start = time.monotonic()
        while alive and time.monotonic() - kill_start < KILL_SECONDS:
            for pid, proc in alive.items():
                report.killed[pid] = proc
                _kill(pid)
            time.sleep(_POLL_SECONDS / 2)
            alive = self._poll(report)
        report.left = alive
        report.hurried = self._hurry.is_set()
        report.seconds = time.monotonic() - start
        return report

    def _poll(self, report: StopReport) -> dict[int, Proc]:
        for popen in self._popens.values():
            popen.poll()  # reap a service that ended, so it stops counting as alive
        alive = self.processes()
        report.stopped.update(alive)
        return alive


def describe(processes: Mapping[int, Proc], kinds: Mapping[str, str]) -> str:
    """``"webserver, run worker ×2, other ×3"``: ``processes`` named by the first ``kinds`` key in their command."""
    counts: dict[str, int] = {}
    for proc in processes.values():
        kind = next((name for needle, name in kinds.items() if needle in proc.command), "other")
        counts[kind] = counts.get(kind, 0) + 1
    order = [*dict.fromkeys(kinds.values()), "other"]
    return ", ".join(kind if counts[kind] == 1 else f"{kind} ×{counts[kind]}" for kind in order if kind in counts)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has ended already
        os.killpg(pgid, sig)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
