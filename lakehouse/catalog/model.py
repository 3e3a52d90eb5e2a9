"""What the catalog says about each table, gathered once from the registry, the definitions, the Delta logs and the instance.

* the registry (:data:`lakehouse.tables.TABLES`): description, owner, domain, columns (type,
  nullability, description, tags), layout, properties and constraints;
* the definitions' asset graph: upstream and downstream tables, freshness policy, automation
  condition, the checks and their descriptions, and ``dagster/column_lineage`` (the column
  lineage Dagster shows; a landed field is no asset, so those references come from the registry);
* the Delta log of ``<warehouse>/<layer>/<table>`` (:mod:`.delta_log`): newest version, its commit
  time and operation, live rows per partition;
* a Dagster instance, when there is one: each check's latest status (:mod:`.check_status`).

Everything is sorted, so the same inputs give the same catalog (and the same site).

Example::

    catalog = gather(build_definitions(settings), settings.warehouse, instance)
    catalog.table("gold/daily_sales").state.version
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import dagster as dg
from dagster._core.definitions.freshness import CronFreshnessPolicy, TimeWindowFreshnessPolicy

from lakehouse import tables
from lakehouse.catalog import delta_log
from lakehouse.catalog.check_status import NEVER_RUN, CheckStatus, check_statuses
from lakehouse.tables.registry import PII, Table

LAYERS = ("landing", "bronze", "silver", "gold", "governance")  # left to right in every drawing
LANDING = "landing"
COLUMN_LINEAGE = "dagster/column_lineage"


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    type: str
    nullable: bool
    description: str
    tags: tuple[str, ...]
    derived_from: tuple[str, ...]  # ``layer/table.column`` (``landing/<source>.<field>`` for a landed field)

    @property
    def pii(self) -> bool:
        return PII in self.tags


@dataclass(frozen=True)
class CheckDoc:
    name: str
    description: str
    blocking: bool
    status: CheckStatus


@dataclass(frozen=True)
class TableState:
    """What the Delta log says now; ``problem`` instead when the log could not be read."""

    version: int | None = None
    committed_at: str = ""  # 'YYYY-MM-DD HH:MM:SS UTC'
    operation: str = ""
    files: int = 0
    rows: int | None = None
    partitions: tuple[tuple[str, int | None], ...] = ()  # (partition value, live rows), sorted by value
    problem: str = ""


@dataclass(frozen=True)
class TableDoc:
    key: str  # 'gold/daily_sales': the asset key, as the UI writes it
    name: str  # 'gold.daily_sales'
    layer: str
    description: str
    owner: str
    domain: str
    columns: tuple[ColumnDoc, ...]
    partition_column: str | None
    layout: str  # 'partitioned by sale_date (daily)', 'clustered by customer_id', ...
    properties: tuple[tuple[str, str], ...]
    constraints: tuple[tuple[str, str], ...]
    freshness: str
    automation: str
    upstream: tuple[str, ...]  # table keys
    downstream: tuple[str, ...]
    checks: tuple[CheckDoc, ...]
    path: str
    state: TableState | None  # None: not materialized yet (no Delta table at path)

    @property
    def page(self) -> str:
        """The table's page, relative to the site's root."""
        return f"tables/{self.name}.html"

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]


@dataclass(frozen=True)
class Catalog:
    tables: tuple[TableDoc, ...]  # by layer (LAYERS order), then name
    warehouse: str
    checks_source: str  # where check statuses come from, said on the index page

    def table(self, key: str) -> TableDoc:
        for doc in self.tables:
            if key in (doc.key, doc.name):
                return doc
        raise KeyError(f"no table {key!r} in the catalog")

    def by_key(self) -> dict[str, TableDoc]:
        return {doc.key: doc for doc in self.tables}


def layer_rank(layer: str) -> int:
    return LAYERS.index(layer) if layer in LAYERS else len(LAYERS)


def gather(defs: dg.Definitions, warehouse: Path, instance: dg.DagsterInstance | None = None,
           checks_source: str = "") -> Catalog:
    """The catalog of every registered table of ``defs``, with the Delta state under ``warehouse`` and, with an
    ``instance``, each check's latest status (without one every check is *never run*)."""
    graph = defs.resolve_asset_graph()
    statuses = check_statuses(instance, graph.asset_check_keys) if instance is not None else {}
    docs = []
    for table in sorted(tables.TABLES.values(), key=lambda t: (layer_rank(t.layer), t.name)):
        node = graph.get(table.key) if graph.has(table.key) else None
        checks = tuple(
            CheckDoc(key.name, graph.get_check_spec(key).description or "", graph.get_check_spec(key).blocking,
                     statuses.get(key, NEVER_RUN))
            for key in sorted(node.check_keys if node else (), key=lambda k: k.name)
        )
        path = warehouse.joinpath(*table.key.path)
        docs.append(TableDoc(
            key=table.key.to_user_string(), name=table.name, layer=table.layer, description=table.description,
            owner=table.owner, domain=table.domain, columns=_columns(table, node), partition_column=table.partition_column,
            layout=_layout(table), properties=tuple(sorted(table.properties.items())),
            constraints=tuple(sorted(table.constraints.items())),
            freshness=describe_freshness(node.freshness_policy if node else None),
            automation=_automation(node), upstream=_keys(node.parent_keys if node else ()),
            downstream=_keys(node.child_keys if node else ()), checks=checks, path=str(path),
            state=_state(path, table.partition_column),
        ))
    source = checks_source or ("the Dagster instance" if instance is not None else "no Dagster instance: every check never run")
    return Catalog(tuple(docs), str(warehouse), source)


def _keys(keys) -> tuple[str, ...]:
    return tuple(k.to_user_string() for k in sorted(keys, key=lambda k: (layer_rank(k.path[0]), k.to_user_string())))


def _columns(table: Table, node) -> tuple[ColumnDoc, ...]:
    """The declared columns, each derived from what ``dagster/column_lineage`` records plus its landed fields."""
    lineage = node.metadata.get(COLUMN_LINEAGE) if node is not None else None
    recorded: Mapping[str, Sequence[dg.TableColumnDep]] = lineage.deps_by_column if isinstance(lineage, dg.TableColumnLineage) else {}
    columns = []
    for c in table.columns:
        refs = [f"{d.asset_key.to_user_string()}.{d.column_name}" for d in recorded.get(c.name, [])]
        refs += [ref for ref in c.derived_from if ref.startswith(LANDING + "/")]
        columns.append(ColumnDoc(c.name, c.type, c.nullable, c.description, tuple(sorted(c.tags)), tuple(refs)))
    return tuple(columns)


def _layout(table: Table) -> str:
    if table.partition_column:
        where = "daily in Dagster and Delta" if table.daily else "in Delta only"
        layout = f"partitioned by {table.partition_column} ({where})"
        return layout + (f", Z-ordered by {', '.join(table.zorder)}" if table.zorder else "")
    if table.cluster_by:
        return f"clustered by {', '.join(table.cluster_by)} (liquid clustering)"
    return "unpartitioned" + (f", Z-ordered by {', '.join(table.zorder)}" if table.zorder else "")


def _automation(node) -> str:
    condition = node.automation_condition if node is not None else None
    if condition is None:
        return "none: materialized by its job (or a sensor)"
    return condition.get_label() or type(condition).__name__


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''}"
    return f"{seconds} s"


def describe_freshness(policy: dg.FreshnessPolicy | None) -> str:
    """A freshness policy in words (the cron and time-window policies of ``dg.FreshnessPolicy``)."""
    if policy is None:
        return "none"
    if isinstance(policy, CronFreshnessPolicy):
        lower = policy.lower_bound_delta
        return (f"materialized within the {_duration(lower)} before each deadline; "
                f"deadline cron {policy.deadline_cron} ({policy.timezone})")
    if isinstance(policy, TimeWindowFreshnessPolicy):
        text = f"fails after {_duration(policy.fail_window.to_timedelta())} without a materialization"
        return (f"warns after {_duration(policy.warn_window.to_timedelta())}, " if policy.warn_window else "") + text
    return str(policy)


def _state(path: Path, partition_column: str | None) -> TableState | None:
    try:
        snapshot = delta_log.read_snapshot(path)
    except (delta_log.UnsupportedLog, OSError, ValueError, KeyError) as error:
        return TableState(problem=f"the Delta log could not be read: {error}")
    if snapshot is None:
        return None
    partitions = tuple(snapshot.rows_by_partition(partition_column).items()) if partition_column else ()
    return TableState(version=snapshot.version, committed_at=snapshot.committed_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                      operation=snapshot.operation, files=len(snapshot.files), rows=snapshot.rows, partitions=partitions)


__all__ = ["LAYERS", "Catalog", "CheckDoc", "ColumnDoc", "TableDoc", "TableState", "describe_freshness", "gather",
           "layer_rank"]
