"""What every silver and gold table promises, as pandera ``pyspark`` DataFrameModels.

``pandera.pyspark`` collects errors in ``df.pandera.errors`` instead of raising;
:func:`validate` turns them into an :class:`~dagster.AssetCheckResult` listing each broken
promise (column, check, message). Data-level checks (ranges, nullability, uniqueness) run as well
as schema-level ones (columns and types).

Example::

    result = validate(SilverSales, spark.read.format("delta").load("data/warehouse/silver/sales"))
    result.passed, result.metadata["errors"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, ClassVar, cast

import dagster as dg
import pandera.pyspark as pa
import pyspark.sql.types as T
from pandera.config import ValidationDepth, config_context
from pyspark.sql import DataFrame
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


def validate(model: type[pa.DataFrameModel], frame: DataFrame) -> dg.AssetCheckResult:
    """Validate ``frame`` against ``model`` (schema and data); one ERROR result listing every failure."""
    with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        validated = model.to_schema().validate(frame)  # what model.validate does, typed for a pyspark DataFrame
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
