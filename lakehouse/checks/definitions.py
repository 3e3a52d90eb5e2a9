"""The Dagster asset checks, partitioned like their assets, gathering inputs for :mod:`evaluations`.

Daily checks report one result per day, also when one run covers a range (see
:mod:`lakehouse.checks.partitioned`): each partition shows its own Passed / Failed (with severity)
in the UI. Blocking checks (a failure stops downstream assets in the same run): both
nothing-lost equations and the uniqueness of ``silver/sales.sale_id``. In a single-run backfill,
one failing day holds back gold for the whole range; re-run the other days on their own if they
must not wait.
"""

from datetime import date, timedelta

import dagster as dg

from lakehouse.assets.bronze import CDC_EVENT_KEY, CDC_SCHEMA, SALES_SCHEMA
from lakehouse.assets.keys import (
    BRONZE_CUSTOMERS_CDC,
    BRONZE_CUSTOMERS_CDC_FILES,
    BRONZE_CUSTOMERS_CDC_REJECTS,
    BRONZE_SALES,
    BRONZE_SALES_REJECTS,
    GOLD_DAILY_SALES,
    SILVER_DIM_CUSTOMER,
    SILVER_DIM_PRODUCT,
    SILVER_SALES,
    SILVER_SALES_QUARANTINE,
    SILVER_STORES,
)
from lakehouse.assets.silver.dimensions import CUSTOMER_SCD2, applicable_events
from lakehouse.checks import evaluations as ev
from lakehouse.checks import scd_evaluations as scd
from lakehouse.checks.partitioned import partitioned_check
from lakehouse.ingest import read_json_lines
from lakehouse.quality.schemas import GoldDailySales, SilverSales, SilverSalesQuarantine, validate_by_day
from lakehouse.resources import LandingZone, Warehouse

REQUIRED_SALES_FIELDS = ("sale_id", "customer_id", "product_id", "store_id", "quantity", "amount", "sale_ts")


def build_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
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

    return [
        bronze_sales_nothing_lost, bronze_sales_schema_drift, bronze_sales_row_count,
        silver_sales_nothing_lost, silver_sales_sale_id_unique, silver_sales_store_exists, silver_sales_row_count,
        silver_sales_schema, silver_sales_quarantine_schema, gold_daily_sales_schema,
    ]


def build_dimension_checks() -> list[dg.AssetChecksDefinition]:
    """Checks of the change feed and the dimensions (unpartitioned; the dimension checks block downstream gold)."""
    keys = list(CUSTOMER_SCD2.keys)

    @dg.asset_check(asset=BRONZE_CUSTOMERS_CDC, blocking=True,
                    additional_deps=[BRONZE_CUSTOMERS_CDC_REJECTS, BRONZE_CUSTOMERS_CDC_FILES],
                    description="CDC accounting: distinct events in bronze = events landed − duplicates, over the ingested files.")
    def customers_cdc_accounting(warehouse: Warehouse, landing: LandingZone):
        logged = [r["file"] for r in warehouse.read(BRONZE_CUSTOMERS_CDC_FILES).select("file").collect()]
        landed = read_json_lines(warehouse.spark.get_session(), logged, CDC_SCHEMA)
        pending = len({f.path for f in landing.cdc_files()} - set(logged))
        return scd.cdc_accounting(landed.records, landed.rejects, warehouse.read(BRONZE_CUSTOMERS_CDC),
                                  warehouse.read(BRONZE_CUSTOMERS_CDC_REJECTS), CDC_EVENT_KEY, pending)

    @dg.asset_check(asset=BRONZE_CUSTOMERS_CDC, description="Change events the dimension cannot place (WARN with the count).")
    def customers_cdc_applicable(warehouse: Warehouse):
        bronze = warehouse.read(BRONZE_CUSTOMERS_CDC)
        return scd.applicable_share(bronze, applicable_events(bronze))

    @dg.asset_check(asset=SILVER_DIM_CUSTOMER, blocking=True, description="At most one current row per customer_id.")
    def dim_customer_one_current_row(warehouse: Warehouse):
        return scd.one_current_row(warehouse.read(SILVER_DIM_CUSTOMER), keys)

    @dg.asset_check(asset=SILVER_DIM_CUSTOMER, blocking=True,
                    description="No inverted or overlapping validity intervals; is_current exactly when valid_to is NULL.")
    def dim_customer_valid_intervals(warehouse: Warehouse):
        return scd.valid_intervals(warehouse.read(SILVER_DIM_CUSTOMER), keys)

    @dg.asset_check(asset=SILVER_DIM_CUSTOMER, blocking=True, additional_deps=[BRONZE_CUSTOMERS_CDC],
                    description="Every customer whose latest event is not a DELETE has a current row with that event's values; no other has one.")
    def dim_customer_follows_events(warehouse: Warehouse):
        spec = CUSTOMER_SCD2
        events = applicable_events(warehouse.read(BRONZE_CUSTOMERS_CDC))
        return scd.current_rows_follow_events(warehouse.read(SILVER_DIM_CUSTOMER), events, keys, spec.sequence,
                                              spec.tracked, spec.delete_when)

    @dg.asset_check(asset=SILVER_DIM_PRODUCT, blocking=True, description="product_id is unique in silver/dim_product.")
    def dim_product_product_id_unique(warehouse: Warehouse):
        return ev.duplicate_keys(warehouse.read(SILVER_DIM_PRODUCT), ["product_id"])

    return [customers_cdc_accounting, customers_cdc_applicable, dim_customer_one_current_row,
            dim_customer_valid_intervals, dim_customer_follows_events, dim_product_product_id_unique]


def _row_count(context: dg.AssetCheckExecutionContext, warehouse: Warehouse, key: dg.AssetKey, partitions) -> dict[str, dg.AssetCheckResult]:
    days = context.partition_keys
    first = date.fromisoformat(min(days))
    history = [str(first - timedelta(days=i)) for i in range(7, 0, -1)]
    window = [d for d in history if partitions.has_partition_key(d)] + list(days)
    return ev.row_count_anomalies(ev.rows_by_day(warehouse.read(key, window, partitions)), days)
