"""The clickstream domain: web and app events streamed from landing/clickstream/, counted per hour in gold."""

from __future__ import annotations

import dagster as dg

from lakehouse.tables.common import landing_lineage, reject_columns, rescued_data
from lakehouse.tables.registry import KEY, PARTITION, Column, Table

DOMAIN = "clickstream"


def _landed(field: str, type_: str, description: str, **kwargs) -> Column:
    return Column(field, type_, description, derived_from=(f"landing/clickstream.{field}",), **kwargs)


BRONZE_CLICKSTREAM = Table(
    key=dg.AssetKey(["bronze", "clickstream"]),
    description="Click events, one row per distinct event_id, streamed from clickstream/ exactly once.",
    domain=DOMAIN,
    columns=(
        _landed("event_id", "string", "Event identifier; unique (a re-delivered event is stored once).", tags={KEY}),
        _landed("session_id", "string", "Web or app session."),
        _landed("customer_id", "bigint", "Customer, NULL when anonymous (pseudonymous key)."),
        _landed("event_type", "string", "view, add_to_cart, purchase, ..."),
        _landed("product_id", "bigint", "Product, when the event concerns one."),
        _landed("event_ts", "string", "Event time as landed (ISO-8601)."),
        rescued_data("clickstream"),
        *landing_lineage("clickstream"),
        Column("event_time", "timestamp", "event_ts parsed (UTC); NULL when it is not ISO-8601.",
               derived_from=("landing/clickstream.event_ts",)),
        Column("event_date", "date", "UTC date of event_time; the Delta partition.", tags={PARTITION},
               derived_from=("landing/clickstream.event_ts",)),
    ),
    partition_column="event_date",
)

BRONZE_CLICKSTREAM_REJECTS = Table(
    key=dg.AssetKey(["bronze", "clickstream_rejects"]),
    description="Clickstream lines that are not JSON objects, with the reason.",
    domain=DOMAIN,
    columns=reject_columns("clickstream"),
)

GOLD_HOURLY_EVENTS = Table(
    key=dg.AssetKey(["gold", "hourly_events"]),
    description="Click events per hour and event_type (event time, watermark); events later than the watermark are counted as dropped.",
    domain=DOMAIN,
    columns=(
        Column("window_start", "timestamp", "Start of the hour (UTC, inclusive).", nullable=False, tags={KEY},
               derived_from=("bronze/clickstream.event_time",)),
        Column("window_end", "timestamp", "End of the hour (exclusive).", nullable=False,
               derived_from=("bronze/clickstream.event_time",)),
        Column("event_type", "string", "Event type counted.", tags={KEY}, derived_from=("bronze/clickstream.event_type",)),
        Column("events", "bigint", "Events of that type in that hour that arrived within the watermark.", nullable=False,
               derived_from=("bronze/clickstream.event_id",)),
    ),
)

TABLES = (BRONZE_CLICKSTREAM, BRONZE_CLICKSTREAM_REJECTS, GOLD_HOURLY_EVENTS)
