"""Erasure requests: read from ``erasure_requests/*.json`` (JSON Lines) or given by hand, checked line by line.

A line is a request when it is a JSON object with a non-empty string ``request_id``, an integer
``customer_id`` and an ISO-8601 ``requested_at``; anything else is a :class:`Rejected` line with
the reason, and never stops the other lines of the file. Blank lines are not requests. The raw
text of a line is never kept (it may hold the customer's id): a rejected line keeps its file,
line number, ``request_id`` when it could be read, and the customer's token when an integer
``customer_id`` could be read (the caller computes it).

Example::

    requests, rejected = read_request_files(["/landing/erasure_requests/2025-01-07.json"])
    requests[0].request_id, requests[0].customer_id
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LAUNCHPAD = "launchpad"
FOLDER = "erasure_requests"


@dataclass(frozen=True)
class Request:
    """A readable request: who to erase, when they asked, where it came from (``file``, ``line``)."""

    request_id: str
    customer_id: int
    requested_at: datetime
    file: str
    line: int

    @property
    def source(self) -> str:
        return LAUNCHPAD if self.file == LAUNCHPAD else f"{FOLDER}/{self.file}:{self.line}"


@dataclass(frozen=True)
class Rejected:
    """A line that is not a request (or a request that will not be carried out), and why."""

    file: str
    line: int
    reason: str
    request_id: str | None = None
    customer_id: int | None = None  # in memory only: the caller stores its token, never the id


def parse_line(text: str, file: str, line: int) -> Request | Rejected:
    """One line of a request file (not blank) as a request, or the reason it is none."""
    try:
        value = json.loads(text)
    except ValueError:
        return Rejected(file, line, "not a JSON object")
    if not isinstance(value, dict):
        return Rejected(file, line, "not a JSON object")
    request_id = value.get("request_id")
    request_id = request_id.strip() if isinstance(request_id, str) and request_id.strip() else None
    customer_id = value.get("customer_id")
    customer_id = customer_id if isinstance(customer_id, int) and not isinstance(customer_id, bool) else None
    if request_id is None:
        return Rejected(file, line, "missing request_id (a non-empty string)", None, customer_id)
    if customer_id is None:
        reason = "missing customer_id" if "customer_id" not in value else "customer_id is not an integer"
        return Rejected(file, line, reason, request_id)
    requested_at = parse_time(value.get("requested_at"))
    if requested_at is None:
        return Rejected(file, line, "requested_at is missing or not an ISO-8601 time", request_id, customer_id)
    return Request(request_id, customer_id, requested_at, file, line)


def parse_time(value: object) -> datetime | None:
    """An ISO-8601 string (``Z`` or an offset; no zone means UTC) as a UTC datetime, else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def read_request_files(files: Sequence[str | Path]) -> tuple[list[Request], list[Rejected]]:
    """Every line of the request ``files``, in file and line order, as requests or rejected lines.

    A file that cannot be read is one rejected "line" 0 with the reason; the other files go on.
    """
    requests: list[Request] = []
    rejected: list[Rejected] = []
    for file in files:
        name = Path(file).name
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            rejected.append(Rejected(name, 0, f"file could not be read: {type(error).__name__}"))
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            parsed = parse_line(line, name, number)
            (requests if isinstance(parsed, Request) else rejected).append(parsed)  # type: ignore[arg-type]
    return requests, rejected


def manual_requests(customer_ids: Sequence[int], request_id: str, now: datetime) -> list[Request]:
    """Requests launched by hand: ``request_id`` for one customer, ``<request_id>#<n>`` for the n-th of several."""
    if len(customer_ids) == 1:
        return [Request(request_id, int(customer_ids[0]), now, LAUNCHPAD, 1)]
    return [Request(f"{request_id}#{n}", int(c), now, LAUNCHPAD, n) for n, c in enumerate(customer_ids, start=1)]
