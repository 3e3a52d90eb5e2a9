"""Finding personal data where it is not declared: email addresses and phone numbers in columns not tagged ``pii``.

Two Java regular expressions (Spark's ``RLIKE``, which finds a match anywhere in the text):

* **email**: ``[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}``. A masked address
  (``sa***@email.com``) does not match: the character before its ``@`` is ``*``.
* **phone**: a ``+`` not preceded by a letter or digit, then 8 to 15 digits (E.164 allows 15),
  which may be separated by spaces, dashes and parentheses, and no further digit after them.
  The leading ``+`` is what keeps the rest of the lakehouse from matching: timestamps
  (``2025-01-03T10:00:00+01:00``: two digits after the ``+``), ids (``SALE-000000123``),
  amounts, seqs and file paths carry no ``+`` before a run of 8 digits. The price is that a
  national number written without its country code (``06 12 34 56 78``) is not found; the
  change feed's phones are international (``+33 6 12 34 56 78``). A masked phone keeps 4 digits,
  so it never matches.

:func:`leak_counts` counts both patterns over every given column in one aggregation (by partition
if asked), :func:`leak_counts_of` does so for several tables in one query; the values
themselves are never collected, so no personal data reaches the Dagster event log.

Example::

    leak_counts(warehouse.read(key), ["_rescued_data", "sale_id"], by="sale_date")
    # {"2025-01-02": {("_rescued_data", "email"): 1}}   (only non-zero counts)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
PHONE_PATTERN = r"(?<![A-Za-z0-9])\+(?:[ ()-]*[0-9]){8,15}(?![ ()-]*[0-9])"
PATTERNS: Mapping[str, str] = {"email": EMAIL_PATTERN, "phone": PHONE_PATTERN}
# A character every match of the pattern holds: a value without it is not run through the regular expression.
REQUIRED: Mapping[str, str] = {"email": "@", "phone": "+"}
WHAT = {"email": "an email address", "phone": "a phone number"}

Leaks = dict[tuple[str, str], int]  # (column, "email" | "phone") -> values that match


def leak_counts(frame: DataFrame, columns: Sequence[str], by: str | None = None) -> dict[str, Leaks]:
    """Per value of ``by`` (as text; ``""`` without ``by``): how many values of each column match each pattern.

    Only groups and columns with matches are listed; no columns means no Spark job and ``{}``.
    """
    return leak_counts_of({"": (frame, columns, by)}).get("", {})


def leak_counts_of(scans: Mapping[str, tuple[DataFrame, Sequence[str], str | None]]) -> dict[str, dict[str, Leaks]]:
    """:func:`leak_counts` of several frames (``name: (frame, columns, by)``) in one query: ``{name: {group: leaks}}``.

    Each frame's aggregation is turned into rows (name, group, pattern index, count) and the frames'
    rows are collected together, so a check step scanning five tables pays one query's planning and
    scheduling, not five (about 0.1-0.15 s each on small tables). Names without matches are left out.
    """
    names: dict[str, dict[int, tuple[str, str]]] = {}
    parts = []
    for scan, (frame, columns, by) in scans.items():
        if not columns:
            continue
        names[scan] = dict(enumerate((c, k) for c in columns for k in PATTERNS))
        counts = [F.count_if(matches(column, kind)).alias(f"_{i}") for i, (column, kind) in names[scan].items()]
        aggregated = (frame.agg(*counts).withColumn("_group", F.lit("")) if by is None
                      else frame.groupBy(F.col(by).cast("string").alias("_group")).agg(*counts))
        per_pattern = F.array(*[F.struct(F.lit(i).alias("i"), F.col(f"_{i}").cast("long").alias("n")) for i in names[scan]])
        parts.append(aggregated.select(F.lit(scan).alias("_scan"), "_group", F.explode(per_pattern).alias("_m"))
                     .where("_m.n > 0").select("_scan", "_group", "_m.i", "_m.n"))
    if not parts:
        return {}
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.unionByName(part)
    found: dict[str, dict[str, Leaks]] = {}
    for row in rows.collect():
        found.setdefault(row["_scan"], {}).setdefault(str(row["_group"]), {})[names[row["_scan"]][row["i"]]] = int(row["n"])
    return found


def matches(column: str, kind: str) -> Column:
    """True where ``column``'s value matches ``kind``'s pattern.

    The regular expression runs only on values holding the character every match holds (``@``, ``+``):
    a substring test costs far less than Java's regex search, which tries the pattern at every position of
    every value. Same result; over 30 days of sales (2,000,000 rows, 13 string columns) the leak scan took
    31-45 s without the test, most values holding neither character.
    """
    value = F.col(column)
    return value.contains(REQUIRED[kind]) & value.rlike(PATTERNS[kind])


def describe(leaks: Mapping[tuple[str, str], int]) -> str:
    """``_rescued_data: 1 value that looks like an email address; ...`` for a description."""
    parts = []
    for (column, kind), count in sorted(leaks.items()):
        values = "1 value that looks" if count == 1 else f"{count} values that look"
        parts.append(f"{column}: {values} like {WHAT[kind]}")
    return "; ".join(parts)
