"""What every silver and gold table promises, as pandera ``pyspark`` DataFrameModels.

``pandera.pyspark`` collects errors in ``df.pandera.errors`` instead of raising;
:func:`validate` turns them into an :class:`~dagster.AssetCheckResult` listing each broken
promise (column, check, message). Data-level checks (ranges, nullability, uniqueness) run as well
as schema-level ones (columns and types).

The common case, a frame that keeps every promise, is decided by one Spark aggregation
(:func:`keeps_every_promise`: types from the frame's schema, then one ``count_if`` per nullability
and range promise and one distinct count for uniqueness); pandera's own validation, which runs a
Spark job per promise, runs only when that pass finds something broken, so the errors it lists
are pandera's. A model using a promise the one-pass evaluation does not know always goes to
pandera.

Example::

    result = validate(SilverSales, spark.read.format("delta").load("data/warehouse/silver/sales"))
    result.passed, result.metadata["errors"]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar, cast

import dagster as dg
import pandera.pyspark as pa
import pyspark.sql.types as T
from pandera.config import ValidationDepth, config_context
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


class SilverSales(pa.DataFrameModel):
    """``silver/sales``: one valid row per sale_id (CONTRACT.md)."""

    sale_id: T.StringType = pa.Field(nullable=False)
    customer_id: T.LongType = pa.Field(nullable=False)
    product_id: T.LongType = pa.Field(nullable=False)
    store_id: T.LongType = pa.Field(nullable=False)
    quantity: T.LongType = pa.Field(gt=0, nullable=False)
    amount: T.DoubleType = pa.Field(gt=0, nullable=False)
    discount: T.DoubleType = pa.Field(ge=0, lt=1, nullable=False)
    sale_ts: T.TimestampType = pa.Field(nullable=False)
    net_amount: T.DoubleType = pa.Field(ge=0, nullable=False)
    sale_date: T.DateType = pa.Field(nullable=False)
    _source_file: T.StringType = pa.Field(nullable=False)
    _ingested_at: T.TimestampType = pa.Field(nullable=True)

    class Config:
        unique = "sale_id"


class SilverSalesQuarantine(pa.DataFrameModel):
    """``silver/sales_quarantine``: bronze rows plus the rules they broke."""

    sale_id: T.StringType = pa.Field(nullable=True)
    sale_date: T.DateType = pa.Field(nullable=False)
    _failed_expectations: Annotated[T.ArrayType, T.StringType(), True] = pa.Field(nullable=False)
    _source_file: T.StringType = pa.Field(nullable=False)
    _source_line: T.LongType = pa.Field(gt=0, nullable=False)


class GoldDailySales(pa.DataFrameModel):
    """``gold/daily_sales``: one row per (sale_date, store_id)."""

    sale_date: T.DateType = pa.Field(nullable=False)
    store_id: T.LongType = pa.Field(nullable=False)
    revenue: T.DoubleType = pa.Field(ge=0, nullable=False)
    transactions: T.LongType = pa.Field(gt=0, nullable=False)
    units: T.LongType = pa.Field(gt=0, nullable=False)

    class Config:
        unique: ClassVar[list[str]] = ["sale_date", "store_id"]


# pandera's built-in checks as the condition a row must meet (a NULL passes, as in pandera's pyspark checks).
_CHECKS: dict[str, Callable[[Column, dict[str, Any]], Column]] = {
    "greater_than": lambda c, s: c > F.lit(s["min_value"]),
    "greater_than_or_equal_to": lambda c, s: c >= F.lit(s["min_value"]),
    "less_than": lambda c, s: c < F.lit(s["max_value"]),
    "less_than_or_equal_to": lambda c, s: c <= F.lit(s["max_value"]),
    "equal_to": lambda c, s: c == F.lit(s["value"]),
    "not_equal_to": lambda c, s: c != F.lit(s["value"]),
    "in_range": lambda c, s: ((c >= F.lit(s["min_value"])) if s.get("include_min", True) else (c > F.lit(s["min_value"])))
    & ((c <= F.lit(s["max_value"])) if s.get("include_max", True) else (c < F.lit(s["max_value"]))),
}


def keeps_every_promise(schema: pa.DataFrameSchema, frame: DataFrame) -> bool:
    """True when ``frame`` keeps every promise of ``schema``, decided from its schema and one aggregation.

    False means "broken, or not decidable here": the caller then asks pandera.
    """
    if schema.checks or schema.strict or getattr(schema, "ordered", False):
        return False
    types = {f.name: f.dataType for f in frame.schema.fields}
    broken: list[Column] = []
    for name, column in schema.columns.items():
        if column.regex or column.unique or column.coerce or name not in types or types[name] != column.dtype.type:
            return False
        value = F.col(f"`{name}`")
        if not column.nullable:
            broken.append(value.isNull())
        for check in column.checks:
            condition = _CHECKS.get(check.name)
            if condition is None:
                return False
            broken.append(~condition(value, check.statistics))
    counts = [F.count_if(condition).alias(f"_{i}") for i, condition in enumerate(broken)]
    unique = [schema.unique] if isinstance(schema.unique, str) else list(schema.unique or [])
    if any(c not in types for c in unique):
        return False
    if unique:
        counts += [F.count(F.lit(1)).alias("_rows"), F.count_distinct(F.struct(*[F.col(f"`{c}`") for c in unique])).alias("_keys")]
    if not counts:
        return True
    row = frame.agg(*counts).first()
    assert row is not None  # an aggregate without grouping has one row
    return all(row[f"_{i}"] == 0 for i in range(len(broken))) and (not unique or row["_rows"] == row["_keys"])


def validate(model: type[pa.DataFrameModel], frame: DataFrame) -> dg.AssetCheckResult:
    """Validate ``frame`` against ``model`` (schema and data); one ERROR result listing every failure."""
    schema = model.to_schema()
    errors: dict[str, dict[str, list[dict]]] | None = None
    if not keeps_every_promise(schema, frame):
        with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
            validated = schema.validate(frame)  # what model.validate does, typed for a pyspark DataFrame
            # The stubs type any unknown DataFrame attribute as a Column; ``pandera`` is the accessor pandera adds at import.
            errors = cast("dict[str, dict[str, list[dict]]] | None", validated.pandera.errors)
    failures = [
        {"category": category, "reason": reason, "column": e.get("column"), "check": str(e.get("check")), "error": e.get("error")}
        for category, reasons in (errors or {}).items()
        for reason, entries in reasons.items()
        for e in entries
    ]
    return dg.AssetCheckResult(
        passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if not failures else f"{len(failures)} schema promise(s) of {model.__name__} broken",
        metadata={
            "model": model.__name__,
            "failures": dg.MetadataValue.int(len(failures)),
            "errors": dg.MetadataValue.md(
                "| column | check | error |\n|---|---|---|\n"
                + "\n".join(f"| {f['column']} | {f['check']} | {f['error'][:300]} |" for f in failures)
            ) if failures else dg.MetadataValue.text("none"),
        },
    )


def validate_by_day(
    model: type[pa.DataFrameModel], frame: DataFrame, days: Sequence[str], column: str = "sale_date"
) -> dict[str, dg.AssetCheckResult]:
    """:func:`validate` per day of ``days``: one validation of the whole range, and only if it fails, one per day.

    A range that passes every promise passes on each of its days (the models' checks are per row,
    or uniqueness, which holds on a part when it holds on the whole), so the common case costs one pass.
    """
    whole = validate(model, frame)
    if whole.passed:
        return dict.fromkeys(days, whole)
    return {day: validate(model, frame.where(F.col(column) == F.lit(day).cast("date"))) for day in days}
