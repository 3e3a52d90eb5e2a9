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

A file the landing zone refuses (see :mod:`lakehouse.ingest.landing_files`) is never opened: it
is one reject (``_source_line`` 0) and is logged with one line and one reject.

A crash after step 1 re-reads those files on the next run: the table is unchanged, and their
events, stored by that very file and line, count as the file's new rows, so the log ends as
after an uninterrupted run. Files are identified by path; the landing
contract says a file is never modified after it lands.

**Suppressed customers.** With a ``suppression`` (:class:`lakehouse.governance.suppression.Suppression`:
the customers an erasure removed), their events and the rejected lines holding their id are
dropped before anything is written and counted as ``suppressed``. The file log keeps its columns:
a file's ``lines`` and ``records`` count every landed line, and its suppressed events are
``records - new_rows - duplicate_rows``.

The three tables must exist (the caller creates them from their declarations in
:mod:`lakehouse.tables`); the writes are :func:`lakehouse.delta.insert_new` MERGEs.

Example::

    report = ingest_new_files(
        spark, list_landed(Path("data/landing/customers_cdc")), schema, keys=["customer_id", "seq"],
        table="wh/bronze/customers_cdc", rejects="wh/bronze/customers_cdc_rejects", log="wh/bronze/customers_cdc_files",
        run_id=context.run.run_id,
    )
    report.new_rows, report.duplicate_rows
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse import delta
from lakehouse.ingest.json_lines import read_json_lines, with_refused
from lakehouse.ingest.landing_files import Refused, local_path, refusal

if TYPE_CHECKING:  # governance builds on ingestion's tables, not the reverse
    from lakehouse.governance.suppression import Suppression


@dataclass(frozen=True)
class LandedFile:
    """A file in the landing zone, as listed in plain Python (no Spark); ``refused`` says why it must not be read."""

    path: str
    size: int
    modified: datetime
    refused: str | None = None


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
    suppressed: int = 0  # events and rejected lines of erased customers, dropped (see the module docstring)

    def metadata(self) -> dict[str, int]:
        return asdict(self)

    def __str__(self) -> str:
        """One line for the run log: ``12 of 12 landed file(s) read: 116 line(s), 116 record(s), 0 reject(s); 111 new
        row(s), 5 duplicate(s)`` (lines of erased customers dropped are logged on their own)."""
        return (f"{self.files_read} of {self.files_landed} landed file(s) read: {self.lines} line(s), {self.records} "
                f"record(s), {self.rejects} reject(s); {self.new_rows} new row(s), {self.duplicate_rows} duplicate(s)")


def list_landed(folder: Path, pattern: str = "*.json", zone: Path | None = None) -> list[LandedFile]:
    """The visible entries of ``folder`` matching ``pattern``, by name; dot- and underscore-files are in-flight.

    Each is vetted against the landing zone ``zone`` (default: ``folder``) as
    :mod:`lakehouse.ingest.landing_files` says: an entry that must not be read has ``refused`` set
    (its size and time are the entry's own); one gone since the listing is left out.
    """
    if not folder.is_dir():
        return []
    zone = (zone or folder).resolve()
    files = []
    for path in sorted(folder.resolve().glob(pattern)):
        if path.name.startswith((".", "_")):
            continue
        try:
            reason = refusal(path, zone)
            stat = path.lstat() if reason else path.stat()
        except FileNotFoundError:
            continue
        files.append(LandedFile(str(path), stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC), reason))
    return files


def logged_files(spark: SparkSession, log: str) -> set[str]:
    """Paths the file log holds (empty when the log does not exist yet)."""
    if not delta.exists(spark, log):
        return set()
    return {row["file"] for row in delta.read(spark, log).select("file").collect()}


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
    suppression: Suppression | None = None,
) -> IngestReport:
    """Ingest the files of ``landed`` that ``log`` does not hold yet (see the module docstring)."""
    done = logged_files(spark, log)
    pending = [f for f in landed if f.path not in done]
    refused = [Refused(f.path, f.refused, f.modified) for f in pending if f.refused]
    batch = with_refused(spark, read_json_lines(spark, [f.path for f in pending if not f.refused], schema), refused)
    records, reject_lines = batch.records, batch.rejects
    dropped = {}
    if suppression is not None:
        records = batch.records.where(~suppression.records(batch.records))
        reject_lines = batch.rejects.where(~suppression.rejects(batch.rejects))
        dropped = {"suppressed_records": batch.records.where(suppression.records(batch.records)),
                   "suppressed_rejects": batch.rejects.where(suppression.rejects(batch.rejects))}
    first_copies = _first_copies(records, keys)
    existing = delta.read(spark, table)
    new = first_copies.alias("s").join(existing.alias("t"), F.expr(_same_event(keys)), "left_anti").persist()
    # Events this very file and line already stored (a run killed between step 1 and step 3) are its own new
    # events, not duplicates: the log then reads as if the run had not been interrupted.
    stored_by_it = first_copies.alias("s").join(existing.alias("t"), F.expr(f"{_same_event(keys)} AND {SAME_LINE}"),
                                                "left_semi")

    per_file = _counts_by_file(records=batch.records, rejects=batch.rejects, new=new.unionByName(stored_by_it), **dropped)
    names = ("lines", "records", "rejects", "new_rows", "suppressed_records", "suppressed_rejects")
    totals = {name: sum(counts.get(name, 0) for counts in per_file.values()) for name in names}
    if pending:
        # A MERGE of nothing costs a query and an empty commit: skipped when the counts above say there is nothing.
        if totals["new_rows"]:
            delta.insert_new(spark, table, new, on=_same_event(keys))
        if totals["rejects"] - totals["suppressed_rejects"]:
            delta.insert_new(spark, rejects, reject_lines, on=SAME_LINE)
        _log_files(spark, log, pending, per_file, run_id)
    return IngestReport(
        files_landed=len(landed),
        files_read=len(pending),
        lines=totals["lines"], records=totals["records"], rejects=totals["rejects"], new_rows=totals["new_rows"],
        duplicate_rows=totals["records"] - totals["new_rows"] - totals["suppressed_records"],
        suppressed=totals["suppressed_records"] + totals["suppressed_rejects"],
    )


def _first_copies(records: DataFrame, keys: Sequence[str]) -> DataFrame:
    """One row per key: the copy that landed first. Rows with a null key part are all kept."""
    first = Window.partitionBy(*keys).orderBy("_ingested_at", "_source_file", "_source_line")
    complete = reduce(Column.__and__, [F.col(k).isNotNull() for k in keys])
    ranked = records.withColumn("_copy", F.when(complete, F.row_number().over(first)).otherwise(1))
    return ranked.where("_copy = 1").drop("_copy")


SAME_LINE = "t._source_file = s._source_file AND t._source_line = s._source_line"


def _same_event(keys: Sequence[str]) -> str:
    """Same key (null-safe), and for a key with a null part, the same file and line (target ``t``, source ``s``)."""
    same_key = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    complete = " AND ".join(f"s.`{k}` IS NOT NULL" for k in keys)
    return f"{same_key} AND (({complete}) OR ({SAME_LINE}))"


def _counts_by_file(**frames: DataFrame) -> dict[str, dict[str, int]]:
    """``{local path: {"lines": n, "records": n, "rejects": n, "new_rows": n, "suppressed_records": n, ...}}``.

    A file's lines are its records and rejects (every line is one or the other): added up, not counted again.
    """
    names = {"records": "records", "rejects": "rejects", "new": "new_rows",
             "suppressed_records": "suppressed_records", "suppressed_rejects": "suppressed_rejects"}
    # One query for all the frames: each tagged with its name, grouped by name and file.
    tagged = [frame.select(F.lit(name).alias("_frame"), "_source_file") for name, frame in frames.items()]
    counts: dict[str, dict[str, int]] = {}
    for row in reduce(DataFrame.unionByName, tagged).groupBy("_frame", "_source_file").count().collect():
        counts.setdefault(_local_path(row["_source_file"]), {})[names[row["_frame"]]] = row["count"]
    for file in counts.values():
        file["lines"] = file.get("records", 0) + file.get("rejects", 0)
    return counts


def _local_path(uri: str) -> str:
    """A file's key in the counts: its local path, or the URI of a file that is not local."""
    return local_path(uri) or uri


def _duplicates(counts: dict[str, int]) -> int:
    """Events of a file already stored: its records less the new and the suppressed ones."""
    return counts.get("records", 0) - counts.get("new_rows", 0) - counts.get("suppressed_records", 0)


def _log_files(spark: SparkSession, log: str, files: Sequence[LandedFile], counts: dict[str, dict[str, int]], run_id: str) -> None:
    now = datetime.now(UTC)
    rows = [
        (f.path, f.size, f.modified, *(counts.get(f.path, {}).get(n, 0) for n in ("lines", "records", "rejects", "new_rows")),
         _duplicates(counts.get(f.path, {})), run_id, now)
        for f in files
    ]
    frame = spark.createDataFrame(rows, delta.read(spark, log).schema)
    delta.insert_new(spark, log, frame, on="t.file = s.file")
