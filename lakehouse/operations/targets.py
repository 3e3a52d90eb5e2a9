"""Which tables an operation may touch: names a user typed, checked against the registry first.

A name reaches SQL only as the registry's declaration of it: :func:`resolve` turns
``layer.table`` into a :class:`~lakehouse.tables.Table`, and the statement addresses the table
by the path the warehouse derives from that declaration, never by the text typed.

Example::

    resolve(["silver.sales", "gold.daily_sales"])      # [Table silver.sales, Table gold.daily_sales]
    resolve(["silver.sale"])                           # dg.Failure naming the registry's tables
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from lakehouse import tables
from lakehouse.resources.warehouse import Warehouse
from lakehouse.tables.registry import Table

# Maintenance and restore never run at once (dagster.yaml: one run per lakehouse/serial value):
# a VACUUM must not delete the files a RESTORE is bringing back.
SERIAL_TAGS = {"lakehouse/serial": "table_operations"}
REASON_TAG = "lakehouse/reason"


def resolve(names: Sequence[str]) -> list[Table]:
    """The registry's tables for ``names`` (``layer.table`` or ``layer/table``), in order, each once.

    Every name is checked before any is used, so one unknown name fails the run before it touches
    a table; the failure lists the known names.
    """
    found: list[Table] = []
    unknown: list[str] = []
    for name in names:
        try:
            table = tables.by_name(name.strip())
        except tables.UnknownTableError:
            unknown.append(name)
            continue
        if table not in found:
            found.append(table)
    if unknown:
        known = ", ".join(sorted(t.name for t in tables.TABLES.values()))
        raise dg.Failure(
            description=f"Unknown table(s) {unknown}; nothing was touched. The registry's tables are: {known}"
        )
    return found


def require_existing(warehouse: Warehouse, chosen: Sequence[Table]) -> None:
    """Fail, touching nothing, when a chosen table has no Delta table yet."""
    absent = [t for t in chosen if not warehouse.exists(t.key)]
    if absent:
        where = ", ".join(f"{t.name} ({warehouse.path(t.key)})" for t in absent)
        raise dg.Failure(
            description=f"No Delta table yet for {where}; nothing was touched. Materialize it first, or leave it out."
        )


def existing(warehouse: Warehouse) -> list[Table]:
    """Every table of the registry that has a Delta table in the warehouse, in registry order."""
    return [t for t in tables.TABLES.values() if warehouse.exists(t.key)]


def tag_run(context: dg.OpExecutionContext, tags: dict[str, str]) -> None:
    """Add ``tags`` to the current run, so the runs list shows and filters them (e.g. the reason of a forced VACUUM)."""
    context.instance.add_run_tags(context.run_id, tags)
