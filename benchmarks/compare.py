"""Compare benchmark: the lakehouse's sales chain against plain PySpark + Delta and Polars + delta-rs, on one landing zone.

One clean landing zone (no faults; 2,000,000 sales over 30 days by default, generated once into
``data/bench/landing_clean``) and three pieces of work:

* **one day with the other days already in the tables**: the last day, materialized again on the
  warehouse that the 30-day backfill left (the other 29 days are in every table; that day's own
  rows are replaced, as a re-run or a late file does);
* **one day on an empty warehouse**: the last day, into a new warehouse;
* **all days as one single-run backfill**: every day in one run, into a new warehouse.

Columns (each writes its own warehouses under ``data/bench/compare/<column>/``):

* **lakehouse cold**: ``dagster job execute -m lakehouse.definitions -j sales_pipeline`` in a fresh
  process (its own Spark JVM), as a run worker does: bronze/sales, bronze/sales_rejects, silver/sales,
  silver/sales_quarantine, gold/daily_sales and every asset check of the job;
* **lakehouse warm**: the same command with ``LAKEHOUSE_SPARK_REMOTE`` pointing at a Spark Connect
  server the benchmark starts (``lakehouse.connect.ConnectServer``); each work is run twice and the
  second run is reported (the first warms the server);
* **plain Spark cold**: ``python benchmarks/plain_spark.py`` (the same logic, no framework, no
  checks) in a fresh process, timed end to end;
* **plain Spark warm**: the same script doing the work three times in one JVM; the third pass;
* **Polars + delta-rs**: ``python benchmarks/plain_polars.py`` in a fresh process, end to end.

Then: the per-step profile of each lakehouse run (from the run's event log), and a check
that every column's gold/daily_sales has the same totals per day (exit 1 if not).

Usage::

    make bench ARGS=compare                                # 2,000,000 rows over 30 days
    make bench ARGS="compare --rows 20000 --days 3"        # quick
    make bench ARGS="compare --columns spark_cold,polars"  # some columns only
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from benchmarks import machine
from benchmarks.backfill import START, landing_zone, run_env
from benchmarks.run_profile import RunProfile
from lakehouse.generator import FaultRates
from lakehouse.settings import PROJECT_ROOT

JOB = "sales_pipeline"
COLUMNS = {
    "lakehouse_cold": "lakehouse cold (CLI, checks)",
    "lakehouse_warm": "lakehouse warm (Connect)",
    "spark_cold": "plain Spark cold",
    "spark_warm": "plain Spark warm (3rd pass)",
    "polars": "Polars + delta-rs",
}
WORK = ("day_on_full", "day_on_empty", "backfill")
BENCHMARKS = Path(__file__).resolve().parent


@dataclass
class Cell:
    """One measurement: seconds, or why there is none; the warehouse it wrote; the run's profile when it was a Dagster run."""

    seconds: float | None = None
    note: str = ""
    warehouse: Path | None = None
    profile: RunProfile | None = None

    def text(self) -> str:
        return f"{self.seconds:.1f} s" if self.seconds is not None else self.note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks compare", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=2_000_000, help="total sales rows (default 2,000,000)")
    parser.add_argument("--days", type=int, default=30, help="days of sales (default 30)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--columns", default=",".join(COLUMNS), help=f"comma list of: {', '.join(COLUMNS)} (default: all)")
    parser.add_argument("--skip-cold-lakehouse", action="store_true", help="leave out lakehouse_cold")
    parser.add_argument("--skip-warm-lakehouse", action="store_true", help="leave out lakehouse_warm")
    parser.add_argument("--port", type=int, default=15002, help="port of the Spark Connect server (default 15002)")
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT / "data" / "bench")
    args = parser.parse_args(argv)
    columns = [c for c in args.columns.split(",") if c]
    unknown = sorted(set(columns) - set(COLUMNS))
    if unknown:
        parser.error(f"unknown columns {unknown}; choose from {', '.join(COLUMNS)}")
    skipped = {"lakehouse_cold": args.skip_cold_lakehouse, "lakehouse_warm": args.skip_warm_lakehouse}
    columns = [c for c in columns if not skipped.get(c)]

    loads = [machine.load()]
    landing = landing_zone(args.root / "landing_clean", args.rows, args.days, args.seed, FaultRates.none())
    days = [(START + timedelta(days=i)).isoformat() for i in range(args.days)]
    target = args.root / "compare"
    shutil.rmtree(target, ignore_errors=True)
    runners: dict[str, Callable[[Path, Path, list[str]], dict[str, Cell]]] = {
        "lakehouse_cold": lambda landing, folder, days: _lakehouse(landing, folder, days, remote=None),
        "lakehouse_warm": lambda landing, folder, days: _lakehouse_warm(landing, folder, days, args.port),
        "spark_cold": lambda landing, folder, days: _script(landing, folder, days, "plain_spark.py", passes=1),
        "spark_warm": lambda landing, folder, days: _script(landing, folder, days, "plain_spark.py", passes=3),
        "polars": lambda landing, folder, days: _script(landing, folder, days, "plain_polars.py", passes=1),
    }
    results: dict[str, dict[str, Cell]] = {}
    for column in columns:
        print(f"{COLUMNS[column]} ...", flush=True)
        results[column] = runners[column](landing, target / column, days)
        print("  " + ", ".join(f"{work}: {cell.text()}" for work, cell in results[column].items()), flush=True)
    loads.append(machine.load())

    _print_table(args, results, loads)
    problems = agreement(results, days)
    print("\n" + ("gold/daily_sales totals per day (rows, transactions, units, revenue) identical in "
                  f"{', '.join(c for c in results if results[c]['backfill'].warehouse)}, after the backfill and the one-day runs"
                  if not problems else "GOLD TOTALS DIFFER:\n  " + "\n  ".join(problems)))
    return 1 if problems else 0


def _lakehouse(landing: Path, folder: Path, days: list[str], remote: str | None, repeats: int = 1) -> dict[str, Cell]:
    """The job through the ``dagster`` CLI, one fresh process per run; with ``repeats`` > 1 the last run counts."""
    cells: dict[str, Cell] = {}
    for work in ("day_on_empty", "backfill"):
        for number in range(1, repeats + 1):
            cells[work] = dagster_run(landing, folder / f"{work}-{number}", days if work == "backfill" else days[-1:], remote)
    backfilled = folder / f"backfill-{repeats}"
    for _ in range(repeats):
        cells["day_on_full"] = dagster_run(landing, backfilled, days[-1:], remote)
    return {work: cells[work] for work in WORK}


def _lakehouse_warm(landing: Path, folder: Path, days: list[str], port: int) -> dict[str, Cell]:
    from lakehouse.connect import ConnectServer

    folder.mkdir(parents=True, exist_ok=True)
    with ConnectServer(port=port, jars_dir=PROJECT_ROOT / ".cache" / "jars", log_file=folder / "connect.log") as server:
        return _lakehouse(landing, folder, days, remote=server.url, repeats=2)


def dagster_run(landing: Path, folder: Path, days: list[str], remote: str | None,
                extra_env: dict[str, str] | None = None) -> Cell:
    """One run of the job over ``days`` (one partition, or a single-run range) in a fresh process; exits on failure."""
    env = {**run_env(landing, folder), **(extra_env or {})}
    if remote:
        env["LAKEHOUSE_SPARK_REMOTE"] = remote
    if len(days) == 1:
        tags = {"dagster/partition": days[0]}
    else:
        tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
    command = [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "lakehouse.definitions",
               "-j", JOB, "--tags", json.dumps(tags)]
    began = time.perf_counter()
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    profile = RunProfile.latest(folder / "dagster_home", wall)
    if profile.status != "SUCCESS":
        raise SystemExit(f"the run of {JOB} in {folder} ended {profile.status}")
    return Cell(wall, warehouse=folder / "warehouse", profile=profile)


def _script(landing: Path, folder: Path, days: list[str], script: str, passes: int) -> dict[str, Cell]:
    """A baseline script in a fresh process per work; one pass is timed end to end, more passes report the last pass."""
    def run(work_days: list[str], warehouses: list[Path]) -> Cell:
        command = [sys.executable, str(BENCHMARKS / script), "--landing", str(landing),
                   "--days", f"{work_days[0]}...{work_days[-1]}", *map(str, warehouses)]
        began = time.perf_counter()
        result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - began
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        timings = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"pass"')]
        return Cell(wall if passes == 1 else timings[-1]["seconds"], warehouse=warehouses[-1])

    backfill = run(days, [folder / f"backfill-{n}" for n in range(1, passes + 1)])
    return {
        "day_on_full": run(days[-1:], [folder / f"backfill-{passes}"] * passes),
        "day_on_empty": run(days[-1:], [folder / f"day_on_empty-{n}" for n in range(1, passes + 1)]),
        "backfill": backfill,
    }


def gold_totals(warehouse: Path, days: Sequence[str]) -> dict[str, tuple[int, int, int, float]]:
    """Per day of ``days``: gold/daily_sales rows, transactions, units and revenue, read with delta-rs."""
    import deltalake

    table = deltalake.DeltaTable(str(warehouse / "gold" / "daily_sales")).to_pyarrow_table(
        columns=["sale_date", "transactions", "units", "revenue"])
    totals: dict[str, list] = {}
    for row in table.to_pylist():
        day = row["sale_date"].isoformat()
        if day in days:
            total = totals.setdefault(day, [0, 0, 0, 0.0])
            total[0] += 1
            total[1] += row["transactions"]
            total[2] += row["units"]
            total[3] += row["revenue"]
    return {day: (t[0], t[1], t[2], t[3]) for day, t in sorted(totals.items())}


def same_totals(a: dict[str, tuple[int, int, int, float]], b: dict[str, tuple[int, int, int, float]]) -> bool:
    """Equal counts, and revenue equal up to float summation order."""
    return a.keys() == b.keys() and all(
        a[d][:3] == b[d][:3] and math.isclose(a[d][3], b[d][3], rel_tol=1e-9, abs_tol=1e-6) for d in a)


def agreement(results: dict[str, dict[str, Cell]], days: list[str]) -> list[str]:
    """What differs between the columns' gold totals, per work (nothing when they all agree)."""
    problems = []
    for work in WORK:
        work_days = days if work != "day_on_empty" else days[-1:]
        written = {c: gold_totals(folder, work_days) for c, cells in results.items() if (folder := cells[work].warehouse)}
        if not written:
            continue
        first, reference = next(iter(written.items()))
        if not reference or sum(t[1] for t in reference.values()) == 0:
            problems.append(f"{work}: {first} wrote no gold rows")
        problems += [f"{work}: {column} {totals} != {first} {reference}"
                     for column, totals in written.items() if not same_totals(totals, reference)]
    return problems


def _print_table(args, results: dict[str, dict[str, Cell]], loads: list[str]) -> None:
    per_day = args.rows // args.days
    labels = {
        "day_on_full": f"one day ({per_day:,} rows), {args.days - 1} other days in the tables",
        "day_on_empty": f"one day ({per_day:,} rows) on an empty warehouse",
        "backfill": f"{args.days} days ({per_day * args.days:,} rows) as one single-run backfill",
    }
    print()
    print(f"machine: {machine.describe()}")
    print(f"{loads[0]} at the start, {loads[1]} at the end")
    print(f"data: {per_day * args.days:,} sales over {args.days} days (seed {args.seed}, no faults); "
          f"lakehouse = job {JOB} (bronze/sales, bronze/sales_rejects, silver/sales, silver/sales_quarantine, "
          "gold/daily_sales and their asset checks)")
    print()
    print("| work | " + " | ".join(COLUMNS[c] for c in results) + " |")
    print("| --- |" + " ---: |" * len(results))
    for work in WORK:
        print(f"| {labels[work]} | " + " | ".join(results[c][work].text() for c in results) + " |")
    _print_ratios(results)
    for column in ("lakehouse_cold", "lakehouse_warm"):
        for work in WORK:
            profile = results.get(column, {}).get(work, Cell()).profile
            if profile:
                print("\n" + profile.render(f"{COLUMNS[column]}, {labels[work]}"))


def _print_ratios(results: dict[str, dict[str, Cell]]) -> None:
    pairs = [("lakehouse_cold", "spark_cold", "framework and checks, both cold"),
             ("lakehouse_warm", "spark_warm", "framework and checks, both warm"),
             ("lakehouse_cold", "lakehouse_warm", "what a warm Connect server saves the lakehouse"),
             ("spark_cold", "spark_warm", "what a warm JVM saves the plain script"),
             ("spark_warm", "polars", "warm Spark against Polars"),
             ("lakehouse_cold", "polars", "the lakehouse cold against Polars")]
    lines = []
    for slow, fast, meaning in pairs:
        if slow not in results or fast not in results:
            continue
        ratios = [_ratio(results[slow][w], results[fast][w]) for w in WORK]
        if any(ratios):
            lines.append(f"| {COLUMNS[slow]} ÷ {COLUMNS[fast]} ({meaning}) | "
                         + " | ".join(f"{r:.1f}×" if r else "n/a" for r in ratios) + " |")
    if lines:
        print("\n| ratio | one day, tables full | one day, empty | backfill |\n| --- | ---: | ---: | ---: |")
        print("\n".join(lines))


def _ratio(slow: Cell, fast: Cell) -> float | None:
    return slow.seconds / fast.seconds if slow.seconds is not None and fast.seconds else None

