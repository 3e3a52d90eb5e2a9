"""The logic of the lakehouse's asset checks, as plain functions of counts and DataFrames.

The checks of daily tables return ``{day: AssetCheckResult}`` for the days asked about (one
result per partition, also when a single run covers a range; see :mod:`lakehouse.checks.partitioned`),
computing what they need for all days in one Spark job. The Dagster checks in
:mod:`lakehouse.checks.sales` only gather their inputs. Keeping the logic here lets the
tests show each check failing and passing on small, real data.

Example::

    reconcile({"2025-01-01": 100}, {"2025-01-01": 98}, {"2025-01-01": 2}, days=["2025-01-01"],
              equation="landed lines = bronze + rejects")
    # {"2025-01-01": AssetCheckResult(passed=True, ...)}
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.ingest.landing_files import landed_units

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN


def landed_lines(files_by_day: Mapping[str, Iterable[str]], root: str | os.PathLike) -> dict[str, int]:
    """Non-blank lines per day (a refused file counts 1), from the raw files in plain Python (independent of Spark)."""
    return {day: sum(landed_units(file, root) for file in files) for day, files in files_by_day.items()}


def reconcile(
    expected: Mapping[str, int], *parts: Mapping[str, int], days: Sequence[str], equation: str
) -> dict[str, dg.AssetCheckResult]:
    """Per day of ``days``, ``expected`` must equal the sum of ``parts``; ERROR on a day where it does not."""
    results = {}
    for day in days:
        want, got = expected.get(day, 0), sum(part.get(day, 0) for part in parts)
        results[day] = dg.AssetCheckResult(
            passed=want == got,
            severity=ERROR,
            description=(
                f"nothing lost on {day}: {equation} ({want} = {got})" if want == got else
                f"{equation} broken on {day}: expected {want}, found {got}; rows were lost or duplicated between "
                "layers. Re-materialize the day; if it persists, compare the tables' Delta history."
            ),
            metadata={"equation": equation, "expected": want, "actual": got, "difference": got - want},
        )
    return results


def distinct_sales_by_day(bronze: DataFrame) -> dict[str, int]:
    """Bronze rows per day with re-sent copies of a non-null sale_id counted once."""
    keyed = bronze.select("sale_date", F.coalesce(F.col("sale_id"), F.concat(F.lit("\u0000"), F.col("_source_file"),
                                                                            F.col("_source_line").cast("string"))).alias("k"))
    return {str(r["sale_date"]): r["n"] for r in keyed.groupBy("sale_date").agg(F.count_distinct("k").alias("n")).collect()}


def duplicate_keys(frame: DataFrame, keys: Sequence[str]) -> dg.AssetCheckResult:
    """ERROR when a key combination appears more than once; shows up to 5 duplicated keys."""
    duplicated = frame.groupBy(*keys).count().where("count > 1")
    count = duplicated.count()
    sample = [r.asDict() for r in duplicated.limit(5).collect()]
    return dg.AssetCheckResult(
        passed=count == 0,
        severity=ERROR,
        description=None if count == 0 else f"{count} duplicated {'+'.join(keys)} value(s), e.g. {sample}",
        metadata={"duplicated_keys": count, "sample": dg.MetadataValue.json(sample)},
    )


def duplicate_keys_by_day(frame: DataFrame, keys: Sequence[str], days: Sequence[str], column: str = "sale_date") -> dict[str, dg.AssetCheckResult]:
    """:func:`duplicate_keys` for each day of ``days`` (copies of a key are looked for within its day)."""
    duplicated = frame.groupBy(F.col(column).cast("string").alias("_day"), *keys).count().where("count > 1").collect()
    found: dict[str, list[dict]] = {}
    for row in duplicated:
        found.setdefault(row["_day"], []).append({k: row[k] for k in (*keys, "count")})
    results = {}
    for day in days:
        sample = found.get(day, [])[:5]
        count = len(found.get(day, []))
        results[day] = dg.AssetCheckResult(
            passed=count == 0,
            severity=ERROR,
            description=None if count == 0 else f"{count} duplicated {'+'.join(keys)} value(s) on {day}, e.g. {sample}",
            metadata={"duplicated_keys": count, "sample": dg.MetadataValue.json(sample)},
        )
    return results


def orphans(
    frame: DataFrame, key: str, reference: DataFrame | None, reference_key: str, reference_name: str,
    days: Sequence[str], column: str = "sale_date",
) -> dict[str, dg.AssetCheckResult]:
    """Per day, WARN with the count of rows whose ``key`` has no match in ``reference``."""
    if reference is None:
        missing_reference = dg.AssetCheckResult(
            passed=False, severity=WARN,
            description=f"reference table {reference_name} is not materialized yet: materialize it to check {key}",
            metadata={"orphan_rows": -1},
        )
        return dict.fromkeys(days, missing_reference)
    missing = frame.join(reference.select(F.col(reference_key).alias(key)).distinct(), key, "left_anti")
    found = missing.groupBy(F.col(column).cast("string").alias("_day")).agg(
        F.count(F.lit(1)).alias("rows"), F.slice(F.sort_array(F.collect_set(key)), 1, 10).alias("sample")
    ).collect()
    by_day = {r["_day"]: (r["rows"], [v for v in r["sample"] if v is not None]) for r in found}
    results = {}
    for day in days:
        rows, values = by_day.get(day, (0, []))
        results[day] = dg.AssetCheckResult(
            passed=rows == 0,
            severity=WARN,
            description=None if rows == 0 else f"{rows} row(s) on {day} reference a {key} missing from {reference_name}, e.g. {values}",
            metadata={"orphan_rows": rows, "orphan_values_sample": dg.MetadataValue.json(values)},
        )
    return results


def row_count_anomalies(counts: Mapping[str, int], days: Sequence[str], history: int = 7) -> dict[str, dg.AssetCheckResult]:
    """Per day, WARN when it has < half or > double the median of its previous ``history`` days that have rows."""
    results = {}
    for day in days:
        start = date.fromisoformat(day)
        previous = [counts[d] for d in (str(start - timedelta(days=i)) for i in range(1, history + 1)) if counts.get(d)]
        rows = counts.get(day, 0)
        if len(previous) < 3:
            results[day] = dg.AssetCheckResult(
                passed=True, severity=WARN,
                description=f"{rows} rows on {day}; fewer than 3 of the previous {history} days have rows, nothing to compare",
                metadata={"rows": rows, "days_of_history": len(previous)},
            )
            continue
        median = statistics.median(previous)
        within = median / 2 <= rows <= median * 2
        results[day] = dg.AssetCheckResult(
            passed=within,
            severity=WARN,
            description=(
                f"{rows} rows on {day}, within [median/2, 2×median] of the previous {history} days (median {median})"
                if within else
                f"row count out of range on {day}: {rows} vs median {median} of the previous {history} days"
            ),
            metadata={"rows": rows, "median_previous": float(median), "days_of_history": len(previous)},
        )
    return results


def schema_drift(
    bronze: DataFrame, schema: T.StructType, required: Iterable[str], days: Sequence[str],
    column: str = "sale_date", type_change_share: float = 0.5,
) -> dict[str, dg.AssetCheckResult]:
    """Compare what landed on each day with the source schema.

    * a field the schema does not know appeared → WARN naming it (bronze keeps it in ``_rescued_data``);
    * a required field is missing from every row of the day → ERROR (it disappeared);
    * a field's values were mostly (> ``type_change_share``) of another type → ERROR (its type changed).

    Two aggregations of ``bronze``: :func:`field_counts_by_day` and :func:`rescued_fields_by_day`
    (a caller that already has the first, e.g. for row counts, passes it to :func:`drift_by_day`).
    """
    return drift_by_day(field_counts_by_day(bronze, schema, column), rescued_fields_by_day(bronze, column), schema,
                        required, days, type_change_share)


def field_counts_by_day(bronze: DataFrame, schema: T.StructType, column: str = "sale_date") -> dict[str, dict[str, int]]:
    """Per day: ``_rows`` and, for each field of ``schema``, how many rows hold a value (one aggregation)."""
    known = [f.name for f in schema.fields]
    day = F.col(column).cast("string").alias("_day")
    rows = bronze.groupBy(day).agg(F.count(F.lit(1)).alias("_rows"), *[F.count(F.col(f)).alias(f) for f in known]).collect()
    return {r["_day"]: {name: r[name] for name in ("_rows", *known)} for r in rows}


def rescued_fields_by_day(bronze: DataFrame, column: str = "sale_date") -> dict[str, dict[str, int]]:
    """Per day: how many rows kept each field in ``_rescued_data`` (unknown fields and values of the wrong type)."""
    day = F.col(column).cast("string").alias("_day")
    # from_json parses into a MapType (pyspark documents ``schema: DataType or str``); its stub allows only Array/StructType.
    fields = F.explode(F.map_keys(F.from_json("_rescued_data", T.MapType(T.StringType(), T.StringType())))).alias("field")  # pyright: ignore[reportArgumentType]
    rescued: dict[str, dict[str, int]] = {}
    for r in bronze.select(day, fields).groupBy("_day", "field").count().collect():
        rescued.setdefault(r["_day"], {})[r["field"]] = r["count"]
    return rescued


def drift_by_day(
    totals: Mapping[str, Mapping[str, int]], rescued: Mapping[str, Mapping[str, int]], schema: T.StructType,
    required: Iterable[str], days: Sequence[str], type_change_share: float = 0.5,
) -> dict[str, dg.AssetCheckResult]:
    """:func:`schema_drift` from counts already taken (:func:`field_counts_by_day`, :func:`rescued_fields_by_day`)."""
    return {d: _drift(totals.get(d), rescued.get(d, {}), schema, list(required), type_change_share) for d in days}


def _drift(totals: Mapping[str, int] | None, rescued_counts: Mapping[str, int], schema: T.StructType, required: list[str],
           type_change_share: float) -> dg.AssetCheckResult:
    known = [f.name for f in schema.fields]
    rows = totals["_rows"] if totals else 0
    present = {f: (totals[f] if totals else 0) for f in known}
    new_fields = {f: n for f, n in rescued_counts.items() if f not in known}
    disappeared = [f for f in required if rows and present[f] == 0 and rescued_counts.get(f, 0) == 0]
    retyped = {
        f: rescued_counts[f] for f in known
        if rescued_counts.get(f) and rescued_counts[f] / (rescued_counts[f] + present[f]) > type_change_share
    }
    errors = [f"field '{f}' disappeared (absent in all {rows} rows)" for f in disappeared]
    errors += [f"field '{f}' changed type ({n} of {n + present[f]} values no longer read as {schema[f].dataType.simpleString()})"
               for f, n in retyped.items()]
    warnings = [f"new field '{f}' appeared in {n} row(s); bronze keeps it in _rescued_data" for f, n in sorted(new_fields.items())]
    return dg.AssetCheckResult(
        passed=not errors and not warnings,
        severity=ERROR if errors else WARN,
        description="; ".join(errors + warnings) or f"{rows} rows match the source schema",
        metadata={
            "rows": rows,
            "new_fields": dg.MetadataValue.json(new_fields),
            "disappeared_fields": dg.MetadataValue.json(disappeared),
            "retyped_fields": dg.MetadataValue.json(retyped),
            "runbook": "README.md → Runbooks → Schema drift",
        },
    )


def totals_by_day(frame: DataFrame, sums: Mapping[str, str], column: str = "sale_date") -> dict[str, dict[str, float]]:
    """Per day, ``{name: sum(column)}`` for each of ``sums`` (``"*"`` counts rows)."""
    aggregates = [(F.count(F.lit(1)) if source == "*" else F.sum(source)).alias(name) for name, source in sums.items()]
    return {str(r["_day"]): {name: float(r[name] or 0) for name in sums}
            for r in frame.groupBy(F.col(column).cast("string").alias("_day")).agg(*aggregates).collect()}


def reconcile_totals(
    expected: Mapping[str, Mapping[str, float]], actual: Mapping[str, Mapping[str, float]], days: Sequence[str],
    what: str, tolerance: float = 1e-6,
) -> dict[str, dg.AssetCheckResult]:
    """Per day, every total of ``actual`` equals ``expected``'s (relative ``tolerance`` for sums of doubles); ERROR otherwise."""
    results = {}
    for day in days:
        want, got = expected.get(day, {}), actual.get(day, {})
        names = sorted(set(want) | set(got))
        off = [n for n in names if abs(want.get(n, 0.0) - got.get(n, 0.0)) > tolerance * max(1.0, abs(want.get(n, 0.0)))]
        results[day] = dg.AssetCheckResult(
            passed=not off,
            severity=ERROR,
            description=(f"{what} reconciles on {day}" if not off else
                         f"{what} broken on {day}: " + ", ".join(f"{n} {got.get(n, 0.0):g} vs {want.get(n, 0.0):g}" for n in off)
                         + ". Re-materialize the day; if it persists, compare the tables' Delta history."),
            metadata={f"{n}_expected": want.get(n, 0.0) for n in names} | {f"{n}_actual": got.get(n, 0.0) for n in names},
        )
    return results
