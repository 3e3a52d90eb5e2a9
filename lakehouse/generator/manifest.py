"""The generator's manifest: ground truth of what landed, for tests and asset checks.

Written to ``<landing>/_manifest.json`` (sorted keys, indented). Layout::

    {
      "version": 1,
      "args": {...},                       # generator arguments and fault rates (not the path)
      "sales": {"days": {"2025-01-01": SalesDay, ...}, "totals": {...}},
      "customers_cdc": CdcStats,
      "clickstream": ClickstreamStats,
      "products": ProductStats,
      "stores": {"rows": 20}
    }
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

MANIFEST_NAME = "_manifest.json"
MANIFEST_VERSION = 1


@dataclass
class SalesDay:
    """Expected counts of one sales day (folder ``sales/<day>/``).

    ``lines_nonblank = malformed + parsed``; ``parsed = distinct_sales + duplicate_copies``;
    ``distinct_sales = valid + invalid``. ``faults`` counts records per fault kind (see
    ``faults.ALL_FAULT_KINDS``; ``duplicate`` = re-sent copies, ``blank_line`` = blank lines).
    ``by_store`` is the expected ``gold/daily_sales`` of the day:
    ``{"<store_id>": {"revenue": float, "transactions": int, "units": int}}`` over valid sales.
    """

    files: int = 0
    records: int = 0  # generated records, before re-sent copies
    lines_nonblank: int = 0  # = bronze/sales + bronze/sales_rejects rows
    blank_lines: int = 0
    malformed: int = 0  # = bronze/sales_rejects rows
    parsed: int = 0  # = bronze/sales rows
    duplicate_copies: int = 0
    distinct_sales: int = 0  # distinct sale_id in bronze/sales
    valid: int = 0  # = silver/sales rows
    invalid: int = 0  # = silver/sales_quarantine rows
    faults: dict[str, int] = field(default_factory=dict)
    by_store: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SalesDay:
        return cls(**data)


_SALES_COUNTERS = tuple(
    f.name for f in fields(SalesDay) if f.name not in ("faults", "by_store")
)


def sales_totals(days: dict[str, SalesDay]) -> dict[str, Any]:
    """Sum of the day counters, plus summed ``faults``, ``days`` and total ``revenue``."""
    totals: dict[str, Any] = {name: sum(getattr(d, name) for d in days.values()) for name in _SALES_COUNTERS}
    faults: dict[str, int] = {}
    for day in days.values():
        for kind, count in day.faults.items():
            faults[kind] = faults.get(kind, 0) + count
    totals["faults"] = faults
    totals["days"] = len(days)
    totals["revenue"] = round(
        sum(s["revenue"] for d in days.values() for s in d.by_store.values()), 4
    )
    return totals


@dataclass
class CdcStats:
    """What landed in ``customers_cdc/``.

    ``distinct_events`` = rows of ``bronze/customers_cdc``; ``expected_dim_customer_rows`` =
    rows of ``silver/dim_customer`` (INSERTs plus UPDATEs that changed a tracked column);
    ``expected_current_customers`` = its rows with ``is_current`` true.
    """

    files: int = 0
    events_written: int = 0  # lines
    duplicate_events: int = 0
    distinct_events: int = 0
    ops: dict[str, int] = field(default_factory=dict)  # distinct events per op
    noop_updates: int = 0  # UPDATEs that changed no tracked column
    reinserts: int = 0  # INSERTs after a DELETE of the same customer
    expected_dim_customer_rows: int = 0
    expected_current_customers: int = 0
    customers_total: int = 0
    first_seq: int = 0
    last_seq: int = 0
    out_of_order: bool = False  # file names do not follow seq order


@dataclass
class ClickstreamStats:
    """What landed in ``clickstream/``; ``distinct_events`` = distinct parseable ``event_id``."""

    files: int = 0
    lines: int = 0
    malformed: int = 0
    duplicates: int = 0  # re-delivered copies
    distinct_events: int = 0
    late_events: int = 0  # event_ts hours before the file's window


@dataclass
class ProductStats:
    """What landed in ``products/``; ``final_prices`` is what SCD1 ``silver/dim_product`` holds."""

    snapshots: int = 0
    products_total: int = 0  # distinct product_id over all snapshots
    price_changes: int = 0
    new_products: int = 0  # launched after the first day
    missing: list[list[Any]] = field(default_factory=list)  # [day, product_id] left out of a snapshot
    final_prices: dict[str, float] = field(default_factory=dict)  # product_id -> list_price


@dataclass
class Manifest:
    """Ground truth of a generated landing zone.

    Example::

        m = Manifest.load("data/landing")            # a landing folder or the manifest file
        day = m.sales_days["2025-01-01"]
        assert day.valid + day.invalid == day.distinct_sales
        m.sales_totals["malformed"], m.customers_cdc.distinct_events
    """

    args: dict[str, Any]
    sales_days: dict[str, SalesDay]
    customers_cdc: CdcStats
    clickstream: ClickstreamStats
    products: ProductStats
    stores: int
    version: int = MANIFEST_VERSION

    @property
    def sales_totals(self) -> dict[str, Any]:
        return sales_totals(self.sales_days)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "args": self.args,
            "sales": {
                "days": {day: asdict(stats) for day, stats in self.sales_days.items()},
                "totals": self.sales_totals,
            },
            "customers_cdc": asdict(self.customers_cdc),
            "clickstream": asdict(self.clickstream),
            "products": asdict(self.products),
            "stores": {"rows": self.stores},
        }

    def write(self, out: Path) -> Path:
        """Write ``<out>/_manifest.json`` and return its path."""
        path = Path(out) / MANIFEST_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        """Read a manifest from its file or from the landing folder that holds it."""
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST_NAME
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            args=data["args"],
            sales_days={day: SalesDay.from_dict(s) for day, s in data["sales"]["days"].items()},
            customers_cdc=CdcStats(**data["customers_cdc"]),
            clickstream=ClickstreamStats(**data["clickstream"]),
            products=ProductStats(**data["products"]),
            stores=data["stores"]["rows"],
            version=data["version"],
        )
