"""Erase customers from every table with personal data: find their traces, then delete the rows holding them.

A customer's *traces* are their id, token, and every email, phone and name that
``bronze/customers_cdc`` or ``silver/dim_customer`` holds for them; they are collected into
memory during the run and never written anywhere. Which rows of a table hold a customer follows
from the table's declaration (:mod:`lakehouse.tables`):

* a ``customer_id`` column equal to the id, or a ``customer_token`` column equal to the token;
* a raw JSON text column (``_raw_line``, ``_rescued_data``) holding the id as its
  ``"customer_id"`` field; a raw line holding their email, phone or name anywhere;
* a row without a ``customer_id`` whose PII ``email`` or ``phone`` column is theirs.

Rows are deleted with one ``MERGE ... WHEN MATCHED THEN DELETE`` per table whose source is a
temporary view of the traces, so no id or email is ever written as a literal into a commit's
predicate in ``_delta_log``. Old versions still hold the rows afterwards:
:mod:`lakehouse.governance.purge` removes them.

Example::

    customers = traces(spark, bronze_path, dim_path, {"REQ-1": (42, token)})
    removed = erase_rows(spark, tables.BRONZE_CUSTOMERS_CDC, bronze_path, customers)
    removed.by_request        # {"REQ-1": 12}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import delta, tables
from lakehouse.governance.suppression import CLAIMED_ID
from lakehouse.tables.registry import PII, Table

MASKED_CUSTOMERS = dg.AssetKey(["gold", "customers_masked"])
RAW_TEXT = ("_raw_line", "_rescued_data")  # JSON text as landed
EXACT = ("email", "phone")  # PII columns matched by value on rows without a customer_id
SOURCE_SCHEMA = "request_id string, customer_id bigint, customer_token string, kind string, value string"


@dataclass
class Customer:
    """One customer to erase, as known in memory during the run only."""

    request_id: str
    customer_id: int
    token: str
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)

    def id_pattern(self) -> str:
        """The Java regex of this id as the value of a JSON ``customer_id`` field."""
        return CLAIMED_ID.replace("([0-9]{1,18})", str(int(self.customer_id)))

    def texts(self, kinds: Sequence[str] = ("email", "phone")) -> set[str]:
        """Their emails, phones (and names), as written and JSON-escaped (a landed line may escape accents)."""
        values = {v for kind in kinds for v in getattr(self, f"{kind}s") if v}
        return values | {json.dumps(v)[1:-1] for v in values}


def pii_tables() -> list[Table]:
    """Every registered table with personal data, plus ``gold/customers_masked`` when it is registered."""
    found = [t for t in tables.TABLES.values() if t.has_pii]
    masked = tables.TABLES.get(MASKED_CUSTOMERS)
    if masked is not None and masked not in found:
        found.append(masked)
    return found


def known_ids(spark: SparkSession, sources: Sequence[str | Path], ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` have a row (a ``customer_id``) in any of the existing tables ``sources``."""
    found: set[int] = set()
    for path in sources:
        if ids and delta.exists(spark, path):
            rows = delta.read(spark, path).where(F.col("customer_id").isin(list(ids))).select("customer_id").distinct()
            found |= {int(r["customer_id"]) for r in rows.collect()}
    return found


def traces(spark: SparkSession, sources: Sequence[str | Path], customers: Sequence[Customer]) -> list[Customer]:
    """Fill in each customer's emails, phones and names from the existing tables ``sources`` (before anything is deleted)."""
    by_id = {c.customer_id: c for c in customers}
    for path in sources:
        if not by_id or not delta.exists(spark, path):
            continue
        frame = delta.read(spark, path)
        wanted = [c for c in ("email", "phone", "name") if c in frame.columns]
        rows = frame.where(F.col("customer_id").isin(list(by_id))).select("customer_id", *wanted).distinct().collect()
        for row in rows:
            customer = by_id[int(row["customer_id"])]
            for column in wanted:
                if row[column]:
                    getattr(customer, f"{column}s").add(row[column])
    return list(customers)


def match_condition(table: Table) -> str | None:
    """The MERGE condition (target ``t``, traces ``s``) of the table's rows that hold a customer; None if it cannot hold one."""
    columns = set(table.column_names)
    pii = {c.name for c in table.columns_tagged(PII)}
    parts = []
    if "customer_id" in columns:
        parts.append("(s.kind = 'id' AND t.customer_id = s.customer_id)")
    if "customer_token" in columns:
        parts.append("(s.kind = 'id' AND t.customer_token = s.customer_token)")
    without_id = "t.customer_id IS NULL AND " if "customer_id" in columns else ""
    for column in RAW_TEXT:
        if column in columns:
            parts.append(f"(s.kind = 'pattern' AND {without_id if column == '_rescued_data' else ''}t.`{column}` RLIKE s.value)")
            if column == "_raw_line":
                parts.append(f"(s.kind IN ('email', 'phone', 'name') AND instr(t.`{column}`, s.value) > 0)")
    for column in EXACT:
        if column in columns and column in pii:
            parts.append(f"(s.kind = '{column}' AND {without_id}t.`{column}` = s.value)")
    return " OR ".join(parts) or None


def trace_rows(spark: SparkSession, customers: Sequence[Customer]) -> DataFrame:
    """The traces as rows (``request_id``, ``customer_id``, ``customer_token``, ``kind``, ``value``): the MERGE source."""
    rows: list[tuple] = []
    for c in customers:
        common = (c.request_id, int(c.customer_id), c.token)
        rows.append((*common, "id", None))
        rows.append((*common, "pattern", c.id_pattern()))
        for kind in ("email", "phone", "name"):
            rows += [(*common, kind, value) for value in sorted(c.texts([kind]))]
    return spark.createDataFrame(rows, SOURCE_SCHEMA)


@dataclass(frozen=True)
class Removed:
    """Rows deleted from one table: in total (the MERGE's count) and per request (rows holding that customer)."""

    table: str
    total: int
    by_request: Mapping[str, int]


def erase_rows(spark: SparkSession, table: Table, path: str | Path, customers: Sequence[Customer]) -> Removed:
    """Delete every row of ``table`` that holds one of ``customers`` (one MERGE; see the module docstring)."""
    condition = match_condition(table)
    if condition is None or not customers or not delta.exists(spark, path):
        return Removed(table.name, 0, {c.request_id: 0 for c in customers})
    source = trace_rows(spark, customers).localCheckpoint()
    target = delta.read(spark, path)
    matched = (
        target.alias("t").join(F.broadcast(source.alias("s")), F.expr(condition))
        .select("s.request_id", *[F.col(f"t.`{c}`") for c in target.columns]).distinct()
        .groupBy("request_id").count().collect()
    )
    by_request = {c.request_id: 0 for c in customers} | {r["request_id"]: int(r["count"]) for r in matched}
    deleted = delta.merge(spark, path, source, condition, "WHEN MATCHED THEN DELETE").deleted if matched else 0
    return Removed(table.name, deleted, by_request)


def erased_rows(spark: SparkSession, erasure_log: str | Path) -> dict[str, int]:
    """Rows erasures removed so far, per table (``layer.table``), summed over ``governance/erasure_log``."""
    if not delta.exists(spark, erasure_log):
        return {}
    rows = (delta.read(spark, erasure_log).select(F.explode("rows_removed").alias("table", "rows"))
            .groupBy("table").agg(F.sum("rows").alias("rows")).collect())
    return {r["table"]: int(r["rows"] or 0) for r in rows}
