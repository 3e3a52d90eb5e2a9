"""What an operation did to a table, as an AssetObservation on the table's asset.

Observations are what the UI plots over time on an asset's *Plots* tab, so the keys are
stable: ``files``, ``bytes``, ``average_file_bytes`` (the table's current version after the
operation), ``files_before``, ``bytes_before``, ``average_file_bytes_before``, ``operation``,
plus the operation's own figures. An observation is not a materialization: the automation
sensor and the freshness policies ignore it, so maintenance never triggers a downstream run.

Example::

    before = TableState.of(spark, path)
    delta.optimize(spark, path)
    observe(context, tables.SILVER_SALES, "optimize", before, TableState.of(spark, path), partitions_touched=2)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from pyspark.sql import SparkSession

from lakehouse import delta
from lakehouse.tables.registry import Table


@dataclass(frozen=True)
class TableState:
    """Files and bytes of a table's current version (:func:`lakehouse.delta.detail`)."""

    version: int
    files: int
    bytes: int

    @property
    def average_file_bytes(self) -> int:
        return self.bytes // self.files if self.files else 0

    @classmethod
    def of(cls, spark: SparkSession, path: str | Path) -> TableState:
        detail = delta.detail(spark, path)
        return cls(max(detail.version, 0), detail.num_files, detail.size_bytes)


def observe(
    context: dg.OpExecutionContext, table: Table, operation: str, before: TableState, after: TableState,
    description: str | None = None, **figures: object,
) -> dict[str, object]:
    """Log an AssetObservation of ``operation`` on ``table``'s asset; returns its metadata.

    ``figures`` are added as they are (ints, floats, strings; lists and dicts become JSON).
    """
    metadata: dict[str, Any] = {
        "operation": operation,
        "files": after.files,
        "bytes": after.bytes,
        "average_file_bytes": after.average_file_bytes,
        "files_before": before.files,
        "bytes_before": before.bytes,
        "average_file_bytes_before": before.average_file_bytes,
        "delta_version": after.version,
        "delta_version_before": before.version,
        "dagster/table_name": table.name,
        **{k: _value(v) for k, v in figures.items()},
    }
    context.log_event(dg.AssetObservation(asset_key=table.key, metadata=metadata, description=description))
    return metadata


def _value(value: object) -> object:
    if isinstance(value, (list, tuple, dict)):
        return dg.MetadataValue.json(list(value) if isinstance(value, tuple) else value)
    return value
