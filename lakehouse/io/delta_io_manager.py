"""The Delta IO manager: each asset ``[layer, table]`` is the registered Delta table at ``<warehouse>/<layer>/<table>``.

Writes
    The table is created from its declaration in :mod:`lakehouse.tables` before the first write
    (columns, NOT NULL, partitioning or clustering, properties, CHECK constraints), and the
    asset's output must have exactly the declared columns and types: an undeclared, missing or
    re-typed column fails the write naming it (declare it in the registry first; a new column is
    then added to the table). A partitioned asset overwrites exactly the partitions of the run
    (one key, or the whole range of a single-run backfill) with Delta's ``replaceWhere``; other
    partitions' files are never touched, and Delta refuses rows outside the predicate. An
    unpartitioned asset replaces its table's rows. An asset that returns ``None`` writes nothing
    (it manages its own table, e.g. with a MERGE).

Reads
    An input is the upstream table filtered to the partitions the run needs, at one version
    (see :class:`~lakehouse.resources.warehouse.Warehouse`, also for time travel).

Metadata on every materialization
    ``dagster/row_count``, ``dagster/table_name``, ``dagster/uri``, this write's own Delta commit
    (version, operation, files, bytes), ``input_versions`` (the versions of the tables the step
    read) and ``dagster/column_lineage`` (from the registry). When a run writes a partition range,
    each partition's materialization records that partition's own ``dagster/row_count`` (so the
    UI shows and plots it per partition); ``rows_per_partition`` lists them all (the ``numRecords``
    statistics of the files the commit added, no data read), and the commit's figures are the whole range's.

Concurrent runs
    Two runs may write different partitions of one table at the same time (the instance runs up
    to two at once). Delta resolves most such commits itself; a commit that still conflicts (e.g.
    both runs replacing the same day) is retried up to 3 times (:func:`lakehouse.delta.retrying_conflicts`),
    which is safe because the write replaces exactly its partitions.

Example::

    @dg.asset(**tables.asset_args(tables.SILVER_SALES), partitions_def=daily)
    def sales(bronze_sales: DataFrame) -> DataFrame: ...

    warehouse = Warehouse(spark=SparkResource(), root="data/warehouse")
    dg.Definitions(assets=[sales], resources={"io_manager": DeltaIOManager(warehouse=warehouse)})
"""

from __future__ import annotations

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import delta
from lakehouse.catalog import delta_log
from lakehouse.partitions import partition_predicate
from lakehouse.resources.warehouse import Warehouse, input_versions_metadata, write_metadata
from lakehouse.tables.registry import Table

WRITE_ATTEMPTS = 3


class DeltaIOManager(dg.ConfigurableIOManager):
    """Stores Spark DataFrames as the registered Delta tables, partition by partition."""

    warehouse: Warehouse

    def handle_output(self, context: dg.OutputContext, obj: DataFrame | None) -> None:
        if obj is None:
            return
        key = context.asset_key
        table = self.warehouse.table(key)
        frame = conform(obj, table)
        predicate = None
        if context.has_asset_partitions:
            if table.partition_column is None:
                raise dg.Failure(description=f"{table.name} is partitioned in Dagster but declares no partition_column")
            predicate = partition_predicate(table.partition_column, context.asset_partition_keys, context.asset_partitions_def)
        self.warehouse.ensure(key)
        write = self._write_retrying_conflicts(context, frame, table, predicate)
        context.add_output_metadata(self._metadata(context, table, write, predicate))

    def load_input(self, context: dg.InputContext) -> DataFrame:
        if not context.has_asset_partitions:
            return self.warehouse.read(context.asset_key)
        return self.warehouse.read(context.asset_key, context.asset_partition_keys, context.asset_partitions_def)

    def _write_retrying_conflicts(
        self, context: dg.OutputContext, frame: DataFrame, table: Table, predicate: str | None
    ) -> delta.WriteResult:
        path = self.warehouse.path(context.asset_key)
        where = f" partitions {predicate}" if predicate else ""

        def write_once() -> delta.WriteResult:
            with self.warehouse.tracked(context.asset_key) as write:
                delta.overwrite(frame, path, predicate=predicate, partition_by=table.partition_column)
            return write.result

        try:
            return delta.retrying_conflicts(write_once, f"{table.name}{where}", WRITE_ATTEMPTS, context.log)
        except Exception as error:  # py4j-wrapped (embedded) or PySparkException (Connect)
            if isinstance(error, delta.DiskFull):
                raise dg.Failure(description=f"Writing {table.name}{where} failed. {error}", allow_retries=False) from error
            if not delta.is_conflict(error):
                raise dg.Failure(
                    description=(
                        f"Writing {table.name}{where} to {path} failed: {error}. If a CHECK constraint is named, "
                        "a row broke one of the table's promises (lakehouse/tables); if rows fall outside the "
                        "partition, the asset returned rows of another day."
                    ),
                ) from error
            raise dg.Failure(
                description=f"Writing {table.name}{where} to {path} conflicted with another writer "
                f"{WRITE_ATTEMPTS} times ({type(error).__name__}). Re-run the partitions; if it keeps "
                "happening, run fewer backfills of this table at once.",
            ) from error

    def _metadata(self, context: dg.OutputContext, table: Table, write: delta.WriteResult, predicate: str | None) -> dict:
        key = context.asset_key
        rows = write.commits[-1].metrics.get("numOutputRows", 0) if write.commits else 0
        metadata: dict[str, object] = {
            "dagster/row_count": dg.MetadataValue.int(rows),
            **self.warehouse.location_metadata(key),
            **write_metadata(write),
            **input_versions_metadata(),
        }
        if predicate:
            metadata["replace_where"] = predicate
        if table.partition_column and len(context.asset_partition_keys) > 1:
            counts = self._rows_per_partition(key, table.partition_column, write, predicate)
            metadata["rows_per_partition"] = dg.MetadataValue.json(dict(sorted(counts.items())))
            # Each partition's materialization gets its own row count (the range's total stays on the run's output).
            for partition in context.asset_partition_keys:
                context.step_context.add_asset_metadata(
                    {"dagster/row_count": dg.MetadataValue.int(counts.get(partition, 0))},
                    asset_key=key, partition_key=partition,
                )
        return metadata

    def _rows_per_partition(self, key: dg.AssetKey, column: str, write: delta.WriteResult, predicate: str | None) -> dict[str, int]:
        """Rows of each partition the write replaced.

        When the write is one commit of a local table, they are the row counts (``numRecords``) of the files that
        commit added, as a partition overwrite leaves only those in its partitions: one commit file read, no data
        (a 30-day backfill's bronze/sales: 1-2 s of Spark saved per table). Otherwise, or when a file has no
        statistics, they are counted on the written version.
        """
        path = self.warehouse.path(key)
        local = delta.local_path(path)
        if local is not None and len(write.commits) == 1 and write.commits[0].operation == "WRITE":
            files = delta_log.added_files(local, write.commits[0].version)
            logged = delta_log.rows_by_partition(files, column) if files is not None else {}
            if files is not None and None not in logged.values():
                return {value: rows for value, rows in logged.items() if rows is not None}
        written = delta.read(self.warehouse.spark.get_session(), path, version=write.version)
        written = written.where(predicate) if predicate else written
        return {r["key"]: r["count"] for r in written.groupBy(F.col(column).cast("string").alias("key")).count().collect()}


def conform(frame: DataFrame, table: Table) -> DataFrame:
    """``frame``'s columns in the declared order; fails naming undeclared, missing or re-typed columns.

    Example::

        conform(bronze_rows, tables.BRONZE_SALES)   # same rows, columns ordered as declared
    """
    produced = {f.name: f.dataType for f in frame.schema.fields}
    declared = {c.name: c.data_type for c in table.columns}
    extra = [name for name in produced if name not in declared]
    missing = [name for name in declared if name not in produced]
    retyped = [f"{name} ({produced[name].simpleString()}, declared {declared[name].simpleString()})"
               for name in declared if name in produced and produced[name] != declared[name]]
    if extra or missing or retyped:
        problems = "; ".join(part for part in (
            f"undeclared columns {extra}" if extra else "",
            f"missing columns {missing}" if missing else "",
            f"columns of another type: {', '.join(retyped)}" if retyped else "",
        ) if part)
        raise dg.Failure(
            description=(
                f"The output for {table.name} does not match its declaration in lakehouse/tables: {problems}. "
                "Change the asset or the declaration (a new declared column is added to the table on the next "
                "write; a type change needs a rewrite, see the README runbook 'A write fails naming a column')."
            ),
        )
    return frame.select(*table.column_names)
