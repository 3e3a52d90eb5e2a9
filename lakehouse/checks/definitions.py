"""The Dagster asset checks, partitioned like their assets, gathering inputs for :mod:`evaluations`.

Blocking checks (a failure stops downstream assets in the same run): both nothing-lost
equations and the uniqueness of ``silver/sales.sale_id``. In a single-run backfill a check
evaluates the whole range at once (one result, naming the failing days), so one bad day holds
back gold for the range; re-run the other days on their own if they must not wait.
"""

from datetime import date, timedelta

import dagster as dg

from lakehouse.assets.bronze import SALES_SCHEMA
from lakehouse.assets.keys import (
    BRONZE_SALES,
    BRONZE_SALES_REJECTS,
    GOLD_DAILY_SALES,
    SILVER_SALES,
    SILVER_SALES_QUARANTINE,
    SILVER_STORES,
)
from lakehouse.checks import evaluations as ev
from lakehouse.quality.schemas import GoldDailySales, SilverSales, SilverSalesQuarantine, validate
from lakehouse.resources import LandingZone, Warehouse

DAILY_DEADLINE = "0 6 * * *"  # the previous day's partition must exist by 06:00 UTC
REQUIRED_SALES_FIELDS = ("sale_id", "customer_id", "product_id", "store_id", "quantity", "amount", "sale_ts")


def build_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    def check(asset: dg.AssetKey, description: str, blocking: bool = False, **kwargs):
        return dg.asset_check(asset=asset, description=description, blocking=blocking, partitions_def=partitions, **kwargs)

    @check(BRONZE_SALES, "Nothing lost: non-blank landed lines = bronze/sales + bronze/sales_rejects, per day.", blocking=True)
    def bronze_sales_nothing_lost(context: dg.AssetCheckExecutionContext, warehouse: Warehouse, landing: LandingZone):
        days = context.partition_keys
        landed = ev.landed_lines({day: landing.sales_files([day]) for day in days})
        bronze = ev.rows_by_day(warehouse.read(BRONZE_SALES, days, partitions))
        rejects = ev.rows_by_day(warehouse.read(BRONZE_SALES_REJECTS, days, partitions))
        return ev.reconcile(landed, bronze, rejects, days=days, equation="landed lines = bronze + rejects")

    @check(BRONZE_SALES, "Schema drift: new fields (WARN), disappeared or re-typed fields (ERROR) in what landed.")
    def bronze_sales_schema_drift(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        return ev.schema_drift(warehouse.read(BRONZE_SALES, context.partition_keys, partitions), SALES_SCHEMA, REQUIRED_SALES_FIELDS)

    @check(BRONZE_SALES, "Row count within half to double the median of the previous 7 days (WARN).")
    def bronze_sales_row_count(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        return _row_count(context, warehouse, BRONZE_SALES, partitions)

    @check(SILVER_SALES, "Nothing lost: bronze/sales (re-sent copies once) = silver/sales + silver/sales_quarantine, per day.",
           blocking=True, additional_deps=[BRONZE_SALES, SILVER_SALES_QUARANTINE])
    def silver_sales_nothing_lost(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        days = context.partition_keys
        distinct = ev.distinct_sales_by_day(warehouse.read(BRONZE_SALES, days, partitions))
        silver = ev.rows_by_day(warehouse.read(SILVER_SALES, days, partitions))
        quarantine = ev.rows_by_day(warehouse.read(SILVER_SALES_QUARANTINE, days, partitions))
        return ev.reconcile(distinct, silver, quarantine, days=days, equation="distinct bronze = silver + quarantine")

    @check(SILVER_SALES, "sale_id is unique in silver/sales.", blocking=True)
    def silver_sales_sale_id_unique(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        # Copies of a sale always land in the same day, so uniqueness is checked over the run's days.
        return ev.duplicate_keys(warehouse.read(SILVER_SALES, context.partition_keys, partitions), ["sale_id"])

    @check(SILVER_SALES, "Every store_id exists in silver/stores (WARN with the orphan count).", additional_deps=[SILVER_STORES])
    def silver_sales_store_exists(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        stores = warehouse.read(SILVER_STORES) if warehouse.exists(SILVER_STORES) else None
        sales = warehouse.read(SILVER_SALES, context.partition_keys, partitions)
        return ev.orphans(sales, "store_id", stores, "store_id", "silver/stores")

    @check(SILVER_SALES, "Row count within half to double the median of the previous 7 days (WARN).")
    def silver_sales_row_count(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        return _row_count(context, warehouse, SILVER_SALES, partitions)

    @check(SILVER_SALES, "silver/sales matches its pandera schema (types, nullability, ranges, unique sale_id).")
    def silver_sales_schema(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        return validate(SilverSales, warehouse.read(SILVER_SALES, context.partition_keys, partitions))

    @check(SILVER_SALES_QUARANTINE, "silver/sales_quarantine matches its pandera schema.")
    def silver_sales_quarantine_schema(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        return validate(SilverSalesQuarantine, warehouse.read(SILVER_SALES_QUARANTINE, context.partition_keys, partitions))

    @check(GOLD_DAILY_SALES, "gold/daily_sales matches its pandera schema (one row per day and store).")
    def gold_daily_sales_schema(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        return validate(GoldDailySales, warehouse.read(GOLD_DAILY_SALES, context.partition_keys, partitions))

    return [
        bronze_sales_nothing_lost, bronze_sales_schema_drift, bronze_sales_row_count,
        silver_sales_nothing_lost, silver_sales_sale_id_unique, silver_sales_store_exists, silver_sales_row_count,
        silver_sales_schema, silver_sales_quarantine_schema, gold_daily_sales_schema,
    ]


def build_freshness_checks() -> list[dg.AssetChecksDefinition]:
    """The latest daily partition of silver and gold must exist by 06:00 UTC (WARN)."""
    return list(
        dg.build_time_partition_freshness_checks(
            assets=[SILVER_SALES, GOLD_DAILY_SALES], deadline_cron=DAILY_DEADLINE, severity=dg.AssetCheckSeverity.WARN
        )
    )


def _row_count(context: dg.AssetCheckExecutionContext, warehouse: Warehouse, key: dg.AssetKey, partitions) -> dg.AssetCheckResult:
    days = context.partition_keys
    first = date.fromisoformat(min(days))
    history = [str(first - timedelta(days=i)) for i in range(7, 0, -1)]
    window = [d for d in history if partitions.has_partition_key(d)] + list(days)
    return ev.row_count_anomalies(ev.rows_by_day(warehouse.read(key, window, partitions)), days)
