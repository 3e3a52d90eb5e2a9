"""How tables keep up: automation conditions, freshness policies, retries, and the daily table output."""

from datetime import timedelta

import dagster as dg

# Silver and gold follow every new or updated upstream partition, not only the latest day, so
# a late file re-materialized into an old bronze day flows on to silver and gold of that day.
FOLLOW_UPSTREAM = dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window()).with_label(
    "follow new or updated upstream partitions"
)

# A daily table is fresh when it was materialized since midnight UTC and by 06:00 UTC.
DAILY_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=6))

# Reading the landing zone can hit a file that is still being written or a flaky mount.
FILE_READ_RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)

KINDS = {"spark", "delta"}


def daily_table_out(key: dg.AssetKey, description: str, follows_upstream: bool = True) -> dg.AssetOut:
    """An output stored as a Delta table partitioned by ``sale_date``; derived tables follow upstream and are fresh daily."""
    return dg.AssetOut(
        key=key,
        description=description,
        metadata={"partition_expr": "sale_date"},
        kinds=KINDS,
        automation_condition=FOLLOW_UPSTREAM if follows_upstream else None,
        freshness_policy=DAILY_FRESHNESS if follows_upstream else None,
    )
