"""Silver sales: one row per valid, distinct sale; whatever fails a rule goes to quarantine. Stores reference data."""

import dagster as dg
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.assets.declared import asset_args, table_out
from lakehouse.assets.policies import DERIVED_DAILY, FILE_READ_RETRY
from lakehouse.ingest.json_lines import ISO_TIMESTAMP
from lakehouse.partitions import SINGLE_RUN, partition_label
from lakehouse.quality import Action, Expectation, ExpectationSet
from lakehouse.quality.expectations import KEPT, Outcome
from lakehouse.resources import LandingZone, SparkResource, Warehouse

SILVER_SALES, SILVER_SALES_QUARANTINE = tables.SILVER_SALES.key, tables.SILVER_SALES_QUARANTINE.key

_ISO_TS = f"'{ISO_TIMESTAMP}'"
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
        # Warn level: kept, counted, visible per partition in the UI.
        Expectation("no_rescued_data", "_rescued_data IS NULL", Action.WARN),
        Expectation("quantity_at_most_100", "quantity <= 100", Action.WARN),
        Expectation("amount_at_most_10000", "amount <= 10000", Action.WARN),
    ],
    columns=tables.BRONZE_SALES.column_names,
)

STORES_SCHEMA = tables.SILVER_STORES.landed_schema("stores")
STORES_EXPECTATIONS = ExpectationSet(
    "silver.stores",
    [
        Expectation("store_id_not_null", "store_id IS NOT NULL", Action.FAIL),
        Expectation("store_name_not_null", "store_name IS NOT NULL", Action.WARN),
    ],
    columns=tables.SILVER_STORES.column_names,
    quarantine=False,
)


def build(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        name="silver_sales",
        ins={"bronze_sales": dg.AssetIn(key=tables.BRONZE_SALES.key)},
        outs={
            "sales": table_out(tables.SILVER_SALES, **DERIVED_DAILY),
            "sales_quarantine": table_out(tables.SILVER_SALES_QUARANTINE, **DERIVED_DAILY),
        },
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
    )
    def sales(context: dg.AssetExecutionContext, bronze_sales: DataFrame, warehouse: Warehouse):
        checked = distinct_sales(SALES_EXPECTATIONS.evaluate(bronze_sales)).persist()
        outcome = SALES_EXPECTATIONS.outcome(checked, partitions=partition_label(context.partition_keys), by="sale_date")
        valid, quarantine = SALES_EXPECTATIONS.split(checked)
        bronze_rows = warehouse.rows_by_partition(tables.BRONZE_SALES.key, context.partition_keys, partitions)  # its log
        for day in context.partition_keys:  # each day's own counts, so the UI plots them over partitions
            day_outcome = outcome.by_partition.get(day) or Outcome(SALES_EXPECTATIONS.table, 0, {}, SALES_EXPECTATIONS.expectations)
            counts = _reconciliation(bronze_rows.get(day, 0), day_outcome.rows)
            context.add_asset_metadata({**counts, **day_outcome.metadata()}, asset_key=SILVER_SALES, partition_key=day)
            context.add_asset_metadata(counts, asset_key=SILVER_SALES_QUARANTINE, partition_key=day)
        reconciliation = _reconciliation(sum(bronze_rows.values()), outcome.rows)
        yield dg.Output(with_net_amount(valid), output_name="sales", metadata={**reconciliation, **outcome.metadata()})
        yield dg.Output(quarantine, output_name="sales_quarantine", metadata=reconciliation)

    @dg.asset(**asset_args(tables.SILVER_STORES), retry_policy=FILE_READ_RETRY)
    def stores(context: dg.AssetExecutionContext, spark: SparkResource, landing: LandingZone) -> DataFrame:
        frame = spark.get_session().read.csv(landing.stores_file(), header=True, schema=STORES_SCHEMA, mode="PERMISSIVE")
        checked = STORES_EXPECTATIONS.evaluate(frame).persist()
        outcome = STORES_EXPECTATIONS.outcome(checked, partitions=partition_label([]))
        context.add_output_metadata(outcome.metadata())
        return STORES_EXPECTATIONS.split(checked)[0]

    return [sales, stores]


def _reconciliation(bronze_rows: int, distinct_rows: int) -> dict[str, int]:
    return {"bronze_rows": bronze_rows, "duplicates_removed": bronze_rows - distinct_rows, "distinct_rows": distinct_rows}


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
    )  # the declared columns of silver/sales, in order
