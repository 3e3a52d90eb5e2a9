"""Partitions of the lakehouse: one per business day, starting at a configurable date."""

from __future__ import annotations

import dagster as dg

SINGLE_RUN = dg.BackfillPolicy.single_run()


def daily_partitions(start_date: str) -> dg.DailyPartitionsDefinition:
    """Daily partitions keyed ``YYYY-MM-DD`` (UTC) from ``start_date`` to yesterday."""
    return dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC")
