"""How tables keep up: automation conditions, freshness policies and retries."""

from datetime import timedelta
from typing import TypedDict

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

# The streaming gold table is refreshed whenever clicks land: WARN after 6 hours without, FAIL after a day.
STREAM_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=24), warn_window=timedelta(hours=6))


class Policies(TypedDict, total=False):
    """How one table keeps up, as keyword arguments of its asset (see :func:`lakehouse.assets.declared.asset_args`)."""

    automation_condition: dg.AutomationCondition
    freshness_policy: dg.FreshnessPolicy


# What a derived daily table (silver, gold) does: follow its upstream partitions, be fresh daily.
DERIVED_DAILY: Policies = {"automation_condition": FOLLOW_UPSTREAM, "freshness_policy": DAILY_FRESHNESS}

# What a derived unpartitioned table (e.g. gold/customers_masked) does: follow its upstream tables' updates.
DERIVED: Policies = {"automation_condition": dg.AutomationCondition.eager()}
