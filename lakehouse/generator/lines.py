"""Building blocks of the generated JSON Lines feeds: ISO-8601 times of a day, delayed re-sends."""

from __future__ import annotations

import heapq
from datetime import date, timedelta

DAY_SECONDS = 86_400


def tz_suffix(offset_minutes: int) -> str:
    """``Z`` for UTC, else ``+HH:MM`` / ``-HH:MM``."""
    if offset_minutes == 0:
        return "Z"
    sign = "+" if offset_minutes > 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


class DayClock:
    """Formats instants given in seconds since a day's UTC midnight as ISO-8601 strings.

    The instant is written in local time of the given UTC offset, so its UTC date stays the
    one the seconds say, whatever the offset.

    Example::

        clock = DayClock(date(2025, 1, 3))
        clock.iso(21 * 3600 + 600, offset_minutes=120)  # '2025-01-03T23:10:00+02:00'
        clock.iso(-3600)                                # '2025-01-02T23:00:00Z'
    """

    def __init__(self, day: date) -> None:
        self.day = day
        self._dates: dict[int, str] = {}
        self._suffixes: dict[int, str] = {}

    def date_str(self, shift_days: int) -> str:
        text = self._dates.get(shift_days)
        if text is None:
            text = self._dates[shift_days] = (self.day + timedelta(days=shift_days)).isoformat()
        return text

    def iso(self, seconds: int, offset_minutes: int = 0, millis: int | None = None) -> str:
        shift, rem = divmod(seconds + offset_minutes * 60, DAY_SECONDS)
        hours, rem = divmod(rem, 3600)
        minutes, secs = divmod(rem, 60)
        suffix = self._suffixes.get(offset_minutes)
        if suffix is None:
            suffix = self._suffixes[offset_minutes] = tz_suffix(offset_minutes)
        frac = "" if millis is None else f".{millis:03d}"
        return f"{self.date_str(shift)}T{hours:02d}:{minutes:02d}:{secs:02d}{frac}{suffix}"


class Redelivery:
    """Lines waiting to be re-sent once a given number of lines has been written.

    Example::

        resend = Redelivery()
        resend.schedule(due=10, line='{"a": 1}')
        resend.pop_due(9)    # []
        resend.pop_due(10)   # ['{"a": 1}']
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str]] = []
        self._order = 0

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, due: int, line: str) -> None:
        self._order += 1
        heapq.heappush(self._heap, (due, self._order, line))

    def pop_due(self, position: int) -> list[str]:
        out = []
        while self._heap and self._heap[0][0] <= position:
            out.append(heapq.heappop(self._heap)[2])
        return out

    def drain(self) -> list[str]:
        out = [item[2] for item in sorted(self._heap)]
        self._heap.clear()
        return out
