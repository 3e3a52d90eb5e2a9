"""Web/app events: ``clickstream/clicks-<YYYY-MM-DD>-<NN>.json``, JSON Lines.

Each day is cut into ``files_per_day`` time windows, one file each, events sorted by time.
Sessions of one to eight events (``view``, then maybe ``add_to_cart`` and ``purchase``) belong
to a customer or, for 30 % of sessions, to nobody (``customer_id`` null); a ``view`` of a
non-product page has a null ``product_id``. Faults (rates in ``FaultRates``): an event written
as a malformed line (``click_malformed``), an event re-delivered byte for byte later the same
day (``click_duplicate``), an event landing late, its ``event_ts`` one to six hours before its
file's window (``click_late``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from lakehouse.generator.faults import FaultRates, malformed_line
from lakehouse.generator.lines import DAY_SECONDS, DayClock, Redelivery
from lakehouse.generator.manifest import ClickstreamStats


def _session_events(
    rng: random.Random, size: int, customers: int, products: Sequence[int], window: tuple[int, int]
) -> list[tuple[int, str | None, str, int | None]]:
    """``(millis since midnight, customer_id, event_type, product_id)`` of one session."""
    customer = None if rng.random() < 0.3 else 1 + rng.randrange(customers)
    lo, hi = window
    at = rng.randrange(lo * 1000, hi * 1000)
    product = rng.choice(products)
    events = []
    for step in range(size):
        if step and rng.random() < 0.4:
            product = rng.choice(products)
        kind = "view"
        if step == size - 1 and size > 2 and rng.random() < 0.35:
            kind = "purchase"
        elif step and rng.random() < 0.25:
            kind = "add_to_cart"
        shown = None if kind == "view" and rng.random() < 0.05 else product
        events.append((min(at, hi * 1000 - 1), customer, kind, shown))
        at += rng.randint(2_000, 120_000)
    return events


def write_clickstream_day(
    out: Path,
    day: date,
    day_index: int,
    rng: random.Random,
    events_per_day: int,
    files_per_day: int,
    customers: int,
    products: Sequence[int],
    rates: FaultRates,
) -> ClickstreamStats:
    """Write one day's click files and return their counts.

    Example::

        stats = write_clickstream_day(Path("data/landing"), date(2025, 1, 1), 0, random.Random(3),
                                      events_per_day=500, files_per_day=4, customers=100,
                                      products=[1, 2, 3], rates=FaultRates())
    """
    folder = out / "clickstream"
    folder.mkdir(parents=True, exist_ok=True)
    clock = DayClock(day)
    stats = ClickstreamStats(files=files_per_day)
    resend = Redelivery()
    written = 0
    next_id = day_index * events_per_day
    width = DAY_SECONDS // files_per_day
    for part in range(files_per_day):
        window = (part * width, DAY_SECONDS if part == files_per_day - 1 else (part + 1) * width)
        wanted = (part + 1) * events_per_day // files_per_day - part * events_per_day // files_per_day
        events: list[tuple[int, str | None, str, int | None, str]] = []
        while len(events) < wanted:
            session = f"S-{day.strftime('%Y%m%d')}-{part:02d}-{len(events):06d}"
            size = min(wanted - len(events), rng.randint(1, 8))
            events.extend((*e, session) for e in _session_events(rng, size, customers, products, window))
        events.sort(key=lambda e: e[0])
        lines = []
        for millis, customer, kind, product, session in events:
            next_id += 1
            if rates.click_late and rng.random() < rates.click_late:
                millis = window[0] * 1000 - rng.randint(3_600_000, 6 * 3_600_000)
                stats.late_events += 1
            line = json.dumps({
                "event_id": f"EVT-{next_id:010d}",
                "session_id": session,
                "customer_id": customer,
                "event_type": kind,
                "product_id": product,
                "event_ts": clock.iso(millis // 1000, 0, millis % 1000),
            })
            for copy in resend.pop_due(written):
                lines.append(copy)
                written += 1
            if rates.click_malformed and rng.random() < rates.click_malformed:
                lines.append(malformed_line(rng, line))
                stats.malformed += 1
            else:
                lines.append(line)
                stats.distinct_events += 1
                if rates.click_duplicate and rng.random() < rates.click_duplicate:
                    resend.schedule(written + 1 + rng.randrange(2 * wanted + 1), line)
            written += 1
        if part == files_per_day - 1:
            copies = resend.drain()
            lines.extend(copies)
            written += len(copies)
        path = folder / f"clicks-{day.isoformat()}-{part:02d}.json"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    stats.lines = written
    stats.duplicates = written - stats.malformed - stats.distinct_events
    return stats
