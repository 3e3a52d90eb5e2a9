"""Checks of the customer change feed, the dimensions and the masked customers (unpartitioned; the dimension checks block downstream gold)."""

import dagster as dg
from pyspark.sql import DataFrame

from lakehouse import tables
from lakehouse.assets.bronze import CDC_EVENT_KEY, CDC_SCHEMA
from lakehouse.assets.silver.dimensions import CUSTOMER_SCD2, applicable_events
from lakehouse.checks import scd_evaluations as scd
from lakehouse.checks.partitioned import Check, selected_checks, shared_step_checks
from lakehouse.governance.erasure import erased_rows
from lakehouse.governance.suppression import Suppression
from lakehouse.governance.tokens import PiiKey
from lakehouse.ingest import read_json_lines
from lakehouse.resources import LandingZone, Warehouse

BRONZE_CUSTOMERS_CDC, BRONZE_CUSTOMERS_CDC_FILES = tables.BRONZE_CUSTOMERS_CDC.key, tables.BRONZE_CUSTOMERS_CDC_FILES.key
BRONZE_CUSTOMERS_CDC_REJECTS, SILVER_DIM_CUSTOMER = tables.BRONZE_CUSTOMERS_CDC_REJECTS.key, tables.SILVER_DIM_CUSTOMER.key
GOLD_CUSTOMERS_MASKED = tables.GOLD_CUSTOMERS_MASKED.key


def build_dimension_checks() -> list[dg.AssetChecksDefinition]:
    """Checks of the change feed and the dimensions (unpartitioned; one step per table; the dimension checks block downstream gold)."""
    keys = list(CUSTOMER_SCD2.keys)

    @shared_step_checks("bronze_customers_cdc_checks", [
        Check("customers_cdc_accounting", BRONZE_CUSTOMERS_CDC,
              "CDC accounting: distinct events in bronze = events landed − duplicates, over the ingested files.",
              blocking=True,
              additional_deps=(BRONZE_CUSTOMERS_CDC_REJECTS, BRONZE_CUSTOMERS_CDC_FILES, tables.GOVERNANCE_ERASURE_LOG.key)),
        Check("customers_cdc_applicable", BRONZE_CUSTOMERS_CDC, "Change events the dimension cannot place (WARN with the count)."),
    ])
    def bronze_customers_cdc_checks(context: dg.AssetCheckExecutionContext, warehouse: Warehouse, landing: LandingZone,
                                    pii_key: PiiKey):
        bronze, selected = warehouse.read(BRONZE_CUSTOMERS_CDC), selected_checks(context)
        results = {}
        if "customers_cdc_accounting" in selected:
            results["customers_cdc_accounting"] = _cdc_accounting(warehouse, landing, pii_key, bronze)
        if "customers_cdc_applicable" in selected:
            results["customers_cdc_applicable"] = scd.applicable_share(bronze, applicable_events(bronze))
        return results

    @shared_step_checks("dim_customer_checks", [
        Check("dim_customer_one_current_row", SILVER_DIM_CUSTOMER, "At most one current row per customer_id.", blocking=True),
        Check("dim_customer_valid_intervals", SILVER_DIM_CUSTOMER,
              "No inverted or overlapping validity intervals; is_current exactly when valid_to is NULL.", blocking=True),
        Check("dim_customer_follows_events", SILVER_DIM_CUSTOMER,
              "Every customer whose latest event is not a DELETE has a current row with that event's values; no other has one.",
              blocking=True, additional_deps=(BRONZE_CUSTOMERS_CDC,)),
    ])
    def dim_customer_checks(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        dim, selected, spec = warehouse.read(SILVER_DIM_CUSTOMER), selected_checks(context), CUSTOMER_SCD2
        evaluate = {
            "dim_customer_one_current_row": lambda: scd.one_current_row(dim, keys),
            "dim_customer_valid_intervals": lambda: scd.valid_intervals(dim, keys),
            "dim_customer_follows_events": lambda: scd.current_rows_follow_events(
                dim, applicable_events(warehouse.read(BRONZE_CUSTOMERS_CDC)), keys, spec.sequence, spec.tracked,
                spec.delete_when),
        }
        return {name: check() for name, check in evaluate.items() if name in selected}

    @dg.asset_check(asset=GOLD_CUSTOMERS_MASKED, additional_deps=[SILVER_DIM_CUSTOMER],
                    description="One row per current customer of silver/dim_customer, in total and per city.")
    def gold_customers_masked_reconciles(warehouse: Warehouse):
        return scd.current_rows_reconcile(warehouse.read(SILVER_DIM_CUSTOMER), warehouse.read(GOLD_CUSTOMERS_MASKED),
                                          GOLD_CUSTOMERS_MASKED.to_user_string())

    return [bronze_customers_cdc_checks, dim_customer_checks, gold_customers_masked_reconciles]


def _cdc_accounting(warehouse: Warehouse, landing: LandingZone, pii_key: PiiKey, bronze: DataFrame) -> dg.AssetCheckResult:
    """The CDC accounting of :func:`scd.cdc_accounting` over the files the file log says were ingested."""
    spark = warehouse.spark.get_session()
    logged = [r["file"] for r in warehouse.read(BRONZE_CUSTOMERS_CDC_FILES).select("file").collect()]
    landed = read_json_lines(spark, logged, CDC_SCHEMA)
    pending = len({f.path for f in landing.cdc_files()} - set(logged))
    records, rejects, erased = landed.records, landed.rejects, {}
    erasure_log = warehouse.path(tables.GOVERNANCE_ERASURE_LOG.key)
    suppression = Suppression.load(spark, erasure_log, pii_key, "the CDC accounting check")
    if suppression is not None:  # erased customers' lines are neither in bronze nor lost
        records, rejects = (records.where(~suppression.records(records)), rejects.where(~suppression.rejects(rejects)))
        removed = erased_rows(spark, erasure_log)
        erased = {
            "suppressed_events": landed.records.count() - records.count(),
            "suppressed_rejects": landed.rejects.count() - rejects.count(),
            "erased_events": removed.get(tables.BRONZE_CUSTOMERS_CDC.name, 0),
            "erased_rejects": removed.get(tables.BRONZE_CUSTOMERS_CDC_REJECTS.name, 0),
        }
    return scd.cdc_accounting(records, rejects, bronze, warehouse.read(BRONZE_CUSTOMERS_CDC_REJECTS), CDC_EVENT_KEY, pending,
                              **erased)
