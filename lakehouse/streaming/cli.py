"""Run the clickstream queries from a shell: once (catch up and stop) or continuously until Ctrl-C.

Both queries use the tables, checkpoints and watermark the Dagster assets use: the resources
of :func:`lakehouse.definitions.build_definitions` for the ``LAKEHOUSE_*`` settings (so
``LAKEHOUSE_CLICKSTREAM_WATERMARK`` holds here too): ``landing/clickstream`` ->
``warehouse/bronze/clickstream`` (+ ``bronze/clickstream_rejects``, checkpoint
``checkpoints/bronze/clickstream``) -> ``warehouse/gold/hourly_events`` (checkpoint
``checkpoints/gold/hourly_events``).

Do not run it while sensor-driven Dagster runs of those assets may start: two queries on one
checkpoint at the same time fail or, worse, interleave their batches. Stop the sensor (or this
process) first; either side then picks up exactly where the other stopped.

Example::

    python -m lakehouse.streaming.cli                                       # catch up once, print reports
    python -m lakehouse.streaming.cli --continuous --interval "30 seconds"  # until Ctrl-C
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Sequence

from lakehouse import tables
from lakehouse.definitions import build_definitions
from lakehouse.settings import LakehouseSettings, interval
from lakehouse.streaming.clickstream import StreamReport, StreamRun, start_bronze_clickstream, start_hourly_events


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakehouse.streaming.cli", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--continuous", action="store_true", help="keep both queries running until Ctrl-C")
    parser.add_argument("--interval", default="30 seconds", help='batch interval with --continuous, e.g. "30 seconds"')
    parser.add_argument("--max-files-per-trigger", type=int, help="landed files per bronze micro-batch (default: the assets')")
    parser.add_argument("--watermark", help="how late an event may be and still be counted in gold "
                        "(default: LAKEHOUSE_CLICKSTREAM_WATERMARK, as for the assets)")
    args = parser.parse_args(argv)
    try:
        args.watermark = args.watermark and interval(args.watermark, "--watermark")
        args.interval = interval(args.interval, "--interval", calendar=False)
    except ValueError as error:
        parser.error(str(error))  # exits 2 with the usage line and the message

    resources = build_definitions(LakehouseSettings.from_env()).resources
    assert resources is not None  # build_definitions binds every resource
    spark, landing, warehouse, streams = (resources[name] for name in ("spark", "landing", "warehouse", "streams"))
    session = spark.get_embedded_session()  # foreachBatch keeps counts in the driver: not over Spark Connect
    events, rejects, gold = (t.key for t in (tables.BRONZE_CLICKSTREAM, tables.BRONZE_CLICKSTREAM_REJECTS, tables.GOLD_HOURLY_EVENTS))
    for key in (events, rejects, gold):
        warehouse.ensure(key)
    trigger = {"processingTime": args.interval} if args.continuous else None

    def start_bronze() -> StreamRun:
        return start_bronze_clickstream(
            session, landing.clickstream_folder(), str(warehouse.path(events)), str(warehouse.path(rejects)),
            streams.checkpoint(events), max_files_per_trigger=args.max_files_per_trigger or streams.max_files_per_trigger,
            trigger=trigger,
        )

    def start_gold() -> StreamRun:
        return start_hourly_events(
            session, str(warehouse.path(events)), str(warehouse.path(gold)), streams.checkpoint(gold),
            watermark=args.watermark or streams.watermark, trigger=trigger,
        )

    if not args.continuous:
        for start in (start_bronze, start_gold):  # gold reads what bronze has just written
            _print(start().wait())
        return 0
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    runs = [start_bronze(), start_gold()]
    print(f"clickstream: bronze and gold running every {args.interval}; Ctrl-C to stop", flush=True)
    while not stopping.wait(1.0):
        if any(not run.query.isActive for run in runs):
            break  # a query failed: stop the other one and report (the failure is raised below)
    for run in runs:
        run.query.stop()  # both first: a batch cut short is redone by the next start
    for run in runs:
        _print(run.wait())
    return 0


def _print(report: StreamReport) -> None:
    summary = {k: v for k, v in report.metadata().items() if k != "progress"}
    print(json.dumps(summary, default=str), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
