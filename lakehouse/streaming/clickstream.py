"""Clickstream with Spark Structured Streaming: landed JSON Lines -> bronze events -> gold hourly counts.

Two queries, each exactly-once across runs and crashes through its own checkpoint (which input
a batch covers) plus an idempotent ``foreachBatch`` write (a batch replayed after a crash
between the write and the checkpoint commit changes nothing):

* :func:`run_bronze_clickstream` reads new ``*.json`` files of the landing folder as text and
  writes each line, parsed as in :mod:`lakehouse.ingest.json_lines`, to the events table or the
  rejects table. Events are inserted with a MERGE on ``event_id`` (and ``event_date``, the
  partition column), so an event re-delivered in any later file, batch or run is stored once.
  This is stronger than ``dropDuplicatesWithinWatermark``, on purpose: a watermark would bound
  the state by *dropping* events older than it, and bronze must never drop a late event; the
  table itself is the dedup state, and the batch's dates as literal predicates keep the MERGE
  on the partitions the batch touches.
* :func:`run_hourly_events` counts bronze events per hour and ``event_type`` with a watermark
  and MERGEs the updated windows into gold. A late event whose hour window is still open (the
  window ends after the watermark) raises its window's count; one whose window is closed is
  dropped by Spark's stateful operator and counted in ``late_events_dropped``.

Spark's ``numRowsDroppedByWatermark`` is not that count: it counts *groups* dropped after the
partial aggregation (three late views of one closed hour are one dropped row). So each batch
counts its input rows with an ``observe`` metric and, before its MERGE, how much its windows
added to gold; the difference is what the watermark dropped, and
``sum(gold.events) + late_events_dropped (all runs) == bronze rows with event_time`` once gold
has read all of bronze. The counts live in the reports: a killed run reports nothing, and a batch
it had written is replayed as adding nothing (its events then show as dropped), so after a crash
the identity itself is the exact figure of events dropped.

The default trigger, ``{"availableNow": True}``, processes what arrived since the last call and
stops (one Dagster run); ``{"processingTime": "30 seconds"}`` runs until stopped (see
:mod:`lakehouse.streaming.cli`). Files must land atomically (write ``_name`` or ``.name``, then
rename). Deleting the bronze checkpoint re-reads every file and adds nothing; the gold table and
its checkpoint (the aggregation state) belong together: delete both or neither.

Example::

    bronze = run_bronze_clickstream(spark, "data/landing/clickstream", "wh/bronze/clickstream",
                                    "wh/bronze/clickstream_rejects", "cp/bronze/clickstream")
    gold = run_hourly_events(spark, "wh/bronze/clickstream", "wh/gold/hourly_events", "cp/gold/hourly_events")
    bronze.records_new, gold.late_events_dropped, gold.metadata()
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery
from pyspark.sql.utils import is_remote

from lakehouse import delta, tables
from lakehouse.ingest.json_lines import file_texts, iso_timestamp, parse_json_lines, split_lines, with_refused
from lakehouse.ingest.landing_files import Refused, local_path, refusal

CLICK_SCHEMA = tables.BRONZE_CLICKSTREAM.landed_schema("clickstream")
DEFAULT_TRIGGER = {"availableNow": True}
# A file whose modification time is more than this behind the newest file seen is ignored by
# Spark's file source (default 7 days): bronze must not drop a file copied in with an old mtime.
MAX_FILE_AGE = "3650d"
_INPUT_METRIC = "hourly_events_input"
_POLL_SECONDS = 0.5


@dataclass
class StreamReport:
    """What one call of a streaming query did, summed over its micro-batches.

    ``input_rows`` are non-blank lines (bronze) or bronze rows with an ``event_time`` (gold);
    ``records_new``/``records_updated`` are rows inserted/updated in the query's table (events
    for bronze, hour windows for gold); ``rejects`` are rejected lines read (each stored once);
    ``late_events_dropped`` (gold) are events whose window the watermark had closed.
    ``processed_rows_per_second`` is ``input_rows`` over the summed trigger time;
    ``durations_ms`` sums Spark's per-phase ``durationMs``; ``progress`` has one dict per batch.

    Example::

        report = run_bronze_clickstream(spark, landing, table, rejects, checkpoint)
        context.add_output_metadata(report.metadata())
    """

    query: str
    batches: int = 0
    input_rows: int = 0
    records_new: int = 0
    records_updated: int = 0
    duplicates_dropped: int = 0
    rejects: int = 0
    files: int = 0
    late_events_dropped: int = 0
    watermark: str | None = None
    processed_rows_per_second: float = 0.0
    durations_ms: dict[str, int] = field(default_factory=dict)
    progress: list[dict] = field(default_factory=list)

    def metadata(self) -> dict:
        """The report as plain values (ints, floats, strings, lists and dicts) for Dagster metadata."""
        return asdict(self)


class StreamRun:
    """A started query and the per-batch counts its ``foreachBatch`` gathers; :meth:`wait` gives the report.

    Example::

        run = start_bronze_clickstream(spark, landing, table, rejects, checkpoint,
                                       trigger={"processingTime": "30 seconds"})
        run.stop()
        run.report().metadata()
    """

    def __init__(self, session: SparkSession, name: str,
                 start: Callable[[Callable[[DataFrame, int], None]], StreamingQuery],
                 write: Callable[[DataFrame, int], dict]) -> None:
        if is_remote():  # Connect would fail pickling write_batch (a lock); say why instead
            raise RuntimeError(
                f"{name}: the clickstream queries need embedded Spark: their foreachBatch gathers per-batch counts in "
                "the driver and stops between batches, which Spark Connect cannot do (it runs foreachBatch in a "
                "server-side Python worker). Open the session with SparkResource.get_embedded_session(), as the "
                "clickstream assets and `python -m lakehouse.streaming.cli` do.")
        self.name = name
        self._batches: dict[int, dict] = {}  # written by the query's thread, hence the lock
        self._progress: dict[int, dict] = {}
        self._durations: dict[int, dict[str, int]] = {}
        self._lock = threading.Lock()
        self._between_batches = threading.Event()
        self._between_batches.set()

        def write_batch(frame: DataFrame, batch_id: int) -> None:
            self._between_batches.clear()
            try:
                counts = write(frame, batch_id)
            finally:
                _reactivate(session)
                self._between_batches.set()
            with self._lock:
                self._batches[batch_id] = counts

        self.query = start(write_batch)

    def wait(self, timeout: float | None = None) -> StreamReport:
        """Wait until the query stops (or ``timeout`` seconds); re-raises the query's failure."""
        waited = 0.0
        try:
            # awaitTermination takes float seconds (it checks for int or float); the stub says int.
            while not self.query.awaitTermination(_POLL_SECONDS):  # pyright: ignore[reportArgumentType]
                self._harvest()  # recentProgress keeps only the last 100 batches: collect as we go
                waited += _POLL_SECONDS
                if timeout is not None and waited >= timeout:
                    break
        finally:
            self._harvest()
        return self.report()

    def stop(self, drain_seconds: float = 120) -> StreamReport:
        """Stop the query between two batches (waiting at most ``drain_seconds``) and return the report.

        Interrupting a batch's writes is safe (the batch is redone by the next start) but makes
        Spark 4.1 log a StackOverflowError while it classifies the interrupted Python call.
        """
        self._between_batches.wait(drain_seconds)
        self.query.stop()
        return self.wait()

    def report(self) -> StreamReport:
        """The report of the batches run so far (call :meth:`wait` or :meth:`stop` first for a complete one)."""
        with self._lock:
            batches = dict(self._batches)
        report = StreamReport(query=self.name, batches=len(batches))
        for batch_id in sorted(batches):
            counts = dict(batches[batch_id])
            spark_progress = self._progress.get(batch_id, {})
            if "events_counted" in counts:  # gold: the batch's input rows are only known from its progress
                counted = counts.pop("events_counted")
                counts["input_rows"] = spark_progress.get("observedRows", counted)
                counts["late_events_dropped"] = counts["input_rows"] - counted
            for name in ("input_rows", "records_new", "records_updated", "duplicates_dropped",
                         "rejects", "files", "late_events_dropped"):
                setattr(report, name, getattr(report, name) + counts.get(name, 0))
            report.progress.append({"batchId": batch_id, **counts, **spark_progress})
            report.watermark = spark_progress.get("watermark", report.watermark)
        for durations in self._durations.values():
            for phase, ms in durations.items():
                report.durations_ms[phase] = report.durations_ms.get(phase, 0) + int(ms)
        seconds = report.durations_ms.get("triggerExecution", 0) / 1000
        report.processed_rows_per_second = round(report.input_rows / seconds, 1) if seconds else 0.0
        return report

    def _harvest(self) -> None:
        for p in self.query.recentProgress:
            if "addBatch" not in p["durationMs"]:
                continue  # an idle trigger (no batch ran), reported every 10 s by processingTime queries
            observed = (p["observedMetrics"] or {}).get(_INPUT_METRIC)
            self._durations[p["batchId"]] = dict(p["durationMs"])
            entry = {
                "numInputRows": p["numInputRows"],
                "processedRowsPerSecond": p["processedRowsPerSecond"],
                "triggerExecutionMs": p["durationMs"].get("triggerExecution", 0),
            }
            if p["eventTime"].get("watermark"):
                entry["watermark"] = p["eventTime"]["watermark"]
            if p["stateOperators"]:
                # Groups (not events) the stateful operator dropped; kept for comparison only.
                entry["numRowsDroppedByWatermark"] = sum(op["numRowsDroppedByWatermark"] for op in p["stateOperators"])
            if observed is not None:
                entry["observedRows"] = observed["rows"]
            self._progress[p["batchId"]] = entry


def _reactivate(session: SparkSession) -> None:
    """Make ``session`` (the run's) PySpark's active session again after a batch.

    A batch's DataFrame belongs to the stream's clone of the run's session, and a DataFrame created from that clone
    (the rejects of refused files) makes the clone the process's active session: PySpark's ``createDataFrame`` sets it.
    Every later ``SparkResource.get_session()`` of the run (its check steps) or of a test process would then get the
    clone, with the stream's settings (adaptive execution off) instead of the run's. Creating an empty DataFrame from
    ``session`` is PySpark's public way back (no job runs).
    """
    session.createDataFrame([], "reactivated INT")


def run_bronze_clickstream(
    spark: SparkSession,
    source_dir: str,
    table: str,
    rejects: str,
    checkpoint: str,
    *,
    max_files_per_trigger: int = 100,
    trigger: dict | None = None,
) -> StreamReport:
    """Ingest the click files landed in ``source_dir`` since the last call into ``table`` and ``rejects``.

    ``table`` gets one row per distinct event (CLICK_SCHEMA + ``_rescued_data``, lineage,
    ``event_time``, ``event_date``; partitioned by ``event_date``), ``rejects`` one row per line
    that is not a JSON object. ``trigger`` is passed to ``DataStreamWriter.trigger`` (default
    ``{"availableNow": True}``: process the backlog in batches of ``max_files_per_trigger`` files
    and return); ``checkpoint`` remembers which files are done. Missing tables are created, and
    so is a missing local ``source_dir``.

    Example::

        report = run_bronze_clickstream(spark, "data/landing/clickstream", "wh/bronze/clickstream",
                                        "wh/bronze/clickstream_rejects", "cp/bronze/clickstream")
        report.records_new, report.duplicates_dropped, report.rejects
    """
    run = start_bronze_clickstream(spark, source_dir, table, rejects, checkpoint,
                                   max_files_per_trigger=max_files_per_trigger, trigger=trigger)
    return run.wait()


def start_bronze_clickstream(
    spark: SparkSession,
    source_dir: str,
    table: str,
    rejects: str,
    checkpoint: str,
    *,
    max_files_per_trigger: int = 100,
    trigger: dict | None = None,
) -> StreamRun:
    """Start the bronze query of :func:`run_bronze_clickstream` without waiting for it.

    Example::

        run = start_bronze_clickstream(spark, landing, table, rejects, checkpoint,
                                       trigger={"processingTime": "30 seconds"})
    """
    delta.create_table(spark, tables.BRONZE_CLICKSTREAM, table)
    delta.create_table(spark, tables.BRONZE_CLICKSTREAM_REJECTS, rejects)
    if urlparse(source_dir).scheme in ("", "file"):
        Path(urlparse(source_dir).path).mkdir(parents=True, exist_ok=True)  # nothing landed yet: read nothing
    texts = file_texts(
        spark.readStream.format("text")
        .option("wholetext", True)
        .option("pathGlobFilter", "*.json")  # names starting with "." or "_" are skipped by Spark
        .option("maxFilesPerTrigger", max_files_per_trigger)
        .option("maxFileAge", MAX_FILE_AGE)
        .load(source_dir)
    )

    return StreamRun(
        spark,
        "bronze_clickstream",
        _starter(texts, checkpoint, trigger, output_mode="append"),
        lambda batch, _batch_id: _write_bronze(batch, table, rejects, source_dir),
    )


def _write_bronze(texts: DataFrame, table: str, rejects: str, source_dir: str) -> dict:
    """One micro-batch of files: insert its new events and its rejects; return the batch's counts.

    Spark's file source opens the files itself, so the landing zone's refusals
    (:mod:`lakehouse.ingest.landing_files`) are applied here, to the batch's local files: the
    lines of a refused file (a link out of ``source_dir``, compressed or binary data) are dropped
    unstored and the file becomes one reject. Unlike a batch read, its content has been read
    into the batch's memory by then; it is never written anywhere.
    """
    spark = texts.sparkSession
    lines = split_lines(texts).persist()
    try:
        per_file = {row["_source_file"]: (row["lines"], row["records"]) for row in lines.groupBy("_source_file").agg(
            F.count(F.lit(1)).alias("lines"), F.count("_raw").alias("records")).collect()}
        refused = _refused(per_file, source_dir)
        if refused:
            lines = lines.where(~F.col("_source_file").isin(list(refused)))
        kept = [counted for uri, counted in per_file.items() if uri not in refused]
        read, records = sum(n for n, _ in kept), sum(r for _, r in kept)
        batch = with_refused(spark, parse_json_lines(lines, CLICK_SCHEMA), list(refused.values()))
        rejected = read - records + len(refused)
        counts = {"input_rows": read + len(refused), "files": len(per_file), "rejects": rejected, "records_new": 0}
        if records:
            events = _first_copies(_with_event_time(batch.records))
            dates = [row["event_date"] for row in events.select("event_date").distinct().collect()]
            counts["records_new"] = delta.insert_new(spark, table, events, on=_same_event(dates))
        if rejected:
            delta.insert_new(spark, rejects, batch.rejects, on=SAME_LINE)
        counts["duplicates_dropped"] = records - counts["records_new"]
        return counts
    finally:
        lines.unpersist()


def _refused(uris: Iterable[str], source_dir: str) -> dict[str, Refused]:
    """``{file URI: refusal}`` for the local files among ``uris`` that the landing zone refuses."""
    zone = Path(urlparse(source_dir).path).resolve()
    refused = {}
    for uri in uris:
        path = local_path(uri)
        if path is None:
            continue
        try:
            reason = refusal(path, zone)
            if reason:
                refused[uri] = Refused(path, reason, datetime.fromtimestamp(os.lstat(path).st_mtime, UTC))
        except FileNotFoundError:  # gone since Spark read it: its lines are kept
            continue
    return refused


def _with_event_time(records: DataFrame) -> DataFrame:
    """``event_time`` from an ISO-8601 ``event_ts`` (else null) and its UTC ``event_date``."""
    return records.withColumn("event_time", iso_timestamp("event_ts")).withColumn("event_date", F.to_date("event_time"))


def _first_copies(events: DataFrame) -> DataFrame:
    """One row per ``event_id``: the copy that landed first. Rows without an ``event_id`` are all kept."""
    first = Window.partitionBy("event_date", "event_id").orderBy("_ingested_at", "_source_file", "_source_line")
    ranked = events.withColumn("_copy", F.when(F.col("event_id").isNotNull(), F.row_number().over(first)).otherwise(1))
    return ranked.where("_copy = 1").drop("_copy")


SAME_LINE = "t._source_file = s._source_file AND t._source_line = s._source_line"


def _same_event(dates: list) -> str:
    """MERGE condition: same ``event_id`` (an event without one: same file and line), pruned to the batch's dates."""
    days = [f"DATE'{d.isoformat()}'" for d in dates if d is not None]
    pruning = [f"t.event_date IN ({', '.join(days)})"] if days else []
    if None in dates:
        pruning.append("t.event_date IS NULL")
    return (
        f"({' OR '.join(pruning)}) AND t.event_date <=> s.event_date AND t.event_id <=> s.event_id"
        " AND (s.event_id IS NOT NULL OR (t._source_file = s._source_file AND t._source_line = s._source_line))"
    )


def run_hourly_events(
    spark: SparkSession,
    bronze_table: str,
    gold_table: str,
    checkpoint: str,
    *,
    watermark: str = "1 hour",
    trigger: dict | None = None,
) -> StreamReport:
    """Count the bronze events added since the last call into ``gold_table`` per hour and ``event_type``.

    ``gold_table`` has ``window_start``, ``window_end``, ``event_type``, ``events``. Spark drops
    an event whose hour window ended at or before the watermark (latest ``event_time`` seen in
    earlier batches minus ``watermark``); those are ``late_events_dropped``. Rows without an
    ``event_time`` are not counted. ``bronze_table`` must exist (run the bronze query first).

    Example::

        report = run_hourly_events(spark, "wh/bronze/clickstream", "wh/gold/hourly_events", "cp/gold/hourly_events")
        report.late_events_dropped, report.watermark
    """
    return start_hourly_events(spark, bronze_table, gold_table, checkpoint, watermark=watermark, trigger=trigger).wait()


def start_hourly_events(
    spark: SparkSession,
    bronze_table: str,
    gold_table: str,
    checkpoint: str,
    *,
    watermark: str = "1 hour",
    trigger: dict | None = None,
) -> StreamRun:
    """Start the gold query of :func:`run_hourly_events` without waiting for it.

    Example::

        run = start_hourly_events(spark, bronze, gold, checkpoint, trigger={"processingTime": "30 seconds"})
    """
    delta.create_table(spark, tables.GOLD_HOURLY_EVENTS, gold_table)
    hourly = (
        spark.readStream.format("delta").load(bronze_table)
        .select("event_type", "event_time")
        .where(F.col("event_time").isNotNull())
        .observe(_INPUT_METRIC, F.count(F.lit(1)).alias("rows"))
        .withWatermark("event_time", watermark)
        .groupBy(F.window("event_time", "1 hour"), "event_type")
        .count()
    )

    return StreamRun(
        spark,
        "hourly_events",
        _starter(hourly, checkpoint, trigger, output_mode="update"),
        lambda counts, _batch_id: _write_gold(counts, gold_table),
    )


def _write_gold(counts: DataFrame, gold_table: str) -> dict:
    """Upsert one batch's updated windows; return how many events they added to gold (before the MERGE)."""
    spark = counts.sparkSession
    windows = counts.select(
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        "event_type",
        F.col("count").alias("events"),
    ).persist()
    try:
        if windows.isEmpty():  # a batch run only to advance the watermark
            return {"events_counted": 0, "records_new": 0, "records_updated": 0}
        same_window = "t.window_start = s.window_start AND t.event_type <=> s.event_type"
        before = windows.alias("s").join(delta.read(spark, gold_table).alias("t"), F.expr(same_window), "left")
        summed = before.agg(F.sum(F.col("s.events") - F.coalesce(F.col("t.events"), F.lit(0)))).first()
        assert summed is not None  # an aggregate without grouping has one row
        added = summed[0]
        merge = delta.merge(spark, gold_table, windows, same_window,
                            "WHEN MATCHED AND t.events <> s.events THEN UPDATE SET t.events = s.events "
                            "WHEN NOT MATCHED THEN INSERT *")
        return {"events_counted": added, "records_new": merge.inserted, "records_updated": merge.updated}
    finally:
        windows.unpersist()


def _starter(
    stream: DataFrame, checkpoint: str, trigger: dict | None, output_mode: str
) -> Callable[[Callable[[DataFrame, int], None]], StreamingQuery]:
    """How :class:`StreamRun` starts ``stream`` with its ``foreachBatch`` function."""

    def start(write_batch: Callable[[DataFrame, int], None]) -> StreamingQuery:
        writer = stream.writeStream.outputMode(output_mode).foreachBatch(write_batch)
        return writer.option("checkpointLocation", checkpoint).trigger(**(trigger or DEFAULT_TRIGGER)).start()

    return start
