"""Drives a lakehouse in tests the way the UI does: runs of the real job on a real instance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from pyspark.sql import DataFrame, SparkSession

from lakehouse.settings import LakehouseSettings


@dataclass
class LakehouseRunner:
    defs: dg.Definitions
    settings: LakehouseSettings
    instance: dg.DagsterInstance
    spark: SparkSession

    def materialize(self, first: str, last: str | None = None, selection: Sequence[str] | None = None, raise_on_error=True,
                    job: str = "sales_pipeline"):
        """One run of a daily job: one day as the UI runs a partition, or first..last as a single-run backfill."""
        job_def = self.defs.resolve_job_def(job)
        asset_selection = [dg.AssetKey.from_user_string(s) for s in selection] if selection else None
        if last is None or last == first:
            return job_def.execute_in_process(
                instance=self.instance, partition_key=first, asset_selection=asset_selection, raise_on_error=raise_on_error
            )
        tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
        return job_def.execute_in_process(
            instance=self.instance, tags=tags, asset_selection=asset_selection, raise_on_error=raise_on_error
        )

    def run(self, job: str, run_config: dict | None = None, raise_on_error=True):
        """One run of an unpartitioned job (e.g. ``customer_dimension``), as the UI launches it."""
        return self.defs.resolve_job_def(job).execute_in_process(
            instance=self.instance, run_config=run_config, raise_on_error=raise_on_error
        )

    def messages(self, result, containing: str) -> list[str]:
        """The run's log lines (its events' messages) that contain ``containing``."""
        return [r.user_message for r in self.instance.all_logs(result.run_id) if containing in (r.user_message or "")]

    def table(self, key: str) -> DataFrame:
        return self.spark.read.format("delta").load(str(self.path(key)))

    def path(self, key: str):
        return self.settings.warehouse.joinpath(*dg.AssetKey.from_user_string(key).path)
