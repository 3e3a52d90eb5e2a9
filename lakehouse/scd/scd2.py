"""SCD type 2 for any dimension: versions from a change-event history, kept in Delta with one MERGE per run.

:func:`scd2_versions` turns the complete event history of some keys into all their versions;
:func:`merge_scd2` writes the keys with new events in one MERGE, other keys untouched (given their
complete history, which :func:`history_of` reads);
:func:`rebuild_scd2` rewrites the whole table; :func:`changed_keys` finds the keys with new events
in the source's Change Data Feed; :func:`last_source_version` reads back the source version the
dimension consumed, recorded in the same commit as the data. Events are applied in ``sequence``
order whatever order they arrived in (semantics: the SCD2 section of the lakehouse contract).
Timestamps are copied, not reordered: if they go backwards against ``sequence``, a version can
have ``valid_to <= valid_from``.

Example::

    spec = Scd2Spec(keys=("customer_id",), sequence="seq", timestamp="event_ts",
                    tracked=("name", "email", "phone", "city"), delete_when="op = 'DELETE'")
    since = last_source_version(spark, dim_path)
    keys, version = changed_keys(spark, events_path, since, spec.keys)
    events = spark.read.format("delta").option("versionAsOf", version).load(events_path)
    if keys is None:
        result = rebuild_scd2(spark, dim_path, events, spec, source_version=version)
    else:
        result = merge_scd2(spark, dim_path, history_of(events, keys, spec), spec, source_version=version)
    result.metadata()   # {"mode": "incremental", "keys_changed": 42, ...}
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce

import sqlglot
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from sqlglot import exp
from sqlglot.errors import ParseError

from lakehouse import delta

VALID_FROM, VALID_TO, IS_CURRENT, VALID_FROM_SEQ = "valid_from", "valid_to", "is_current", "_valid_from_seq"
SOURCE_VERSION_KEY = "scd2_source_version"
_DELETED, _ACTION, _KEEP = "_scd2_deleted", "_scd2_action", "_scd2_keep"
_BROADCAST_KEYS = 1_000_000  # changed keys up to this many are broadcast to find the stale rows
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {VALID_FROM, VALID_TO, IS_CURRENT, VALID_FROM_SEQ, _DELETED, _ACTION, _KEEP}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scd2Spec:
    """How a dimension's events become versions; checked when built (names, ``delete_when`` parses).

    Example::

        Scd2Spec(keys=("customer_id",), sequence="seq", timestamp="event_ts",
                 tracked=("name", "email", "phone", "city"), delete_when="op = 'DELETE'",
                 carried=("source_file",))
    """

    # keys, tracked and carried: a name or a sequence of names, stored as a tuple
    keys: Sequence[str]
    sequence: str
    timestamp: str
    tracked: Sequence[str]
    delete_when: str
    carried: Sequence[str] = ()

    def __post_init__(self) -> None:
        for name in ("keys", "tracked", "carried"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if not self.keys or not self.tracked:
            raise ValueError("Scd2Spec needs at least one key and one tracked column")
        names = [*self.keys, self.sequence, self.timestamp, *self.tracked, *self.carried]
        bad = [n for n in names if not isinstance(n, str) or not _IDENTIFIER.match(n)]
        if bad:
            raise ValueError(f"Scd2Spec column names must be plain identifiers: {bad}")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"Scd2Spec columns must play one role each, repeated: {repeated}")
        if _RESERVED & set(names):
            raise ValueError(f"Scd2Spec columns may not use the output names {sorted(_RESERVED & set(names))}")
        try:
            parsed = sqlglot.parse_one(self.delete_when, read="spark")
        except ParseError as error:
            raise ValueError(f"delete_when {self.delete_when!r} is not a Spark SQL expression: {error}") from None
        if isinstance(parsed, exp.Query) or parsed.find(exp.Subquery):
            raise ValueError(f"delete_when {self.delete_when!r} must be a row-level expression, not a query")

    @property
    def columns(self) -> tuple[str, ...]:
        """The dimension's columns, in table order."""
        return (*self.keys, *self.tracked, *self.carried, VALID_FROM, VALID_TO, IS_CURRENT, VALID_FROM_SEQ)


def scd2_versions(events: DataFrame, spec: Scd2Spec) -> DataFrame:
    """Every version of the keys in ``events``, which must hold the complete history of those keys.

    Events may repeat and come in any order. Rows with a null key, sequence or timestamp are
    dropped here; the caller should quarantine them first. Two events with the same keys and
    sequence are expected to be identical; if they are not, one is kept (deterministically).
    Output columns: keys, tracked, carried, ``valid_from``, ``valid_to``, ``is_current``,
    ``_valid_from_seq`` (the sequence of the event that opened the version).

    Example::

        versions = scd2_versions(spark.read.format("delta").load(events_path), spec)
        versions.where("is_current").count()   # keys alive now
    """
    keys, seq, ts = list(spec.keys), spec.sequence, spec.timestamp
    payload = [ts, *spec.tracked, *spec.carried]
    rows = _usable(events, spec).select(
        *keys, seq, F.coalesce(F.expr(spec.delete_when), F.lit(False)).alias(_DELETED), *payload
    )
    # One shuffle for everything: duplicates of a (keys, sequence) are adjacent in this order,
    # and it is also the `sequence` order the second window needs.
    by_event = Window.partitionBy(*keys).orderBy(seq, _DELETED, *payload)
    by_seq = Window.partitionBy(*keys).orderBy(seq)
    unique = rows.withColumn(_KEEP, F.coalesce(F.lag(seq).over(by_event) != F.col(seq), F.lit(True))).where(_KEEP)
    # The state after an event is the event's own image (or "absent" after a delete), so an event
    # changes the state when it differs from the event before it.
    was_deleted = F.lag(_DELETED).over(by_seq)
    differs = reduce(Column.__or__, [~F.col(c).eqNullSafe(F.lag(c).over(by_seq)) for c in spec.tracked])
    changed = (
        F.when(was_deleted.isNull(), ~F.col(_DELETED))
        .when(F.col(_DELETED), ~was_deleted)
        .otherwise(was_deleted | differs)
    )
    changes = unique.withColumn(_KEEP, changed).where(_KEEP)
    return (
        changes.withColumn(VALID_TO, F.lead(ts).over(by_seq))
        .where(~F.col(_DELETED))
        .select(
            *keys, *spec.tracked, *spec.carried,
            F.col(ts).alias(VALID_FROM), VALID_TO, F.col(VALID_TO).isNull().alias(IS_CURRENT),
            F.col(seq).alias(VALID_FROM_SEQ),
        )
    )


@dataclass(frozen=True)
class Scd2Result:
    """What one write of a dimension did; ``metadata()`` is ready for a Dagster ``Output``.

    For mode ``full`` (the table is overwritten) ``rows_inserted`` is every row written and
    ``rows_deleted`` every row of the previous version of the table. ``write`` holds this
    write's own commits (none when nothing changed).

    Example::

        result = merge_scd2(spark, dim_path, history, spec, source_version=12)
        result.metadata()   # {"mode": "incremental", "keys_changed": 3, "rows_inserted": 2, ...}
    """

    mode: str
    keys_changed: int
    versions_written: int
    rows_inserted: int
    rows_updated: int
    rows_deleted: int
    delta_version: int
    write: delta.WriteResult | None = field(default=None, compare=False)

    def metadata(self) -> dict[str, int | str]:
        """The counts and mode as a plain dict (the commits are in ``write``)."""
        return {name: getattr(self, name) for name in
                ("mode", "keys_changed", "versions_written", "rows_inserted", "rows_updated", "rows_deleted", "delta_version")}


def merge_scd2(
    spark: SparkSession, path: str, events: DataFrame, spec: Scd2Spec, *, source_version: int | None = None
) -> Scd2Result:
    """Recompute the keys in ``events`` (their complete history) and write them with one MERGE.

    Afterwards the rows of those keys are exactly their versions; other rows are not touched. The
    MERGE source is the new versions (``upsert``) plus the table's rows of those keys that are no
    longer a version (``delete``), on keys + ``_valid_from_seq``; a version is rewritten only if a
    column differs, so re-running the same events changes nothing and Delta makes no commit.
    ``source_version`` goes into the commit's ``userMetadata`` (``{"scd2_source_version": N}``);
    without a data commit to carry it, a table-property commit (``scd2.sourceVersion``) records it.
    A missing table is created (mode ``full``) with deletion vectors, so a MERGE marks replaced
    rows instead of rewriting files. The MERGE condition names the changed keys' range, so on a
    table clustered by the keys Delta skips the files that hold none of them.

    Example::

        history = history_of(events, keys, spec)
        merge_scd2(spark, "data/warehouse/silver/dim_customer", history, spec, source_version=12)
    """
    if not delta.exists(spark, path):
        return _overwrite(spark, path, events, spec, source_version)
    keys = list(spec.keys)
    # Materialized once (localCheckpoint: eager, and not a cached plan, which MERGE refuses with
    # materializeSource=none); the caller's events are usually a semi-join over the whole source.
    history = _usable(events, spec).localCheckpoint()
    changed = history.select(*keys).distinct().localCheckpoint()
    versions = scd2_versions(history, spec).localCheckpoint()
    keys_changed, versions_written = changed.count(), versions.count()
    counts = delta.MergeCounts()
    metadata = {} if source_version is None else {SOURCE_VERSION_KEY: source_version}
    with delta.tracked(spark, path, **metadata) as write:
        if keys_changed:
            # The changed keys' range, as literals Delta can skip files with: on a table clustered by the keys, the
            # stale rows' read and the MERGE open only the files that may hold a changed key.
            bounds = _key_bounds(changed, keys)
            # Rows of the changed keys that are no longer a version; only their keys are read.
            stale = (
                _within(delta.read(spark, path), bounds).select(*keys, VALID_FROM_SEQ)
                .join(F.broadcast(changed) if keys_changed <= _BROADCAST_KEYS else changed, keys, "left_semi")
                .join(versions.select(*keys, VALID_FROM_SEQ), [*keys, VALID_FROM_SEQ], "left_anti")
            )
            payload = [*spec.tracked, *spec.carried, VALID_FROM, VALID_TO, IS_CURRENT]
            source = versions.withColumn(_ACTION, F.lit("upsert")).unionByName(stale.select(
                *keys, *[F.lit(None).cast(versions.schema[c].dataType).alias(c) for c in payload],
                VALID_FROM_SEQ, F.lit("delete").alias(_ACTION),
            ))
            on = " AND ".join([*(f"t.`{c}` = s.`{c}`" for c in (*keys, VALID_FROM_SEQ)),
                               *(f"t.`{key}` BETWEEN {low} AND {high}" for key, low, high in bounds)])
            differs = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in payload)
            set_payload = ", ".join(f"t.`{c}` = s.`{c}`" for c in payload)
            columns = ", ".join(f"`{c}`" for c in spec.columns)
            values = ", ".join(f"s.`{c}`" for c in spec.columns)
            counts = delta.merge(spark, path, source, on,
                                 f"WHEN MATCHED AND s.{_ACTION} = 'delete' THEN DELETE "
                                 f"WHEN MATCHED AND s.{_ACTION} = 'upsert' AND ({differs}) THEN UPDATE SET {set_payload} "
                                 f"WHEN NOT MATCHED AND s.{_ACTION} = 'upsert' THEN INSERT ({columns}) VALUES ({values})")
        if source_version is not None and not _committed(spark, path, write.token) \
                and last_source_version(spark, path) != source_version:
            spark.sql(f"ALTER TABLE {delta.sql_path(path)} SET TBLPROPERTIES ('scd2.sourceVersion' = '{int(source_version)}')")
    result = write.result
    merged = any(c.operation == "MERGE" for c in result.commits)
    return Scd2Result("incremental", keys_changed, versions_written,
                      counts.inserted if merged else 0, counts.updated if merged else 0, counts.deleted if merged else 0,
                      result.version if result.version is not None else -1, result)


def history_of(events: DataFrame, keys: DataFrame, spec: Scd2Spec) -> DataFrame:
    """Every event of the keys in ``keys``: the complete history :func:`merge_scd2` needs for them.

    The events are read through the keys' range (literal bounds, as in the MERGE condition), so Delta
    skips the event files that hold no key in it when the events table is laid out by key (clustered
    or written in key order); otherwise it is the same semi-join over every event.

    Example::

        keys, version = changed_keys(spark, events_path, since, spec.keys)
        merge_scd2(spark, dim_path, history_of(events, keys, spec), spec, source_version=version)
    """
    return _within(events, _key_bounds(keys, spec.keys)).join(keys, list(spec.keys), "left_semi")


def _key_bounds(changed: DataFrame, keys: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(key, min, max)`` of each integer key of ``changed``: literal bounds Delta can skip files with."""
    bounds = changed.agg(*[F.min(k).alias(f"min_{k}") for k in keys], *[F.max(k).alias(f"max_{k}") for k in keys]).first()
    assert bounds is not None  # an aggregate without grouping has one row
    found = []
    for k in keys:
        low, high = bounds[f"min_{k}"], bounds[f"max_{k}"]
        if isinstance(low, int) and isinstance(high, int):  # literal integers only: nothing to quote or escape
            found.append((k, low, high))
    return found


def _within(frame: DataFrame, bounds: Sequence[tuple[str, int, int]]) -> DataFrame:
    """The rows of ``frame`` inside ``bounds`` (:func:`_key_bounds`)."""
    for key, low, high in bounds:
        frame = frame.where(F.col(key).between(low, high))
    return frame


def _committed(spark: SparkSession, path: str, token: str) -> bool:
    return bool(delta.commits_of(spark, path, token))


def rebuild_scd2(
    spark: SparkSession, path: str, events: DataFrame, spec: Scd2Spec, *, source_version: int | None = None
) -> Scd2Result:
    """Recompute every key from ``events`` (all events of all keys) and overwrite the table.

    Gives the same rows as applying the same events with :func:`merge_scd2`. The schema is
    overwritten too, so a changed spec takes effect here. ``source_version`` is recorded in the
    overwrite's ``userMetadata``.

    Example::

        rebuild_scd2(spark, dim_path, spark.read.format("delta").load(events_path), spec, source_version=12)
    """
    return _overwrite(spark, path, events, spec, source_version)


def last_source_version(spark: SparkSession, path: str) -> int | None:
    """The ``scd2_source_version`` of the latest commit that recorded one; None without table or record.

    Example::

        since = last_source_version(spark, dim_path)   # None: rebuild; else read changes after it
    """
    if not delta.exists(spark, path):
        return None
    for commit in delta.history(spark, path):  # newest first
        value = commit.user_metadata.get(SOURCE_VERSION_KEY)
        if isinstance(value, int):
            return value
    return None


def changed_keys(
    spark: SparkSession, source_path: str, since_version: int | None, keys: Sequence[str]
) -> tuple[DataFrame | None, int]:
    """Distinct ``keys`` of rows the source added after ``since_version``, and the source's current version.

    Reads the Change Data Feed (inserts and update post-images) from ``since_version + 1`` to the
    current version; the keys are materialized (``localCheckpoint``) so an unreadable feed shows up
    here. ``(None, current)`` — the caller rebuilds — when ``since_version`` is None, ahead of the
    source (recreated), no longer in the source's log (:func:`feed_gap`: e.g. an erasure truncated
    it), or the feed does not cover the range (Change Data Feed was off then, or Delta cannot read
    it: any ``DELTA_*`` error; it is logged). Nothing new: an empty DataFrame.

    Example::

        keys, version = changed_keys(spark, events_path, last_source_version(spark, dim_path), ["customer_id"])
    """
    current = delta.latest_version(spark, source_path)
    if current is None:
        raise delta.DeltaTableMissing(f"there is no Delta table at {source_path}")
    if since_version is None:
        return None, current
    if since_version > current:
        log.warning("%s is at version %d, before the recorded %d: full rebuild", source_path, current, since_version)
        return None, current
    if since_version == current:
        return delta.read(spark, source_path).select(*keys).limit(0), current
    gap = feed_gap(spark, source_path, since_version)
    if gap:
        log.warning("%s: full rebuild: %s", source_path, gap)
        return None, current
    try:
        feed = delta.change_feed(spark, source_path, since_version + 1, current)
        changed = feed.where(F.col("_change_type").isin("insert", "update_postimage")).select(*keys).distinct()
        return changed.localCheckpoint(), current
    except PySparkException as error:
        if not (error.getCondition() or "").startswith("DELTA_"):
            raise
        log.warning("change feed of %s after %d unreadable, full rebuild: %s", source_path, since_version, error)
        return None, current


def feed_gap(spark: SparkSession, source_path: str, since_version: int) -> str | None:
    """Why the source's Change Data Feed after ``since_version`` can no longer be read, or None when it can.

    The feed from ``since_version + 1`` needs those commits in the source's log; a purge of its
    history (an erasure, :mod:`lakehouse.governance.purge`) removes them, and Delta then refuses
    the read with a JVM error that is not a ``DELTA_*`` condition.

    Example::

        feed_gap(spark, events_path, 12)   # 'the log of ... starts at version 40 (its history was purged) ...'
    """
    versions = [c.version for c in delta.history(spark, source_path)]
    earliest = min(versions) if versions else 0
    if since_version + 1 < earliest:
        return (f"the log of {source_path} starts at version {earliest} (its history was purged, e.g. by an erasure), "
                f"so its Change Data Feed since version {since_version + 1} cannot be read")
    return None


def _overwrite(
    spark: SparkSession, path: str, events: DataFrame, spec: Scd2Spec, source_version: int | None
) -> Scd2Result:
    existed = delta.exists(spark, path)
    previous = delta.read(spark, path).count() if existed else 0
    keys_changed = _usable(events, spec).select(*spec.keys).distinct().count()
    metadata = {} if source_version is None else {SOURCE_VERSION_KEY: source_version}
    with delta.tracked(spark, path, **metadata) as write:
        delta.overwrite(scd2_versions(events, spec), path, properties={"delta.enableDeletionVectors": "true"})
    result = write.result
    written = sum(c.metrics.get("numOutputRows", 0) for c in result.commits)
    return Scd2Result("full", keys_changed, written, written, 0, previous,
                      result.version if result.version is not None else -1, result)


def _usable(events: DataFrame, spec: Scd2Spec) -> DataFrame:
    required = (*spec.keys, spec.sequence, spec.timestamp)
    return events.where(reduce(Column.__and__, [F.col(c).isNotNull() for c in required]))
