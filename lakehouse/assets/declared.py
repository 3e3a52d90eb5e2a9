"""What an asset takes from its table's declaration: key, description, group, kinds, tags, owner, schema, lineage.

Every asset of the lakehouse is built with :func:`asset_args`, :func:`table_out` or
:func:`table_spec`, so the UI shows each column's type, description and tags (``pii``, ``key``)
from ``dagster/column_schema``, ``tag:pii`` selects the tables holding personal data, and
``dagster/column_lineage`` says which upstream columns each column is computed from.

Example::

    @dg.asset(**asset_args(tables.GOLD_DAILY_SALES), partitions_def=daily, ins={...})
    def daily_sales(silver_sales: DataFrame) -> DataFrame: ...
"""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

import dagster as dg

from lakehouse.assets.policies import Policies
from lakehouse.tables.registry import KEY, PII, Table

KINDS = frozenset({"spark", "delta"})
PII_TAG = "pii"
DOMAIN_TAG = "domain"


def column_schema(table: Table) -> dg.TableSchema:
    """``dagster/column_schema``: every declared column with type, description, nullability and tags."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=c.type,
                description=c.description,
                constraints=dg.TableColumnConstraints(nullable=c.nullable, unique=c.tags == {KEY} and len(table.key_columns) == 1),
                tags={tag: "" for tag in sorted(c.tags)},
            )
            for c in table.columns
        ]
    )


def column_lineage(table: Table) -> dg.TableColumnLineage | None:
    """``dagster/column_lineage`` of the table (:meth:`Table.column_lineage`)."""
    return table.column_lineage()


def definition_metadata(table: Table) -> dict[str, Any]:
    """Definition metadata of the table's asset: column schema and lineage, table name, partition column."""
    metadata: dict[str, Any] = {"dagster/column_schema": column_schema(table), "dagster/table_name": table.name}
    lineage = column_lineage(table)
    if lineage is not None:
        metadata["dagster/column_lineage"] = lineage
    if table.partition_column and table.daily:
        metadata["partition_expr"] = table.partition_column
    return metadata


def tags(table: Table) -> dict[str, str]:
    """Asset tags: the domain, and ``pii`` when a column holds personal data (UI selection ``tag:pii``)."""
    found = {DOMAIN_TAG: table.domain}
    if table.has_pii:
        found[PII_TAG] = ""
    return found


class _Common(TypedDict):
    description: str
    metadata: dict[str, Any]
    kinds: set[str]
    tags: dict[str, str]
    owners: list[str]


class AssetArgs(_Common, Policies):
    """The keyword arguments of ``@dg.asset`` that :func:`asset_args` gives."""

    key: dg.AssetKey
    group_name: str


def _common(table: Table, kinds: set[str] | None) -> _Common:
    return {
        "description": table.description,
        "metadata": definition_metadata(table),
        "kinds": set(KINDS | (kinds or set())),
        "tags": tags(table),
        "owners": [table.owner],
    }


def asset_args(table: Table, *, kinds: set[str] | None = None, **extra: Unpack[Policies]) -> AssetArgs:
    """Keyword arguments of ``@dg.asset`` for the table's asset (``extra``: its automation condition, freshness policy)."""
    return {"key": table.key, "group_name": table.layer, **_common(table, kinds), **extra}


def table_out(table: Table, *, kinds: set[str] | None = None, **extra: Unpack[Policies]) -> dg.AssetOut:
    """An output of a ``@dg.multi_asset`` for the table."""
    return dg.AssetOut(key=table.key, group_name=table.layer, **_common(table, kinds), **extra)


def table_spec(table: Table, *, kinds: set[str] | None = None, **extra: Unpack[Policies]) -> dg.AssetSpec:
    """An ``AssetSpec`` of a ``@dg.multi_asset`` for the table (an asset that writes its table itself)."""
    return dg.AssetSpec(key=table.key, group_name=table.layer, **_common(table, kinds), **extra)


__all__ = ["KINDS", "PII", "asset_args", "column_lineage", "column_schema", "definition_metadata", "table_out",
           "table_spec", "tags"]
