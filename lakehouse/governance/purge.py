"""Purge a table's history, so that no file of it holds rows deleted from its current version.

A DELETE or MERGE only removes rows from the table's *current* version: older versions, the
Change Data Feed files (``_change_data/``), deletion-vector-masked rows, and the Delta log (the
statistics of old files' ``add`` actions, with min/max values and string prefixes; the
predicates of old commits, e.g. an SCD2 MERGE's ``customer_id BETWEEN 40 AND 42``) still hold
them. :func:`purge_history` removes all of it, in this order:

1. ``REORG TABLE … APPLY (PURGE)`` rewrites files whose rows are only masked by deletion vectors.
   On a liquid-clustered table Delta 4.4 skips files that are already clustered (a second REORG
   after one that clustered rewrites nothing, measured), so afterwards the current files' physical
   rows (Parquet footers) are compared with the rows the table reads: if rows are still masked, the
   table is rewritten as it reads (``replaceWhere true``, which keeps its clustering declaration);
2. ``VACUUM … RETAIN 0 HOURS`` deletes every file the current version does not read, Change
   Data Feed files included (the retention check is switched off for this statement only);
3. a checkpoint is written at the latest version: one ``ALTER TABLE … SET TBLPROPERTIES`` with
   ``delta.checkpointInterval = 1`` (so that commit writes a checkpoint) and
   ``delta.deletedFileRetentionDuration = interval 0 hours`` (so the checkpoint keeps no
   tombstones of removed files), then the properties are put back as they were. SQL only, so it
   works over Spark Connect; if no checkpoint appears, embedded Spark falls back to
   ``DeltaLog.checkpoint()`` through the JVM, and Spark Connect fails saying so;
4. every log file older than that checkpoint (commit JSON, ``.crc``, older checkpoints and
   their Hadoop checksum files) is deleted. Delta's own log cleanup cannot do this: it keeps
   at least ``delta.logRetentionDuration`` and rounds to whole days.

Afterwards the table reads as before and ``DESCRIBE HISTORY`` lists only the commits from the
checkpoint on. **Time travel and RESTORE to any version before the purge are impossible from
then on, by design**, and the Change Data Feed of those versions is gone (a reader of it, such
as the incremental ``silver/dim_customer``, falls back to a full rebuild). Local tables only:
the log is truncated with file-system calls.

Example::

    result = purge_history(spark, "data/warehouse/silver/dim_customer")
    result.files_deleted, result.log_files_deleted, result.checkpoint_version
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from lakehouse import delta

CHECKPOINT_INTERVAL = "delta.checkpointInterval"
TOMBSTONE_RETENTION = "delta.deletedFileRetentionDuration"
DELETION_VECTORS = "delta.enableDeletionVectors"
_VERSIONED = re.compile(r"^\.?(\d{20})\.")  # 00000000000000000012.json, .00000000000000000012.json.crc, ...checkpoint...


class PurgeError(RuntimeError):
    """The history could not be purged (the message says what is left and what to do)."""


@dataclass(frozen=True)
class PurgeResult:
    """What :func:`purge_history` removed from one table."""

    path: str
    files_deleted: int  # data, deletion vector and Change Data Feed files VACUUM deleted
    bytes_deleted: int
    log_files_deleted: int
    checkpoint_version: int
    reorg_files_rewritten: int = 0
    history: list[int] = field(default_factory=list)  # the versions DESCRIBE HISTORY lists afterwards

    def metadata(self) -> dict[str, object]:
        return {"files_deleted": self.files_deleted, "bytes_deleted": self.bytes_deleted,
                "log_files_deleted": self.log_files_deleted, "checkpoint_version": self.checkpoint_version,
                "reorg_files_rewritten": self.reorg_files_rewritten, "history_versions": self.history}


def purge_history(spark: SparkSession, path: str | Path) -> PurgeResult:
    """REORG (PURGE), VACUUM RETAIN 0 HOURS, checkpoint, truncate the log; then check the table reads (module docstring)."""
    log = _log_folder(path)
    rows_before = delta.read(spark, path).count()
    rewritten = 0
    if delta.properties(spark, path).get(DELETION_VECTORS) == "true":
        metrics = spark.sql(f"REORG TABLE {delta.sql_path(path)} APPLY (PURGE)").first()
        rewritten = int((metrics["metrics"]["numFilesAdded"] if metrics and metrics["metrics"] else 0) or 0)
    if masked_rows(spark, path):  # REORG skipped clustered files: rewrite the table as it reads
        delta.overwrite(delta.read(spark, path).localCheckpoint(), path)
        rewritten += len(delta.data_files(spark, path))
        if masked_rows(spark, path):
            raise PurgeError(f"{path}: rows masked by deletion vectors are still in its files after a rewrite")
    vacuumed = delta.vacuum(spark, path, retention_hours=0, allow_short_retention=True)
    checkpoint = write_checkpoint(spark, path)
    deleted = truncate_log(log, checkpoint)
    rows_after = delta.read(spark, path).count()
    if rows_after != rows_before:
        raise PurgeError(f"{path}: {rows_before} rows before the purge, {rows_after} after; the table is not what it was")
    history = sorted(c.version for c in delta.history(spark, path))
    return PurgeResult(str(path), len(vacuumed.files), vacuumed.bytes, deleted, checkpoint, rewritten, history)


def masked_rows(spark: SparkSession, path: str | Path) -> int:
    """Rows the current files hold but the table does not read (masked by deletion vectors), from the Parquet footers."""
    files = delta.data_files(spark, path)
    physical = sum(pq.ParquetFile(_local_file(f.path)).metadata.num_rows for f in files)
    return physical - delta.read(spark, path).count()


def write_checkpoint(spark: SparkSession, path: str | Path) -> int:
    """Write a checkpoint without tombstones at the table's latest version; return the newest checkpoint's version."""
    properties = delta.properties(spark, path)
    previous = {key: properties.get(key) for key in (CHECKPOINT_INTERVAL, TOMBSTONE_RETENTION)}
    target = delta.sql_path(path)
    spark.sql(f"ALTER TABLE {target} SET TBLPROPERTIES ('{CHECKPOINT_INTERVAL}' = '1', "
              f"'{TOMBSTONE_RETENTION}' = 'interval 0 hours')")
    written = delta.latest_version(spark, path)
    if written is None:
        raise PurgeError(f"{path}: no Delta table")
    if last_checkpoint(path) != written:
        _jvm_checkpoint(spark, path)
    unset = [key for key, value in previous.items() if value is None]
    if unset:
        spark.sql(f"ALTER TABLE {target} UNSET TBLPROPERTIES ({', '.join(repr(k) for k in unset)})")
    kept = {key: value for key, value in previous.items() if value is not None}
    if kept:
        spark.sql(f"ALTER TABLE {target} SET TBLPROPERTIES ({', '.join(f'{k!r} = {v!r}' for k, v in kept.items())})")
    found = last_checkpoint(path)
    if found is None or found < written:
        raise PurgeError(f"{path}: no checkpoint was written at version {written}; the log was not truncated. Check that "
                         "the table's checkpoint settings are not overridden, then run the erasure again.")
    return found


def last_checkpoint(path: str | Path) -> int | None:
    """The version of the newest checkpoint in the table's log (``_last_checkpoint``), or None."""
    pointer = _log_folder(path) / "_last_checkpoint"
    if not pointer.is_file():
        return None
    version = int(json.loads(pointer.read_text())["version"])
    return version if any(_log_folder(path).glob(f"{version:020d}.checkpoint*.parquet")) else None


def truncate_log(log: Path, checkpoint_version: int) -> int:
    """Delete every versioned file of the ``_delta_log`` folder ``log`` older than ``checkpoint_version``; return how many.

    ``_last_checkpoint`` and the checkpoint itself stay, so the table reads from the checkpoint on.
    """
    deleted = 0
    for entry in sorted(log.rglob("*")):
        found = _VERSIONED.match(entry.name)
        if entry.is_file() and found and int(found.group(1)) < checkpoint_version:
            entry.unlink()
            deleted += 1
    return deleted


def _jvm_checkpoint(spark: SparkSession, path: str | Path) -> None:
    """``DeltaLog.forTable(spark, path).checkpoint()`` through the JVM: embedded Spark only."""
    jvm = getattr(spark, "_jvm", None)
    session = getattr(spark, "_jsparkSession", None)
    if jvm is None or session is None:
        raise PurgeError(
            f"{path}: the table property {CHECKPOINT_INTERVAL}=1 did not write a checkpoint, and this Spark session "
            "(Spark Connect) cannot call DeltaLog.checkpoint(); the rows are deleted but older log files still hold "
            "their statistics. Run the erasure once more with embedded Spark (LAKEHOUSE_SPARK_REMOTE unset)."
        )
    jvm.org.apache.spark.sql.delta.DeltaLog.forTable(session, str(path)).checkpoint()


def _local_file(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("", "file") else uri


def _log_folder(path: str | Path) -> Path:
    text = str(path)
    if "://" in text and not text.startswith("file:"):
        raise PurgeError(f"{path}: purging history is implemented for local tables only (the log is truncated with "
                         "file-system calls)")
    return Path(text.removeprefix("file:")) / "_delta_log"
