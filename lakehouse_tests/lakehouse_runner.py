"""Drives a lakehouse in tests the way the UI does: runs of the real job on a real instance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from pyspark.sql import DataFrame, SparkSession

from lakehouse.io import table_path
from lakehouse.settings import LakehouseSettings


@dataclass
class LakehouseRunner:
    defs: dg.Definitions
    settings: LakehouseSettings
    instance: dg.DagsterInstance
    spark: SparkSession

    def materialize(self, first: str, last: str | None = None, selection: Sequence[str] | None = None, raise_on_error=True):
        """One run of the sales pipeline over the partition range first..last (a single-run backfill)."""
        job = self.defs.resolve_job_def("sales_pipeline")
        tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last or first}
        asset_selection = [dg.AssetKey.from_user_string(s) for s in selection] if selection else None
        return job.execute_in_process(
            instance=self.instance, tags=tags, asset_selection=asset_selection, raise_on_error=raise_on_error
        )

    def table(self, key: str) -> DataFrame:
        return self.spark.read.format("delta").load(str(table_path(self.settings.warehouse, dg.AssetKey.from_user_string(key))))

    def path(self, key: str):
        return table_path(self.settings.warehouse, dg.AssetKey.from_user_string(key))
