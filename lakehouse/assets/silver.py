"""Silver: one row per valid, distinct business entity; whatever fails a rule goes to quarantine."""

import dagster as dg
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.partitions import SINGLE_RUN
from lakehouse.quality import Expectation, ExpectationSet
from lakehouse.quality.expectations import KEPT

LAYER = "silver"
KINDS = {"spark", "delta"}
SALE_DATE = {"partition_expr": "sale_date"}

_ISO_TS = "'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})$'"
_TS_PARSES = f"(sale_ts RLIKE {_ISO_TS} AND try_cast(sale_ts AS TIMESTAMP) IS NOT NULL)"

SALES_EXPECTATIONS = ExpectationSet(
    "silver.sales",
    [
        Expectation("sale_id_not_null", "sale_id IS NOT NULL"),
        Expectation("customer_id_not_null", "customer_id IS NOT NULL"),
        Expectation("product_id_not_null", "product_id IS NOT NULL"),
        Expectation("store_id_not_null", "store_id IS NOT NULL"),
        Expectation("quantity_positive", "quantity > 0"),
        Expectation("amount_positive", "amount > 0"),
        # A missing discount means 0; one that landed with the wrong type was rescued and is not 0.
        Expectation(
            "discount_in_range",
            "coalesce(discount, 0) >= 0 AND coalesce(discount, 0) < 1"
            " AND NOT (discount IS NULL AND get_json_object(_rescued_data, '$.discount') IS NOT NULL)",
        ),
        Expectation("sale_ts_parses", _TS_PARSES),
        Expectation("sale_ts_in_partition_day", f"NOT {_TS_PARSES} OR to_date(try_cast(sale_ts AS TIMESTAMP)) = sale_date"),
    ],
)

def build(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        name="silver_sales",
        ins={"bronze_sales": dg.AssetIn(key=["bronze", "sales"])},
        outs={
            "sales": dg.AssetOut(
                key=[LAYER, "sales"],
                description="Valid sales, one row per sale_id, with net_amount.",
                metadata=SALE_DATE,
                kinds=KINDS,
            ),
            "sales_quarantine": dg.AssetOut(
                key=[LAYER, "sales_quarantine"],
                description="Bronze sales that broke a drop rule, with _failed_expectations naming each rule.",
                metadata=SALE_DATE,
                kinds=KINDS,
            ),
        },
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        group_name=LAYER,
    )
    def sales(context: dg.AssetExecutionContext, bronze_sales: DataFrame):
        checked = distinct_sales(SALES_EXPECTATIONS.evaluate(bronze_sales)).persist()
        outcome = SALES_EXPECTATIONS.outcome(checked, partitions=_partition_label(context))
        valid, quarantine = SALES_EXPECTATIONS.split(checked)
        bronze_rows = bronze_sales.count()
        reconciliation = {
            "bronze_rows": bronze_rows,
            "duplicates_removed": bronze_rows - outcome.rows,
            "distinct_rows": outcome.rows,
        }
        yield dg.Output(with_net_amount(valid), output_name="sales", metadata={**reconciliation, **outcome.metadata()})
        yield dg.Output(quarantine, output_name="sales_quarantine", metadata=reconciliation)

    return [sales]


def distinct_sales(checked: DataFrame) -> DataFrame:
    """One row per (sale_date, sale_id); a re-sent sale keeps its best copy.

    Best = a copy that passes the drop rules, then the one that landed last (file time, file,
    line). Rows without a sale_id cannot be matched as copies and are all kept (they fail
    ``sale_id_not_null`` and go to quarantine).
    """
    best_first = Window.partitionBy("sale_date", "sale_id").orderBy(
        F.col(KEPT).desc(), F.col("_ingested_at").desc(), F.col("_source_file").desc(), F.col("_source_line").desc()
    )
    ranked = checked.withColumn("_copy", F.when(F.col("sale_id").isNotNull(), F.row_number().over(best_first)).otherwise(1))
    return ranked.where(F.col("_copy") == 1).drop("_copy")


def with_net_amount(valid: DataFrame) -> DataFrame:
    """Typed silver columns: discount defaults to 0, sale_ts becomes a timestamp, net_amount added."""
    discount = F.coalesce(F.col("discount"), F.lit(0.0))
    return valid.select(
        "sale_id", "customer_id", "product_id", "store_id", "quantity", "amount",
        discount.alias("discount"),
        F.expr("try_cast(sale_ts AS TIMESTAMP)").alias("sale_ts"),
        (F.col("amount") * F.col("quantity") * (F.lit(1.0) - discount)).alias("net_amount"),
        "sale_date",
        "_source_file",
        "_ingested_at",
    )


def _partition_label(context: dg.AssetExecutionContext) -> str:
    keys = context.partition_keys
    return keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}"
