"""Layout benchmark: one customer's sales read from silver/sales before and after Z-ordering.

Builds silver/sales from the backfill benchmark's landing zone (2,000,000 rows over 30 days by
default) through the real ``dagster asset materialize`` CLI, as one single-run backfill of the
sales chain up to silver, exactly as a run worker writes it. Then, in this process's own embedded
Spark, it runs ``SELECT count(*), sum(net_amount) ... WHERE customer_id = X`` (no sale_date filter,
so no partition pruning: only Delta's per-file min/max statistics can skip files) and a full scan,
before and after ``OPTIMIZE ... ZORDER BY`` with the registry's ``zorder`` columns and
``optimize_max_file_bytes`` of silver/sales (:func:`lakehouse.delta.optimize`).

Files and bytes scanned are read from each executed plan's file-scan metrics ("number of files
read", "size of files read"), which count the files left after partition pruning and Delta's data
skipping. The table as written is kept as a copy, so that both layouts are timed in alternation
(one untimed run of each query first, then ``--repeats`` rounds; the median is printed): on a
shared machine a load that drifts then weighs on before and after alike.

Usage::

    make bench ARGS=layout                                        # 2,000,000 rows over 30 days
    make bench ARGS="layout --rows 200000 --days 5 --repeats 3"   # smaller
    make bench ARGS="layout --max-file-bytes 1073741824"          # another OPTIMIZE file size than the registry's
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from benchmarks import machine
from benchmarks.backfill import START, landing_zone, materialize, run_env
from lakehouse import delta, tables
from lakehouse.resources import SparkResource
from lakehouse.settings import PROJECT_ROOT

ASSETS = "bronze/sales,bronze/sales_rejects,silver/sales,silver/sales_quarantine"
TARGET = 0.10  # after Z-ordering, read at most this share of the files read before


@dataclass(frozen=True)
class ScanMetrics:
    """What the file scans of one executed query read: files and bytes, after pruning and data skipping."""

    files: int
    bytes: int


def collect_scanned(frame: DataFrame) -> tuple[list[Row], ScanMetrics]:
    """Run ``frame`` and return its rows and what its file scans read, from the executed plan's metrics.

    Sums the "number of files read" and "size of files read" metrics of every ``FileSourceScanExec``
    in the executed plan (inside adaptive query stages too). Spark fills them with the files it
    actually lists for the scan: for a Delta table, those left after partition pruning and data
    skipping on the files' min/max statistics. Embedded Spark only (the plan is read over py4j).

    Example::

        rows, scan = collect_scanned(spark.sql(f"SELECT count(*) FROM {sql_path(path)} WHERE customer_id = 7"))
        scan.files, scan.bytes        # what the scan read after data skipping, e.g. 31 of 390 files
    """
    rows = frame.collect()
    jdf = cast(Any, frame._jdf)  # py4j's JavaObject.__getattr__ is inferred as possibly None
    scans = list(_file_scans(jdf.queryExecution().executedPlan()))
    if not scans:
        raise ValueError("the executed plan has no file scan (FileSourceScanExec) to read metrics from")
    return rows, ScanMetrics(
        files=sum(_metric(scan, "numFiles") for scan in scans),
        bytes=sum(_metric(scan, "filesSize") for scan in scans),
    )


def _file_scans(plan):
    """The ``FileSourceScanExec`` nodes of a JVM physical plan, looking through AQE's wrappers and stages."""
    name = plan.getClass().getSimpleName()
    if name == "AdaptiveSparkPlanExec":
        yield from _file_scans(plan.executedPlan())  # the final plan, once the query has run
        return
    if name.endswith("QueryStageExec"):
        yield from _file_scans(plan.plan())
        return
    if name == "FileSourceScanExec":
        yield plan
    children = plan.children()
    for i in range(children.size()):
        yield from _file_scans(children.apply(i))


def _metric(plan, name: str) -> int:
    found = plan.metrics().get(name)
    if not found.isDefined():
        raise ValueError(f"{plan.getClass().getSimpleName()} has no metric {name!r}")
    return int(found.get().value())


@dataclass(frozen=True)
class Measurement:
    """One query on one layout: the table's files, what the query scanned, its answer and median time."""

    query: str
    layout: str
    table_files: int
    table_bytes: int
    scan: ScanMetrics
    answer: tuple
    seconds: float


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks layout", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=2_000_000, help="total sales rows (default 2,000,000)")
    parser.add_argument("--days", type=int, default=30, help="days of sales (default 30)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=7, help="timed warm runs per query and layout (default 7)")
    parser.add_argument("--customer", type=int,
                        help="customer_id to query (default: the median customer of those who bought on every day)")
    parser.add_argument("--max-file-bytes", type=int, default=tables.SILVER_SALES.optimize_max_file_bytes,
                        help="OPTIMIZE's target file size (default: optimize_max_file_bytes of silver/sales, "
                             f"{tables.SILVER_SALES.optimize_max_file_bytes})")
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT / "data" / "bench")
    args = parser.parse_args(argv)

    loads = [machine.load()]
    landing = landing_zone(args.root / "landing", args.rows, args.days, args.seed)
    target = args.root / "layout"
    shutil.rmtree(target, ignore_errors=True)
    days = [(START + timedelta(days=i)).isoformat() for i in range(args.days)]
    print(f"building silver/sales in {target} (dagster asset materialize, {days[0]}...{days[-1]}) ...", flush=True)
    began = time.perf_counter()
    materialize(run_env(landing, target), "--partition-range", f"{days[0]}...{days[-1]}", assets=ASSETS)
    print(f"  built in {time.perf_counter() - began:.0f} s", flush=True)

    spark = SparkResource(jars_dir=str(PROJECT_ROOT / ".cache" / "jars")).get_session()
    table = tables.SILVER_SALES
    path = str(target / "warehouse" / table.layer / table.key.path[1])
    customer = args.customer if args.customer is not None else typical_customer(spark, path)
    # The table as the run wrote it, kept as a copy (its log holds relative file paths), so that
    # before and after can be timed in alternation: a load that drifts then weighs on both alike.
    as_written = str(target / "as_written")
    shutil.copytree(path, as_written)

    print(f"OPTIMIZE ZORDER BY {table.zorder}, max file bytes {args.max_file_bytes} ...", flush=True)
    began = time.perf_counter()
    optimized = delta.optimize(spark, path, zorder=table.zorder, max_file_bytes=args.max_file_bytes)
    optimize_s = time.perf_counter() - began

    loads.append(machine.load())
    results = measure(spark, {"as written": as_written, "Z-ordered": path}, customer, args.repeats)
    loads.append(machine.load())
    same = all(_same_answer(results[i].answer, results[i + len(results) // 2].answer) for i in range(len(results) // 2))
    _print(spark, args, path, results, optimize_s, optimized, same, loads)
    return 0 if same else 1


def typical_customer(spark: SparkSession, path: str) -> int:
    """The customer with the median number of sales among those who bought on every day of the table.

    Such a customer is in every day's partition, so no layout can spare a day; one who bought only
    on a few days would make skipping look better than it is for a regular customer.
    """
    sales = delta.read(spark, path)
    days = sales.select("sale_date").distinct().count()
    per_customer = (sales.groupBy("customer_id")
                    .agg(F.count_distinct("sale_date").alias("days"), F.count("*").alias("sales"))
                    .where(F.col("days") == days).orderBy("sales", "customer_id").collect())
    if not per_customer:
        raise SystemExit(f"no customer bought on all {days} days of {path}; pass --customer")
    return int(per_customer[len(per_customer) // 2]["customer_id"])


def measure(spark: SparkSession, layouts: dict[str, str], customer: int, repeats: int) -> list[Measurement]:
    """The one-customer query and a full scan on each layout: files, bytes, answer, median time of warm runs.

    Each query runs once untimed on each layout, then ``repeats`` rounds run every (layout, query)
    once in turn; the scan must read the same files and bytes every time.
    """
    cells = [(layout, query, sql, path)
             for layout, path in layouts.items() for query, sql in _queries(path, customer).items()]
    first = {cell: collect_scanned(spark.sql(cell[2])) for cell in cells}  # the untimed warm-up runs
    seconds: dict[tuple, list[float]] = {cell: [] for cell in cells}
    for _ in range(repeats):
        for cell in cells:
            frame = spark.sql(cell[2])
            began = time.perf_counter()
            _, scan = collect_scanned(frame)
            seconds[cell].append(time.perf_counter() - began)
            if scan != first[cell][1]:
                raise SystemExit(f"{cell[1]} ({cell[0]}): the scan read {scan} once and {first[cell][1]} another time")
    results = []
    for cell in cells:
        layout, query, _, path = cell
        found = delta.detail(spark, path)
        rows, scan = first[cell]
        median = statistics.median(seconds[cell])
        print(f"  {layout}, {query}: {scan.files:,} of {found.num_files:,} files, {scan.bytes / 2**20:.1f} MiB, "
              f"median {median:.2f} s of {', '.join(f'{s:.2f}' for s in seconds[cell])}", flush=True)
        results.append(Measurement(query, layout, found.num_files, found.size_bytes, scan, tuple(rows[0]), median))
    return results


def _queries(path: str, customer: int) -> dict[str, str]:
    table = delta.sql_path(path)
    return {
        f"customer_id = {customer}": f"SELECT count(*), sum(net_amount) FROM {table} WHERE customer_id = {customer}",
        "full scan": f"SELECT count(*), sum(net_amount) FROM {table}",
    }


def _same_answer(before: tuple, after: tuple) -> bool:
    """Same count; same sum up to floating-point summation order (files are read in another order after OPTIMIZE)."""
    return before[0] == after[0] and math.isclose(before[1], after[1], rel_tol=1e-9)


def _print(spark, args, path, results: list[Measurement], optimize_s: float, optimized, same: bool,
           loads: list[str]) -> None:
    sales = delta.read(spark, path)
    rows, days = sales.count(), sales.select("sale_date").distinct().count()
    table = tables.SILVER_SALES
    print()
    print(f"machine: {machine.describe()}, pyspark {version('pyspark')}, delta-spark {version('delta-spark')}, "
          f"Spark {spark.sparkContext.master}")
    print(f"{loads[0]} at the start, {loads[1]} before the queries, {loads[2]} after them")
    print(f"data: {args.rows:,} generated sales rows over {args.days} days (seed {args.seed}); silver/sales "
          f"{rows:,} rows in {days} day partitions, {results[0].table_bytes / 2**20:.1f} MiB as written")
    print(f"OPTIMIZE ZORDER BY ({', '.join(table.zorder)}), max file bytes "
          f"{args.max_file_bytes or 'unset (1 GiB)'}: {optimize_s:.1f} s, "
          f"{optimized['numFilesRemoved']:,} files removed, {optimized['numFilesAdded']:,} added")
    print()
    print("| query | layout | files in table | files scanned | MiB scanned | median s |")
    print("|---|---|---:|---:|---:|---:|")
    for m in results:
        print(f"| {m.query} | {m.layout} | {m.table_files:,} | {m.scan.files:,} | {m.scan.bytes / 2**20:.2f} | "
              f"{m.seconds:.2f} |")
    before, after = results[0], results[len(results) // 2]
    share = after.scan.files / before.scan.files if before.scan.files else float("nan")
    print(f"\n{before.query}: Z-ordered reads {after.scan.files:,} / {before.scan.files:,} = {share:.1%} of the files "
          f"read before (target <= {TARGET:.0%}: {'met' if share <= TARGET else 'MISSED'}), "
          f"{after.scan.bytes / before.scan.bytes:.1%} of the bytes, "
          f"{after.scan.files / after.table_files:.1%} of the Z-ordered table's files")
    print(f"same answers before and after (customer: {before.answer[0]:,} sales)" if same
          else "ANSWERS DIFFER BEFORE AND AFTER")
