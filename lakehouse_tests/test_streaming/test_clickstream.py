"""Clickstream streaming: files landing over several runs, re-deliveries, rejects, late events and the watermark."""

import json
import os
import shutil
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from lakehouse.streaming import run_bronze_clickstream, run_hourly_events


def click(event_id: str | None, ts: str, kind: str = "view", **extra) -> str:
    event = {"event_id": event_id, "session_id": "S-1", "customer_id": 7, "event_type": kind, "product_id": 3,
             "event_ts": ts, **extra}
    return json.dumps(event)


class Lake:
    """Landing folder, tables and checkpoints of one test, plus helpers to land files and run the queries."""

    def __init__(self, spark, root: Path) -> None:
        self.spark = spark
        self.landing = root / "landing" / "clickstream"
        self.landing.mkdir(parents=True)
        self.bronze, self.rejects, self.gold = (str(root / "wh" / name) for name in ("bronze", "rejects", "gold"))
        self.bronze_cp, self.gold_cp = str(root / "cp" / "bronze"), str(root / "cp" / "gold")
        self._landed = 0

    def land(self, name: str, lines: list[str]) -> Path:
        """Write a file with a modification time after every file landed before it (the landing order)."""
        path = self.landing / name
        path.write_text("".join(line + "\n" for line in lines))
        self._landed += 1
        os.utime(path, (1_700_000_000 + self._landed, 1_700_000_000 + self._landed))
        return path

    def run_bronze(self, **kwargs):
        return run_bronze_clickstream(self.spark, str(self.landing), self.bronze, self.rejects, self.bronze_cp,
                                      **kwargs)

    def run_gold(self, **kwargs):
        return run_hourly_events(self.spark, self.bronze, self.gold, self.gold_cp, **kwargs)

    def table(self, path: str):
        return self.spark.read.format("delta").load(path)


@pytest.fixture
def lake(spark, tmp_path):
    return Lake(spark, tmp_path)


def test_files_over_several_runs_land_each_event_once_and_rejects_aside(lake):
    e2 = click("E2", "2025-01-01T10:01:00.000Z", customer_id="abc", coupon="XMAS")
    lake.land("clicks-2025-01-01-00.json", [click("E1", "2025-01-01T10:00:00.000Z"), e2,
                                            click(None, "2025-01-01T10:02:00.000Z"), ""])
    lake.land("clicks-2025-01-01-01.json", [click("E3", "2025-01-01T23:59:59+02:00"), e2])  # E2 again
    # In flight or not click files: never read.
    for name in ("_clicks-2025-01-01-02.json", ".clicks-2025-01-01-02.json", "notes.txt"):
        (lake.landing / name).write_text(click("HIDDEN", "2025-01-01T10:00:00Z") + "\n")

    first = lake.run_bronze()
    assert (first.batches, first.files, first.input_rows) == (1, 2, 5)
    assert (first.records_new, first.duplicates_dropped, first.rejects) == (4, 1, 0)

    lake.land("clicks-2025-01-02-00.json", [
        click("E1", "2025-01-01T10:00:00.000Z"),  # re-delivered from the first run
        '{"event_id": "E9", "event_ts": "2025-01-02T0',  # truncated
        click("E4", "yesterday"),
        click(None, "2025-01-01T10:02:00.000Z"),  # no event_id: kept, once per file and line
        click("E3", "2025-01-01T23:59:59+02:00"),
    ])
    lake.land("clicks-2025-01-02-01.json", ["[1, 2]", click("E5", "2025-01-02T00:30:00Z")])
    second = lake.run_bronze(max_files_per_trigger=1)
    assert (second.batches, second.files, second.input_rows) == (2, 2, 7)
    assert (second.records_new, second.duplicates_dropped, second.rejects) == (3, 2, 2)

    bronze = lake.table(lake.bronze)
    ids = [r.event_id for r in bronze.select("event_id").collect()]
    assert sorted(i for i in ids if i) == ["E1", "E2", "E3", "E4", "E5"] and ids.count(None) == 2
    e2 = bronze.where("event_id = 'E2'").first()
    assert e2._source_file.endswith("clicks-2025-01-01-00.json") and e2._source_line == 2  # the first copy landed
    assert e2.customer_id is None and json.loads(e2._rescued_data) == {"customer_id": "abc", "coupon": "XMAS"}
    times = {r.event_id: (str(r.event_time), str(r.event_date)) for r in bronze.collect()}
    assert times["E3"] == ("2025-01-01 21:59:59", "2025-01-01")  # UTC
    assert times["E4"] == ("None", "None")  # not ISO-8601: kept, without a time
    detail = DeltaTable.forPath(lake.spark, lake.bronze).detail().first()
    assert detail is not None and detail.partitionColumns == ["event_date"]

    rejects = lake.table(lake.rejects).orderBy("_source_file", "_source_line").collect()
    assert [(Path(r._source_file).name, r._source_line, r._raw_line) for r in rejects] == [
        ("clicks-2025-01-02-00.json", 2, '{"event_id": "E9", "event_ts": "2025-01-02T0'),
        ("clicks-2025-01-02-01.json", 1, "[1, 2]"),
    ]
    assert rejects[0]._reject_reason.startswith("malformed JSON") and rejects[1]._reject_reason.startswith("not a JSON")

    progress = second.metadata()["progress"]
    assert [p["batchId"] for p in progress] == [1, 2]
    assert all(p["numInputRows"] == 1 and p["processedRowsPerSecond"] >= 0 for p in progress)  # one file per batch
    assert second.durations_ms["triggerExecution"] > 0 and second.processed_rows_per_second > 0

    idle = lake.run_bronze()
    assert (idle.batches, idle.input_rows, idle.records_new) == (0, 0, 0)


def test_replaying_every_batch_adds_nothing(lake):
    """A batch replayed after a crash (written, checkpoint not committed) is a no-op; here all of them are."""
    lake.land("clicks-2025-01-01-00.json", [click("E1", "2025-01-01T10:00:00Z"), "oops",
                                            click(None, "2025-01-01T10:00:00Z")])
    lake.run_bronze()
    shutil.rmtree(lake.bronze_cp)

    replay = lake.run_bronze()
    assert (replay.input_rows, replay.records_new, replay.duplicates_dropped, replay.rejects) == (3, 0, 2, 1)
    assert lake.table(lake.bronze).count() == 2 and lake.table(lake.rejects).count() == 1


def test_late_events_within_the_watermark_are_counted_and_beyond_it_dropped(lake):
    lake.land("clicks-2025-01-01-10.json", [
        click("A1", "2025-01-01T10:05:00Z"),
        click("A2", "2025-01-01T10:20:00Z"),
        click("A3", "2025-01-01T11:05:00Z"),
        click("A4", "2025-01-01T12:30:00Z"),  # after this run the watermark is 11:30
        click("A5", "not a time"),
    ])
    lake.run_bronze()
    first = lake.run_gold()
    assert first.late_events_dropped == 0 and first.watermark == "2025-01-01T11:30:00.000Z"

    lake.land("clicks-2025-01-01-12.json", [
        click("B1", "2025-01-01T11:10:00Z"),  # older than the watermark, but its window (11-12) is still open
        click("B2", "2025-01-01T11:50:00Z", kind="add_to_cart"),  # a new window, also open
        click("B3", "2025-01-01T10:40:00Z"),  # window 10-11 closed: dropped
        click("B4", "2025-01-01T09:15:00Z"),
        click("B5", "2025-01-01T09:16:00Z"),
        click("B6", "2025-01-01T09:17:00Z"),
    ])
    lake.run_bronze()
    second = lake.run_gold()

    gold = {(str(r.window_start), r.event_type): (str(r.window_end), r.events) for r in lake.table(lake.gold).collect()}
    assert gold == {
        ("2025-01-01 10:00:00", "view"): ("2025-01-01 11:00:00", 2),
        ("2025-01-01 11:00:00", "view"): ("2025-01-01 12:00:00", 2),  # A3, then B1 a run later
        ("2025-01-01 11:00:00", "add_to_cart"): ("2025-01-01 12:00:00", 1),
        ("2025-01-01 12:00:00", "view"): ("2025-01-01 13:00:00", 1),
    }
    assert (second.input_rows, second.late_events_dropped, second.records_new, second.records_updated) == (6, 4, 1, 1)
    # Spark's own metric counts dropped groups after partial aggregation: (10-11, view) and (9-10, view).
    assert sum(p.get("numRowsDroppedByWatermark", 0) for p in second.progress) == 2
    assert all(p["watermark"] == "2025-01-01T11:30:00.000Z" for p in second.metadata()["progress"])

    idle = lake.run_gold()
    assert (idle.batches, idle.input_rows, idle.late_events_dropped) == (0, 0, 0)

    timed = lake.table(lake.bronze).where(F.col("event_time").isNotNull()).count()
    counted = lake.table(lake.gold).agg(F.sum("events")).first()[0]
    dropped = sum(r.late_events_dropped for r in (first, second, idle))
    assert counted + dropped == timed == 10

