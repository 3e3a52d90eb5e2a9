"""What a RESTORE would throw away and bring back, so data written after the target is reported, never silently lost.

Two views of the same loss:

* the **commits** after the target version (operation, when, rows written and deleted, their
  ``userMetadata``): what happened to the table since;
* the **rows**: ``current EXCEPT ALL target`` (rows the restore removes, e.g. days written
  since) and ``target EXCEPT ALL current`` (rows it brings back, e.g. the deleted ones), counted,
  with the partitions they fall in, so the days to rebuild downstream are known.

Example::

    commits = commits_after(spark, path, target=11)
    [c.line() for c in commits]         # ['v13 2025-01-05T02:00:00+00:00 WRITE: 300 rows written', ...]
    row_changes(spark, path, tables.SILVER_SALES, current=14, target=11).removed
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse import delta
from lakehouse.tables.registry import Table

_REMOVED, _BACK = "removed", "brought_back"


@dataclass(frozen=True)
class LostCommit:
    """One commit after the restore's target version, with the rows it wrote and deleted."""

    version: int
    timestamp: str
    operation: str
    rows_written: int
    rows_deleted: int
    user_metadata: dict[str, object]

    @classmethod
    def of(cls, commit: delta.Commit) -> LostCommit:
        m = commit.metrics
        written = m.get("numOutputRows", 0) + m.get("numTargetRowsInserted", 0) + m.get("numTargetRowsUpdated", 0)
        written += m.get("numUpdatedRows", 0)
        deleted = m.get("numDeletedRows", 0) + m.get("numTargetRowsDeleted", 0)
        return cls(commit.version, commit.timestamp.isoformat(), commit.operation, written, deleted,
                   dict(commit.user_metadata))

    @property
    def changed_data(self) -> bool:
        return bool(self.rows_written or self.rows_deleted)

    def line(self) -> str:
        rows = f"{self.rows_written} rows written" + (f", {self.rows_deleted} deleted" if self.rows_deleted else "")
        return f"v{self.version} {self.timestamp} {self.operation}: {rows if self.changed_data else 'no rows changed'}"

    def as_dict(self) -> dict[str, object]:
        return {"version": self.version, "timestamp": self.timestamp, "operation": self.operation,
                "rows_written": self.rows_written, "rows_deleted": self.rows_deleted,
                "user_metadata": {k: str(v) for k, v in self.user_metadata.items()}}


def commits_after(spark: SparkSession, path: str | Path, target: int, upto: int | None = None) -> list[LostCommit]:
    """The commits after version ``target`` (up to ``upto`` inclusive), oldest first."""
    return [LostCommit.of(c) for c in reversed(delta.history(spark, path))
            if c.version > target and (upto is None or c.version <= upto)]


@dataclass(frozen=True)
class RowChanges:
    """Rows a restore from ``current`` to ``target`` removes and brings back, and where they are."""

    removed: int
    brought_back: int
    partitions: list[str]
    columns_removed: list[str]


def row_changes(spark: SparkSession, path: str | Path, table: Table, current: int, target: int) -> RowChanges:
    """Count ``current EXCEPT ALL target`` and the reverse, and the partition values they touch (one Spark job)."""
    now, then = delta.read(spark, path, version=current), delta.read(spark, path, version=target)
    columns = now.columns
    common = [c for c in columns if c in then.columns]
    now, then = _comparable(now.select(*common)), _comparable(then.select(*common))
    partition = table.partition_column if table.partition_column in common else None
    key = [F.col(partition).cast("string").alias("partition")] if partition else [F.lit(None).alias("partition")]
    sides = (now.exceptAll(then).select(F.lit(_REMOVED).alias("side"), *key)
             .unionByName(then.exceptAll(now).select(F.lit(_BACK).alias("side"), *key)))
    counts = sides.groupBy("side", "partition").count().collect()
    return RowChanges(
        removed=sum(r["count"] for r in counts if r["side"] == _REMOVED),
        brought_back=sum(r["count"] for r in counts if r["side"] == _BACK),
        partitions=sorted({r["partition"] for r in counts if r["partition"] is not None}),
        columns_removed=[c for c in columns if c not in common],
    )


def _comparable(frame: DataFrame) -> DataFrame:
    # Set operations refuse map columns; their JSON text compares the same values.
    return frame.select(*[
        F.to_json(F.col(f.name)).alias(f.name) if isinstance(f.dataType, T.MapType) else F.col(f.name)
        for f in frame.schema.fields
    ])
