"""Registering the registry's tables on the SQL endpoint as ``layer.table``, with their comments, pass after pass.

**Registration** (:class:`Registrar`) runs as a client of the Thrift server (the metastore is the server's;
embedded Derby admits no second JVM). A table is registered once its ``_delta_log`` holds a commit:
``CREATE SCHEMA`` and ``CREATE TABLE IF NOT EXISTS ... USING DELTA LOCATION`` (an external table: dropping
it leaves the data, and registering writes no Delta commit).

**Comments.** The table's comment is its description, each declared column's its description and tags
(:func:`column_comment`: ``Email address in this version. [pii]``), so ``DESCRIBE TABLE EXTENDED`` tells
what a column means and whether it is personal data. On a Delta table the comments live in the Delta log,
not in the metastore (``DESCRIBE`` reads them from the log; a metastore-only comment would not show), so a
comment that differs is written with ``ALTER TABLE ... ALTER COLUMN a COMMENT ..., b COMMENT ...`` (one
``CHANGE COLUMNS`` commit for all columns) and ``COMMENT ON TABLE`` (a ``SET TBLPROPERTIES`` commit). That is
acceptable: :func:`lakehouse.delta.create_table` already writes the descriptions, so each table gets one
commit that adds the tags, once; the pipeline's later writes (overwrite by partition, append, MERGE) keep
the comments; the ``matches_declaration`` check (:mod:`lakehouse.checks.declared`) compares types,
nullability, layout, properties and constraints, never comments (tested: no problem after registering);
streaming and Change Data Feed reads go on across a comment commit (tried). A pipeline write committing
in that same moment meets a metadata change and retries (:func:`lakehouse.delta.retrying_conflicts`).
Registration is idempotent: a second pass writes nothing and commits nothing.

**New tables** are followed by polling: ``make sql`` runs a pass every 30 s (``--refresh``). A pass looks
only at the tables whose ``_delta_log`` folder changed since the previous pass (a ``stat`` each), so an idle
warehouse costs the server nothing (a table someone dropped from the metastore comes back with its next
commit, or when ``make sql`` restarts). A table registered at another location than the warehouse's (after
changing ``LAKEHOUSE_WAREHOUSE``) is reported, never dropped: ``DROP TABLE`` it, or use another ``--metastore``.

Example::

    registrar = Registrar(cursor, LakehouseSettings.from_env().warehouse)
    registrar.refresh()     # Pass(registered=['bronze.sales', ...], commented=[...], failed={})
    registrar.refresh()     # Pass(): nothing changed
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from impala.hiveserver2 import HiveServer2Cursor

from lakehouse import tables
from lakehouse.sql.server import SqlEndpointError, execute, run
from lakehouse.tables.registry import Column, Table


def column_comment(column: Column) -> str:
    """The comment a column gets on the endpoint: its description, then its tags.

    Example::

        column_comment(tables.SILVER_DIM_CUSTOMER.column("email"))   # 'Email address in this version. [pii]'
    """
    return f"{column.description} [{', '.join(sorted(column.tags))}]" if column.tags else column.description


@dataclass
class Pass:
    """What one registration pass did: tables registered, tables whose comments it wrote, tables it could not do."""

    registered: list[str] = field(default_factory=list)
    commented: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [f"registered {', '.join(self.registered)}" if self.registered else "",
                 f"wrote comments of {', '.join(self.commented)}" if self.commented else "",
                 "; ".join(f"{name} failed: {message}" for name, message in self.failed.items())]
        return "; ".join(p for p in parts if p) or "nothing to do"


class Registrar:
    """Registers the registry's tables found in ``warehouse`` through ``cursor`` (a session on the server), pass after pass.

    Each :meth:`refresh` registers the tables whose Delta log appeared and aligns the comments of those whose
    log changed since the previous pass (see the module docstring).

    Example::

        registrar = Registrar(server.connect().cursor(), settings.warehouse)
        registrar.refresh()     # Pass(registered=['bronze.sales', ...], commented=[...], failed={})
        registrar.refresh()     # Pass(): nothing changed
    """

    def __init__(self, cursor: HiveServer2Cursor, warehouse: Path, declared: Iterable[Table] | None = None) -> None:
        self.cursor = cursor
        self.warehouse = Path(warehouse).resolve()
        self.declared = list(tables.TABLES.values() if declared is None else declared)
        self._seen: dict[str, int] = {}  # table name -> its _delta_log folder's mtime (ns) when last aligned

    def path(self, table: Table) -> Path:
        return self.warehouse.joinpath(*table.key.path)

    def refresh(self) -> Pass:
        """One pass: register what appeared, align the comments of what changed; errors per table, never raised."""
        result = Pass()
        changed = {}
        for table in self.declared:
            stamp = _log_stamp(self.path(table))
            if stamp is not None and self._seen.get(table.name) != stamp and _holds_commit(self.path(table)):
                changed[table.name] = (table, stamp)
        if not changed:
            return result
        schemas = {row[0] for row in run(self.cursor, "SHOW SCHEMAS")}
        registered: set[str] = set()
        for layer in sorted({table.layer for table, _ in changed.values()}):
            if layer not in schemas:
                execute(self.cursor, f"CREATE SCHEMA IF NOT EXISTS `{layer}`")
            registered |= {f"{layer}.{row[1]}" for row in run(self.cursor, f"SHOW TABLES IN `{layer}`")}
        for name, (table, stamp) in changed.items():
            try:
                if name not in registered:
                    execute(self.cursor, f"CREATE TABLE IF NOT EXISTS {_identifier(table)} USING DELTA "
                                         f"LOCATION '{_literal(str(self.path(table)))}'")
                    result.registered.append(name)
                if self._align_comments(table):
                    result.commented.append(name)
                self._seen[name] = stamp  # as before this pass's own commits: the next pass checks once more, finds nothing
            except Exception as error:  # the server's error for this table (e.g. a table being created right now)
                result.failed[name] = " ".join(str(error).split())[:500]
        return result

    def _align_comments(self, table: Table) -> bool:
        """Write the comments of ``table`` that differ from the registry (at most two commits); whether it wrote any."""
        columns, detail = described(run(self.cursor, f"DESCRIBE TABLE EXTENDED {_identifier(table)}"))
        location = Path(unquote(urlparse(detail.get("Location", "")).path)).resolve()
        if location != self.path(table):
            raise SqlEndpointError(f"registered at {location}, but the warehouse holds it at {self.path(table)}: "
                                   f"DROP TABLE {table.name} (its data stays) or use another --metastore")
        changes = {c.name: column_comment(c) for c in table.columns if c.name in columns and columns[c.name] != column_comment(c)}
        if changes:
            altered = ", ".join(f"`{name}` COMMENT '{_literal(comment)}'" for name, comment in changes.items())
            execute(self.cursor, f"ALTER TABLE {_identifier(table)} ALTER COLUMN {altered}")
        table_comment_differs = detail.get("Comment", "") != table.description
        if table_comment_differs:
            execute(self.cursor, f"COMMENT ON TABLE {_identifier(table)} IS '{_literal(table.description)}'")
        return bool(changes) or table_comment_differs


def described(rows: Iterable[tuple[Any, ...]]) -> tuple[dict[str, str], dict[str, str]]:
    """The column comments and the table details (``Comment``, ``Location``, ...) of ``DESCRIBE TABLE EXTENDED``'s rows.

    Example::

        columns, detail = described(run(cursor, "DESCRIBE TABLE EXTENDED silver.dim_customer"))
        columns["email"], detail["Comment"]     # 'Email address in this version. [pii]', 'Customers as SCD type 2: ...'
    """
    columns: dict[str, str] = {}
    detail: dict[str, str] = {}
    section = "columns"
    for name, value, comment in rows:
        if name.startswith("#") or (section == "columns" and not name):  # a section header, or the blank row after the columns
            section = "detail" if name == "# Detailed Table Information" else "other"
        elif section == "columns":
            columns[name] = comment or ""
        elif section == "detail" and name:
            detail[name] = value or ""
    return columns, detail


def _log_stamp(path: Path) -> int | None:
    """The modification time (ns) of the table's ``_delta_log`` folder, None without one. A commit adds a file to
    the folder, which changes its modification time: an unchanged time means nothing was committed since."""
    try:
        return (path / "_delta_log").stat().st_mtime_ns
    except (FileNotFoundError, NotADirectoryError):
        return None


def _holds_commit(path: Path) -> bool:
    """Whether the table's ``_delta_log`` holds a commit (a folder Delta has only begun to write is not a table yet)."""
    try:
        with os.scandir(path / "_delta_log") as entries:
            return any(entry.name.endswith(".json") for entry in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _identifier(table: Table) -> str:
    return ".".join(f"`{part}`" for part in table.key.path)


def _literal(text: str) -> str:
    """``text`` inside a single-quoted Spark SQL string literal."""
    return text.replace("\\", "\\\\").replace("'", "\\'")
