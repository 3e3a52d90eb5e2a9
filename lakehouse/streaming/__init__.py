"""Streaming ingestion: the clickstream as Spark Structured Streaming queries (bronze events, gold hourly counts)."""

from lakehouse.streaming.clickstream import (
    StreamReport,
    StreamRun,
    run_bronze_clickstream,
    run_hourly_events,
    start_bronze_clickstream,
    start_hourly_events,
)

__all__ = [
    "StreamReport",
    "StreamRun",
    "run_bronze_clickstream",
    "run_hourly_events",
    "start_bronze_clickstream",
    "start_hourly_events",
]
