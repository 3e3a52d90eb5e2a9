"""JVM benchmark: what the class archive of ``make setup`` (:mod:`lakehouse.jvm`) saves a cold Spark JVM.

Two pieces of work, each in a fresh process, alternately without the archive (``-Xshare:off``) and
with it, ``--repeats`` times each (median reported):

* **Spark start and a first Delta write**: a session as the lakehouse opens one, then a 10-row
  Delta write, a MERGE and a count (the cost every cold JVM pays before any real work);
* **one day of the sales chain from the CLI**: ``dagster job execute -j sales_pipeline`` for one
  partition of a small clean landing zone (``--rows`` sales), every asset check included, as a run
  worker without the Connect server runs it.

Usage::

    make bench ARGS=jvm                  # 3 repeats each
    make bench ARGS="jvm --repeats 5"
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from benchmarks import machine
from benchmarks.backfill import landing_zone
from benchmarks.compare import dagster_run
from lakehouse import jvm
from lakehouse.generator import FaultRates
from lakehouse.settings import PROJECT_ROOT

DAY = date(2025, 1, 1)
OFF = {"spark.driver.extraJavaOptions": "-Xshare:off"}
FIRST_WRITE = """
import json, sys, tempfile
from lakehouse.resources import SparkResource
spark = SparkResource(master="local[*]", jars_dir=".cache/jars", conf=json.loads(sys.argv[1])).get_session()
folder = tempfile.mkdtemp()
spark.range(10).write.format("delta").save(folder + "/t")
spark.sql(f"MERGE INTO delta.`{folder}/t` t USING (SELECT 11 AS id) s ON t.id = s.id WHEN NOT MATCHED THEN INSERT *")
assert spark.read.format("delta").load(folder + "/t").count() == 11
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks jvm", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each piece of work with and without (default 3)")
    parser.add_argument("--rows", type=int, default=2_000, help="sales in the one day of the CLI run (default 2,000)")
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT / "data" / "bench" / "jvm")
    args = parser.parse_args(argv)
    archive = jvm.build()
    if archive is None:
        print("no java found", file=sys.stderr)
        return 1
    shutil.rmtree(args.root / "runs", ignore_errors=True)
    landing = landing_zone(args.root / "landing", args.rows, 1, 7, FaultRates.none())
    loads = [machine.load()]
    works = {
        "Spark start, a 10-row Delta write, a MERGE and a count": lambda conf, n: _first_write(conf),
        f"one day of sales_pipeline from the CLI ({args.rows:,} sales, every check)":
            lambda conf, n: dagster_run(landing, args.root / "runs" / f"{n}", [DAY.isoformat()], None,
                                        {"LAKEHOUSE_SPARK_CONF": json.dumps(conf)}).seconds or 0.0,
    }
    results: dict[str, dict[str, list[float]]] = {}
    for work, run in works.items():
        print(f"{work} ...", flush=True)
        times: dict[str, list[float]] = {"without": [], "with": []}
        for number in range(args.repeats):
            for label, conf in (("without", OFF), ("with", {})):
                times[label].append(run(conf, f"{label}-{number}"))
                print(f"  {label} the archive: {times[label][-1]:.1f} s", flush=True)
        results[work] = times
    loads.append(machine.load())

    print()
    print(f"machine: {machine.describe()}")
    print(f"{loads[0]} at the start, {loads[1]} at the end")
    print(f"archive: {archive} ({archive.stat().st_size / 2**20:.0f} MiB); median of {args.repeats} runs each, alternating")
    print()
    print("| work (a fresh process each) | without the archive | with it | saved |")
    print("| --- | ---: | ---: | ---: |")
    for work, times in results.items():
        without, with_ = statistics.median(times["without"]), statistics.median(times["with"])
        print(f"| {work} | {without:.1f} s | {with_:.1f} s | {without - with_:.1f} s ({1 - with_ / without:.0%}) |")
    return 0


def _first_write(conf: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", FIRST_WRITE, json.dumps(conf)], cwd=PROJECT_ROOT, check=True,
                   capture_output=True)
    return time.perf_counter() - began
