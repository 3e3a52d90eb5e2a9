"""Incremental ingestion of landed JSON Lines files into an insert-only Delta table, each file once.

Which files a table has ingested is kept durably in a companion Delta table, the *file log*
(one row per file, with its line, record, reject, new and duplicate counts), not in memory:
each run lists the landing folder in plain Python, reads only the files the log does not hold,
and stores each event once by its key, whichever file it comes in (the first copy landed
wins: earliest file time, then file name, then line).

Writes, in this order, each idempotent so that a run killed half-way can simply be run again:

1. the new events, with a MERGE that inserts only keys the table does not hold (a row whose key
   has a null part cannot be matched as a copy; it is stored once per file and line);
2. the rejects (lines that are not JSON objects), inserted once per file and line;
3. the files, into the file log.

A crash after step 1 re-reads those files on the next run: their events are then counted as
duplicates in the log, and the table is unchanged. Files are identified by path; the landing
contract says a file is never modified after it lands.

Example::

    report = ingest_new_files(
        spark, list_landed(Path("data/landing/customers_cdc")), CDC_SCHEMA, keys=["customer_id", "seq"],
        table="wh/bronze/customers_cdc", rejects="wh/bronze/customers_cdc_rejects", log="wh/bronze/customers_cdc_files",
        run_id=context.run_id,
    )
    report.new_rows, report.duplicate_rows
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import reduce
from pathlib import Path
from urllib.parse import unquote, urlparse

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.ingest.json_lines import read_json_lines

FILE_LOG_SCHEMA = T.StructType(
    [
        T.StructField("file", T.StringType(), False),
        T.StructField("size", T.LongType()),
        T.StructField("modified", T.TimestampType()),
        T.StructField("lines", T.LongType()),
        T.StructField("records", T.LongType()),
        T.StructField("rejects", T.LongType()),
        T.StructField("new_rows", T.LongType()),
        T.StructField("duplicate_rows", T.LongType()),
        T.StructField("run_id", T.StringType()),
        T.StructField("logged_at", T.TimestampType()),
    ]
)
# The events table publishes a change feed, so downstream tables read only what was added.
EVENT_TABLE_PROPERTIES = {"delta.enableChangeDataFeed": "true"}


@dataclass(frozen=True)
class LandedFile:
    """A file in the landing zone, as listed in plain Python (no Spark)."""

    path: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class IngestReport:
    """What one run ingested; every count is over the files read by this run."""

    files_landed: int
    files_read: int
    lines: int
    records: int
    rejects: int
    new_rows: int
    duplicate_rows: int

    def metadata(self) -> dict[str, int]:
        return asdict(self)


def list_landed(folder: Path, pattern: str = "*.json") -> list[LandedFile]:
    """The visible files of ``folder`` matching ``pattern``, by name; dot- and underscore-files are in-flight."""
    if not folder.is_dir():
        return []
    files = []
    for path in sorted(folder.glob(pattern)):
        if path.is_file() and not path.name.startswith((".", "_")):
            stat = path.stat()
            files.append(LandedFile(str(path.resolve()), stat.st_size, datetime.fromtimestamp(stat.st_mtime, timezone.utc)))
    return files


def logged_files(spark: SparkSession, log: str) -> set[str]:
    """Paths the file log holds (empty when the log does not exist yet)."""
    if not DeltaTable.isDeltaTable(spark, log):
        return set()
    return {row["file"] for row in spark.read.format("delta").load(log).select("file").collect()}


def ingest_new_files(
    spark: SparkSession,
    landed: Sequence[LandedFile],
    schema: T.StructType,
    *,
    keys: Sequence[str],
    table: str,
    rejects: str,
    log: str,
    run_id: str,
) -> IngestReport:
    """Ingest the files of ``landed`` that ``log`` does not hold yet (see the module docstring)."""
    done = logged_files(spark, log)
    pending = [f for f in landed if f.path not in done]
    batch = read_json_lines(spark, [f.path for f in pending], schema)
    first_copies = _first_copies(batch.records, keys)
    create_table_if_missing(spark, table, batch.records.schema, properties=EVENT_TABLE_PROPERTIES)
    create_table_if_missing(spark, rejects, batch.rejects.schema)
    create_table_if_missing(spark, log, FILE_LOG_SCHEMA)
    existing = spark.read.format("delta").load(table)
    new = first_copies.alias("s").join(existing.alias("t"), _same_event(keys), "left_anti").persist()

    per_file = _counts_by_file(
        lines=batch.records.unionByName(batch.rejects, allowMissingColumns=True),
        records=batch.records, rejects=batch.rejects, new=new,
    )
    if pending:
        DeltaTable.forPath(spark, table).alias("t").merge(new.alias("s"), _same_event(keys)).whenNotMatchedInsertAll().execute()
        same_line = "t._source_file = s._source_file AND t._source_line = s._source_line"
        DeltaTable.forPath(spark, rejects).alias("t").merge(batch.rejects.alias("s"), same_line).whenNotMatchedInsertAll().execute()
        _log_files(spark, log, pending, per_file, run_id)
    totals = {name: sum(counts.get(name, 0) for counts in per_file.values()) for name in ("lines", "records", "rejects", "new_rows")}
    return IngestReport(
        files_landed=len(landed),
        files_read=len(pending),
        duplicate_rows=totals["records"] - totals["new_rows"],
        **totals,
    )


def _first_copies(records: DataFrame, keys: Sequence[str]) -> DataFrame:
    """One row per key: the copy that landed first. Rows with a null key part are all kept."""
    first = Window.partitionBy(*keys).orderBy("_ingested_at", "_source_file", "_source_line")
    complete = reduce(Column.__and__, [F.col(k).isNotNull() for k in keys])
    ranked = records.withColumn("_copy", F.when(complete, F.row_number().over(first)).otherwise(1))
    return ranked.where("_copy = 1").drop("_copy")


def _same_event(keys: Sequence[str]) -> Column:
    """Same key (null-safe), and for a key with a null part, the same file and line."""
    same_key = reduce(Column.__and__, [F.col(f"t.{k}").eqNullSafe(F.col(f"s.{k}")) for k in keys])
    complete = reduce(Column.__and__, [F.col(f"s.{k}").isNotNull() for k in keys])
    same_line = (F.col("t._source_file") == F.col("s._source_file")) & (F.col("t._source_line") == F.col("s._source_line"))
    return same_key & (complete | same_line)


def _counts_by_file(**frames: DataFrame) -> dict[str, dict[str, int]]:
    """``{local path: {"lines": n, "records": n, "rejects": n, "new_rows": n}}``."""
    names = {"lines": "lines", "records": "records", "rejects": "rejects", "new": "new_rows"}
    counts: dict[str, dict[str, int]] = {}
    for name, frame in frames.items():
        for row in frame.groupBy("_source_file").count().collect():
            counts.setdefault(_local_path(row["_source_file"]), {})[names[name]] = row["count"]
    return counts


def _local_path(uri: str) -> str:
    """``file:/a/b%20c.json`` (as Spark reports a file) -> ``/a/b c.json``."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("", "file") else uri


def create_table_if_missing(
    spark: SparkSession,
    path: str,
    schema: T.StructType,
    *,
    properties: dict[str, str] | None = None,
    partitioned_by: str | None = None,
) -> None:
    """Create an empty Delta table at ``path`` unless one is there, so MERGEs and streams have a target.

    Example::

        create_table_if_missing(spark, "wh/bronze/clickstream", BRONZE_SCHEMA, partitioned_by="event_date")
    """
    if DeltaTable.isDeltaTable(spark, path):
        return
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
    for key, value in (properties or {}).items():
        builder = builder.property(key, value)
    if partitioned_by:
        builder = builder.partitionedBy(partitioned_by)
    builder.execute()


def _log_files(spark: SparkSession, log: str, files: Sequence[LandedFile], counts: dict[str, dict[str, int]], run_id: str) -> None:
    now = datetime.now(timezone.utc)
    rows = [
        (f.path, f.size, f.modified, *(counts.get(f.path, {}).get(n, 0) for n in ("lines", "records", "rejects", "new_rows")),
         counts.get(f.path, {}).get("records", 0) - counts.get(f.path, {}).get("new_rows", 0), run_id, now)
        for f in files
    ]
    frame = spark.createDataFrame(rows, FILE_LOG_SCHEMA)
    DeltaTable.forPath(spark, log).alias("t").merge(frame.alias("s"), "t.file = s.file").whenNotMatchedInsertAll().execute()
