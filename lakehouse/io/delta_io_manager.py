"""The Delta IO manager: each asset ``[layer, table]`` is a Delta table at ``<warehouse>/<layer>/<table>``.

Writes
    A partitioned asset overwrites exactly the partitions of the run (one key, or the whole range
    of a single-run backfill) with Delta's ``replaceWhere``; other partitions' files are never
    touched, and Delta refuses rows that fall outside the predicate. An unpartitioned asset
    overwrites its table. Additive schema changes (a new column) are merged; a changed type fails
    the write with the column named. An asset that returns ``None`` writes nothing (it manages
    its own table, e.g. with a MERGE).

Reads
    An input is the upstream table filtered to the partitions the run needs (see
    :class:`~lakehouse.resources.warehouse.Warehouse`), so Spark prunes files.

Metadata on every materialization
    ``dagster/row_count``, ``dagster/column_schema``, ``dagster/table_name``, ``dagster/uri``,
    the Delta version written and the commit's operation metrics (files, bytes, rows). When a
    run writes a partition range, each partition's materialization records that partition's own
    ``dagster/row_count`` (so the UI shows and plots it per partition); ``rows_per_partition``
    lists them all, and the commit's figures are the whole range's.

Concurrent runs
    Two runs may write different partitions of one table at the same time (the instance runs
    up to two at once). Delta resolves most such commits itself; a commit that still conflicts
    (e.g. both runs creating the table) is retried up to 3 times, which is safe because the write
    replaces exactly its partitions.

The partition column comes from the asset's ``partition_expr`` definition metadata, as in
``dagster-deltalake``.

Example::

    @dg.asset(key=["silver", "sales"], partitions_def=daily, metadata={"partition_expr": "sale_date"})
    def sales(bronze_sales: DataFrame) -> DataFrame: ...

    warehouse = Warehouse(spark=SparkResource(), root="data/warehouse")
    dg.Definitions(assets=[sales], resources={"io_manager": DeltaIOManager(warehouse=warehouse)})
"""

from __future__ import annotations

from pathlib import Path

import random
import time

import dagster as dg
from delta import exceptions as delta_errors
from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.partitions import partition_predicate, validate_column
from lakehouse.resources.warehouse import Warehouse, commit_metadata, commit_metrics, location_metadata, table_name

PARTITION_EXPR = "partition_expr"
WRITE_ATTEMPTS = 3
CONFLICTS = (
    delta_errors.ConcurrentAppendException,
    delta_errors.ConcurrentDeleteReadException,
    delta_errors.ConcurrentDeleteDeleteException,
    delta_errors.ConcurrentTransactionException,
    delta_errors.ConcurrentWriteException,
    delta_errors.MetadataChangedException,
    delta_errors.ProtocolChangedException,
    delta_errors.DeltaConcurrentModificationException,
)


class DeltaIOManager(dg.ConfigurableIOManager):
    """Stores Spark DataFrames as Delta tables, partition by partition."""

    warehouse: Warehouse

    def handle_output(self, context: dg.OutputContext, obj: DataFrame | None) -> None:
        if obj is None:
            return
        path = self.warehouse.path(context.asset_key)
        writer = obj.write.format("delta").mode("overwrite").option("mergeSchema", "true")
        column = predicate = None
        if context.has_asset_partitions:
            column = self._partition_column(context.definition_metadata, context.asset_key)
            predicate = partition_predicate(column, context.asset_partition_keys, context.asset_partitions_def)
            writer = writer.option("replaceWhere", predicate).partitionBy(column)
        try:
            self._save_retrying_conflicts(context, writer, path)
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
        if not context.has_asset_partitions:
            return self.warehouse.read(context.asset_key)
        return self.warehouse.read(context.asset_key, context.asset_partition_keys, context.asset_partitions_def)

    @staticmethod
    def _save_retrying_conflicts(context: dg.OutputContext, writer, path: Path) -> None:
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                writer.save(str(path))
                return
            except CONFLICTS as conflict:
                if attempt == WRITE_ATTEMPTS:
                    raise dg.Failure(
                        description=f"Writing {table_name(context.asset_key)} to {path} conflicted with another "
                        f"writer {WRITE_ATTEMPTS} times: {type(conflict).__name__}. Re-run the partitions; "
                        "if it keeps happening, run fewer backfills of this table at once.",
                    ) from conflict
                context.log.warning(f"{type(conflict).__name__} on {path}; retrying (attempt {attempt + 1})")
                time.sleep(attempt + random.random())

    @staticmethod
    def _partition_column(metadata, asset_key: dg.AssetKey) -> str:
        column = (metadata or {}).get(PARTITION_EXPR)
        if column is None:
            raise dg.Failure(
                description=f"Partitioned asset {asset_key.to_user_string()} needs metadata "
                f"{{'{PARTITION_EXPR}': '<column>'}} naming its partition column."
            )
        return validate_column(getattr(column, "value", column))

    def _write_metadata(self, obj: DataFrame, path: Path, context: dg.OutputContext, column: str | None, predicate: str | None):
        commit = DeltaTable.forPath(obj.sparkSession, str(path)).history(1).collect()[0]
        metadata = {
            "dagster/row_count": dg.MetadataValue.int(commit_metrics(commit).get("numOutputRows", 0)),
            **location_metadata(context.asset_key, path, obj.schema),
            **commit_metadata(commit),
        }
        if predicate:
            metadata["replace_where"] = predicate
        if column and len(context.asset_partition_keys) > 1:
            written = self.warehouse.read(context.asset_key, context.asset_partition_keys, context.asset_partitions_def)
            counts = {r["key"]: r["count"] for r in written.groupBy(F.col(column).cast("string").alias("key")).count().collect()}
            metadata["rows_per_partition"] = dg.MetadataValue.json(dict(sorted(counts.items())))
            # Each partition's materialization gets its own row count (the range's total stays on the run's output).
            for key in context.asset_partition_keys:
                context.step_context.add_asset_metadata(
                    {"dagster/row_count": dg.MetadataValue.int(counts.get(key, 0))},
                    asset_key=context.asset_key, partition_key=key,
                )
        return metadata
