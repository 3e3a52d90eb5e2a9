"""Point-of-sale feed: ``sales/<YYYY-MM-DD>/part-NNNN.json``, JSON Lines, one folder per day.

A clean record looks like::

    {"sale_id": "SALE-000000001", "customer_id": 17, "product_id": 3, "store_id": 2,
     "quantity": 1, "amount": 12.50, "discount": 0.05, "sale_ts": "2025-01-03T23:10:00+02:00"}

``amount`` is the product's list price of the day, ``discount`` is absent on most records
(absent means 0), ``sale_ts`` is written with ``Z`` or a non-zero offset and its UTC date is
always the folder's day. Record faults, re-sent copies and blank lines are drawn at the rates
of :class:`~lakehouse.generator.faults.FaultRates` (defaults: 0.5 to 1 % each); see
:mod:`lakehouse.generator.faults`. Rows stream to disk file by file: memory stays flat.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from lakehouse.generator import faults as F
from lakehouse.generator.lines import DAY_SECONDS, DayClock, Redelivery
from lakehouse.generator.manifest import SalesDay

# 100-slot tables so one random() picks a weighted value.
_QUANTITY = (1,) * 50 + (2,) * 25 + (3,) * 12 + (4,) * 7 + (5,) * 5 + (8,)
# (json text or None when absent, percent)
_DISCOUNT = (
    ((None, 0),) * 60 + (("0", 0),) * 10 + (("0.05", 5),) * 15 + (("0.1", 10),) * 10 + (("0.2", 20),) * 5
)
# Half of the timestamps in UTC with "Z", the rest with a non-zero offset (minutes).
_OFFSETS = (0,) * 8 + (60, 120, -300, -480, 330, 540, -180, 600)
_ID_FIELDS = ("customer_id", "product_id", "store_id")


@dataclass(frozen=True)
class SalesDaySpec:
    """What to generate for one day: the day, its files and the ids that may be used."""

    day: date
    rows: int
    files: int
    first_sale: int  # number of the day's first sale_id
    customers: int  # customer ids 1..customers have been inserted before this day
    stores: int
    products: list[tuple[int, str, int]]  # (product_id, price_text, price_cents) on sale


def _wrong_day_ts(rng: random.Random, clock: DayClock) -> str:
    choice = rng.randrange(3)
    if choice == 0:  # another UTC day
        shift = rng.choice((-3, -2, -1, 1, 2))
        return clock.iso(shift * DAY_SECONDS + rng.randrange(DAY_SECONDS))
    if choice == 1:  # local date is the folder's day, UTC date is not
        if rng.random() < 0.5:
            offset = rng.choice((300, 540, 600))
            return clock.iso(rng.randrange(offset * 60) - offset * 60, offset)
        offset = rng.choice((-300, -480))
        return clock.iso(DAY_SECONDS + rng.randrange(-offset * 60), offset)
    return F.unparseable_ts(rng)


def _render(pairs: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f'"{key}": {value}' for key, value in pairs) + "}"


def write_sales_day(
    out: Path,
    spec: SalesDaySpec,
    rng: random.Random,
    rates: F.FaultRates,
    on_rows: Callable[[int], object] | None = None,
) -> SalesDay:
    """Write one day's sales files under ``<out>/sales/<day>/`` and return its expected counts.

    Example::

        spec = SalesDaySpec(date(2025, 1, 1), rows=1000, files=2, first_sale=1,
                            customers=100, stores=5, products=[(1, "9.99", 999)])
        stats = write_sales_day(Path("data/landing"), spec, random.Random(1), FaultRates())
    """
    folder = out / "sales" / spec.day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    clock = DayClock(spec.day)
    thresholds = rates.thresholds()
    any_fault = thresholds[-1][0] if thresholds else 0.0
    dup_rate, blank_rate = rates.duplicate, rates.blank_line
    rnd = rng.random
    products, n_products = spec.products, len(spec.products)
    n_customers, n_stores = spec.customers, spec.stores
    stats = SalesDay(files=spec.files, records=spec.rows)
    counts = dict.fromkeys(F.ALL_FAULT_KINDS, 0)
    revenue = [0] * (n_stores + 1)  # in 1e-4 currency units, exact
    transactions = [0] * (n_stores + 1)
    units = [0] * (n_stores + 1)
    resend = Redelivery()
    per_file = max(1, spec.rows // spec.files)
    written = 0  # non-blank lines of the day, drives re-sends

    for part in range(spec.files):
        lo, hi = part * spec.rows // spec.files, (part + 1) * spec.rows // spec.files
        lines: list[str] = []
        for i in range(lo, hi):
            for copy in resend.pop_due(written):
                lines.append(copy)
                written += 1
            if blank_rate and rnd() < blank_rate:
                lines.append(F.blank_line(rng))
                counts["blank_line"] += 1
            customer = 1 + int(rnd() * n_customers)
            product_id, price, cents = products[int(rnd() * n_products)]
            store = 1 + int(rnd() * n_stores)
            quantity = _QUANTITY[int(rnd() * 100)]
            discount, pct = _DISCOUNT[int(rnd() * 100)]
            offset = _OFFSETS[int(rnd() * 16)]
            millis = int(rnd() * 1000) if rnd() < 0.2 else None
            ts = clock.iso(int(rnd() * DAY_SECONDS), offset, millis)
            u = rnd()
            kind = F.pick_fault(thresholds, u) if u < any_fault else None
            if kind is None:
                disc = "" if discount is None else f', "discount": {discount}'
                line = (
                    f'{{"sale_id": "SALE-{spec.first_sale + i:09d}", "customer_id": {customer}, '
                    f'"product_id": {product_id}, "store_id": {store}, "quantity": {quantity}, '
                    f'"amount": {price}{disc}, "sale_ts": "{ts}"}}'
                )
            else:
                pairs = [
                    ("sale_id", f'"SALE-{spec.first_sale + i:09d}"'),
                    ("customer_id", str(customer)),
                    ("product_id", str(product_id)),
                    ("store_id", str(store)),
                    ("quantity", str(quantity)),
                    ("amount", price),
                ]
                if discount is not None:
                    pairs.append(("discount", discount))
                pairs.append(("sale_ts", f'"{ts}"'))
                line = _faulty_line(rng, kind, pairs, clock, price)
                counts[kind] += 1
            if kind is None or kind == "extra_field":
                revenue[store] += cents * quantity * (100 - pct)
                transactions[store] += 1
                units[store] += quantity
            lines.append(line)
            written += 1
            if dup_rate and kind != "malformed" and rnd() < dup_rate:
                resend.schedule(written + 1 + int(rnd() * 2 * per_file), line)
        if part == spec.files - 1:
            copies = resend.drain()
            lines.extend(copies)
            written += len(copies)
        (folder / f"part-{part:04d}.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
        if on_rows is not None:
            on_rows(hi - lo)

    counts["duplicate"] = written - spec.rows
    stats.faults = counts
    stats.blank_lines = counts["blank_line"]
    stats.duplicate_copies = counts["duplicate"]
    stats.lines_nonblank = written
    stats.malformed = counts["malformed"]
    stats.parsed = written - stats.malformed
    stats.distinct_sales = spec.rows - stats.malformed
    stats.invalid = sum(counts[kind] for kind in F.INVALID_FAULTS)
    stats.valid = stats.distinct_sales - stats.invalid
    stats.by_store = {
        str(store): {
            "revenue": round(revenue[store] / 10_000, 4),
            "transactions": transactions[store],
            "units": units[store],
        }
        for store in range(1, n_stores + 1)
        if transactions[store]
    }
    return stats


def _faulty_line(
    rng: random.Random, kind: str, pairs: list[tuple[str, str]], clock: DayClock, price: str
) -> str:
    """Apply one record fault to the ordered ``(field, json_text)`` pairs of a sale."""
    if kind == "malformed":
        return F.malformed_line(rng, _render(pairs))
    if kind == "missing_field":
        gone = rng.choice(_ID_FIELDS)
        return _render([(k, v) for k, v in pairs if k != gone])
    if kind == "extra_field":
        name, value = F.extra_field(rng)
        pairs.insert(rng.randint(1, len(pairs)), (name, value))
        return _render(pairs)
    if kind == "wrong_day":
        return _render(_replace(pairs, "sale_ts", '"' + _wrong_day_ts(rng, clock) + '"'))
    name, value = F.wrong_type_value(rng) if kind == "wrong_type" else F.invalid_value(rng, price)
    return _render(_replace(pairs, name, value))


def _replace(pairs: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    """Set a field's value, adding the field before ``sale_ts`` when it is absent (discount)."""
    if any(k == name for k, _ in pairs):
        return [(k, value if k == name else v) for k, v in pairs]
    return [*pairs[:-1], (name, value), pairs[-1]]
