"""The Delta IO manager: each asset ``[layer, table]`` is a Delta table at ``<warehouse>/<layer>/<table>``.

Writes
    A partitioned asset overwrites exactly the partitions of the run (one key, or the whole range
    of a single-run backfill) with Delta's ``replaceWhere``; other partitions' files are never
    touched, and Delta refuses rows that fall outside the predicate. An unpartitioned asset
    overwrites its table. Additive schema changes (a new column) are merged; a changed type fails
    the write with the column named. An asset that returns ``None`` writes nothing (it manages
    its own table, e.g. with a MERGE).

Reads
    An input is the upstream table filtered to the partitions the run needs, expressed as a
    Column filter on the partition column so Spark prunes files.

Metadata on every materialization
    ``dagster/row_count``, ``dagster/column_schema``, ``dagster/table_name``, ``dagster/uri``,
    the Delta version written and the commit's operation metrics (files, bytes, rows). When a
    run writes a partition range, ``dagster/row_count`` is the rows of the whole range and
    ``rows_per_partition`` gives each partition's count.

The partition column comes from the asset's ``partition_expr`` definition metadata, as in
``dagster-deltalake``.

Example::

    @dg.asset(key=["silver", "sales"], partitions_def=daily, metadata={"partition_expr": "sale_date"})
    def sales(bronze_sales: DataFrame) -> DataFrame: ...

    dg.Definitions(assets=[sales], resources={
        "io_manager": DeltaIOManager(spark=SparkResource(), warehouse="data/warehouse")})
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from delta.tables import DeltaTable
from pydantic import Field
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.io.partitions import partition_predicate, validate_column, validate_keys
from lakehouse.resources.spark import SparkResource

PARTITION_EXPR = "partition_expr"


def table_path(warehouse: str | Path, asset_key: dg.AssetKey) -> Path:
    """``<warehouse>/<layer>/<table>`` for an asset key ``[layer, table]``."""
    if len(asset_key.path) != 2:
        raise ValueError(f"asset key {asset_key.to_user_string()} is not [layer, table]")
    return Path(warehouse) / asset_key.path[0] / asset_key.path[1]


def table_name(asset_key: dg.AssetKey) -> str:
    return ".".join(asset_key.path)


class DeltaIOManager(dg.ConfigurableIOManager):
    """Stores Spark DataFrames as Delta tables, partition by partition."""

    spark: SparkResource
    warehouse: str = Field(description="Root folder (or URI) of the warehouse; tables live at <warehouse>/<layer>/<table>.")

    def handle_output(self, context: dg.OutputContext, obj: DataFrame | None) -> None:
        if obj is None:
            return
        path = table_path(self.warehouse, context.asset_key)
        writer = obj.write.format("delta").mode("overwrite").option("mergeSchema", "true")
        column = predicate = None
        if context.has_asset_partitions:
            column = self._partition_column(context.definition_metadata, context.asset_key)
            predicate = partition_predicate(column, context.asset_partition_keys, context.asset_partitions_def)
            writer = writer.option("replaceWhere", predicate).partitionBy(column)
        try:
            writer.save(str(path))
        except AnalysisException as error:
            where = f" partitions {predicate}" if predicate else ""
            raise dg.Failure(
                description=(
                    f"Writing {table_name(context.asset_key)}{where} to {path} failed: {error}. "
                    "If a column changed type, see the README runbook 'schema drift'; if rows fall "
                    "outside the partition, the asset returned rows of another day."
                ),
            ) from error
        context.add_output_metadata(self._write_metadata(obj, path, context, column, predicate))

    def load_input(self, context: dg.InputContext) -> DataFrame:
        spark = self.spark.get_session()
        path = table_path(self.warehouse, context.asset_key)
        if not DeltaTable.isDeltaTable(spark, str(path)):
            raise dg.Failure(
                description=(
                    f"Input {table_name(context.asset_key)} has no Delta table at {path}. "
                    f"Materialize {context.asset_key.to_user_string()} first"
                    + (f" for partitions {context.asset_partition_keys}." if context.has_asset_partitions else ".")
                ),
            )
        frame = spark.read.format("delta").load(str(path))
        if context.has_asset_partitions:
            upstream = context.upstream_output.definition_metadata if context.upstream_output else {}
            column = self._partition_column(upstream, context.asset_key)
            values = validate_keys(context.asset_partition_keys, context.asset_partitions_def)
            frame = frame.where(F.col(column).isin(list(values)))
        return frame

    @staticmethod
    def _partition_column(metadata, asset_key: dg.AssetKey) -> str:
        column = (metadata or {}).get(PARTITION_EXPR)
        if column is None:
            raise dg.Failure(
                description=f"Partitioned asset {asset_key.to_user_string()} needs metadata "
                f"{{'{PARTITION_EXPR}': '<column>'}} naming its partition column."
            )
        return validate_column(getattr(column, "value", column))

    @staticmethod
    def _write_metadata(obj: DataFrame, path: Path, context: dg.OutputContext, column: str | None, predicate: str | None):
        spark = obj.sparkSession
        commit = DeltaTable.forPath(spark, str(path)).history(1).collect()[0]
        metrics = {k: int(v) for k, v in (commit["operationMetrics"] or {}).items() if v and v.isdigit()}
        rows = metrics.get("numOutputRows", 0)
        metadata = {
            "dagster/row_count": dg.MetadataValue.int(rows),
            "dagster/table_name": table_name(context.asset_key),
            "dagster/uri": dg.MetadataValue.url(path.resolve().as_uri()),
            "dagster/column_schema": dg.TableSchema(
                columns=[
                    dg.TableColumn(name=f.name, type=f.dataType.simpleString(), constraints=dg.TableColumnConstraints(nullable=f.nullable))
                    for f in obj.schema.fields
                ]
            ),
            "delta_version": dg.MetadataValue.int(commit["version"]),
            "delta_operation": commit["operation"],
            "files_written": dg.MetadataValue.int(metrics.get("numFiles", metrics.get("numAddedFiles", 0))),
            "bytes_written": dg.MetadataValue.int(metrics.get("numOutputBytes", metrics.get("numAddedBytes", 0))),
            "files_removed": dg.MetadataValue.int(metrics.get("numRemovedFiles", 0)),
            "operation_metrics": dg.MetadataValue.json(metrics),
        }
        if predicate:
            metadata["replace_where"] = predicate
        if column and len(context.asset_partition_keys) > 1:
            counts = (
                spark.read.format("delta").load(str(path)).where(predicate)
                .groupBy(F.col(column).cast("string").alias("key")).count().collect()
            )
            metadata["rows_per_partition"] = dg.MetadataValue.json({r["key"]: r["count"] for r in sorted(counts)})
        return metadata
