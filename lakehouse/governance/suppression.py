"""Keep erased customers erased: the suppression list and the ingestion's filter.

The suppression list is the ``customer_token`` column of ``governance/erasure_log`` (tokens,
never ids). A landed change event belongs to a suppressed customer when the token of its
``customer_id`` is listed; an event whose ``customer_id`` did not read as an integer is judged
by the id it claims in ``_rescued_data``, and a rejected line by the ``"customer_id": <id>``
field its raw text holds. The key is needed only when the list is not empty: a lakehouse that
never erased anyone ingests without ``LAKEHOUSE_PII_KEY``.

Example::

    suppression = Suppression.load(spark, "wh/governance/erasure_log", PiiKey(), "the CDC ingestion")
    if suppression:
        kept = records.where(~suppression.records(records))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import delta
from lakehouse.governance.tokens import PiiKey, token_column

# The value of a "customer_id" field in JSON text (a number, or digits in a string), not followed by more digits.
CLAIMED_ID = r'"customer_id"\s*:\s*"?\s*([0-9]{1,18})(?![0-9])'


def claimed_id(text: str | Column) -> Column:
    """The ``customer_id`` a JSON text (a raw line, ``_rescued_data``) holds as a field value, as a bigint; NULL if none."""
    column = F.col(text) if isinstance(text, str) else text
    found = F.regexp_extract(column, CLAIMED_ID, 1)
    return F.when(found != "", found.cast("bigint"))


def suppressed_tokens(spark: SparkSession, erasure_log: str | Path) -> frozenset[str]:
    """The customer tokens of ``governance/erasure_log`` (empty when the table does not exist yet)."""
    if not delta.exists(spark, erasure_log):
        return frozenset()
    rows = delta.read(spark, erasure_log).select("customer_token").distinct().collect()
    return frozenset(r["customer_token"] for r in rows if r["customer_token"])


@dataclass(frozen=True)
class Suppression:
    """The suppressed tokens and the key to compute landed rows' tokens with; see the module docstring."""

    key: bytes
    tokens: frozenset[str]

    @classmethod
    def load(cls, spark: SparkSession, erasure_log: str | Path, pii_key: PiiKey, needed_for: str) -> Suppression | None:
        """The suppression list, or None when nobody was erased; a non-empty list without the key fails (PiiKey's message)."""
        tokens = suppressed_tokens(spark, erasure_log)
        if not tokens:
            return None
        return cls(pii_key.secret(f"{needed_for} (it drops the events of {len(tokens)} erased customer(s))"), tokens)

    def _listed(self, customer_id: Column) -> Column:
        return F.coalesce(token_column(self.key, customer_id).isin(sorted(self.tokens)), F.lit(False))

    def records(self, frame: DataFrame) -> Column:
        """True for parsed events (``customer_id``, ``_rescued_data``) of a suppressed customer."""
        claimed = claimed_id("_rescued_data") if "_rescued_data" in frame.columns else F.lit(None).cast("bigint")
        return self._listed(F.coalesce(F.col("customer_id"), claimed))

    def rejects(self, frame: DataFrame, raw: str = "_raw_line") -> Column:
        """True for rejected lines whose raw text holds a suppressed customer's id as its customer_id field."""
        return self._listed(claimed_id(raw))
