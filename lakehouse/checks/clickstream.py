"""Checks of the clickstream tables: gold's hourly counts reconcile with the bronze events.

Every bronze event with an ``event_time`` is either counted in ``gold/hourly_events`` or was
dropped for arriving later than the watermark; the runs of ``gold/hourly_events`` add up what
they dropped in ``stream/late_events_dropped_total``. So ``sum(events) + dropped = bronze events``.
More events in gold than in bronze is an error (something counted twice). Fewer, with the drops
not making up the difference, is a WARN: the drop count is incomplete, which happens when a run
was killed (its report is lost, and its replayed batch counts again as dropped); gold itself is
still right. Rebuild gold from bronze to reset the count (README runbook).
"""


import dagster as dg
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.resources import Warehouse

BRONZE_CLICKSTREAM, GOLD_HOURLY_EVENTS = tables.BRONZE_CLICKSTREAM.key, tables.GOLD_HOURLY_EVENTS.key
DROPPED_TOTAL = "stream/late_events_dropped_total"


def recorded_dropped_total(instance: dg.DagsterInstance) -> int:
    """The ``stream/late_events_dropped_total`` of gold/hourly_events' latest materialization (0 before the first)."""
    latest = instance.get_latest_materialization_event(GOLD_HOURLY_EVENTS)
    recorded = latest.asset_materialization.metadata.get(DROPPED_TOTAL) if latest and latest.asset_materialization else None
    if recorded is None:
        return 0
    assert isinstance(recorded.value, int), f"{DROPPED_TOTAL} is recorded as an int metadata value"
    return recorded.value


def hourly_reconciliation(bronze_events: int, gold_events: int, dropped: int) -> dg.AssetCheckResult:
    """The clickstream identity as a check result (see the module docstring)."""
    metadata = {"bronze_events": bronze_events, "gold_events": gold_events, "late_events_dropped_total": dropped,
                "unaccounted": bronze_events - gold_events - dropped}
    if gold_events > bronze_events:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata, description=(
            f"gold/hourly_events counts {gold_events} events but bronze/clickstream holds only {bronze_events}: "
            "events were counted twice. Rebuild gold from bronze (README runbook 'The clickstream query fails')."))
    if gold_events + dropped != bronze_events:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=metadata, description=(
            f"{bronze_events} bronze events vs {gold_events} counted + {dropped} reported late: the drop count is off by "
            f"{bronze_events - gold_events - dropped} (a killed run loses its report). Gold is right; rebuild it from "
            "bronze to reset the count."))
    return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata, description=(
        f"{bronze_events} bronze events = {gold_events} counted + {dropped} dropped late"))


def build_clickstream_checks() -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(asset=GOLD_HOURLY_EVENTS, additional_deps=[BRONZE_CLICKSTREAM],
                    description="Hourly events plus the events dropped late equal the bronze events with an event time.")
    def gold_hourly_events_reconciles(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        bronze = warehouse.read(BRONZE_CLICKSTREAM).where(F.col("event_time").isNotNull()).count()
        summed = warehouse.read(GOLD_HOURLY_EVENTS).agg(F.sum("events")).first()
        assert summed is not None  # an aggregate without grouping has one row
        return hourly_reconciliation(bronze, int(summed[0] or 0), recorded_dropped_total(context.instance))

    return [gold_hourly_events_reconciles]
