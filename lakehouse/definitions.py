"""The one assembly point: settings from the environment → resources, assets, jobs → ``defs``."""

from __future__ import annotations

import dagster as dg

from lakehouse.assets import build_assets
from lakehouse.io import DeltaIOManager
from lakehouse.partitions import daily_partitions
from lakehouse.resources import LandingZone, SparkResource
from lakehouse.settings import LakehouseSettings

LAYERS = ("bronze", "silver", "gold")


def build_definitions(settings: LakehouseSettings) -> dg.Definitions:
    """The whole lakehouse for ``settings``; tests call this with a ``tmp_path`` root."""
    partitions = daily_partitions(settings.start_date)
    spark = SparkResource(master=settings.spark_master, jars_dir=str(settings.jars_dir), conf=dict(settings.spark_conf))
    sales_pipeline = dg.define_asset_job(
        "sales_pipeline",
        selection=dg.AssetSelection.groups(*LAYERS),
        description="Sales from landing to gold: bronze → silver → gold for the chosen days.",
    )
    return dg.Definitions(
        assets=build_assets(partitions),
        jobs=[sales_pipeline],
        resources={
            "spark": spark,
            "landing": LandingZone(root=str(settings.landing)),
            "io_manager": DeltaIOManager(spark=spark, warehouse=str(settings.warehouse)),
        },
        # One process and one Spark JVM per run; steps of a run share the session.
        executor=dg.in_process_executor,
    )


defs = build_definitions(LakehouseSettings.from_env())
