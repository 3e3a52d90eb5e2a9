"""The processes of ``make dev`` as a test follows them: its command, every process it started, its port."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shlex
import signal
import socket
import subprocess
from pathlib import Path

from lakehouse.settings import PROJECT_ROOT


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
                # Read again each time: spark-submit is a shell script that exec's java in the same process, so the
                # command first seen can be the script's (then no "Spark JVM" would ever be found among them).
                command = _command(pid)
                if command != "?" or (pid, start) not in self.seen:
                    self.seen[pid, start] = command

    def alive(self) -> dict[int, str]:
        """The remembered processes still running (same pid *and* start time; zombies do not count)."""
        return {pid: command for (pid, start), command in self.seen.items()
                if (stat := _stat(pid)) and stat[3] == start and stat[1] != "Z"}

    def kill(self) -> None:
        for pid in self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def session_members(sid: int) -> dict[int, str]:
    """The running processes of session ``sid`` (zombies, which hold nothing, aside) and their command lines."""
    return {pid: _command(pid) for pid in _pids() if (stat := _stat(pid)) and stat[2] == sid and stat[1] != "Z"}


def make_dev_recipe(port: int) -> list[str]:
    """The command ``make dev`` runs for this port (``make -n`` prints it, after setup's, without running either)."""
    printed = subprocess.run(["make", "-n", "--no-print-directory", "dev", f"PORT={port}"],  # HOST: the Makefile's default
                             cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    return shlex.split(printed.strip().splitlines()[-1])


def port_taken(port: int) -> bool:
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


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with contextlib.suppress(FileNotFoundError), open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port and len(address) == width:
                    raw = bytes.fromhex(address)
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # little-endian 32-bit words
                    ip = ipaddress.ip_address(words)
                    found.add(str(getattr(ip, "ipv4_mapped", None) or ip))  # ::ffff:127.0.0.1 is 127.0.0.1
    return found
