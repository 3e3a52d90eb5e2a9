"""SCD type 1 from full snapshots: one row per key, the latest snapshot holding the key wins.

Each call applies one or more full snapshots (rows with keys, attributes and their snapshot's
date) to a Delta table with one MERGE writing only new or changed rows. Per key, the table keeps
the attributes, ``snapshot_date`` = ``last_seen`` (latest snapshot holding the key, whose values
are kept), ``first_seen``, ``in_latest_snapshot`` (does the latest snapshot known, input or
applied, hold it) and ``missing_since`` (first known snapshot after ``last_seen``, else NULL).

A key left out of a snapshot is flagged, never deleted, and cleared when it comes back. A late,
older snapshot never rolls values back; it can only move ``first_seen`` or ``missing_since``
earlier. A snapshot dated like a key's ``last_seen`` is a re-delivery: its values win (a key it
drops is not flagged). Known snapshot dates are the input's plus every date the table shows, so
``missing_since`` is exact when snapshots arrive in date order; after a late one it can be later
than exact if an applied snapshot date no longer shows in any row. One writer per table: the
changes are computed from the table as read at the start of the call.

Example::

    batch = read_csv_snapshots(spark, files, "product_id BIGINT, product_name STRING, "
                               "category STRING, list_price DOUBLE")
    spec = SnapshotSpec(keys=("product_id",), attributes=("product_name", "category", "list_price"))
    result = merge_snapshots(spark, "data/warehouse/silver/dim_product", batch.rows, spec)
    result.metadata()   # {"rows_inserted": 3, "rows_updated": 1, ...}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import reduce
from pathlib import PurePosixPath

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse import delta

TRACKING_COLUMNS = ("snapshot_date", "first_seen", "last_seen", "in_latest_snapshot", "missing_since")


@dataclass(frozen=True)
class SnapshotSpec:
    """Which input columns are the key, which are attributes, which names the snapshot date.

    Example::

        SnapshotSpec(keys=("product_id",), attributes=("product_name", "category", "list_price"))
    """

    keys: tuple[str, ...]
    attributes: tuple[str, ...]
    snapshot_date: str = "snapshot_date"

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("SnapshotSpec needs at least one key column")


@dataclass(frozen=True)
class Scd1Result:
    """What a :func:`merge_snapshots` call did; ``rows_total`` and ``rows_flagged_missing`` count the table after it.

    Example::

        context.add_output_metadata(merge_snapshots(spark, path, rows, spec).metadata())
    """

    snapshots_applied: int  # distinct snapshot dates in the input
    latest_snapshot: str | None  # latest known snapshot date (ISO), None when nothing is known
    rows_inserted: int
    rows_updated: int
    rows_flagged_missing: int  # rows with in_latest_snapshot false
    rows_total: int
    delta_version: int | None
    write: delta.WriteResult | None = field(default=None, compare=False)

    def metadata(self) -> dict[str, int | str]:
        """The counts as plain ints/strs for Dagster output metadata; None fields are left out (commits: ``write``)."""
        return {name: value for name, value in asdict(self).items() if value is not None and name != "write"}


@dataclass(frozen=True)
class SnapshotBatch:
    """Rows read by :func:`read_csv_snapshots`, and the lines that did not fit the schema.

    ``rows``: the schema's columns, ``snapshot_date``, ``_source_file``. ``rejects``: ``_raw_line``,
    ``_reject_reason``, ``snapshot_date``, ``_source_file``. A rejected line's key is absent from
    its snapshot, so a merge flags it missing (keeping its last good values) rather than half a row.

    Example::

        batch = read_csv_snapshots(spark, files, schema)
        batch.rejects.count()   # report it, or fail the run when it is not 0
    """

    rows: DataFrame
    rejects: DataFrame


def read_csv_snapshots(
    spark: SparkSession, files: Sequence[str], schema: str, date_pattern: str = r"(\d{4}-\d{2}-\d{2})"
) -> SnapshotBatch:
    """Read CSV snapshot ``files`` (header row, DDL ``schema``), dated by ``date_pattern``'s first group.

    The pattern is matched against the file name (by Python's ``re`` first, then as a Java regex
    in Spark) and must capture an ISO date; ``ValueError`` names the files it does not match.
    Headers must name the schema's columns. Parsed lines are cached (SparkResource clears it).

    Example::

        batch = read_csv_snapshots(spark, ["landing/products/products_2025-01-01.csv"],
                                   "product_id BIGINT, product_name STRING, category STRING, list_price DOUBLE")
    """
    undated = [f for f in files if not _iso_date(re.search(date_pattern, PurePosixPath(f).name))]
    if undated:
        raise ValueError(f"No snapshot date matching {date_pattern!r} in the name of {undated}; "
                         "rename the files (e.g. products_2025-01-01.csv) or pass date_pattern.")
    if not files:
        rows = spark.createDataFrame([], f"{schema}, snapshot_date DATE, _source_file STRING")
        rejects = "_raw_line STRING, _reject_reason STRING, snapshot_date DATE, _source_file STRING"
        return SnapshotBatch(rows=rows, rejects=spark.createDataFrame([], rejects))
    file_name = F.element_at(F.split(F.col("_metadata.file_path"), "/"), -1)
    parsed = (
        spark.read.schema(f"{schema}, _corrupt_record STRING")
        .options(header=True, mode="PERMISSIVE", enforceSchema=False, columnNameOfCorruptRecord="_corrupt_record")
        .csv(list(files))
        .withColumn("snapshot_date", F.to_date(F.regexp_extract(file_name, date_pattern, 1)))
        .withColumn("_source_file", F.col("_metadata.file_path"))
        .persist()  # Spark refuses queries on the raw file that only need _corrupt_record
    )
    columns = spark.createDataFrame([], schema).columns
    rows = parsed.where(F.col("_corrupt_record").isNull()).select(*columns, "snapshot_date", "_source_file")
    rejects = parsed.where(F.col("_corrupt_record").isNotNull()).select(
        F.col("_corrupt_record").alias("_raw_line"),
        F.lit(f"line does not match the schema ({schema}): wrong type or number of fields").alias("_reject_reason"),
        "snapshot_date",
        "_source_file",
    )
    return SnapshotBatch(rows=rows, rejects=rejects)


def merge_snapshots(spark: SparkSession, path: str, snapshots: DataFrame, spec: SnapshotSpec) -> Scd1Result:
    """Apply the full ``snapshots`` to the SCD1 Delta table at ``path`` (see the module doc).

    Creates the table with an overwrite write when it does not exist, else runs one MERGE that
    inserts new keys and updates changed rows only (none at all when nothing changed, so the same
    input twice commits nothing). Raises ``ValueError`` naming the snapshot date and key when a
    snapshot holds a key twice or a row has a null key or date.

    Example::

        spec = SnapshotSpec(keys=("product_id",), attributes=("product_name", "list_price"))
        merge_snapshots(spark, "/tmp/dim_product", batch.rows, spec).rows_updated
    """
    keys, attributes, tracked = list(spec.keys), list(spec.attributes), list(TRACKING_COLUMNS)
    incoming = snapshots.select(*keys, *attributes, F.col(spec.snapshot_date).cast("date").alias("_date"))
    input_dates = _validated_dates(incoming, keys)
    newest = incoming.groupBy(*keys).agg(
        F.max_by(F.struct(*attributes, "_date"), "_date").alias("_new"), F.min("_date").alias("_first")
    )
    exists = delta.exists(spark, path)
    if exists:
        current = delta.read(spark, path)
        shown = current.select(F.explode(F.array("first_seen", "last_seen", "missing_since")).alias("d"))
        table_dates = {r.d for r in shown.where(F.col("d").isNotNull()).distinct().collect()}
    else:  # an empty table of the output's types, so both cases share one plan
        new = newest.schema["_new"].dataType
        assert isinstance(new, T.StructType)  # the struct built above
        types = {c: new[c].dataType for c in attributes} | {"in_latest_snapshot": "boolean"}
        current = spark.createDataFrame([], newest.select(*keys).schema).select(
            *keys, *[F.lit(None).cast(types.get(c, "date")).alias(c) for c in attributes + tracked]
        )
        table_dates = set()
    known = sorted(table_dates | set(input_dates))
    latest = known[-1] if known else None

    old = current.select(*keys, *[F.col(c).alias(f"_old_{c}") for c in attributes + tracked])
    take_new = F.col("_new._date") >= F.coalesce("_old_last_seen", "_new._date")  # equal date: a re-delivery
    last_seen = F.greatest("_old_last_seen", "_new._date")
    in_latest = last_seen == F.lit(latest)
    later = F.filter(F.array(*[F.lit(d) for d in known]).cast("array<date>"), lambda d: d > last_seen)
    values = {c: F.when(take_new, F.col(f"_new.{c}")).otherwise(F.col(f"_old_{c}")) for c in attributes} | {
        "snapshot_date": last_seen,
        "first_seen": F.least("_old_first_seen", "_first"),
        "last_seen": last_seen,
        "in_latest_snapshot": in_latest,
        "missing_since": F.when(~in_latest, F.element_at(later, 1)),
    }
    changed = reduce(Column.__or__, [~v.eqNullSafe(F.col(f"_old_{n}")) for n, v in values.items()])
    state = newest.join(old, on=keys, how="full").select(
        *keys, *[value.alias(name) for name, value in values.items()], changed.alias("_changed")
    ).persist()  # counted, then the merge's source: computed once
    try:
        flagged, changed = F.count(F.when(~F.col("in_latest_snapshot"), 1)), F.count(F.when(F.col("_changed"), 1))
        counts = state.agg(F.count("*").alias("total"), flagged.alias("flagged"), changed.alias("changed")).first()
        assert counts is not None  # an aggregate without grouping has one row
        diff = state.where("_changed").drop("_changed")
        merged = delta.MergeCounts()
        with delta.tracked(spark, path) as write:
            if not exists:
                delta.overwrite(diff, path)
            elif counts.changed:  # nothing changed: no MERGE, so no empty commit either
                condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
                merged = delta.merge(spark, path, diff, condition,
                                     "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
    finally:
        state.unpersist()
    result = write.result
    inserted = sum(c.metrics.get("numOutputRows", 0) for c in result.commits) if not exists else merged.inserted
    return Scd1Result(
        snapshots_applied=len(input_dates), latest_snapshot=latest.isoformat() if latest else None,
        rows_inserted=inserted, rows_updated=merged.updated,
        rows_flagged_missing=counts.flagged, rows_total=counts.total, delta_version=result.version, write=result,
    )


def _validated_dates(incoming: DataFrame, keys: list[str]) -> list[date]:
    """The input's snapshot dates; ``ValueError`` on a repeated or null key, or a null date."""
    null_key = reduce(Column.__or__, [F.col(k).isNull() for k in keys])
    per_date = incoming.groupBy("_date").agg(
        F.count("*").alias("rows"), F.count_distinct(*keys).alias("keys"), F.count(F.when(null_key, 1)).alias("nulls")
    ).collect()
    if all(r._date is not None and r.nulls == 0 and r.rows == r.keys for r in per_date):
        return sorted(r._date for r in per_date)
    bad = incoming.groupBy("_date", *keys).count().where((F.col("count") > 1) | null_key | F.col("_date").isNull())
    found = "; ".join(
        f"snapshot {r._date or '<no date>'}: {r['count']} row(s) with " + ", ".join(f"{k}={r[k]!r}" for k in keys)
        for r in bad.orderBy("_date", *keys).limit(10).collect()
    )
    raise ValueError(f"Snapshots must hold each key once, with non-null keys and a snapshot date. Offending "
                     f"(first 10): {found}. Fix or deduplicate these rows in the snapshot files, then run again.")


def _iso_date(match: re.Match[str] | None) -> bool:
    try:
        return match is not None and bool(date.fromisoformat(match.group(1)))
    except (IndexError, ValueError):
        return False
