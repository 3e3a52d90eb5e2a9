"""What the end-to-end package shares: the landed days, the one backfill, and the two ways to launch it.

Four landing days ending yesterday (as ``make dev``'s sample is dated, no start date set), 40 sales a
day over 20 stores with more malformed and invalid lines than the default rates: every backfilled
day has rejected and quarantined lines (so each of the five sales tables gets every requested day)
and a different number of stores with sales (so gold's per-day row counts differ). Three of the days
are backfilled; the fourth is never requested (the Ctrl-C test runs it last).
"""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Browser, expect

from lakehouse.generator import FaultRates
from lakehouse.generator.cli import days_ending_yesterday
from lakehouse_tests.test_e2e.chromium import new_tab, screenshot
from lakehouse_tests.test_e2e.make_dev import DagsterDev

SALES_TABLES = ["bronze/sales", "bronze/sales_rejects", "silver/sales", "silver/sales_quarantine", "gold/daily_sales"]
FIRST_DAY = days_ending_yesterday(4)  # four landed days, the last one yesterday (UTC)
DAYS = [str(FIRST_DAY + timedelta(days=i)) for i in range(3)]  # the backfill's range
NOT_REQUESTED = str(FIRST_DAY + timedelta(days=3))  # landed, never backfilled
ROWS_PER_DAY, SEED = 40, 1
FAULTS = FaultRates(malformed=0.08, invalid_value=0.08)
STARTUP_TIMEOUT, BACKFILL_TIMEOUT = 180, 420

LAUNCH_BACKFILL_MUTATION = """
mutation LaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""


def launch_backfill_from_dialog(dev: DagsterDev, browser: Browser) -> str:
    """A backfill of ``DAYS`` launched from the ``sales_pipeline`` job's *Materialize all…* dialog, as a user does; its id."""
    with new_tab(browser) as tab:
        tab.goto(f"{dev.base_url}/jobs")
        tab.get_by_role("link", name="sales_pipeline").click()
        expect(tab).to_have_url(re.compile(r"/locations/lakehouse/jobs/sales_pipeline"))
        tab.get_by_role("button", name="Materialize all").click()

        dialog = tab.get_by_role("dialog").filter(has_text=f"Launch runs to materialize {len(SALES_TABLES)} assets")
        expect(dialog).to_be_visible()
        # The range as a user types it into the partition selector (the placeholder shows this syntax).
        selection = dialog.get_by_role("textbox")
        selection.fill(f"[{DAYS[0]}...{DAYS[-1]}]")
        selection.press("Enter")
        expect(dialog.get_by_text(f"{len(DAYS)} partitions", exact=True)).to_be_visible()
        screenshot(tab, "2a-materialize-dialog")

        # The dialog has no single-run switch: the assets' policy decides, and its preview says what it will be.
        dialog.get_by_role("button", name="Preview").click()
        preview = tab.get_by_role("dialog").filter(has_text="Backfill preview")
        expect(preview.get_by_text("Backfills all partitions in a single run")).to_have_count(len(SALES_TABLES))
        expect(preview.get_by_text(f"{DAYS[0]}...{DAYS[-1]}", exact=True)).to_have_count(len(SALES_TABLES))
        assets = {link.get_attribute("href") for link in preview.get_by_role("link").all()}
        assert assets == {f"/assets/{table}" for table in SALES_TABLES}, assets
        screenshot(tab, "2b-backfill-preview")
        preview.get_by_role("button", name="OK").click()

        dialog.get_by_role("button", name="Launch backfill").click()
        toast = tab.get_by_role("region", name=re.compile("^Notifications")).get_by_text(re.compile(r"^Created backfill \w+$"))
        expect(toast).to_be_visible()
        launched = toast.inner_text().split()[-1]
        screenshot(tab, "2c-backfill-created")
    return launched


def launch_backfill_over_graphql(dev: DagsterDev) -> str:
    """The same backfill through the mutation the dialog sends (where there is no browser); its id."""
    launched = dev.graphql(LAUNCH_BACKFILL_MUTATION, backfillParams={
        "assetSelection": [{"path": key.split("/")} for key in SALES_TABLES],
        "partitionNames": DAYS,
        "fromFailure": False,
    })["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]
