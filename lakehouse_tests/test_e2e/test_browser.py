"""The Dagster UI of ``make dev`` in a real browser (Chromium driven by Playwright), used as a person uses it.

The package's one ``make dev`` serves it (see ``conftest.py``: four small landing days, landing sensors
off, embedded Spark per run, the automation sensor stopped as a user switches it off, so the only run is
the one launched here). In Chromium: the global lineage shows the bronze, silver and gold groups left to
right; the *Materialize all…* dialog of the ``sales_pipeline`` job launches a backfill of three of the four
days (the package's ``backfill_id``), which its preview says runs in a single run, and which runs as
exactly one successful run; ``gold/daily_sales`` then lists its checks as succeeded and shows each day's
``dagster/row_count``; last, the catalog site (``python -m lakehouse.catalog``) over the same tables finds
a column by search.

Chromium is Debian's ``chromium`` (``scripts/setup.sh`` installs it as root with apt-get; ``playwright
install`` cannot download browsers here). Without it these tests are skipped, except under ``CI``, where
they fail. Screenshots of every step go to ``data/test-artifacts/browser/`` (and ``<test>-failed.png``
when a test fails).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from lakehouse.settings import PROJECT_ROOT
from lakehouse.tables import TABLES
from lakehouse_tests.test_e2e.chromium import screenshot
from lakehouse_tests.test_e2e.dagster_ui import RANGE_END_TAG, RANGE_START_TAG
from lakehouse_tests.test_e2e.make_dev import DagsterDev
from lakehouse_tests.test_e2e.scenario import DAYS, SALES_TABLES

pytestmark = pytest.mark.e2e

CATALOG_TIMEOUT = 300
ASSET_CHECKS_QUERY = """
query AssetChecks($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode { assetChecksOrError { __typename ... on AssetChecks { checks { name } } } }
  }
}
"""


def test_lineage_shows_the_bronze_silver_and_gold_groups_left_to_right(dagster_dev: DagsterDev, page: Page):
    page.goto(f"{dagster_dev.base_url}/overview")
    page.get_by_role("link", name="Lineage").click()
    expect(page).to_have_url(re.compile(r"/asset-groups$"))
    expect(page.get_by_text("Global asset lineage", exact=True)).to_be_visible()

    # The graph is an SVG; each collapsed group is a node drawn in it (the side bar lists the groups too).
    graph = page.locator("svg foreignObject")
    nodes = {layer: graph.get_by_text(layer, exact=True) for layer in ("bronze", "silver", "gold", "governance")}
    for node in nodes.values():
        expect(node).to_be_visible()
    screenshot(page, "1-lineage")
    boxes = {layer: node.bounding_box() for layer, node in nodes.items()}
    left = {layer: box["x"] for layer, box in boxes.items() if box}
    assert left.keys() == boxes.keys(), boxes
    assert left["bronze"] < left["silver"] < left["gold"], left  # the flow, drawn left to right


def test_backfill_from_the_materialize_dialog_is_one_successful_run(dagster_dev: DagsterDev, page: Page, backfill_id: str):
    page.goto(f"{dagster_dev.base_url}/runs/b/{backfill_id}")  # the toast's "View" link
    expect(page.get_by_text(re.compile(r"^Status\s*Succeeded$"))).to_be_visible()
    expect(page.get_by_text(re.compile(rf"^Partition selection\s*{len(DAYS)} partitions$"))).to_be_visible()
    screenshot(page, "2d-backfill-succeeded")

    page.get_by_role("tab", name="Runs").click()
    runs = page.get_by_role("link", name=re.compile(r"^run [0-9a-f]{8}$"))
    expect(runs).to_have_count(1)
    screenshot(page, "2e-backfill-runs")
    runs.click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_text(f"{len(SALES_TABLES)} assets", exact=True)).to_be_visible()
    expect(page.get_by_text("Errored (0)", exact=True)).to_be_visible()
    screenshot(page, "2f-run")

    # What the UI showed, checked against the instance: one run, of the five sales tables, over exactly DAYS.
    [run] = dagster_dev.backfill_runs(backfill_id)
    assert page.url.endswith(f"/runs/{run['runId']}")
    assert run["status"] == "SUCCESS", run
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert (tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)) == (DAYS[0], DAYS[-1]), tags
    assert sorted("/".join(key["path"]) for key in run["assetSelection"]) == sorted(SALES_TABLES)


def test_daily_sales_shows_its_checks_succeeded_and_each_days_row_count(dagster_dev: DagsterDev, page: Page, backfill_id: str):
    [run] = dagster_dev.backfill_runs(backfill_id)
    page.goto(f"{dagster_dev.base_url}/assets/gold/daily_sales")
    tabs = page.get_by_role("tablist").first  # the asset's tabs (a selected check has tabs of its own)
    tabs.get_by_role("tab", name="Checks").click()
    expect(page).to_have_url(re.compile(r"view=checks"))
    checks = dagster_dev.graphql(ASSET_CHECKS_QUERY, assetKey={"path": ["gold", "daily_sales"]})["assetNodeOrError"]
    names = [check["name"] for check in checks["assetChecksOrError"]["checks"]]
    assert names, checks
    expect(page.get_by_text(f"Checks ({len(names)})", exact=True)).to_be_visible()
    for name in names:  # an entry's text: its name as shown (maybe truncated with …), the full name, its latest status
        expect(page.get_by_text(re.compile(rf"^[\w…]*{re.escape(name)}Succeeded$"))).to_be_visible()
    screenshot(page, "3a-checks")

    tabs.get_by_role("tab", name="Partitions").click()
    expect(page.get_by_text(f"Materialized ({len(DAYS)})", exact=True)).to_be_visible()
    expect(page.get_by_text("Missing (1)", exact=True)).to_be_visible()  # the landed day not requested
    for day in DAYS:
        page.get_by_role("textbox", name="Filter by name").fill(day)
        # The partition list is below the range bar, whose end labels can show the same day.
        page.get_by_text(day, exact=True).filter(visible=True).last.click()
        expect(page).to_have_url(re.compile(rf"partition={day}"))
        expected_rows = len(dagster_dev.manifest.sales_days[day].by_store)  # one row per store with a valid sale
        # (The "/" escaped: Playwright puts the pattern into a /…/ selector.)
        expect(page.get_by_role("row", name=re.compile(r"^dagster\/row_count "))).to_have_text(
            re.compile(rf"^dagster/row_count\s*{expected_rows}\s*$"))
        expect(page.get_by_role("link", name=run["runId"][:8], exact=True)).to_be_visible()  # written by the one run
        screenshot(page, f"3b-row-count-{day}")


def test_catalog_site_finds_a_column_by_search(dagster_dev: DagsterDev, page: Page, backfill_id: str, tmp_path: Path):
    written = subprocess.run([sys.executable, "-m", "lakehouse.catalog", "--out", str(tmp_path / "catalog")],
                             cwd=PROJECT_ROOT, env=dagster_dev.env, capture_output=True, text=True, timeout=CATALOG_TIMEOUT)
    assert written.returncode == 0, written.stdout + written.stderr
    holders = {table.name for table in TABLES.values() if any(column.name == "net_amount" for column in table.columns)}
    assert holders == {"silver.sales"}, holders

    page.goto((tmp_path / "catalog" / "index.html").as_uri())
    page.locator("#search").press_sequentially("net_amount")  # typed, as a person types
    results = page.locator("#results li.result")
    expect(results.first).to_be_visible()
    screenshot(page, "4a-catalog-search")
    columns = page.locator('#results li.result[data-kind="column"][data-column="net_amount"]')
    expect(columns).to_have_count(len(holders))
    assert results.first.get_attribute("data-column") == "net_amount"  # the exact name ranks first
    assert results.first.get_attribute("data-table") == "silver.sales"

    results.first.get_by_role("link").click()
    expect(page.locator("#table-name")).to_contain_text("silver.sales")
    expect(page.locator("#col-net_amount")).to_be_visible()
    # The catalog reads the tables dagster dev wrote: the three backfilled days, each with its valid sales.
    partitions = page.locator("#partition-table tr[data-partition]")
    expect(partitions).to_have_count(len(DAYS))
    shown = {row.get_attribute("data-partition"): row.get_attribute("data-rows") for row in partitions.all()}
    assert shown == {day: str(dagster_dev.manifest.sales_days[day].valid) for day in DAYS}, shown
    # ... and the check results of dagster dev's instance (the backfill's run evaluated this check for each day).
    expect(page.locator('#check-table tr[data-check="silver_sales_nothing_lost"]')).to_have_attribute("data-status", "passed")
    screenshot(page, "4b-catalog-table")

