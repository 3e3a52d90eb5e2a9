"""Gold: business aggregates for analysts, built from silver only."""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.assets.keys import GOLD_DAILY_SALES, SILVER_SALES
from lakehouse.assets.policies import DAILY_FRESHNESS, FOLLOW_UPSTREAM, KINDS
from lakehouse.partitions import SINGLE_RUN, partition_label
from lakehouse.quality import Action, Expectation, ExpectationSet

LAYER = "gold"

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

DAILY_SALES_LINEAGE = dg.TableColumnLineage(
    deps_by_column={
        "sale_date": [dg.TableColumnDep(asset_key=SILVER_SALES, column_name="sale_date")],
        "store_id": [dg.TableColumnDep(asset_key=SILVER_SALES, column_name="store_id")],
        "revenue": [dg.TableColumnDep(asset_key=SILVER_SALES, column_name="net_amount")],
        "transactions": [dg.TableColumnDep(asset_key=SILVER_SALES, column_name="sale_id")],
        "units": [dg.TableColumnDep(asset_key=SILVER_SALES, column_name="quantity")],
    }
)


def build(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=GOLD_DAILY_SALES,
        ins={"silver_sales": dg.AssetIn(key=SILVER_SALES)},
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        group_name=LAYER,
        kinds=KINDS,
        metadata={"partition_expr": "sale_date"},
        automation_condition=FOLLOW_UPSTREAM,
        freshness_policy=DAILY_FRESHNESS,
    )
    def daily_sales(context: dg.AssetExecutionContext, silver_sales: DataFrame) -> DataFrame:
        """Revenue, transactions and units per store and day."""
        daily = silver_sales.groupBy("sale_date", "store_id").agg(
            F.sum("net_amount").alias("revenue"),
            F.count("sale_id").alias("transactions"),
            F.sum("quantity").alias("units"),
        )
        checked = DAILY_SALES_EXPECTATIONS.evaluate(daily).persist()
        outcome = DAILY_SALES_EXPECTATIONS.outcome(checked, partitions=partition_label(context.partition_keys))
        context.add_output_metadata({"dagster/column_lineage": DAILY_SALES_LINEAGE, **outcome.metadata()})
        return DAILY_SALES_EXPECTATIONS.split(checked)[0]

    return [daily_sales]
