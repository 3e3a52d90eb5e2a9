"""The logic of the dimension and change-feed checks, as plain functions of DataFrames.

Each returns an :class:`~dagster.AssetCheckResult` naming what is wrong, a sample of the keys
and what to do; :mod:`lakehouse.checks.definitions` gathers the inputs.

Example::

    one_current_row(warehouse.read(SILVER_DIM_CUSTOMER), ["customer_id"])
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import dagster as dg
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN
REBUILD = "Re-materialize the dimension with run config full_refresh: true; if the problem stays, the change feed itself is inconsistent."


def _result(problems: DataFrame, what: str, *, severity=ERROR, advice: str = REBUILD, **metadata) -> dg.AssetCheckResult:
    count = problems.count()
    sample = [r.asDict() for r in problems.limit(5).collect()] if count else []  # a second query only when there are problems
    return dg.AssetCheckResult(
        passed=count == 0,
        severity=severity,
        description=None if count == 0 else f"{count} {what}, e.g. {sample}. {advice}",
        metadata={"problems": count, "sample": dg.MetadataValue.json(_jsonable(sample)), **metadata},
    )


def _jsonable(rows: list[dict]) -> list[dict]:
    return [{k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in r.items()} for r in rows]


def one_current_row(dim: DataFrame, keys: Sequence[str]) -> dg.AssetCheckResult:
    """ERROR for every key with more than one ``is_current`` row."""
    duplicated = dim.where("is_current").groupBy(*keys).count().where("count > 1")
    return _result(duplicated, f"key(s) with more than one current row ({'+'.join(keys)})")


def valid_intervals(dim: DataFrame, keys: Sequence[str]) -> dg.AssetCheckResult:
    """ERROR for inverted intervals, overlapping versions of a key, and ``is_current`` out of step with an open ``valid_to``."""
    by_start = Window.partitionBy(*keys).orderBy("valid_from", "valid_to")
    ordered = dim.withColumn("_next_from", F.lead("valid_from").over(by_start))
    problem = (
        F.when(F.col("valid_to") < F.col("valid_from"), F.lit("inverted: valid_to before valid_from"))
        .when(F.col("_next_from").isNotNull() & (F.col("valid_to").isNull() | (F.col("_next_from") < F.col("valid_to"))),
              F.lit("overlaps the next version"))
        .when(F.col("is_current") != F.col("valid_to").isNull(), F.lit("is_current disagrees with valid_to"))
    )
    problems = ordered.select(*keys, "valid_from", "valid_to", "is_current", problem.alias("problem")).where("problem IS NOT NULL")
    return _result(problems, "version(s) with an invalid validity interval")


def current_rows_follow_events(dim: DataFrame, events: DataFrame, keys: Sequence[str], sequence: str,
                               tracked: Sequence[str], delete_when: str) -> dg.AssetCheckResult:
    """ERROR unless exactly the keys whose latest event (by ``sequence``) is not a delete have a current row, holding that event's values."""
    latest = Window.partitionBy(*keys).orderBy(F.col(sequence).desc())
    last = (
        events.withColumn("_n", F.row_number().over(latest)).where("_n = 1")
        .select(*keys, *[F.col(c).alias(f"_event_{c}") for c in tracked], F.expr(delete_when).alias("_deleted"))
    )
    current = dim.where("is_current").select(*keys, *tracked, F.lit(True).alias("_current"))
    joined = last.join(current, list(keys), "full_outer")
    differs = reduce(Column.__or__, [~F.col(c).eqNullSafe(F.col(f"_event_{c}")) for c in tracked])
    problem = (
        F.when(F.col("_deleted").isNull(), F.lit("current row for a key with no event"))
        .when(~F.col("_deleted") & F.col("_current").isNull(), F.lit("latest event is not a delete but no current row"))
        .when(F.col("_deleted") & F.col("_current").isNotNull(), F.lit("latest event is a delete but a current row remains"))
        .when(~F.col("_deleted") & differs, F.lit("current row differs from the latest event"))
    )
    problems = joined.select(*keys, problem.alias("problem")).where("problem IS NOT NULL")
    return _result(problems, "key(s) whose current row does not follow the latest event")


def cdc_accounting(landed: DataFrame, landed_rejects: DataFrame, bronze: DataFrame, bronze_rejects: DataFrame,
                   keys: Sequence[str], files_pending: int, *, suppressed_events: int = 0, suppressed_rejects: int = 0,
                   erased_events: int = 0, erased_rejects: int = 0) -> dg.AssetCheckResult:
    """ERROR unless distinct events in bronze = events landed − suppressed − duplicates, and rejects match, over the ingested files.

    ``landed``/``landed_rejects`` are the records and rejects re-read from the files the file log
    says were ingested, less those of erased customers (``suppressed_events``/``suppressed_rejects``
    of them: the ingestion drops them, an erasure deletes them); a duplicate is a landed record
    whose key (all parts non-null) was already landed. Files landed but not ingested yet are
    reported, not counted. An erasure also deletes rows that name the customer only by content (a
    reject line with their email, an event without a readable id): ``erased_events`` and
    ``erased_rejects`` (rows erasures removed, from governance/erasure_log) bound how many fewer
    rows bronze may hold than the equation says.
    """
    complete = " AND ".join(f"{k} IS NOT NULL" for k in keys)
    # One pass: a distinct count of several columns skips the rows where any of them is null, as `complete` does.
    counts = landed.agg(F.count(F.lit(1)).alias("landed"), F.count_if(F.expr(complete)).alias("keyed"),
                        F.count_distinct(*[F.col(k) for k in keys]).alias("distinct_keyed")).first()
    assert counts is not None  # an aggregation without grouping has one row
    events_landed = counts["landed"] + suppressed_events
    duplicates = counts["keyed"] - counts["distinct_keyed"]
    distinct_in_bronze = bronze.count()
    rejects_landed, rejects_in_bronze = landed_rejects.count() + suppressed_rejects, bronze_rejects.count()
    expected = events_landed - suppressed_events - duplicates
    expected_rejects = rejects_landed - suppressed_rejects
    passed = (expected - erased_events <= distinct_in_bronze <= expected
              and expected_rejects - erased_rejects <= rejects_in_bronze <= expected_rejects)
    metadata = {
        "events_landed": events_landed,
        "duplicate_events": duplicates,
        "suppressed_events": suppressed_events,
        "distinct_events_in_bronze": distinct_in_bronze,
        "rejects_landed": rejects_landed,
        "suppressed_rejects": suppressed_rejects,
        "rejects_in_bronze": rejects_in_bronze,
        "files_pending": files_pending,
    }
    erased = ""
    if suppressed_events or suppressed_rejects or erased_events or erased_rejects:
        metadata.update(erased_events_bound=erased_events, erased_rejects_bound=erased_rejects)
        erased = (f" (erased customers: {suppressed_events} events and {suppressed_rejects} rejects suppressed; erasures "
                  f"may have removed up to {erased_events} more events and {erased_rejects} more rejects by content)")
    equation = (f"{distinct_in_bronze} distinct events in bronze vs {events_landed} landed - {suppressed_events} suppressed"
                f" - {duplicates} duplicates = {expected}")
    return dg.AssetCheckResult(
        passed=passed,
        severity=ERROR,
        description=(
            f"CDC accounting holds: {equation}; {rejects_in_bronze} rejects{erased}."
            + (f" {files_pending} landed file(s) not ingested yet: materialize bronze/customers_cdc." if files_pending else "")
            if passed else
            f"CDC accounting broken: {equation}; rejects {rejects_in_bronze} in bronze vs {expected_rejects} landed and "
            f"not suppressed{erased}. "
            "Events were lost or stored twice: compare the file log bronze/customers_cdc_files with the landing folder."
        ),
        metadata=metadata,
    )


def applicable_share(bronze: DataFrame, applicable: DataFrame) -> dg.AssetCheckResult:
    """WARN with the count of bronze events the dimension cannot place (no key or seq, bad event_ts, unknown op)."""
    skipped = bronze.count() - applicable.count()
    return dg.AssetCheckResult(
        passed=skipped == 0,
        severity=WARN,
        description=None if skipped == 0 else (
            f"{skipped} change event(s) in bronze/customers_cdc have no customer_id or seq, an event_ts that is not "
            "ISO-8601 or an unknown op; they stay in bronze and are not applied. Ask the source to re-send them."
        ),
        metadata={"events_not_applicable": skipped},
    )


def current_rows_reconcile(dim: DataFrame, derived: DataFrame, what: str) -> dg.AssetCheckResult:
    """ERROR unless ``derived`` has as many rows as ``dim`` has current rows, in total and per ``city``.

    For a table with one row per current customer that cannot be joined back to the dimension
    (``gold/customers_masked`` holds a token, not the id); only cities are sampled.
    """
    current = dim.where("is_current")
    expected = current.groupBy("city").agg(F.count(F.lit(1)).alias("current_customers"))
    found = derived.groupBy(F.col("city").alias("_city")).agg(F.count(F.lit(1)).alias("rows"))
    by_city = (
        expected.join(found, F.col("city").eqNullSafe(F.col("_city")), "full")
        .select(F.coalesce("city", "_city").alias("city"), *[F.coalesce(c, F.lit(0)).alias(c) for c in ("current_customers", "rows")])
    )
    # One query: the totals are the sums over the cities (NULL is a city of its own); differing cities are kept, at most 5.
    differing = F.when(F.col("current_customers") != F.col("rows"), F.struct("city", "current_customers", "rows"))
    summary = by_city.agg(F.sum("current_customers").alias("current_customers"), F.sum("rows").alias("rows"),
                          F.slice(F.collect_list(differing), 1, 5).alias("differing")).first()
    assert summary is not None  # an aggregation without grouping has one row
    totals = {"current_customers": summary["current_customers"] or 0, "rows": summary["rows"] or 0}
    cities = [r.asDict() for r in summary["differing"]]
    passed = not cities and totals["current_customers"] == totals["rows"]
    return dg.AssetCheckResult(
        passed=passed,
        severity=ERROR,
        description=(f"{what} has one row per current customer of silver/dim_customer ({totals['rows']})" if passed else
                     f"{what} has {totals['rows']} rows for {totals['current_customers']} current customers of "
                     f"silver/dim_customer, e.g. per city {cities}. Re-materialize {what}."),
        metadata={**totals, "differing_cities": dg.MetadataValue.json(_jsonable(cities))},
    )
