"""History benchmark: does a new day cost more with a year of days in the tables than with one?

Generates ``--days`` + 1 days of sales (small days by default: the question is the number of
partitions, files, commits and earlier materializations, not the volume of one day) into a
scratch folder, and builds two lakehouses on it, each with a Dagster instance on disk:

- ``short``: the first day only, one run;
- ``long``: the first ``--days`` days, as one single-run backfill.

Then, in one warm JVM, it runs the same new day (the day after the long history) through the
whole ``sales_pipeline`` job with every check, alternately in each lakehouse, ``--repeats``
times (a re-run overwrites the day, as a user's re-materialization does), and prints the median
per lakehouse and per step, and their ratio. What grows with history is then in those runs: the
Delta log replay (checkpoints every 10 commits), the row-count anomaly check (the last 7 days'
counts), the drift check, the partition overwrite of one day among many. The landing sensors'
listing is the sensors benchmark's (``make bench ARGS=sensors``).

Usage::

    make bench ARGS=history                                # 365 days of 500 rows, 3 repeats
    make bench ARGS="history --days 30 --rows-per-day 200" # a quick one
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from benchmarks import machine
from benchmarks.run_profile import RunProfile
from lakehouse.definitions import build_definitions
from lakehouse.generator import FaultRates, generate_landing_zone
from lakehouse.resources import SparkResource
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings

START = date(2025, 1, 1)
JOB = "sales_pipeline"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks history", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=365, help="days of history in the long lakehouse (default 365)")
    parser.add_argument("--rows-per-day", type=int, default=500, help="sales per day (default 500)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the new day per lakehouse (default 3)")
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT / "data" / "bench" / "history")
    args = parser.parse_args(argv)

    shutil.rmtree(args.root, ignore_errors=True)
    landing = args.root / "landing"
    generate_landing_zone(landing, START, days=args.days + 1, rows_per_day=args.rows_per_day, seed=7,
                          faults=FaultRates(), customers=1000, products=100, clicks_per_day=1)
    new_day = str(START + timedelta(days=args.days))
    spark = SparkResource(jars_dir=str(PROJECT_ROOT / ".cache" / "jars")).get_session()
    print(f"{args.days + 1} days of {args.rows_per_day} sales in {landing}; new day {new_day}", flush=True)

    lakehouses = {"short": 1, "long": args.days}
    built: dict[str, tuple[dg.JobDefinition, dg.DagsterInstance]] = {}
    for name, days in lakehouses.items():
        settings = LakehouseSettings.for_root(args.root / name, landing=landing, start_date=str(START))
        (args.root / name / "dagster_home").mkdir(parents=True)
        instance = dg.DagsterInstance.local_temp(str(args.root / name / "dagster_home"), overrides={"telemetry": {"enabled": False}})
        job = build_definitions(settings).resolve_job_def(JOB)
        began = time.perf_counter()
        last = str(START + timedelta(days=days - 1))
        tags = {ASSET_PARTITION_RANGE_START_TAG: str(START), ASSET_PARTITION_RANGE_END_TAG: last} if days > 1 else {}
        result = job.execute_in_process(instance=instance, tags=tags, partition_key=None if days > 1 else str(START))
        print(f"  {name}: {days} day(s) built in {time.perf_counter() - began:.0f} s ({result.success=})", flush=True)
        built[name] = (job, instance)

    timings: dict[str, list[float]] = {name: [] for name in lakehouses}
    steps: dict[str, dict[str, list[float]]] = {name: {} for name in lakehouses}
    for _ in range(args.repeats + 1):  # the first round warms the JVM up and is not counted
        for name, (job, instance) in built.items():
            began = time.perf_counter()
            result = job.execute_in_process(instance=instance, partition_key=new_day)
            seconds = time.perf_counter() - began
            if not result.success:
                raise SystemExit(f"the new day's run failed in the {name} lakehouse (run {result.run_id})")
            timings[name].append(seconds)
            for step in RunProfile.of(instance, result.dagster_run, seconds).steps:
                steps[name].setdefault(step.key, []).append(step.seconds)
    _print(args, new_day, timings, steps)
    for _, instance in built.values():
        instance.dispose()
    spark.stop()
    return 0


def _print(args, new_day: str, timings: dict[str, list[float]], steps: dict[str, dict[str, list[float]]]) -> None:
    short, long = (statistics.median(timings[name][1:]) for name in ("short", "long"))
    print(f"\nMachine: {machine.describe()}; load at end: {machine.load()}")
    print(f"New day {new_day}, {args.rows_per_day} sales, whole {JOB} with every check, in-process in a warm JVM; "
          f"median of {args.repeats} runs (first round not counted)\n")
    print(f"| step | 1 day of history | {args.days} days of history | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for step in sorted(steps["long"]):
        a, b = (statistics.median(steps[name].get(step, [0.0, 0.0])[1:] or [0.0]) for name in ("short", "long"))
        print(f"| {step} | {a:.2f} s | {b:.2f} s | {b / a if a else float('nan'):.2f}× |")
    print(f"| **whole run** | **{short:.1f} s** | **{long:.1f} s** | **{long / short:.2f}×** |")
