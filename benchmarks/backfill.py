"""Backfill benchmark: one single-run backfill of N days versus N separate runs, whole sales chain.

Each mode runs the real ``dagster asset materialize`` CLI in a fresh process, as a run worker
does: the single-run backfill is one process and one Spark JVM for the whole range; the separate
runs are one process and one JVM per day, run one after another. Both write their own warehouse
from the same generated landing zone and must end with the same row counts.

Usage::

    make bench                                  # 2,000,000 rows over 30 days, both modes
    make bench ARGS="--rows 200000 --days 5"    # smaller
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from benchmarks import machine
from lakehouse.generator import FaultRates, Manifest, generate_landing_zone
from lakehouse.settings import PROJECT_ROOT

ASSETS = "bronze/sales,bronze/sales_rejects,silver/sales,silver/sales_quarantine,gold/daily_sales"
START = date(2025, 1, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=2_000_000, help="total sales rows (default 2,000,000)")
    parser.add_argument("--days", type=int, default=30, help="days of sales (default 30)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--modes", default="single,separate", help="comma list of: single, separate")
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT / "data" / "bench")
    args = parser.parse_args(argv)

    landing = landing_zone(args.root / "landing", args.rows, args.days, args.seed)
    days = [(START + timedelta(days=i)).isoformat() for i in range(args.days)]
    results = []
    for mode in args.modes.split(","):
        target = args.root / mode
        shutil.rmtree(target, ignore_errors=True)
        env = run_env(landing, target)
        began = time.perf_counter()
        if mode == "single":
            materialize(env, "--partition-range", f"{days[0]}...{days[-1]}")
            runs = 1
        elif mode == "separate":
            for day in days:
                materialize(env, "--partition", day)
            runs = len(days)
        else:
            parser.error(f"unknown mode {mode!r}")
        seconds = time.perf_counter() - began
        results.append((mode, runs, seconds, _row_counts(target / "warehouse")))
        print(f"{mode}: {runs} run(s) in {seconds:.1f} s", flush=True)

    counts = {json.dumps(r[3], sort_keys=True) for r in results}
    _print_table(args, results, consistent=len(counts) == 1)
    return 0 if len(counts) == 1 else 1


def landing_zone(folder: Path, rows: int, days: int, seed: int, faults: FaultRates | None = None) -> Path:
    """The generated landing zone in ``folder``: reused when its manifest matches, else generated anew.

    ``faults`` defaults to the generator's default rates; ``FaultRates.none()`` gives a clean feed.
    """
    faults = FaultRates() if faults is None else faults
    manifest_file = folder / "_manifest.json"
    if manifest_file.exists():
        made = Manifest.load(manifest_file).args
        if (made.get("days"), made.get("rows_per_day"), made.get("seed"), made.get("faults")) == (
                days, rows // days, seed, faults.as_dict()):
            return folder
    print(f"generating {rows:,} rows over {days} days into {folder} ...", flush=True)
    generate_landing_zone(folder, START, days=days, rows_per_day=rows // days, seed=seed, faults=faults,
                          files_per_day=4, progress=True, force=True)
    return folder


def run_env(landing: Path, target: Path) -> dict[str, str]:
    """The environment of a ``dagster`` CLI run over ``landing`` whose warehouse and instance live in ``target``."""
    (target / "dagster_home").mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "config" / "dagster.yaml", target / "dagster_home" / "dagster.yaml")
    return {
        **os.environ,
        "DAGSTER_HOME": str(target / "dagster_home"),
        "LAKEHOUSE_LANDING": str(landing),
        "LAKEHOUSE_WAREHOUSE": str(target / "warehouse"),
        "LAKEHOUSE_CHECKPOINTS": str(target / "checkpoints"),
    }


def materialize(env: dict[str, str], *partition_args: str, assets: str = ASSETS) -> None:
    """``dagster asset materialize`` of ``assets`` in a fresh process, as a run worker does; exits on failure."""
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "lakehouse.definitions",
               "--select", assets, *partition_args]
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def _row_counts(warehouse: Path) -> dict[str, int]:
    import deltalake

    return {
        f"{layer}/{table}": deltalake.DeltaTable(str(warehouse / layer / table)).to_pyarrow_table(columns=["sale_date"]).num_rows
        for layer, table in [("bronze", "sales"), ("bronze", "sales_rejects"), ("silver", "sales"),
                             ("silver", "sales_quarantine"), ("gold", "daily_sales")]
    }


def _print_table(args, results, consistent: bool) -> None:
    print()
    print(f"machine: {machine.describe()}")
    print(f"data: {args.rows:,} sales rows over {args.days} days (seed {args.seed}), whole chain landing → gold")
    print()
    print(f"| {'mode':<36} | {'runs':>4} | {'wall s':>8} | {'s/day':>6} | {'silver rows':>11} |")
    print(f"|{'-' * 38}|{'-' * 6}|{'-' * 10}|{'-' * 8}|{'-' * 13}|")
    for mode, runs, seconds, counts in results:
        label = "single-run backfill (1 JVM)" if mode == "single" else f"separate runs ({runs} JVMs, sequential)"
        print(f"| {label:<36} | {runs:>4} | {seconds:>8.1f} | {seconds / args.days:>6.1f} | {counts['silver/sales']:>11,} |")
    if len(results) == 2:
        print(f"\nseparate / single = {results[1][2] / results[0][2]:.1f}x")
    print("row counts identical across modes" if consistent else "ROW COUNTS DIFFER ACROSS MODES")

