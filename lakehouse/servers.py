"""Servers the lakehouse runs as background processes: started, ready, stopped, with nothing left behind.

:class:`ServerProcess` is the life cycle shared by the Spark Connect server (:class:`lakehouse.connect.ConnectServer`)
and the SQL endpoint (:class:`lakehouse.sql.ThriftServer`): refuse a taken port, run the command in a session of
its own with its output appended to a log file, wait until the server answers (a subclass says how), and stop
the whole process group (SIGTERM, then SIGKILL) when the ``with`` block ends, also when it raised. The local
Spark cluster (:mod:`lakehouse.cluster`) runs two processes and uses :func:`stop_process_group` directly.

Example::

    with ConnectServer(port=15002) as server:   # a ServerProcess
        ...                                        # server.process runs; server.ready_seconds is set
    # here no process of the server's group runs any more
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self

STOP_TIMEOUT = 20.0  # seconds between SIGTERM (the JVM's shutdown hooks) and SIGKILL


class ServerProcess:
    """A server program for the duration of a ``with`` block (or between :meth:`start` and :meth:`stop`).

    Subclasses set ``error`` (the exception their failures raise), ``what`` (the server's name in messages) and
    implement :meth:`wait_for_answer` and :attr:`url`; they may add a :meth:`_hint` read from the log.
    """

    error: ClassVar[type[Exception]] = RuntimeError
    what: ClassVar[str] = "server"

    def __init__(self, command: Sequence[str], log_file: Path, *, host: str, port: int, timeout: float,
                 cwd: Path, env: Mapping[str, str] | None = None) -> None:
        self.command, self.log_file, self.cwd = list(command), Path(log_file), Path(cwd)
        self.host, self.port, self.timeout = host, port, timeout
        self.env = dict(env) if env is not None else None
        self.process: subprocess.Popen | None = None
        self.ready_seconds: float | None = None
        self._launched = 0.0
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """Where clients connect."""
        raise NotImplementedError

    def wait_for_answer(self, timeout: float, alive: Callable[[], bool]) -> None:
        """Return once the server answers; raise ``error`` after ``timeout`` s or as soon as ``alive()`` is false."""
        raise NotImplementedError

    def taken(self) -> str:
        """What to do when the port is taken (the message's last sentence)."""
        return f"Connect to {self.url}, stop it, or pick another port"

    def start(self) -> Self:
        """Start the server and wait until it answers (raises ``error`` naming the log, server stopped, otherwise)."""
        self.launch()
        return self.wait()

    def launch(self) -> None:
        """Start the server's process without waiting for it (do other work while it starts, then :meth:`wait`)."""
        if port_in_use(self.host, self.port):
            raise self.error(f"port {self.port} on {self.host} is taken: another {self.what} (or other program) listens "
                             f"there. {self.taken()}.")
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab")
        self._launched = time.monotonic()
        self.process = subprocess.Popen(self.command, env=self.env, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True, cwd=self.cwd)

    def wait(self) -> Self:
        """Wait until the launched server answers (raises ``error`` naming the log, server stopped, when it ends
        first or does not answer within ``timeout`` s)."""
        process = self.process
        if process is None:
            raise self.error(f"the {self.what} at {self.url} was not launched (or was stopped)")
        try:
            self.wait_for_answer(self.timeout, lambda: process.poll() is None)
        except BaseException as error:
            self.stop()
            if isinstance(error, self.error):
                raise self.error(f"{error}; server log: {self.log_file}{self._hint()}") from None
            raise
        self.ready_seconds = time.monotonic() - self._launched
        return self

    def _hint(self) -> str:
        """The likely cause of a failed start, when the log names one the message can explain (``". ..."``)."""
        return ""

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after ``STOP_TIMEOUT`` s; idempotent."""
        if self.process is not None:
            stop_process_group(self.process, STOP_TIMEOUT)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def interrupt_on_signals() -> None:
    """Turn the first SIGINT, SIGTERM or SIGHUP into ``KeyboardInterrupt`` (a foreground server's CLI then stops its
    server in ``finally``); later ones are ignored, so a second Ctrl-C does not interrupt that stop."""
    stopping = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)


def port_in_use(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def stop_process_group(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to ``process``'s group (it leads one); once the leader and every other member have ended, or after
    ``timeout`` s, SIGKILL the group. Returns when no member runs any more (zombies, which hold nothing, aside): a
    group's leader can end before the rest of it, so waiting for the leader alone is not enough."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + timeout
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
        while group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if process.poll() is not None and not group_members(process.pid):
            return


def group_members(pgid: int) -> list[int]:
    """The running processes of process group ``pgid`` (zombies excluded), from ``/proc``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:  # ``pid (command) state ppid pgrp ...``; the command may hold spaces and parentheses
            state, _ppid, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # ended while we looked
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members
