"""Keep erased customers erased: the suppression list and the ingestion's filter.

The suppression list is ``governance/erasure_log``: its ``customer_token`` column (tokens,
never ids) and its ``trace_tokens`` (HMACs of each email and phone the customer had, never the
values). A landed change event belongs to a suppressed customer when the token of its
``customer_id`` is listed (an event whose ``customer_id`` did not read as an integer is judged by
the id it claims in ``_rescued_data``, then by its email and phone); a rejected line when the
``"customer_id"`` value its raw text holds is listed, or an email or phone found in it is. A
line that names a customer by name only is not recognised (names are not unique). The key is
needed only when the list is not empty: a lakehouse that never erased anyone ingests without
``LAKEHOUSE_PII_KEY``.

Example::

    suppression = Suppression.load(spark, "wh/governance/erasure_log", PiiKey(), "the CDC ingestion")
    if suppression:
        kept = records.where(~suppression.records(records))
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse import delta
from lakehouse.governance.tokens import PiiKey

# The value of a "customer_id" field in JSON text (a number, or digits in a string), not followed by more digits.
CLAIMED_ID = r'"customer_id"\s*:\s*"?\s*([0-9]{1,18})(?![0-9])'
_CLAIMED_ID = re.compile(CLAIMED_ID)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?[0-9][0-9 ().-]{5,}[0-9]")


def claimed_id(text: str | Column) -> Column:
    """The ``customer_id`` a JSON text (a raw line, ``_rescued_data``) holds as a field value, as a bigint; NULL if none."""
    column = F.col(text) if isinstance(text, str) else text
    found = F.regexp_extract(column, CLAIMED_ID, 1)
    return F.when(found != "", found.cast("bigint"))


def trace_token(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 (hex) of an email (``kind`` "email", case-insensitive) or phone ("phone", its digits only).

    Example::

        trace_token(key, "phone", "+33 6 12 34 56 78") == trace_token(key, "phone", "+33612345678")   # True
    """
    normal = value.strip().lower() if kind == "email" else re.sub(r"[^0-9]", "", value)
    return hmac.new(key, f"{kind}:{normal}".encode(), hashlib.sha256).hexdigest()


def trace_tokens(key: bytes, emails: Iterable[str], phones: Iterable[str]) -> list[str]:
    """The sorted trace tokens of a customer's emails and phones (what ``governance/erasure_log`` keeps)."""
    return sorted({trace_token(key, "email", e) for e in emails if e} | {trace_token(key, "phone", p) for p in phones if p})


def text_tokens(key: bytes, text: str) -> set[str]:
    """Trace tokens of every email and phone-like number in free ``text`` (a rejected line)."""
    return ({trace_token(key, "email", m) for m in _EMAIL.findall(text)}
            | {trace_token(key, "phone", m) for m in _PHONE.findall(text) if len(re.sub(r"[^0-9]", "", m)) >= 6})


def suppressed_tokens(spark: SparkSession, erasure_log: str | Path) -> tuple[frozenset[str], frozenset[str]]:
    """The customer tokens and trace tokens of ``governance/erasure_log`` (empty when the table does not exist yet)."""
    if not delta.exists(spark, erasure_log):
        return frozenset(), frozenset()
    rows = delta.read(spark, erasure_log).select("customer_token", "trace_tokens").collect()
    customers = frozenset(r["customer_token"] for r in rows if r["customer_token"])
    traces = frozenset(t for r in rows for t in (r["trace_tokens"] or ()) if t)
    return customers, traces


@dataclass(frozen=True)
class Suppression:
    """The suppressed tokens and the key to compute landed rows' tokens with; see the module docstring."""

    key: bytes
    tokens: frozenset[str]
    traces: frozenset[str] = frozenset()

    @classmethod
    def load(cls, spark: SparkSession, erasure_log: str | Path, pii_key: PiiKey, needed_for: str) -> Suppression | None:
        """The suppression list, or None when nobody was erased; a non-empty list without the key fails (PiiKey's message)."""
        tokens, traces = suppressed_tokens(spark, erasure_log)
        if not tokens:
            return None
        try:
            key = pii_key.secret(f"{needed_for} (it drops the landed lines of {len(tokens)} erased customer(s))")
        except dg.Failure as missing:  # a missing key does not come back by retrying (bronze retries file reads)
            raise dg.Failure(description=missing.description, allow_retries=False) from None
        return cls(key, tokens, traces)

    def records(self, frame: DataFrame) -> Column:
        """True for parsed events (``customer_id``, ``_rescued_data``, ``email``, ``phone``) of a suppressed customer."""
        match = matcher(self.key, self.tokens, self.traces)

        def suppressed(customer_id: int | None, rescued: str | None, email: str | None, phone: str | None) -> bool:
            return match(customer_id, rescued, [("email", email), ("phone", phone)] if customer_id is None else [])

        columns = [F.col(c) if c in frame.columns else F.lit(None).cast(t)
                   for c, t in (("customer_id", "bigint"), ("_rescued_data", "string"), ("email", "string"), ("phone", "string"))]
        return F.udf(suppressed, T.BooleanType())(*columns)

    def rejects(self, frame: DataFrame, raw: str = "_raw_line") -> Column:
        """True for rejected lines whose raw text holds a suppressed customer's id as its customer_id field, or their email or phone."""
        match = matcher(self.key, self.tokens, self.traces)

        def suppressed(text: str | None) -> bool:
            return bool(text) and match(None, text, None)

        return F.udf(suppressed, T.BooleanType())(F.col(raw))


def matcher(key: bytes, tokens: frozenset[str], traces: frozenset[str]):
    """The test the UDFs run on the executors: self-contained (standard library only), since Spark's Python
    workers may not have the lakehouse's dependencies; it repeats :func:`trace_token` and ``customer_token``.

    ``match(customer_id, text, values)``: the id, else the id ``text`` claims, is suppressed; without an id,
    a ``(kind, value)`` of ``values`` is, or (``values`` None) an email or phone found in ``text`` is.
    """
    import hashlib
    import hmac
    import re

    claimed_id, emails, phones = re.compile(CLAIMED_ID), _EMAIL, _PHONE

    def digest(message: str) -> str:
        return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def trace(kind: str, value: str) -> str:
        return digest(f"{kind}:{value.strip().lower() if kind == 'email' else re.sub(r'[^0-9]', '', value)}")

    def match(customer_id, text, values) -> bool:
        if customer_id is None and text:
            found = claimed_id.search(text)
            customer_id = int(found.group(1)) if found else None
        if customer_id is not None:
            return digest(str(int(customer_id))) in tokens
        if values is None:
            values = [("email", m) for m in emails.findall(text or "")]
            values += [("phone", m) for m in phones.findall(text or "") if len(re.sub(r"[^0-9]", "", m)) >= 6]
        return any(trace(kind, value) in traces for kind, value in values if value)

    return match
