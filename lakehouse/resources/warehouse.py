"""The warehouse: where each asset ``[layer, table]`` lives as a Delta table, and how to read it.

The Delta IO manager writes through it and asset checks read through it, so both agree on
paths and on partition filtering. Reads filter on the table's own partition column (from the
Delta log), with validated keys, so Spark prunes files.

Example::

    warehouse = Warehouse(spark=SparkResource(), root="data/warehouse")
    warehouse.read(dg.AssetKey(["silver", "sales"]), ["2025-01-01", "2025-01-02"]).count()
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import dagster as dg
from delta.tables import DeltaTable
from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.partitions import validate_keys
from lakehouse.resources.spark import SparkResource


def table_name(asset_key: dg.AssetKey) -> str:
    """``layer.table`` for an asset key ``[layer, table]``."""
    return ".".join(asset_key.path)


class Warehouse(dg.ConfigurableResource):
    """Locates and reads the lakehouse's Delta tables."""

    spark: SparkResource
    root: str = Field(description="Root folder (or URI) of the warehouse; tables live at <root>/<layer>/<table>.")

    def path(self, asset_key: dg.AssetKey) -> Path:
        """``<root>/<layer>/<table>`` for an asset key ``[layer, table]``."""
        if len(asset_key.path) != 2:
            raise ValueError(f"asset key {asset_key.to_user_string()} is not [layer, table]")
        return Path(self.root) / asset_key.path[0] / asset_key.path[1]

    def exists(self, asset_key: dg.AssetKey) -> bool:
        return DeltaTable.isDeltaTable(self.spark.get_session(), str(self.path(asset_key)))

    def read(
        self,
        asset_key: dg.AssetKey,
        partition_keys: Sequence[str] | None = None,
        partitions_def: dg.PartitionsDefinition | None = None,
    ) -> DataFrame:
        """The table, or only ``partition_keys`` of it; fails naming the table when it does not exist."""
        spark = self.spark.get_session()
        path = self.path(asset_key)
        if not self.exists(asset_key):
            raise dg.Failure(
                description=(
                    f"Table {table_name(asset_key)} has no Delta table at {path}. "
                    f"Materialize {asset_key.to_user_string()} first"
                    + (f" for partitions {list(partition_keys)}." if partition_keys else ".")
                ),
            )
        frame = spark.read.format("delta").load(str(path))
        if partition_keys is None:
            return frame
        column = self.partition_column(asset_key)
        values = validate_keys(partition_keys, partitions_def)
        if values and isinstance(values[0], date) and frame.schema[column].dataType.simpleString() != "date":
            values = [v.isoformat() for v in values]
        return frame.where(F.col(column).isin(list(values)))

    def partition_column(self, asset_key: dg.AssetKey) -> str:
        """The table's (single) partition column, from its Delta log."""
        detail = DeltaTable.forPath(self.spark.get_session(), str(self.path(asset_key))).detail().collect()[0]
        columns = detail["partitionColumns"]
        if len(columns) != 1:
            raise dg.Failure(description=f"{table_name(asset_key)} is partitioned by {columns}, expected one column")
        return columns[0]
