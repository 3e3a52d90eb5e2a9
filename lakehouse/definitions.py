"""The one assembly point: settings from the environment → resources, assets, jobs → ``defs``."""

from __future__ import annotations

import dagster as dg

from lakehouse.assets import build_assets
from lakehouse.assets import keys
from lakehouse.checks import build_checks
from lakehouse.checks.definitions import build_dimension_checks
from lakehouse.io import DeltaIOManager
from lakehouse.partitions import daily_partitions
from lakehouse.resources import LandingZone, SparkResource, Streams, Warehouse
from lakehouse.sensors import AlertWebhook, alert_on_failed_error_checks, alert_on_run_failure
from lakehouse.sensors.landing import build_landing_sensors
from lakehouse.settings import LakehouseSettings

SALES_TABLES = dg.AssetSelection.assets(
    keys.BRONZE_SALES, keys.BRONZE_SALES_REJECTS, keys.SILVER_SALES, keys.SILVER_SALES_QUARANTINE, keys.GOLD_DAILY_SALES
)
CUSTOMER_TABLES = dg.AssetSelection.assets(
    keys.BRONZE_CUSTOMERS_CDC, keys.BRONZE_CUSTOMERS_CDC_REJECTS, keys.BRONZE_CUSTOMERS_CDC_FILES, keys.SILVER_DIM_CUSTOMER
)
CLICKSTREAM_TABLES = dg.AssetSelection.assets(keys.BRONZE_CLICKSTREAM, keys.BRONZE_CLICKSTREAM_REJECTS, keys.GOLD_HOURLY_EVENTS)
REFERENCE_TABLES = dg.AssetSelection.assets(keys.SILVER_STORES, keys.SILVER_DIM_PRODUCT, keys.SILVER_DIM_PRODUCT_REJECTS)


def serial_tags(name: str) -> dict[str, str]:
    """Tags that keep runs of one job one at a time (dagster.yaml limits each ``lakehouse/serial`` value to 1 run)."""
    return {"lakehouse/serial": name}


def build_jobs() -> list[dg.UnresolvedAssetJobDefinition]:
    """Jobs by what they move; daily-partitioned and unpartitioned tables run in separate jobs."""
    return [
        dg.define_asset_job(
            "sales_pipeline", selection=SALES_TABLES,
            description="Sales from landing to gold: bronze → silver → gold for the chosen days.",
        ),
        dg.define_asset_job(
            "customer_dimension", selection=CUSTOMER_TABLES, tags=serial_tags("customer_dimension"),
            description="New change-feed files into bronze, then the customer SCD2 dimension, for the customers that changed.",
        ),
        dg.define_asset_job(
            "reference_data", selection=REFERENCE_TABLES, description="Stores and the product dimension (SCD1) from their files.",
            # Small, and what the sales checks look stores up in: queued runs of it start first.
            tags={"dagster/priority": "10"},
        ),
        dg.define_asset_job(
            "clickstream", selection=CLICKSTREAM_TABLES, tags=serial_tags("clickstream"),
            description="Newly landed clickstream files into bronze (Structured Streaming, availableNow), then gold/hourly_events.",
        ),
        dg.define_asset_job(
            "customer_revenue", selection=dg.AssetSelection.assets(keys.GOLD_REVENUE_BY_CITY),
            description="Revenue by customer city for the chosen days, point-in-time against silver/dim_customer.",
        ),
    ]


def build_definitions(settings: LakehouseSettings) -> dg.Definitions:
    """The whole lakehouse for ``settings``; tests call this with a ``tmp_path`` root."""
    partitions = daily_partitions(settings.start_date)
    spark = SparkResource(master=settings.spark_master, jars_dir=str(settings.jars_dir), conf=dict(settings.spark_conf))
    warehouse = Warehouse(spark=spark, root=str(settings.warehouse))
    jobs = build_jobs()
    job = {j.name: j for j in jobs}
    return dg.Definitions(
        assets=build_assets(partitions),
        asset_checks=[*build_checks(partitions), *build_dimension_checks()],
        jobs=jobs,
        sensors=[
            dg.AutomationConditionSensorDefinition(
                "lakehouse_automation",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                description="Materializes silver and gold partitions whose upstream partitions are new or updated.",
            ),
            alert_on_run_failure,
            alert_on_failed_error_checks,
            *build_landing_sensors(
                partitions, sales_job=job["sales_pipeline"], customer_job=job["customer_dimension"],
                clickstream_job=job["clickstream"], reference_job=job["reference_data"], running=settings.landing_sensors,
            ),
        ],
        resources={
            "alerts": AlertWebhook(url=settings.alert_webhook_url, ui_url=settings.ui_url),
            "spark": spark,
            "landing": LandingZone(root=str(settings.landing)),
            "streams": Streams(checkpoints=str(settings.checkpoints), watermark=settings.clickstream_watermark),
            "warehouse": warehouse,
            "io_manager": DeltaIOManager(warehouse=warehouse),
        },
        # One process and one Spark JVM per run; steps of a run share the session.
        executor=dg.in_process_executor,
    )


defs = build_definitions(LakehouseSettings.from_env())
