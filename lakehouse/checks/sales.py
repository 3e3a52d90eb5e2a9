"""Checks of the daily sales tables and of revenue by city, one result per partition (see :mod:`.partitioned`).

Blocking (a failure stops downstream assets in the same run): both nothing-lost equations, the
uniqueness of ``silver/sales.sale_id`` and the revenue-by-city reconciliation. In a single-run
backfill, one failing day holds back gold for the whole range; re-run the other days on their
own if they must not wait.
"""

from datetime import date, timedelta

import dagster as dg

from lakehouse import tables
from lakehouse.assets.bronze import SALES_SCHEMA
from lakehouse.checks import evaluations as ev
from lakehouse.checks.partitioned import partitioned_check
from lakehouse.quality.schemas import GoldDailySales, SilverSales, SilverSalesQuarantine, validate_by_day
from lakehouse.resources import LandingZone, Warehouse

BRONZE_SALES, BRONZE_SALES_REJECTS = tables.BRONZE_SALES.key, tables.BRONZE_SALES_REJECTS.key
SILVER_SALES, SILVER_SALES_QUARANTINE = tables.SILVER_SALES.key, tables.SILVER_SALES_QUARANTINE.key
SILVER_STORES, GOLD_DAILY_SALES = tables.SILVER_STORES.key, tables.GOLD_DAILY_SALES.key
GOLD_REVENUE_BY_CITY = tables.GOLD_REVENUE_BY_CITY.key

REQUIRED_SALES_FIELDS = tuple(c.name for c in tables.BRONZE_SALES.columns_tagged("required"))


def build_sales_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    def check(asset: dg.AssetKey, description: str, blocking: bool = False, additional_deps=()):
        return partitioned_check(asset, description, partitions, blocking=blocking, additional_deps=additional_deps)

    @check(BRONZE_SALES, "Nothing lost: non-blank landed lines = bronze/sales + bronze/sales_rejects, per day.", blocking=True)
    def bronze_sales_nothing_lost(context: dg.AssetCheckExecutionContext, warehouse: Warehouse, landing: LandingZone):
        days = context.partition_keys
        landed = ev.landed_lines({day: landing.sales_files([day]) for day in days})
        bronze = ev.rows_by_day(warehouse.read(BRONZE_SALES, days, partitions))
        rejects = ev.rows_by_day(warehouse.read(BRONZE_SALES_REJECTS, days, partitions))
        return ev.reconcile(landed, bronze, rejects, days=days, equation="landed lines = bronze + rejects")

    @check(BRONZE_SALES, "Schema drift: new fields (WARN), disappeared or re-typed fields (ERROR) in what landed.")
    def bronze_sales_schema_drift(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        days = context.partition_keys
        return ev.schema_drift(warehouse.read(BRONZE_SALES, days, partitions), SALES_SCHEMA, REQUIRED_SALES_FIELDS, days)

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
        # Copies of a sale always land in the same day, so uniqueness is checked within each day.
        days = context.partition_keys
        return ev.duplicate_keys_by_day(warehouse.read(SILVER_SALES, days, partitions), ["sale_id"], days)

    @check(SILVER_SALES, "Every store_id exists in silver/stores (WARN with the orphan count).", additional_deps=[SILVER_STORES])
    def silver_sales_store_exists(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        stores = warehouse.read(SILVER_STORES) if warehouse.exists(SILVER_STORES) else None
        days = context.partition_keys
        return ev.orphans(warehouse.read(SILVER_SALES, days, partitions), "store_id", stores, "store_id", "silver/stores", days)

    @check(SILVER_SALES, "Row count within half to double the median of the previous 7 days (WARN).")
    def silver_sales_row_count(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        return _row_count(context, warehouse, SILVER_SALES, partitions)

    @check(SILVER_SALES, "silver/sales matches its pandera schema (types, nullability, ranges, unique sale_id).")
    def silver_sales_schema(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        days = context.partition_keys
        return validate_by_day(SilverSales, warehouse.read(SILVER_SALES, days, partitions), days)

    @check(SILVER_SALES_QUARANTINE, "silver/sales_quarantine matches its pandera schema.")
    def silver_sales_quarantine_schema(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        days = context.partition_keys
        return validate_by_day(SilverSalesQuarantine, warehouse.read(SILVER_SALES_QUARANTINE, days, partitions), days)

    @check(GOLD_DAILY_SALES, "gold/daily_sales matches its pandera schema (one row per day and store).")
    def gold_daily_sales_schema(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        days = context.partition_keys
        return validate_by_day(GoldDailySales, warehouse.read(GOLD_DAILY_SALES, days, partitions), days)

    @check(GOLD_REVENUE_BY_CITY, "Per day, revenue and transactions summed over cities equal silver/sales of that day.",
           additional_deps=[SILVER_SALES])
    def gold_revenue_by_city_reconciles(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        days = context.partition_keys
        silver = ev.totals_by_day(warehouse.read(SILVER_SALES, days, partitions), {"revenue": "net_amount", "transactions": "*"})
        gold = ev.totals_by_day(warehouse.read(GOLD_REVENUE_BY_CITY, days, partitions),
                                {"revenue": "revenue", "transactions": "transactions"})
        return ev.reconcile_totals(silver, gold, days, "revenue by city = silver revenue")

    @check(GOLD_REVENUE_BY_CITY, "One row per day and city (a sale with no customer version counts under city NULL).")
    def gold_revenue_by_city_key_unique(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        days = context.partition_keys
        return ev.duplicate_keys_by_day(warehouse.read(GOLD_REVENUE_BY_CITY, days, partitions), ["city"], days)

    return [
        bronze_sales_nothing_lost, bronze_sales_schema_drift, bronze_sales_row_count,
        silver_sales_nothing_lost, silver_sales_sale_id_unique, silver_sales_store_exists, silver_sales_row_count,
        silver_sales_schema, silver_sales_quarantine_schema, gold_daily_sales_schema,
        gold_revenue_by_city_reconciles, gold_revenue_by_city_key_unique,
    ]


def _row_count(context: dg.AssetCheckExecutionContext, warehouse: Warehouse, key: dg.AssetKey, partitions) -> dict[str, dg.AssetCheckResult]:
    days = context.partition_keys
    first = date.fromisoformat(min(days))
    history = [str(first - timedelta(days=i)) for i in range(7, 0, -1)]
    window = [d for d in history if partitions.has_partition_key(d)] + list(days)
    return ev.row_count_anomalies(ev.rows_by_day(warehouse.read(key, window, partitions)), days)
