"""Customer master change feed: ``customers_cdc/cdc-<YYYY-MM-DD>-<NN>.json``, JSON Lines.

The day before the first sales day holds the initial load (an INSERT for 90 % of the
customers); every later day onboards a few new customers (they buy from the next day on),
UPDATEs about 2 % of the active customers (a third of those UPDATEs re-send the same values:
no tracked column changes), DELETEs a few and re-INSERTs some of the deleted ones.
``seq`` is globally unique and increasing; ``event_ts`` strictly increases with ``seq``.

Each day's events are cut into ``files_per_day`` files by ``seq``; with ``out_of_order`` the
cuts are assigned to the file names in shuffled order, so a file listed later may hold lower
seqs. A fraction ``duplicate_rate`` of events is delivered again, byte for byte, in a later file.
"""

from __future__ import annotations

import json
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from lakehouse.generator.lines import DayClock
from lakehouse.generator.manifest import CdcStats
from lakehouse.generator.reference import CITIES

_FIRST = ("Alice", "Bruno", "Chloé", "David", "Emma", "François", "Gabriel", "Hélène", "Inès",
          "Jules", "Karim", "Léa", "Manon", "Noah", "Zoë", "Omar", "Paul", "Sofia", "Tom", "Yasmine")
_LAST = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
         "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Nguyen")
_DOMAINS = ("example.com", "mail.example", "post.example", "inbox.example")
_TRACKED = ("name", "email", "phone", "city")


def _ascii(text: str) -> str:
    """``'léa.lefèvre1@x'`` -> ``'lea.lefevre1@x'``: mailboxes keep to ASCII."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@dataclass
class CdcResult:
    """Counts for the manifest and, per sales day, how many customers may buy (ids 1..n)."""

    stats: CdcStats
    sellable: list[int] = field(default_factory=list)


class _Customers:
    """Live state of the source table while events are generated."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.attrs: dict[int, dict[str, str]] = {}
        self.active: list[int] = []
        self.position: dict[int, int] = {}
        self.deleted: list[int] = []

    def new_attrs(self, customer_id: int) -> dict[str, str]:
        rng = self.rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        return {
            "name": f"{first} {last}",
            "email": _ascii(f"{first}.{last}{customer_id}@{rng.choice(_DOMAINS)}".lower()),
            "phone": "+33 6 " + " ".join(f"{rng.randrange(100):02d}" for _ in range(4)),
            "city": rng.choice(CITIES)[0],
        }

    def activate(self, customer_id: int) -> None:
        self.position[customer_id] = len(self.active)
        self.active.append(customer_id)

    def deactivate(self, customer_id: int) -> None:
        index = self.position.pop(customer_id)
        last = self.active.pop()
        if last != customer_id:
            self.active[index] = last
            self.position[last] = index


def _plan_day(state: _Customers, new_ids: list[int], n_customers: int, stats: CdcStats) -> list[dict]:
    """One day of change events, in commit order, applied to ``state`` as they are made."""
    rng = state.rng
    actions = ["insert"] * len(new_ids)
    actions += ["update"] * max(1, round(len(state.active) * 0.02))
    actions += ["delete"] * rng.randint(0, max(1, n_customers // 300))
    actions += ["reinsert"] * sum(1 for _ in state.deleted if rng.random() < 0.3)
    rng.shuffle(actions)
    pending_new = list(new_ids)
    events = []
    for action in actions:
        if action == "insert":
            cid = pending_new.pop(0)
            state.attrs[cid] = state.new_attrs(cid)
            state.activate(cid)
            events.append({"customer_id": cid, "op": "INSERT", **state.attrs[cid]})
        elif action == "update" and state.active:
            cid = rng.choice(state.active)
            attrs = dict(state.attrs[cid])
            if rng.random() >= 1 / 3:  # else re-send the same values
                fresh = state.new_attrs(cid)
                for column in rng.sample(_TRACKED, rng.randint(1, 2)):
                    if column == "name":  # a new surname
                        first = attrs["name"].split(" ")[0]
                        fresh["name"] = f"{first} {rng.choice([n for n in _LAST if n not in attrs['name']])}"
                    attrs[column] = fresh[column]
            # counted on the outcome: a "change" may draw the value it already had
            if attrs == state.attrs[cid]:
                stats.noop_updates += 1
            state.attrs[cid] = attrs
            events.append({"customer_id": cid, "op": "UPDATE", **attrs})
        elif action == "delete" and len(state.active) > 1:
            cid = rng.choice(state.active)
            state.deactivate(cid)
            state.deleted.append(cid)
            events.append({"customer_id": cid, "op": "DELETE"})
        elif action == "reinsert" and state.deleted:
            cid = state.deleted.pop(rng.randrange(len(state.deleted)))
            if rng.random() < 0.5:
                state.attrs[cid] = {**state.attrs[cid], "city": rng.choice(CITIES)[0]}
            state.activate(cid)
            stats.reinserts += 1
            events.append({"customer_id": cid, "op": "INSERT", **state.attrs[cid]})
    return events


def write_cdc(
    out: Path,
    rng: random.Random,
    start: date,
    days: int,
    customers: int,
    files_per_day: int = 3,
    duplicate_rate: float = 0.02,
    out_of_order: bool = True,
) -> CdcResult:
    """Write the CDC feed for the day before ``start`` and ``days`` days, return its counts.

    Example::

        result = write_cdc(Path("data/landing"), random.Random(7), date(2025, 1, 1), days=7,
                           customers=1000)
        result.stats.distinct_events, result.sellable[0]   # customers buying on day 1
    """
    folder = out / "customers_cdc"
    folder.mkdir(parents=True, exist_ok=True)
    stats = CdcStats(out_of_order=out_of_order, customers_total=customers)
    state = _Customers(rng)
    initial = customers if days <= 1 else max(1, round(customers * 0.9))
    onboard_day = sorted(rng.randrange(days - 1) for _ in range(customers - initial))
    sellable, seq = [], 1000 + rng.randrange(1000)
    files: list[tuple[str, list[str]]] = []  # (name, lines) in name order
    for d in range(-1, days):
        if d == -1:
            events = []
            for cid in range(1, initial + 1):
                state.attrs[cid] = state.new_attrs(cid)
                state.activate(cid)
                events.append({"customer_id": cid, "op": "INSERT", **state.attrs[cid]})
        else:
            sellable.append(initial + sum(1 for day in onboard_day if day < d))
            first_new = initial + sum(1 for day in onboard_day if day < d) + 1
            new_ids = list(range(first_new, first_new + onboard_day.count(d)))
            events = _plan_day(state, new_ids, customers, stats)
        clock = DayClock(start + timedelta(days=d))
        times = sorted(rng.sample(range(86_400_000), len(events)))
        lines = []
        for event, millis in zip(events, times):
            seq += 1 + rng.randrange(3)  # other tables' commits leave gaps
            stats.ops[event["op"]] = stats.ops.get(event["op"], 0) + 1
            head = {"customer_id": event["customer_id"], "op": event["op"], "seq": seq,
                    "event_ts": clock.iso(millis // 1000, 0, millis % 1000)}
            rest = {k: v for k, v in event.items() if k not in ("customer_id", "op")}
            lines.append(json.dumps({**head, **rest}, ensure_ascii=False))
            stats.first_seq = stats.first_seq or seq
        stats.last_seq = seq
        cuts = [lines[i * len(lines) // files_per_day:(i + 1) * len(lines) // files_per_day]
                for i in range(files_per_day)]
        if out_of_order:
            rng.shuffle(cuts)
        day_text = (start + timedelta(days=d)).isoformat()
        files.extend((f"cdc-{day_text}-{n:02d}.json", cut) for n, cut in enumerate(cuts))

    stats.distinct_events = sum(len(lines) for _, lines in files)
    copies: list[list[str]] = [[] for _ in files]
    for index, (_, lines) in enumerate(files):
        for line in lines:
            if duplicate_rate and rng.random() < duplicate_rate:
                last = len(files) - 1
                target = index if index == last else rng.randint(index + 1, min(last, index + 3))
                copies[target].append(line)
    for index, ((name, lines), extra) in enumerate(zip(files, copies)):
        if extra and index == len(files) - 1:  # the last file re-sends its own lines: after them
            lines = lines + extra
        else:
            lines = list(lines)
            for line in extra:
                lines.insert(rng.randint(0, len(lines)), line)
        stats.duplicate_events += len(extra)
        (folder / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    stats.files = len(files)
    stats.events_written = stats.distinct_events + stats.duplicate_events
    versions = stats.ops.get("INSERT", 0) + stats.ops.get("UPDATE", 0) - stats.noop_updates
    stats.expected_dim_customer_rows = versions
    stats.expected_current_customers = len(state.active)
    return CdcResult(stats=stats, sellable=sellable)
