"""Expectations: named row rules with an action, evaluated in one pass before anything is written.

A rule is a Spark SQL boolean expression; a row passes when it is TRUE (NULL counts as a
failure, so a missing value never slips through). The action says what a failing row does:

* ``warn``: the row is kept and counted;
* ``drop``: the row goes to the asset's quarantine table, with ``_failed_expectations`` naming
  every rule it broke;
* ``fail``: the asset fails before writing; the message names the rule, the table, the
  partitions and up to 5 sample rows.

Rules are checked when the definitions load, without Spark: a condition that does not parse
as a Spark SQL expression (checked with sqlglot), a query instead of an expression, a column the
table does not have (when ``columns`` are given), a repeated name, or a ``drop`` rule on a table
without a quarantine fails the load with the rule named.

Example::

    rules = ExpectationSet("silver.sales", [
        Expectation("sale_id_not_null", "sale_id IS NOT NULL"),
        Expectation("quantity_positive", "quantity > 0"),
        Expectation("amount_not_huge", "amount < 100000", Action.WARN),
    ])
    checked = rules.evaluate(bronze)          # + _failed_expectations, _kept
    outcome = rules.outcome(checked, partitions="2025-01-01")   # counts; raises on a fail rule
    valid, quarantine = rules.split(checked)
    outcome.metadata()                        # per-rule counts for the materialization
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import dagster as dg
import sqlglot
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from sqlglot import exp
from sqlglot.errors import ParseError

FAILED = "_failed_expectations"
KEPT = "_kept"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
SAMPLE_ROWS = 5


class Action(StrEnum):
    WARN = "warn"
    DROP = "drop"
    FAIL = "fail"


@dataclass(frozen=True)
class Expectation:
    """One rule: ``condition`` (Spark SQL, TRUE = pass) and what a failing row does."""

    name: str
    condition: str
    action: Action = Action.DROP


class ExpectationFailure(dg.Failure):
    """A ``fail`` rule was broken; nothing was written."""


@dataclass(frozen=True)
class Outcome:
    """Counts of one evaluation: rows seen, and rows failing each rule; per partition when asked for.

    ``by_partition`` maps each partition value (e.g. a day) to that partition's own outcome, so
    the counts can be recorded on each partition's materialization and plotted over partitions.
    """

    table: str
    rows: int
    failed: Mapping[str, int]
    expectations: tuple[Expectation, ...] = field(default=())
    by_partition: Mapping[str, Outcome] = field(default_factory=dict)

    def metadata(self) -> dict[str, dg.MetadataValue]:
        """Materialization metadata: ``expectation/<rule>/passed|failed`` per rule plus a summary table."""
        metadata: dict[str, dg.MetadataValue] = {}
        for e in self.expectations:
            failed = self.failed.get(e.name, 0)
            metadata[f"expectation/{e.name}/passed"] = dg.MetadataValue.int(self.rows - failed)
            metadata[f"expectation/{e.name}/failed"] = dg.MetadataValue.int(failed)
        metadata["expectations"] = dg.MetadataValue.md(
            "| rule | action | passed | failed |\n|---|---|---|---|\n"
            + "\n".join(
                f"| `{e.name}` | {e.action} | {self.rows - self.failed.get(e.name, 0)} | {self.failed.get(e.name, 0)} |"
                for e in self.expectations
            )
        )
        return metadata


class ExpectationSet:
    """The expectations of one table, validated at definition load (see the module docstring)."""

    def __init__(
        self,
        table: str,
        expectations: Iterable[Expectation],
        columns: Iterable[str] | None = None,
        quarantine: bool = True,
    ):
        self.table = table
        self.expectations = tuple(expectations)
        names = [e.name for e in self.expectations]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"{table}: expectation names must be unique, repeated: {duplicated}")
        bad = [n for n in names if not _NAME.match(n)]
        if bad:
            raise ValueError(f"{table}: expectation names must be lower_snake_case: {bad}")
        for expectation in self.expectations:
            _check_condition(table, expectation, None if columns is None else set(columns))
            if expectation.action == Action.DROP and not quarantine:
                raise ValueError(
                    f"{table}: rule '{expectation.name}' drops rows but {table} has no quarantine table; "
                    "use warn or fail"
                )

    def evaluate(self, frame: DataFrame) -> DataFrame:
        """``frame`` plus ``_failed_expectations`` (every rule broken) and ``_kept`` (no drop/fail rule broken)."""
        broken = [F.when(~F.coalesce(F.expr(e.condition), F.lit(False)), F.lit(e.name)) for e in self.expectations]
        blocking = [e.name for e in self.expectations if e.action != Action.WARN]
        failed = F.filter(F.array(*broken), lambda name: name.isNotNull()) if broken else F.array().cast("array<string>")
        return frame.withColumn(FAILED, failed).withColumn(
            KEPT, ~F.arrays_overlap(F.col(FAILED), F.array(*[F.lit(n) for n in blocking]).cast("array<string>"))
            if blocking else F.lit(True)
        )

    def outcome(self, checked: DataFrame, partitions: str, by: str | None = None) -> Outcome:
        """Count failures per rule (per value of the partition column ``by``, if given) in one pass.

        Raises :class:`ExpectationFailure` if a ``fail`` rule broke; ``partitions`` names the run's
        partitions in that message.
        """
        part = F.col(by).cast("string") if by else F.lit("")
        # One aggregation: rows and, per rule, the rows whose _failed_expectations name it.
        names = {f"_failed_{i}": e.name for i, e in enumerate(self.expectations)}
        counts = checked.groupBy(part.alias("_part")).agg(
            F.count(F.lit(1)).alias("_rows"), *[F.count_if(F.array_contains(FAILED, rule)).alias(n) for n, rule in names.items()]
        ).collect()
        rows = {r["_part"]: r["_rows"] for r in counts}
        failed = {r["_part"]: {rule: r[n] for n, rule in names.items() if r[n]} for r in counts}
        per = {
            key: Outcome(self.table, rows.get(key, 0), failed.get(key, {}), self.expectations)
            for key in sorted(set(rows) | set(failed))
        }
        totals: dict[str, int] = {}
        for outcome in per.values():
            for rule, n in outcome.failed.items():
                totals[rule] = totals.get(rule, 0) + n
        outcome = Outcome(self.table, sum(o.rows for o in per.values()), totals, self.expectations,
                          by_partition=per if by else {})
        for rule in (e for e in self.expectations if e.action == Action.FAIL and outcome.failed.get(e.name)):
            sample = checked.where(F.array_contains(FAILED, rule.name)).drop(FAILED, KEPT).limit(SAMPLE_ROWS).collect()
            raise ExpectationFailure(
                description=(
                    f"{self.table} partitions {partitions}: rule '{rule.name}' ({rule.condition}) failed on "
                    f"{outcome.failed[rule.name]} of {outcome.rows} rows; nothing was written. Sample rows:\n"
                    + "\n".join(str(row.asDict()) for row in sample)
                    + "\nFix the source data (or the rule) and materialize these partitions again."
                ),
                metadata=outcome.metadata(),
            )
        return outcome

    def split(self, checked: DataFrame) -> tuple[DataFrame, DataFrame]:
        """(rows kept, rows for quarantine); quarantine rows keep ``_failed_expectations``."""
        return checked.where(KEPT).drop(FAILED, KEPT), checked.where(~F.col(KEPT)).drop(KEPT)


def _check_condition(table: str, expectation: Expectation, columns: set[str] | None) -> None:
    where = f"{table}: rule '{expectation.name}' ({expectation.condition!r})"
    try:
        parsed = sqlglot.parse_one(expectation.condition, read="spark")
    except ParseError as error:
        raise ValueError(f"{where} is not a valid Spark SQL condition: {error}") from None
    if isinstance(parsed, exp.Query) or parsed.find(exp.Subquery):
        raise ValueError(f"{where} must be a row-level boolean expression, not a query")
    if columns is not None:
        unknown = sorted({c.name for c in parsed.find_all(exp.Column)} - columns)
        if unknown:
            raise ValueError(f"{where} uses columns {unknown} that {table} does not have")
