"""The machine line every benchmark prints above its table."""

from __future__ import annotations

import os
import platform


def describe() -> str:
    """``'x86_64, 2 cores, 24 GiB RAM; python 3.11.7'``."""
    return f"{platform.machine()}, {os.cpu_count()} cores, {_memory()}; python {platform.python_version()}"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
        return f"{kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration):
        return "unknown RAM"


def load() -> str:
    """``'load average 2.31 / 1.82 / 2.00 (1 / 5 / 15 min)'``: how busy the machine was (other processes count)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"
