"""Column groups several tables share: where a landed row came from, and a rejected line.

Example::

    Table(..., columns=(*SALE_FIELDS, RESCUED_DATA, *landing_lineage("sales")))
"""

from __future__ import annotations

from lakehouse.tables.registry import LINEAGE, PII, Column


def landing_lineage(source: str) -> tuple[Column, ...]:
    """``_source_file``, ``_source_line``, ``_ingested_at`` of a row read from ``landing/<source>``."""
    return (
        Column("_source_file", "string", f"URI of the landing file (landing/{source}/...) the row was read from.",
               tags={LINEAGE}),
        Column("_source_line", "bigint", "1-based line number of the row in its landing file; 0 for a reject that "
               "stands for a whole refused file.", tags={LINEAGE}),
        Column("_ingested_at", "timestamp", "When the landing file landed (its modification time, UTC); "
               "the same file always gives the same value, so re-ingesting is idempotent.", tags={LINEAGE}),
    )


def rescued_data(source: str, pii: bool = False) -> Column:
    """``_rescued_data``: raw values of fields that did not fit the schema; personal data when the source holds any."""
    return Column(
        "_rescued_data", "string",
        f"JSON object of landing/{source} fields whose value did not fit the declared type, or that the schema "
        "does not know; NULL when nothing was rescued.",
        tags={PII} if pii else set(),
    )


def reject_columns(source: str, pii: bool = False) -> tuple[Column, ...]:
    """A line of ``landing/<source>`` that is not a JSON object: the raw line (personal data if the source has any) and why."""
    return (
        Column("_raw_line", "string", f"The landing/{source} line as it landed, without its line ending (invalid UTF-8 "
               "bytes as U+FFFD, only the first 1,024 characters of a line over 1 MiB); NULL for a whole refused file.",
               tags={PII} if pii else set()),
        Column("_reject_reason", "string", "Why the line (or the whole file) is not a record, e.g. 'not a JSON object'."),
        *landing_lineage(source),
    )
