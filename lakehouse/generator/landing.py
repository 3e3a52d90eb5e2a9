"""Assemble a whole landing zone: reference data, CDC, clickstream, sales and the manifest.

Every source draws from its own ``random.Random`` seeded from ``(seed, source, day)``, so the
same arguments give byte-identical files and one source's volume does not shift another's.
"""

from __future__ import annotations

import random
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

from tqdm import tqdm

from lakehouse.generator.cdc import write_cdc
from lakehouse.generator.clickstream import write_clickstream_day
from lakehouse.generator.faults import FaultRates
from lakehouse.generator.manifest import MANIFEST_NAME, ClickstreamStats, Manifest
from lakehouse.generator.reference import plan_catalog, write_product_snapshots, write_stores
from lakehouse.generator.sales import SalesDaySpec, write_sales_day

#: What the generator writes under ``out``; ``force`` deletes these and nothing else.
GENERATED: tuple[str, ...] = ("sales", "customers_cdc", "products", "stores", "clickstream", MANIFEST_NAME)


def _rng(seed: int, *parts: object) -> random.Random:
    # str seeds are hashed with SHA-512 by random.seed: stable across runs and platforms.
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def prepare_out(out: Path, force: bool) -> None:
    """Make ``out`` ready: refuse a non-empty folder unless ``force``, then clear what we generate.

    Raises:
        FileExistsError: ``out`` holds something and ``force`` is false.
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} is not empty; pass force=True (--force) to regenerate it")
        for name in GENERATED:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def generate_landing_zone(
    out: Path,
    start: date = date(2025, 1, 1),
    days: int = 7,
    rows_per_day: int = 2000,
    seed: int = 42,
    faults: FaultRates | None = None,
    files_per_day: int = 4,
    progress: bool = False,
    *,
    customers: int = 1000,
    products: int = 200,
    stores: int = 20,
    clicks_per_day: int = 500,
    click_files_per_day: int = 4,
    cdc_files_per_day: int = 3,
    cdc_out_of_order: bool = True,
    force: bool = False,
) -> Manifest:
    """Generate a deterministic landing zone under ``out`` and write ``<out>/_manifest.json``.

    ``faults`` defaults to ``FaultRates()`` (0.5 to 2 % per kind); ``FaultRates.none()`` gives
    a clean feed. Sale ids are numbered day after day: day ``d`` holds
    ``SALE-<d * rows_per_day + 1>`` to ``SALE-<(d + 1) * rows_per_day>`` (plus re-sent copies).

    Example::

        manifest = generate_landing_zone(Path("data/landing"), date(2025, 1, 1), days=3,
                                         rows_per_day=1000, seed=7, faults=FaultRates())
        manifest.sales_days["2025-01-01"].valid
    """
    faults = FaultRates() if faults is None else faults
    at_least_one = {
        "days": days, "files_per_day": files_per_day, "customers": customers, "products": products,
        "stores": stores, "click_files_per_day": click_files_per_day, "cdc_files_per_day": cdc_files_per_day,
    }
    for name, value in at_least_one.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if rows_per_day < 0 or clicks_per_day < 0:
        raise ValueError("rows_per_day and clicks_per_day cannot be negative")
    out = Path(out)
    prepare_out(out, force)

    write_stores(out, stores, _rng(seed, "stores"))
    catalog = plan_catalog(_rng(seed, "products"), products, start, days)
    write_product_snapshots(out, catalog)
    cdc = write_cdc(out, _rng(seed, "cdc"), start, days, customers, cdc_files_per_day,
                    faults.cdc_duplicate, cdc_out_of_order)

    clicks = ClickstreamStats()
    for d in range(days):
        if clicks_per_day:
            day_clicks = write_clickstream_day(
                out, start + timedelta(days=d), d, _rng(seed, "clicks", d), clicks_per_day,
                click_files_per_day, cdc.sellable[d], [p[0] for p in catalog.sellable[d]], faults)
            for name in ("files", "lines", "malformed", "duplicates", "distinct_events", "late_events"):
                setattr(clicks, name, getattr(clicks, name) + getattr(day_clicks, name))

    sales_days = {}
    with tqdm(total=days * rows_per_day, unit="rows", unit_scale=True, desc="sales",
              file=sys.stderr, disable=not progress) as bar:
        for d in range(days):
            day = start + timedelta(days=d)
            spec = SalesDaySpec(day=day, rows=rows_per_day, files=files_per_day,
                                first_sale=d * rows_per_day + 1, customers=cdc.sellable[d],
                                stores=stores, products=catalog.sellable[d])
            sales_days[day.isoformat()] = write_sales_day(
                out, spec, _rng(seed, "sales", d), faults, bar.update)

    manifest = Manifest(
        args={
            "start": start.isoformat(), "days": days, "rows_per_day": rows_per_day, "seed": seed,
            "files_per_day": files_per_day, "customers": customers, "products": products,
            "stores": stores, "clicks_per_day": clicks_per_day,
            "click_files_per_day": click_files_per_day, "cdc_files_per_day": cdc_files_per_day,
            "cdc_out_of_order": cdc_out_of_order, "faults": faults.as_dict(),
        },
        sales_days=sales_days,
        customers_cdc=cdc.stats,
        clickstream=clicks,
        products=catalog.stats,
        stores=stores,
    )
    manifest.write(out)
    return manifest
