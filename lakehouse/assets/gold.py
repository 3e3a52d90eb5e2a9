"""Gold: business aggregates and the masked customer table for analysts, built from silver only."""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.assets.declared import asset_args
from lakehouse.assets.policies import DAILY_FRESHNESS, DERIVED, DERIVED_DAILY, FOLLOW_UPSTREAM, STREAM_FRESHNESS
from lakehouse.checks.clickstream import DROPPED_TOTAL, recorded_dropped_total
from lakehouse.governance.masking import mask_email, mask_phone
from lakehouse.governance.tokens import PiiKey, token_column
from lakehouse.partitions import SINGLE_RUN, partition_label
from lakehouse.quality import Action, Expectation, ExpectationSet
from lakehouse.resources import SparkResource, Streams, Warehouse
from lakehouse.streaming import run_hourly_events
from lakehouse.streaming.metadata import stream_metadata

SILVER_SALES, SILVER_DIM_CUSTOMER = tables.SILVER_SALES.key, tables.SILVER_DIM_CUSTOMER.key
BRONZE_CLICKSTREAM, GOLD_HOURLY_EVENTS = tables.BRONZE_CLICKSTREAM.key, tables.GOLD_HOURLY_EVENTS.key
GOLD_CUSTOMERS_MASKED = tables.GOLD_CUSTOMERS_MASKED.key

# Gold has no quarantine: a broken aggregate fails the asset before anything is written.
DAILY_SALES_EXPECTATIONS = ExpectationSet(
    "gold.daily_sales",
    [
        Expectation("revenue_not_negative", "revenue >= 0", Action.FAIL),
        Expectation("transactions_positive", "transactions > 0", Action.FAIL),
        Expectation("units_at_least_transactions", "units >= transactions", Action.FAIL),
        Expectation("store_id_not_null", "store_id IS NOT NULL", Action.FAIL),
    ],
    columns=["sale_date", "store_id", "revenue", "transactions", "units"],
    quarantine=False,
)

def build(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        **asset_args(tables.GOLD_DAILY_SALES, **DERIVED_DAILY),
        ins={"silver_sales": dg.AssetIn(key=SILVER_SALES)},
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
    )
    def daily_sales(context: dg.AssetExecutionContext, silver_sales: DataFrame) -> DataFrame:
        daily = silver_sales.groupBy("sale_date", "store_id").agg(
            F.sum("net_amount").alias("revenue"),
            F.count("sale_id").alias("transactions"),
            F.sum("quantity").alias("units"),
        )
        checked = DAILY_SALES_EXPECTATIONS.evaluate(daily).persist()
        outcome = DAILY_SALES_EXPECTATIONS.outcome(checked, partitions=partition_label(context.partition_keys), by="sale_date")
        context.add_output_metadata(outcome.metadata())
        for day, day_outcome in outcome.by_partition.items():
            context.add_asset_metadata(day_outcome.metadata(), partition_key=day)
        return DAILY_SALES_EXPECTATIONS.split(checked)[0]

    @dg.asset(
        **asset_args(
            tables.GOLD_REVENUE_BY_CITY,
            # A new sales day flows on; a dimension update does not restate every past day (see README).
            automation_condition=FOLLOW_UPSTREAM.ignore(dg.AssetSelection.assets(SILVER_DIM_CUSTOMER)),
            freshness_policy=DAILY_FRESHNESS,
        ),
        ins={"silver_sales": dg.AssetIn(key=SILVER_SALES)},
        deps=[SILVER_DIM_CUSTOMER],
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
    )
    def revenue_by_city(context: dg.AssetExecutionContext, silver_sales: DataFrame, warehouse: Warehouse) -> DataFrame:
        located = customer_version_at_sale(silver_sales, warehouse.read(SILVER_DIM_CUSTOMER)).persist()
        unmatched = located.where(F.col("version_found") == False).count()  # noqa: E712 (Column comparison)
        by_city = located.groupBy("sale_date", "city").agg(
            F.sum("net_amount").alias("revenue"),
            F.count("sale_id").alias("transactions"),
            F.count_distinct("customer_id").alias("customers"),
        )
        context.add_output_metadata({"sales_without_customer_version": dg.MetadataValue.int(unmatched)})
        return by_city

    @dg.asset(**asset_args(tables.GOLD_HOURLY_EVENTS, kinds={"streaming"}, freshness_policy=STREAM_FRESHNESS),
              deps=[BRONZE_CLICKSTREAM])
    def hourly_events(context: dg.AssetExecutionContext, spark: SparkResource, warehouse: Warehouse,
                      streams: Streams) -> dg.MaterializeResult:
        session = spark.get_embedded_session()  # foreachBatch keeps counts in the driver: not over Spark Connect
        warehouse.ensure(GOLD_HOURLY_EVENTS)
        with warehouse.tracked(GOLD_HOURLY_EVENTS) as write:
            report = run_hourly_events(
                session, str(warehouse.path(BRONZE_CLICKSTREAM)), str(warehouse.path(GOLD_HOURLY_EVENTS)),
                streams.checkpoint(GOLD_HOURLY_EVENTS), watermark=streams.watermark,
            )
        # Late drops add up across runs, so the reconciliation check can account for every bronze event.
        total = recorded_dropped_total(context.instance) + report.late_events_dropped
        return dg.MaterializeResult(metadata=warehouse.materialization(
            GOLD_HOURLY_EVENTS, write.result, **stream_metadata(report), **{DROPPED_TOTAL: dg.MetadataValue.int(total)}))

    @dg.asset(**asset_args(tables.GOLD_CUSTOMERS_MASKED, **DERIVED), deps=[SILVER_DIM_CUSTOMER])
    def customers_masked(warehouse: Warehouse, pii_key: PiiKey) -> DataFrame:
        key = pii_key.secret(needed_for=f"{GOLD_CUSTOMERS_MASKED.to_user_string()} (customer_token)")
        return masked_customers(warehouse.read(SILVER_DIM_CUSTOMER), key)

    return [daily_sales, revenue_by_city, hourly_events, customers_masked]


def masked_customers(dim_customer: DataFrame, key: bytes) -> DataFrame:
    """One row per current customer (a customer whose last event was a DELETE has none): token, masked email and phone, city.

    Example::

        masked_customers(warehouse.read(SILVER_DIM_CUSTOMER), PiiKey().secret())
    """
    return dim_customer.where(F.col("is_current")).select(
        token_column(key, "customer_id").alias("customer_token"),
        mask_email("email").alias("email_masked"),
        mask_phone("phone").alias("phone_masked"),
        "city",
    )


def customer_version_at_sale(sales: DataFrame, dim_customer: DataFrame) -> DataFrame:
    """Each sale with the ``city`` of the customer version whose [valid_from, valid_to) holds ``sale_ts``.

    A sale whose customer had no version then (not yet inserted, or deleted) keeps a null
    ``city`` and ``version_found`` false: it still counts in the revenue, under city NULL.

    Example::

        customer_version_at_sale(warehouse.read(SILVER_SALES, ["2025-01-02"]), warehouse.read(SILVER_DIM_CUSTOMER))
    """
    versions = dim_customer.select(
        F.col("customer_id").alias("_customer_id"), "city", "valid_from", "valid_to", F.lit(True).alias("version_found")
    )
    holds_sale = (
        (F.col("customer_id") == F.col("_customer_id"))
        & (F.col("sale_ts") >= F.col("valid_from"))
        & (F.col("valid_to").isNull() | (F.col("sale_ts") < F.col("valid_to")))
    )
    joined = sales.join(versions, holds_sale, "left")
    return joined.select(*sales.columns, "city", F.coalesce("version_found", F.lit(False)).alias("version_found"))
