"""The one assembly point: settings from the environment → resources, assets, jobs → ``defs``."""

from __future__ import annotations

import dagster as dg

from lakehouse.assets import build_assets
from lakehouse.assets.keys import SILVER_STORES
from lakehouse.checks import build_checks
from lakehouse.checks.definitions import build_freshness_checks
from lakehouse.io import DeltaIOManager
from lakehouse.partitions import daily_partitions
from lakehouse.resources import LandingZone, SparkResource, Warehouse
from lakehouse.sensors import AlertWebhook, alert_on_failed_error_checks, alert_on_run_failure
from lakehouse.settings import LakehouseSettings

LAYERS = ("bronze", "silver", "gold")


def build_definitions(settings: LakehouseSettings) -> dg.Definitions:
    """The whole lakehouse for ``settings``; tests call this with a ``tmp_path`` root."""
    partitions = daily_partitions(settings.start_date)
    spark = SparkResource(master=settings.spark_master, jars_dir=str(settings.jars_dir), conf=dict(settings.spark_conf))
    sales_pipeline = dg.define_asset_job(
        "sales_pipeline",
        selection=dg.AssetSelection.groups(*LAYERS) - dg.AssetSelection.assets(SILVER_STORES),
        description="Sales from landing to gold: bronze → silver → gold for the chosen days.",
    )
    warehouse = Warehouse(spark=spark, root=str(settings.warehouse))
    freshness_checks = build_freshness_checks()
    return dg.Definitions(
        assets=build_assets(partitions),
        asset_checks=[*build_checks(partitions), *freshness_checks],
        jobs=[sales_pipeline],
        sensors=[
            dg.AutomationConditionSensorDefinition(
                "lakehouse_automation",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                description="Materializes silver and gold partitions whose upstream partitions are new or updated.",
            ),
            dg.build_sensor_for_freshness_checks(
                freshness_checks=freshness_checks, default_status=dg.DefaultSensorStatus.RUNNING
            ),
            alert_on_run_failure,
            alert_on_failed_error_checks,
        ],
        resources={
            "alerts": AlertWebhook(url=settings.alert_webhook_url, ui_url=settings.ui_url),
            "spark": spark,
            "landing": LandingZone(root=str(settings.landing)),
            "warehouse": warehouse,
            "io_manager": DeltaIOManager(warehouse=warehouse),
        },
        # One process and one Spark JVM per run; steps of a run share the session.
        executor=dg.in_process_executor,
    )


defs = build_definitions(LakehouseSettings.from_env())
