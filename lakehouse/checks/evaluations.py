"""The logic of the lakehouse's asset checks, as plain functions of counts and DataFrames.

Each returns an :class:`~dagster.AssetCheckResult`; the Dagster checks in
:mod:`lakehouse.checks.definitions` only gather their inputs. Keeping the logic here lets the
tests show each check failing and passing on small, real data.

Example::

    reconcile({"2025-01-01": 100}, {"2025-01-01": 98}, {"2025-01-01": 2}, "landed lines", "bronze + rejects")
    # AssetCheckResult(passed=True, ...)
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN
_JAVA_WHITESPACE = b" \t\n\r\x0b\x0c"


def rows_by_day(frame: DataFrame, column: str = "sale_date") -> dict[str, int]:
    """Row count per partition day of ``frame``."""
    return {str(r["day"]): r["count"] for r in frame.groupBy(F.col(column).alias("day")).count().collect()}


def landed_lines(files_by_day: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Non-blank lines per day, counted from the raw files in plain Python (independent of Spark)."""
    counts = {}
    for day, files in files_by_day.items():
        counts[day] = sum(
            1 for file in files for line in Path(file).read_bytes().split(b"\n") if line.strip(_JAVA_WHITESPACE)
        )
    return counts


def reconcile(
    expected: Mapping[str, int], *parts: Mapping[str, int], days: Sequence[str] | None = None, equation: str
) -> dg.AssetCheckResult:
    """Per day, ``expected`` must equal the sum of ``parts``; ERROR naming every day that does not."""
    days = sorted(days or expected)
    rows = []
    for day in days:
        want, got = expected.get(day, 0), sum(part.get(day, 0) for part in parts)
        rows.append((day, want, got))
    broken = [(day, want, got) for day, want, got in rows if want != got]
    return dg.AssetCheckResult(
        passed=not broken,
        severity=ERROR,
        description=(
            f"nothing lost: {equation} holds for {len(days)} day(s)" if not broken else
            f"{equation} broken on {', '.join(d for d, _, _ in broken)}: rows were lost or duplicated between layers. "
            "Re-materialize those days; if it persists, compare the tables' Delta history."
        ),
        metadata={
            "equation": equation,
            "days_checked": len(days),
            "days_broken": len(broken),
            "counts": dg.MetadataValue.md(
                "| day | expected | actual |\n|---|---|---|\n" + "\n".join(f"| {d} | {w} | {g} |" for d, w, g in rows)
            ),
        },
    )


def distinct_sales_by_day(bronze: DataFrame) -> dict[str, int]:
    """Bronze rows per day with re-sent copies of a non-null sale_id counted once."""
    keyed = bronze.select("sale_date", F.coalesce(F.col("sale_id"), F.concat(F.lit("\u0000"), F.col("_source_file"),
                                                                            F.col("_source_line").cast("string"))).alias("k"))
    return {str(r["sale_date"]): r["n"] for r in keyed.groupBy("sale_date").agg(F.countDistinct("k").alias("n")).collect()}


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


def orphans(frame: DataFrame, key: str, reference: DataFrame | None, reference_key: str, reference_name: str) -> dg.AssetCheckResult:
    """WARN with the count of rows whose ``key`` has no match in ``reference``."""
    if reference is None:
        return dg.AssetCheckResult(
            passed=False, severity=WARN,
            description=f"reference table {reference_name} is not materialized yet: materialize it to check {key}",
            metadata={"orphan_rows": -1},
        )
    missing = frame.join(reference.select(F.col(reference_key).alias(key)).distinct(), key, "left_anti")
    rows = missing.count()
    values = sorted(r[key] for r in missing.select(key).distinct().limit(10).collect() if r[key] is not None)
    return dg.AssetCheckResult(
        passed=rows == 0,
        severity=WARN,
        description=None if rows == 0 else f"{rows} row(s) reference a {key} missing from {reference_name}, e.g. {values}",
        metadata={"orphan_rows": rows, "orphan_values_sample": dg.MetadataValue.json(values)},
    )


def row_count_anomalies(counts: Mapping[str, int], days: Sequence[str], history: int = 7) -> dg.AssetCheckResult:
    """WARN when a day has < half or > double the median of its previous ``history`` days that have rows."""
    anomalies, checked = [], []
    for day in sorted(days):
        start = date.fromisoformat(day)
        previous = [counts[d] for d in (str(start - timedelta(days=i)) for i in range(1, history + 1)) if counts.get(d)]
        if len(previous) < 3:
            continue
        median = statistics.median(previous)
        rows = counts.get(day, 0)
        checked.append(day)
        if rows < median / 2 or rows > median * 2:
            anomalies.append({"day": day, "rows": rows, "median_previous": median})
    return dg.AssetCheckResult(
        passed=not anomalies,
        severity=WARN,
        description=(
            f"{len(checked)} day(s) within [median/2, 2×median] of their previous {history} days"
            + ("" if len(checked) == len(days) else f"; {len(days) - len(checked)} day(s) lack 3 days of history")
            if not anomalies else
            "row count out of range on " + ", ".join(f"{a['day']} ({a['rows']} vs median {a['median_previous']})" for a in anomalies)
        ),
        metadata={"days_checked": len(checked), "anomalies": dg.MetadataValue.json(anomalies)},
    )


def schema_drift(bronze: DataFrame, schema: T.StructType, required: Iterable[str], type_change_share: float = 0.5) -> dg.AssetCheckResult:
    """Compare what landed with the source schema.

    * a field the schema does not know appeared → WARN naming it (bronze keeps it in ``_rescued_data``);
    * a required field is missing from every row → ERROR (it disappeared);
    * a field's values were mostly (> ``type_change_share``) of another type → ERROR (its type changed).
    """
    known = [f.name for f in schema.fields]
    rescued = bronze.select(F.explode(F.map_keys(F.from_json("_rescued_data", T.MapType(T.StringType(), T.StringType())))).alias("field"))
    rescued_counts = {r["field"]: r["count"] for r in rescued.groupBy("field").count().collect()}
    totals = bronze.agg(F.count(F.lit(1)).alias("rows"), *[F.count(F.col(f)).alias(f) for f in known]).collect()[0]
    rows = totals["rows"]
    new_fields = {f: n for f, n in rescued_counts.items() if f not in known}
    disappeared = [f for f in required if rows and totals[f] == 0 and rescued_counts.get(f, 0) == 0]
    retyped = {
        f: rescued_counts[f] for f in known
        if rescued_counts.get(f) and rescued_counts[f] / (rescued_counts[f] + totals[f]) > type_change_share
    }
    errors = [f"field '{f}' disappeared (absent in all {rows} rows)" for f in disappeared]
    errors += [f"field '{f}' changed type ({n} of {n + totals[f]} values no longer read as {schema[f].dataType.simpleString()})"
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
