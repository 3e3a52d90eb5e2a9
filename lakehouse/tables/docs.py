"""The README's table of tables, reader table and maintenance table, written from the registry (``python -m lakehouse.tables``).

The README holds the output between ``<!-- registry:tables -->``, ``<!-- registry:readers -->``
and ``<!-- registry:maintenance -->`` markers; a test fails when they differ, so the documentation cannot drift from the declarations.

Example::

    python -m lakehouse.tables            # print both Markdown tables
"""

from __future__ import annotations

from lakehouse.tables import TABLES
from lakehouse.tables.registry import PII, Table

DELETION_VECTORS = "delta.enableDeletionVectors"


def _ordered() -> list[Table]:
    layers = ["bronze", "silver", "gold"]
    return sorted(TABLES.values(), key=lambda t: (layers.index(t.layer) if t.layer in layers else 9, t.name))


def _layout(table: Table) -> str:
    if table.partition_column:
        return f"`{table.partition_column}`" + (" (daily)" if table.daily else " (Delta only)")
    if table.cluster_by:
        return "clustered by " + ", ".join(f"`{c}`" for c in table.cluster_by)
    return "—"


def tables_markdown() -> str:
    """One row per table: key, layout, PII columns and description."""
    rows = ["| table | partitioned by | personal data | what it holds |", "| --- | --- | --- | --- |"]
    for table in _ordered():
        pii = ", ".join(f"`{c.name}`" for c in table.columns_tagged(PII)) or "—"
        rows.append(f"| `{table.key.to_user_string()}` | {_layout(table)} | {pii} | {table.description} |")
    return "\n".join(rows)


def readers_markdown() -> str:
    """Which Delta implementations read which tables, and the table features that decide it."""
    rows = [
        "| table | features a reader must support | Spark + delta-spark 4.4 | delta-rs: `DeltaTable(...).to_pyarrow_table()` | delta-rs: `QueryBuilder` (DataFusion) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for table in sorted(TABLES.values(), key=lambda t: t.name):
        dv = table.properties.get(DELETION_VECTORS) == "true"
        features = "deletion vectors (reader v3)" if dv else "none beyond v1"
        rows.append(f"| `{table.name}` | {features} | yes | {'no: refuses deletion vectors' if dv else 'yes'} | yes |")
    return "\n".join(rows)


def maintenance_markdown() -> str:
    """What ``table_maintenance`` does to each table, and the table's own promises (CDF, CHECK constraints)."""
    from lakehouse.operations.preview import strategy  # operations build on the registry, not the reverse

    rows = [
        "| table | OPTIMIZE | files written up to | small-file WARN when | Change Data Feed | CHECK constraints |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for table in _ordered():
        size = f"{table.optimize_max_file_bytes // 1024:,} KiB" if table.optimize_max_file_bytes else "1 GiB (Delta)"
        where = "per partition" if table.partition_column else "in the table"
        small = f"> {table.max_files_per_partition} files {where}, < {table.min_average_file_bytes // 1024:,} KiB average"
        cdf = "yes" if table.properties.get("delta.enableChangeDataFeed") == "true" else "—"
        constraints = ", ".join(f"`{name}`" for name in table.constraints) or "—"
        rows.append(f"| `{table.name}` | {strategy(table)} | {size} | {small} | {cdf} | {constraints} |")
    return "\n".join(rows)
