"""The processes a dev session started, found wherever they went.

``dagster dev`` starts a tree: webserver, daemon, code servers, one process per run, one Spark
JVM per run (and the Python workers a JVM may start). Looking only at parent links misses some
of them: a JVM whose run worker died is re-parented to init, and PySpark's Python worker daemon
moves itself into a process group of its own (``os.setpgid(0, 0)``). So a process counts as part
of the session (:func:`family`) when any of these holds:

* it is in the session or process group of a root (each service starts with ``setsid``, and its
  children keep both unless they change them);
* its chain of parents leads to a root;
* its environment carries the session's marker: every process inherits its parent's environment
  at ``exec``, and ``/proc/<pid>/environ`` keeps showing it after the process is re-parented or
  leaves the session (Linux only; elsewhere the table comes from ``ps`` without environments).

Example::

    table = process_table(marker=b"LAKEHOUSE_DEV_SESSION=1234-ab12cd34")
    ours = family(table, roots=[dagster_dev.pid])     # {pid: Proc}, the roots included
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    """One process: its ids, its state (``Z``: a zombie), its command line, whether it carries the marker."""

    pid: int
    ppid: int
    pgid: int
    sid: int | None
    state: str
    argv: tuple[str, ...]
    marked: bool = False

    @property
    def command(self) -> str:
        return " ".join(self.argv)


def process_table(marker: bytes | None = None) -> dict[int, Proc]:
    """Every process of the machine that can be read, by pid (``/proc`` on Linux, ``ps`` elsewhere)."""
    return _from_proc(marker) if PROC.is_dir() else _from_ps()


def family(table: Mapping[int, Proc], roots: Iterable[int]) -> dict[int, Proc]:
    """The live processes of ``table`` that belong to ``roots`` (see the module docstring); zombies are left out.

    Each root must lead its own session (or at least its own process group).
    """
    roots = set(roots)
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    # A root counts by its session/group id, never by its pid: once a root is reaped its pid may
    # be reused, whereas the kernel does not reuse an id still held as a group or session id.
    found = {pid for pid, proc in table.items() if proc.marked or proc.pgid in roots or proc.sid in roots}
    stack = list(found)
    while stack:  # descendants of everything found so far
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return {pid: table[pid] for pid in found if table[pid].state != "Z"}


def _from_proc(marker: bytes | None) -> dict[int, Proc]:
    table = {}
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            stat = (PROC / entry.name / "stat").read_text()
            argv = (PROC / entry.name / "cmdline").read_bytes()
            marked = bool(marker) and marker in _environ(entry.name)
        except OSError:  # exited meanwhile
            continue
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
        state, ppid, pgid, sid = stat[stat.rindex(")") + 2:].split()[:4]
        pid = int(entry.name)
        table[pid] = Proc(pid, int(ppid), int(pgid), int(sid), state, _split(argv), marked)
    return table


def _environ(pid: str) -> bytes:
    try:
        return (PROC / pid / "environ").read_bytes()
    except PermissionError:  # another user's process: not ours
        return b""


def _split(cmdline: bytes) -> tuple[str, ...]:
    return tuple(part.decode(errors="replace") for part in cmdline.split(b"\0") if part)


def _from_ps() -> dict[int, Proc]:
    lines = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,pgid=,stat=,command="],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    table = {}
    for line in lines:
        pid, ppid, pgid, state, *command = line.split(None, 4)
        table[int(pid)] = Proc(int(pid), int(ppid), int(pgid), None, state[0], tuple(" ".join(command).split()))
    return table
