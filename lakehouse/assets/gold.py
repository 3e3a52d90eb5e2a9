"""Gold: business aggregates for analysts, built from silver only."""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.partitions import SINGLE_RUN

LAYER = "gold"
KINDS = {"spark", "delta"}
SILVER_SALES = dg.AssetKey(["silver", "sales"])

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
        key=[LAYER, "daily_sales"],
        ins={"silver_sales": dg.AssetIn(key=SILVER_SALES)},
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        group_name=LAYER,
        kinds=KINDS,
        metadata={"partition_expr": "sale_date"},
    )
    def daily_sales(context: dg.AssetExecutionContext, silver_sales: DataFrame) -> DataFrame:
        """Revenue, transactions and units per store and day."""
        context.add_output_metadata({"dagster/column_lineage": DAILY_SALES_LINEAGE})
        return silver_sales.groupBy("sale_date", "store_id").agg(
            F.sum("net_amount").alias("revenue"),
            F.count("sale_id").alias("transactions"),
            F.sum("quantity").alias("units"),
        )

    return [daily_sales]
