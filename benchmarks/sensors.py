"""Sensor benchmark: how long a tick of each landing sensor takes over thousands of files (no Spark, no runs).

Lands small files into a temporary landing zone (5,000 sales files over 50 days, 2,000 CDC and
2,000 clickstream files by default), then times each sensor's evaluation function, as the code
server calls it, with ``time.perf_counter`` over several repeats, for three ticks:

- ``first``: no cursor, every file is new (a new deployment, or a cursor cleared in the UI);
- ``steady``: the cursor of the first tick, nothing new (what almost every 30 s tick is);
- ``late``: 10 more files landed into existing folders (sales: 10 different earlier days).

Prints a markdown table (median and max milliseconds per tick, the requests it made) and the
size of each cursor, next to what a cursor listing every file name would take.

Usage::

    python -m benchmarks sensors
    python -m benchmarks sensors --sales-files 20000 --days 200 --repeats 11
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import cast

import dagster as dg

from benchmarks import machine
from lakehouse.partitions import daily_partitions
from lakehouse.resources import LandingZone
from lakehouse.sensors.landing import (
    CDC,
    CLICKSTREAM,
    NEW_FILES_TAG,
    SALES,
    build_landing_sensors,
    list_day_folders,
    list_files,
)

START = date(2025, 1, 1)
LATE_FILES = 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sales-files", type=int, default=5_000, help="sales files in all (default 5,000)")
    parser.add_argument("--days", type=int, default=50, help="days the sales files are spread over (default 50)")
    parser.add_argument("--cdc-files", type=int, default=2_000)
    parser.add_argument("--clickstream-files", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=7, help="timed evaluations per tick (default 7)")
    parser.add_argument("--root", type=Path, help="land the files here and keep them (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.days < LATE_FILES:
        parser.error(f"--days must be at least {LATE_FILES} (the late files go to {LATE_FILES} different days)")
    logging.disable(logging.INFO)  # the sensors' log line per tick would drown the table

    with tempfile.TemporaryDirectory(prefix="lakehouse-sensor-bench-") as scratch, dg.instance_for_test() as instance:
        root = args.root or Path(scratch)
        days = [(START + timedelta(days=i)).isoformat() for i in range(args.days)]
        counts = {
            "sales_landing_sensor": _land_sales(root, days, args.sales_files),
            "customers_cdc_sensor": _land(root / CDC, "cdc", args.cdc_files),
            "clickstream_sensor": _land(root / CLICKSTREAM, "clicks", args.clickstream_files),
        }
        sensors = build_landing_sensors(daily_partitions(START.isoformat()), sales_job="sales_pipeline",
                                        customer_job="customer_dimension", clickstream_job="clickstream")
        landing = LandingZone(root=str(root))
        rows, cursors = [], []
        for sensor in sensors:
            first = _time(sensor, landing, instance, None, args.repeats)
            cursor = first[-1].cursor
            if cursor is None:
                raise ValueError(f"{sensor.name} returned no cursor on its first tick")
            steady = _time(sensor, landing, instance, cursor, args.repeats)
            _land_late(root, sensor.name, days)
            late = _time(sensor, landing, instance, cursor, args.repeats)
            rows += [(sensor.name, counts[sensor.name], tick, *timing) for tick, timing in
                     (("first", first), ("steady", steady), ("late", late))]
            cursors.append((sensor.name, len(cursor.encode()), _names_cursor_bytes(root, sensor.name)))
    _print(args, rows, cursors)
    return 0


def _land_sales(root: Path, days: list[str], files: int) -> int:
    for i in range(files):
        _touch(root / SALES / days[i % len(days)] / f"part-{i // len(days):04d}.json")
    return files


def _land(folder: Path, prefix: str, files: int) -> int:
    for i in range(files):
        _touch(folder / f"{prefix}-{i:06d}.json")
    return files


def _land_late(root: Path, sensor: str, days: list[str]) -> None:
    """10 files: into 10 earlier, non-consecutive days for sales; into the folder for the others."""
    for i in range(LATE_FILES):
        if sensor == "sales_landing_sensor":
            _touch(root / SALES / days[i * (len(days) // LATE_FILES)] / f"late-{i:02d}.json")
        else:
            _touch(root / (CDC if sensor == "customers_cdc_sensor" else CLICKSTREAM) / f"late-{i:02d}.json")


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"id": 1}\n')


def _time(sensor: dg.SensorDefinition, landing: LandingZone, instance, cursor: str | None, repeats: int):
    """(median ms, max ms, requests, new files, last result) of ``repeats`` evaluations from the same cursor."""
    seconds = []
    for _ in range(repeats):
        context = dg.build_sensor_context(cursor=cursor, instance=instance, resources={"landing": landing})
        began = time.perf_counter()
        result = cast(dg.SensorResult, sensor(context))  # the landing sensors return a SensorResult
        seconds.append(time.perf_counter() - began)
    requests = result.run_requests or []
    new = sum(int(r.tags[NEW_FILES_TAG]) for r in requests)
    return 1000 * statistics.median(seconds), 1000 * max(seconds), len(requests), new, result


def _names_cursor_bytes(root: Path, sensor: str) -> int:
    """What a cursor holding every file name (per folder, compact JSON) would weigh, for comparison."""
    listing = list_day_folders(root / SALES) if sensor == "sales_landing_sensor" else {
        folder: list_files(root / folder) for folder in ((CDC,) if sensor == "customers_cdc_sensor" else (CLICKSTREAM,))
    }
    return len(json.dumps(listing, separators=(",", ":")).encode())


def _print(args, rows, cursors) -> None:
    print()
    print(f"machine: {machine.describe()}; "
          f"{args.repeats} evaluations per tick; late tick = {LATE_FILES} new files")
    print()
    print("| sensor | files | tick | median ms | max ms | requests | new files |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for sensor, files, tick, median, worst, requests, new, _ in rows:
        print(f"| {sensor} | {files:,} | {tick} | {median:.1f} | {worst:.1f} | {requests} | {new:,} |")
    print()
    print("| sensor | cursor bytes | a cursor of every name would take |")
    print("|---|---:|---:|")
    for sensor, size, names in cursors:
        print(f"| {sensor} | {size:,} | {names:,} |")
