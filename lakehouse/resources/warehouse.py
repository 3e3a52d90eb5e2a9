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
from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql import types as T

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

    def version(self, asset_key: dg.AssetKey) -> int | None:
        """The table's latest Delta version, or None when there is no table yet.

        Take it before an asset writes a table itself, and hand it to :meth:`table_metadata`.
        """
        if not self.exists(asset_key):
            return None
        return DeltaTable.forPath(self.spark.get_session(), str(self.path(asset_key))).history(1).collect()[0]["version"]

    def table_metadata(self, asset_key: dg.AssetKey, since_version: int | None) -> dict[str, object]:
        """Materialization metadata of a table an asset wrote itself (MERGE, append), since ``since_version``.

        ``dagster/row_count`` is the rows of the whole table (Delta answers the count from its
        log), plus the schema and URI. The commits after ``since_version`` are this write's: their
        files and bytes are summed; when there is none, the metadata says the run changed nothing
        (``delta_operation`` "none") instead of repeating an older commit's figures.
        """
        path = self.path(asset_key)
        spark = self.spark.get_session()
        frame = spark.read.format("delta").load(str(path))
        history = DeltaTable.forPath(spark, str(path)).history()
        if since_version is not None:
            history = history.where(F.col("version") > since_version)
        commits = history.orderBy("version").collect()
        return {
            "dagster/row_count": dg.MetadataValue.int(frame.count()),
            **location_metadata(asset_key, path, frame.schema),
            **(commits_metadata(commits) if commits else unchanged_metadata(since_version)),
        }

    def partition_column(self, asset_key: dg.AssetKey) -> str:
        """The table's (single) partition column, from its Delta log."""
        detail = DeltaTable.forPath(self.spark.get_session(), str(self.path(asset_key))).detail().collect()[0]
        columns = detail["partitionColumns"]
        if len(columns) != 1:
            raise dg.Failure(description=f"{table_name(asset_key)} is partitioned by {columns}, expected one column")
        return columns[0]


def location_metadata(asset_key: dg.AssetKey, path: Path, schema: T.StructType) -> dict[str, object]:
    """``dagster/table_name``, ``dagster/uri`` and ``dagster/column_schema`` of a table."""
    return {
        "dagster/table_name": table_name(asset_key),
        "dagster/uri": dg.MetadataValue.url(path.resolve().as_uri()),
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(name=f.name, type=f.dataType.simpleString(), constraints=dg.TableColumnConstraints(nullable=f.nullable))
                for f in schema.fields
            ]
        ),
    }


def commit_metadata(commit: Row) -> dict[str, object]:
    """The Delta version, operation and operation metrics (files, bytes) of one ``history()`` row."""
    return commits_metadata([commit])


def commits_metadata(commits: Sequence[Row]) -> dict[str, object]:
    """Version, operations and summed files/bytes of ``commits`` (``history()`` rows, oldest first)."""
    metrics = [commit_metrics(c) for c in commits]
    total = {name: sum(m.get(name, 0) for m in metrics) for name in {n for m in metrics for n in m}}
    return {
        "delta_version": dg.MetadataValue.int(commits[-1]["version"]),
        "delta_operation": ", ".join(c["operation"] for c in commits),
        "files_written": dg.MetadataValue.int(sum(m.get("numFiles", m.get("numAddedFiles", 0)) for m in metrics)),
        "bytes_written": dg.MetadataValue.int(sum(m.get("numOutputBytes", m.get("numAddedBytes", 0)) for m in metrics)),
        "files_removed": dg.MetadataValue.int(total.get("numRemovedFiles", 0)),
        "operation_metrics": dg.MetadataValue.json(total),
    }


def unchanged_metadata(version: int | None) -> dict[str, object]:
    """What a run that committed nothing records: the version it found, and zeros."""
    return {
        "delta_version": dg.MetadataValue.int(-1 if version is None else version),
        "delta_operation": "none (nothing changed)",
        "files_written": dg.MetadataValue.int(0),
        "bytes_written": dg.MetadataValue.int(0),
        "files_removed": dg.MetadataValue.int(0),
        "operation_metrics": dg.MetadataValue.json({}),
    }


def commit_metrics(commit: Row) -> dict[str, int]:
    """A commit's ``operationMetrics`` as ints."""
    return {k: int(v) for k, v in (commit["operationMetrics"] or {}).items() if v and v.isdigit()}
