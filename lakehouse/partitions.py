"""Partitions of the lakehouse, and predicates built only from validated partition keys.

Daily partitions are keyed ``YYYY-MM-DD`` (UTC). A partition key reaches SQL only after it has
been checked against the asset's partitions definition and against a strict pattern (a date for
time partitions, ``[A-Za-z0-9_.-]`` for static ones), so a crafted key cannot widen a
``replaceWhere`` or inject SQL.

Example::

    daily = daily_partitions("2025-01-01")
    partition_predicate("sale_date", ["2025-01-01", "2025-01-02", "2025-01-03"], daily)
    # "`sale_date` >= DATE'2025-01-01' AND `sale_date` <= DATE'2025-01-03'"
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

import dagster as dg

SINGLE_RUN = dg.BackfillPolicy.single_run()


def daily_partitions(start_date: str) -> dg.DailyPartitionsDefinition:
    """Daily partitions keyed ``YYYY-MM-DD`` (UTC) from ``start_date`` to yesterday."""
    return dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC")


def partition_label(keys: Sequence[str]) -> str:
    """``2025-01-01`` for one key, ``2025-01-01..2025-01-07`` for a range, for messages."""
    if not keys:
        return "(unpartitioned)"
    return keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}"


_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STATIC_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")


class PartitionKeyError(ValueError):
    """A partition key or column that must not reach a predicate."""


def validate_column(column: str) -> str:
    if not _COLUMN.match(column):
        raise PartitionKeyError(f"invalid partition column name {column!r}: expected an identifier")
    return column


def validate_keys(keys: Sequence[str], partitions_def: dg.PartitionsDefinition | None) -> list[date] | list[str]:
    """Check keys against the partitions definition; return dates for time partitions."""
    if not keys:
        raise PartitionKeyError("no partition keys given")
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        days = []
        for key in keys:
            try:
                days.append(date.fromisoformat(key))
            except (TypeError, ValueError):
                raise PartitionKeyError(f"partition key {key!r} is not a YYYY-MM-DD date") from None
            if len(key) != 10:
                raise PartitionKeyError(f"partition key {key!r} is not a YYYY-MM-DD date")
        return days
    for key in keys:
        if not isinstance(key, str) or not _STATIC_KEY.match(key):
            raise PartitionKeyError(f"partition key {key!r} has characters outside [A-Za-z0-9_.-]")
    if partitions_def is not None and hasattr(partitions_def, "get_partition_keys"):
        known = set(partitions_def.get_partition_keys())
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise PartitionKeyError(f"partition keys {unknown} are not in the asset's partitions definition")
    return list(keys)


def partition_predicate(column: str, keys: Sequence[str], partitions_def: dg.PartitionsDefinition | None) -> str:
    """A SQL predicate selecting exactly ``keys`` of ``column`` (a contiguous range for dates)."""
    column = validate_column(column)
    values = validate_keys(keys, partitions_def)
    days = sorted(v for v in values if isinstance(v, date))  # all of them for time partitions, else none
    if days:
        if len(days) == (days[-1] - days[0]).days + 1:
            return f"`{column}` >= DATE'{days[0].isoformat()}' AND `{column}` <= DATE'{days[-1].isoformat()}'"
        listed = ", ".join(f"DATE'{d.isoformat()}'" for d in days)
        return f"`{column}` IN ({listed})"
    listed = ", ".join(f"'{v}'" for v in values)
    return f"`{column}` IN ({listed})"
