"""The warehouse: where each registered table lives, how it is created, read (also as of a past version) and reported.

Tables are declared in :mod:`lakehouse.tables`; a table with key ``[layer, name]`` lives at
``<root>/<layer>/<name>``. The Delta IO manager writes through this resource and assets and
checks read through it, so all agree on paths, partition filtering and time travel.

**Reads** filter on the table's declared partition column with validated keys (Spark prunes
files). Each read is pinned to one table version, recorded per step, and every materialization
of that step lists them as ``input_versions``: what a result was computed from.

**Time travel**: a run tagged ``lakehouse/as_of/<layer.table>`` = ``<version>`` or
``<ISO timestamp>`` (set in the launchpad's tag editor, or ``--tags`` on the CLI) reads that
table as it was then, to reproduce a past result. A version whose files VACUUM has removed is
refused with the versions that can still be read.

Example::

    warehouse = Warehouse(spark=SparkResource(), root="data/warehouse")
    warehouse.read(tables.SILVER_SALES.key, ["2025-01-01", "2025-01-02"], daily).count()
    with warehouse.tracked(key) as write:
        ...                                    # MERGE, append
    dg.MaterializeResult(metadata=warehouse.materialization(key, write.result))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import delta, tables
from lakehouse.partitions import validate_keys
from lakehouse.resources.spark import SparkResource
from lakehouse.tables.registry import Table

if TYPE_CHECKING:
    from lakehouse.catalog import delta_log

AS_OF_TAG = "lakehouse/as_of/"
# Versions read per (run, step), in this run worker process: a run's steps run one after another in it.
_READS: dict[tuple[str, str], dict[str, int]] = {}


def table_name(asset_key: dg.AssetKey) -> str:
    """``layer.table`` for an asset key ``[layer, table]``."""
    return ".".join(asset_key.path)


class Warehouse(dg.ConfigurableResource):
    """Locates, creates, reads and reports the lakehouse's Delta tables."""

    spark: SparkResource
    root: str = Field(description="Root folder (or URI) of the warehouse; tables live at <root>/<layer>/<table>.")

    def table(self, asset_key: dg.AssetKey) -> Table:
        """The registry's declaration of the table."""
        return tables.table(asset_key)

    def path(self, asset_key: dg.AssetKey) -> Path:
        """``<root>/<layer>/<table>`` for an asset key ``[layer, table]``."""
        if len(asset_key.path) != 2:
            raise ValueError(f"asset key {asset_key.to_user_string()} is not [layer, table]")
        return Path(self.root) / asset_key.path[0] / asset_key.path[1]

    def exists(self, asset_key: dg.AssetKey) -> bool:
        return delta.exists(self.spark.get_session(), self.path(asset_key))

    def ensure(self, asset_key: dg.AssetKey) -> None:
        """Create the table from its declaration, or bring an existing one up to it (columns, properties, constraints)."""
        spark = self.spark.get_session()
        with delta.stamped(spark, **_run_stamp()):  # the history says which run created or altered the table
            delta.create_table(spark, self.table(asset_key), self.path(asset_key))

    def version(self, asset_key: dg.AssetKey) -> int | None:
        """The table's latest Delta version, or None when there is no table yet."""
        return delta.latest_version(self.spark.get_session(), self.path(asset_key))

    def read(
        self,
        asset_key: dg.AssetKey,
        partition_keys: Sequence[str] | None = None,
        partitions_def: dg.PartitionsDefinition | None = None,
    ) -> DataFrame:
        """The table (or only ``partition_keys`` of it) at one version; fails naming the table when it does not exist."""
        spark = self.spark.get_session()
        path = self.path(asset_key)
        if not self.exists(asset_key):
            raise dg.Failure(
                description=(
                    f"Table {table_name(asset_key)} has no Delta table at {path}. "
                    f"Materialize {asset_key.to_user_string()} first"
                    + (f" for partitions {list(partition_keys)}." if partition_keys else ".")
                ),
                allow_retries=False,  # a missing table is not a transient read error
            )
        version = self._pinned_version(asset_key)
        frame = delta.read(spark, path, version=version)
        _record_read(table_name(asset_key), version)
        if partition_keys is None:
            return frame
        column = self.table(asset_key).partition_column
        if column is None:
            raise dg.Failure(description=f"{table_name(asset_key)} is not partitioned; read it without partition keys")
        values = validate_keys(partition_keys, partitions_def)
        if values and isinstance(values[0], date) and frame.schema[column].dataType.simpleString() != "date":
            values = [v.isoformat() if isinstance(v, date) else v for v in values]
        return frame.where(F.col(column).isin(list(values)))

    @contextmanager
    def tracked(self, *asset_keys: dg.AssetKey, **user_metadata: object) -> Iterator[delta.TrackedWrite]:
        """:func:`lakehouse.delta.tracked` for these tables: afterwards ``write.results[path]`` are their own commits.

        Inside a Dagster step the commits also carry ``dagster_run_id`` and ``dagster_step``, so a
        table's history says which run wrote each version (``python -m lakehouse.operations history``).
        """
        user_metadata = {**_run_stamp(), **user_metadata}
        with delta.tracked(self.spark.get_session(), *(str(self.path(k)) for k in asset_keys), **user_metadata) as write:
            yield write

    def result(self, write: delta.TrackedWrite, asset_key: dg.AssetKey) -> delta.WriteResult:
        """The commits ``write`` made to the table ``asset_key``."""
        return write.results[str(self.path(asset_key))]

    def materialization(self, asset_key: dg.AssetKey, write: delta.WriteResult, **extra: Any) -> dict[str, Any]:
        """Metadata of a materialization that wrote the table itself: rows, location, schema, this write's commits, inputs.

        ``dagster/row_count`` is the rows of the whole table, from its log (:meth:`rows`).
        ``extra`` (the asset's own figures) comes first, so the keys here win on a clash.
        """
        return {
            **extra,
            "dagster/row_count": dg.MetadataValue.int(self.rows(asset_key)),
            **self.location_metadata(asset_key),
            **write_metadata(write),
            **input_versions_metadata(),
        }

    def location_metadata(self, asset_key: dg.AssetKey) -> dict[str, Any]:
        """``dagster/table_name``, ``dagster/uri`` of the table, and its ``dagster/column_lineage`` from the registry."""
        metadata: dict[str, Any] = {
            "dagster/table_name": table_name(asset_key),
            "dagster/uri": dg.MetadataValue.url(self.path(asset_key).resolve().as_uri()),
        }
        lineage = self.table(asset_key).column_lineage()
        if lineage is not None:
            metadata["dagster/column_lineage"] = lineage
        return metadata

    def rows(self, asset_key: dg.AssetKey) -> int:
        """The table's rows at its newest version: from the Delta log of a local table (as :meth:`rows_by_partition`),
        else Delta's ``count()`` (which answers from the same statistics)."""
        snapshot = self._log_snapshot(asset_key)
        rows = snapshot.rows if snapshot is not None else None
        return rows if rows is not None else delta.read(self.spark.get_session(), self.path(asset_key)).count()

    def rows_by_partition(self, asset_key: dg.AssetKey, partition_keys: Sequence[str],
                          partitions_def: dg.PartitionsDefinition | None = None) -> dict[str, int]:
        """Rows per partition of ``partition_keys`` (those holding rows), at the version a read would pin now.

        For a local table they come from its Delta log: each live file's ``numRecords`` statistic minus the rows its
        deletion vector marks as deleted (the figures Delta's own ``count()`` answers from), so no Spark query runs
        and no data file is opened (each such count was a Spark job of 0.2-0.5 s, the first read of a new version
        the dearest). A Spark count by partition otherwise: a table elsewhere, a file written without statistics,
        or a log :mod:`lakehouse.catalog.delta_log` does not read. The version is recorded as a read's is.
        """
        from lakehouse.catalog import delta_log  # pyarrow, imported when counting

        column = self.table(asset_key).partition_column
        # Spark counts a table elsewhere without pinning its version twice; read() raises for a missing table, naming it.
        if column is None or delta.local_path(self.path(asset_key)) is None or not self.exists(asset_key):
            return _count_by(self.read(asset_key, partition_keys, partitions_def), column)
        version = self._pinned_version(asset_key)
        wanted = {str(v) for v in validate_keys(partition_keys, partitions_def)}
        snapshot = self._log_snapshot(asset_key, version)
        counts = {} if snapshot is None else \
            {k: n for k, n in delta_log.rows_by_partition(snapshot.files, column).items() if k in wanted}
        if snapshot is None or None in counts.values():
            return _count_by(self.read(asset_key, partition_keys, partitions_def), column)
        _record_read(table_name(asset_key), version)
        return {k: n for k, n in counts.items() if n}

    def _log_snapshot(self, asset_key: dg.AssetKey, version: int | None = None) -> delta_log.Snapshot | None:
        """The local table's snapshot (newest, or ``version``) read from its Delta log; None for a table elsewhere or a
        log :mod:`lakehouse.catalog.delta_log` does not replay."""
        from lakehouse.catalog import delta_log  # pyarrow, imported when counting

        local = delta.local_path(self.path(asset_key))
        try:
            return delta_log.read_snapshot(local, version) if local is not None else None
        except delta_log.UnsupportedLog:
            return None

    def _pinned_version(self, asset_key: dg.AssetKey) -> int:
        """The version this read uses: the run's ``lakehouse/as_of/<table>`` tag if set, else the latest."""
        spark, path, name = self.spark.get_session(), self.path(asset_key), table_name(asset_key)
        wanted = _as_of_tags().get(name)
        if wanted is None:
            return delta.latest_version(spark, path) or 0
        try:
            version = delta.version_at(spark, path, wanted)
        except ValueError as error:
            raise dg.Failure(description=f"Tag {AS_OF_TAG}{name}={wanted!r}: {error}") from None
        missing = delta.missing_files(spark, path, version)
        if missing:
            readable = delta.readable_versions(spark, path)
            raise dg.Failure(
                description=(
                    f"Tag {AS_OF_TAG}{name}={wanted!r}: version {version} of {name} can no longer be read, VACUUM "
                    f"removed {len(missing)} of its files (e.g. {missing[0]}). Versions still readable: "
                    f"{readable[0]}..{readable[-1]}. Pick one of them (DESCRIBE HISTORY shows their times)."
                ),
            )
        return version


def write_metadata(write: delta.WriteResult) -> dict[str, Any]:
    """``delta_version``, ``delta_operation``, files and bytes written/removed of one write, as Dagster metadata."""
    values: dict[str, Any] = write.metadata()  # ints, a str and a dict (delta types them as object)
    return {
        "delta_version": dg.MetadataValue.int(int(values["delta_version"])),
        "delta_operation": str(values["delta_operation"]),
        "files_written": dg.MetadataValue.int(int(values["files_written"])),
        "bytes_written": dg.MetadataValue.int(int(values["bytes_written"])),
        "files_removed": dg.MetadataValue.int(int(values["files_removed"])),
        "operation_metrics": dg.MetadataValue.json(values["operation_metrics"]),
    }


def input_versions_metadata() -> dict[str, Any]:
    """``input_versions``: the Delta version of every table the current step read (empty outside a step)."""
    step = _step_id()
    reads = _READS.get(step, {}) if step else {}
    return {"input_versions": dg.MetadataValue.json(dict(sorted(reads.items())))} if reads else {}


def _count_by(frame: DataFrame, column: str | None) -> dict[str, int]:
    """Rows of ``frame`` per value of ``column`` (as text, as the Delta log writes partition values)."""
    if column is None:
        raise ValueError("a count by partition needs a partitioned table")
    return {str(r["value"]): r["count"] for r in frame.groupBy(F.col(column).alias("value")).count().collect()}


def _record_read(name: str, version: int) -> None:
    step = _step_id()
    if step:
        _READS.setdefault(step, {})[name] = version


def _step_id() -> tuple[str, str] | None:
    try:
        context = dg.OpExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        return None
    return context.run_id, context.get_step_execution_context().step.key


def _run_stamp() -> dict[str, str]:
    """``dagster_run_id`` and ``dagster_step`` of the current step, for the commits it makes; empty outside a run."""
    step = _step_id()
    return {"dagster_run_id": step[0], "dagster_step": step[1]} if step else {}


def _as_of_tags() -> dict[str, str]:
    """``{layer.table: version or timestamp}`` from the current run's ``lakehouse/as_of/...`` tags."""
    try:
        tags = dg.OpExecutionContext.get().run.tags
    except dg.DagsterInvariantViolationError:
        return {}
    pinned = {key[len(AS_OF_TAG):]: value for key, value in tags.items() if key.startswith(AS_OF_TAG)}
    for name in pinned:
        tables.by_name(name)  # an unknown table fails the run, naming the known ones
    return pinned


def parse_as_of(value: str) -> int | datetime:
    """A version (``12``) or an ISO timestamp (``2025-01-05T10:00:00Z``) from an ``as_of`` setting."""
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is neither a Delta version nor an ISO-8601 timestamp") from None
