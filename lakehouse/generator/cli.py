"""Command line of the generator (``lakehouse-generate`` / ``python -m lakehouse.generator``).

Dates are fixed by default (``--start 2025-01-01``), so a given seed always gives the same
files. ``--days-back N`` is the relative mode: N days ending yesterday (UTC), as a lakehouse
running today would have received them. ``--sample`` is the sample that ``make dev`` sets up:
7 days ending yesterday, with the default faults.

Example::

    lakehouse-generate --out data/landing --days 30 --rows-per-day 66667 --force
    lakehouse-generate --out /tmp/clean --no-faults --quiet
    lakehouse-generate --out data/landing --days-back 14 --force      # 14 days up to yesterday
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from lakehouse.generator.faults import FaultRates
from lakehouse.generator.landing import generate_landing_zone
from lakehouse.generator.manifest import MANIFEST_NAME, Manifest

SAMPLE_DAYS = 7


def days_ending_yesterday(days: int, today: date | None = None) -> date:
    """The first of ``days`` days that end yesterday (UTC): the relative mode's start date.

    Example::

        days_ending_yesterday(7, today=date(2026, 12, 4))   # date(2026, 11, 27): 11-27 … 12-03
    """
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=days)


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a rate within [0, 1]")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lakehouse-generate",
        description="Generate a deterministic landing zone (sales, customers_cdc, products, "
        "stores, clickstream) with realistic faults, plus _manifest.json of the expected counts.",
    )
    add = parser.add_argument
    add("--out", type=Path, default=Path("data/landing"), help="landing folder (default: %(default)s)")
    add("--start", type=date.fromisoformat, default=date(2025, 1, 1), help="first sales day (default: 2025-01-01)")
    add("--days", type=_count, default=7, help="sales days (default: %(default)s)")
    add("--days-back", type=_count, metavar="N",
        help="relative dates: N days ending yesterday (UTC); replaces --start and --days")
    add("--sample", action="store_true",
        help=f"the sample `make dev` sets up: --days-back {SAMPLE_DAYS} with default faults and sizes")
    add("--rows-per-day", type=_count, default=2000,
        help="sales records per day, before re-sent copies (default: %(default)s)")
    add("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    add("--files-per-day", type=_count, default=4, help="sales files per day (default: %(default)s)")
    add("--customers", type=_count, default=1000, help="customers in the CDC feed (default: %(default)s)")
    add("--products", type=_count, default=200, help="products in the catalog (default: %(default)s)")
    add("--stores", type=_count, default=20, help="stores (default: %(default)s)")
    add("--clicks-per-day", type=_count, default=500, help="click events per day (default: %(default)s)")
    add("--click-files-per-day", type=_count, default=4, help="clickstream files per day (default: %(default)s)")
    add("--cdc-files-per-day", type=_count, default=3, help="CDC files per day (default: %(default)s)")
    add("--cdc-in-order", action="store_true", help="name CDC files in seq order (default: shuffled within a day)")
    defaults = FaultRates()
    rates = parser.add_argument_group("fault rates (probability per record)")
    for f in fields(FaultRates):
        rates.add_argument(f"--{f.name.replace('_', '-')}-rate", dest=f.name, type=_rate, metavar="RATE",
                           default=getattr(defaults, f.name), help="default: %(default)s")
    rates.add_argument("--no-faults", action="store_true", help="set every fault rate to 0")
    add("--force", action="store_true", help="regenerate into a non-empty --out (deletes only what it generates)")
    add("--quiet", action="store_true", help="no progress bar (the summary is still printed)")
    return parser


def _summary(manifest: Manifest, out: Path, seconds: float) -> str:
    totals = manifest.sales_totals
    faults = ", ".join(f"{kind}={count}" for kind, count in totals["faults"].items())
    cdc, clicks = manifest.customers_cdc, manifest.clickstream
    return "\n".join((
        f"landing zone written to {out} in {seconds:.1f}s",
        f"  sales: {totals['days']} days, {totals['files']} files, {totals['lines_nonblank']} lines "
        f"({totals['malformed']} malformed, {totals['parsed']} parsed), {totals['distinct_sales']} sales "
        f"({totals['valid']} valid, {totals['invalid']} invalid)",
        f"  sales faults: {faults}",
        f"  customers_cdc: {cdc.files} files, {cdc.events_written} events "
        f"({cdc.duplicate_events} duplicates, {cdc.distinct_events} distinct)",
        f"  clickstream: {clicks.files} files, {clicks.lines} lines ({clicks.malformed} malformed, "
        f"{clicks.duplicates} duplicates, {clicks.late_events} late)",
        f"  products: {manifest.products.snapshots} snapshots; stores: {manifest.stores}",
        f"  manifest: {out / MANIFEST_NAME}",
    ))


def main(argv: list[str] | None = None) -> int:
    """Run the generator; returns 0 on success, 2 when ``--out`` is not empty and no ``--force``.

    Example::

        main(["--out", "/tmp/landing", "--days", "2", "--rows-per-day", "100", "--quiet"])
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.sample:
        args.days_back = args.days_back or SAMPLE_DAYS
    if args.days_back is not None:
        if args.days_back < 1:
            parser.error("--days-back must be at least 1")
        explicit = [flag for flag in ("--start", "--days") if any(a == flag or a.startswith(flag + "=") for a in (argv or sys.argv[1:]))]
        if explicit:
            parser.error(f"--days-back (or --sample) sets the dates; drop {' and '.join(explicit)}")
        args.start, args.days = days_ending_yesterday(args.days_back), args.days_back
    began = time.perf_counter()
    try:
        rates = {f.name: getattr(args, f.name) for f in fields(FaultRates)}
        faults = FaultRates.none() if args.no_faults else FaultRates(**rates)
        manifest = generate_landing_zone(
            args.out, args.start, args.days, args.rows_per_day, args.seed, faults, args.files_per_day,
            progress=not args.quiet, customers=args.customers, products=args.products,
            stores=args.stores, clicks_per_day=args.clicks_per_day,
            click_files_per_day=args.click_files_per_day, cdc_files_per_day=args.cdc_files_per_day,
            cdc_out_of_order=not args.cdc_in_order, force=args.force,
        )
    except (FileExistsError, ValueError) as error:
        print(f"lakehouse-generate: {error}", file=sys.stderr)
        return 2
    print(_summary(manifest, args.out, time.perf_counter() - began))
    return 0
