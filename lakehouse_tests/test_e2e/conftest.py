"""One ``make dev``, one headless Chromium and one 3-day backfill for the whole end-to-end package.

``test_browser.py`` (the UI in Chromium) runs first and ``test_dagster_dev.py`` (the same ``make dev``
over GraphQL) after it; its Ctrl-C test, marked ``stops_make_dev``, stops the server and so runs
last in the package whatever order the tests were asked in. Sharing the server and the backfill
saves a second ``make dev`` start and a second Spark run of the same three days (about two and a
half minutes of the suite).

The backfill is launched from the *Materialize all…* dialog in Chromium. Without Chromium (a
machine that did not run ``scripts/setup.sh`` as root) the browser tests are skipped, saying how
to install it, and the backfill is launched through the mutation the dialog sends; under ``CI``,
which must run the browser tests, a missing Chromium fails them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from lakehouse.generator import generate_landing_zone
from lakehouse_tests.conftest import SMALL_DATA_CONF
from lakehouse_tests.test_e2e.chromium import (
    ARTIFACTS,
    MISSING,
    UI_TIMEOUT_MS,
    chromium_executable,
    launch_args,
    new_tab,
    screenshot,
)
from lakehouse_tests.test_e2e.dagster_ui import LOCATION
from lakehouse_tests.test_e2e.make_dev import DagsterDev, running_make_dev
from lakehouse_tests.test_e2e.scenario import (
    BACKFILL_TIMEOUT,
    FAULTS,
    FIRST_DAY,
    ROWS_PER_DAY,
    SEED,
    STARTUP_TIMEOUT,
    launch_backfill_from_dialog,
    launch_backfill_over_graphql,
)

_FAILED = pytest.StashKey[bool]()
STOP_SENSOR_MUTATION = """
mutation StopSensor($id: String!) {
  stopSensor(id: $id) { __typename ... on StopSensorMutationResult { instigationState { status } } ... on Error { message } }
}
"""
SENSOR_QUERY = """
query Sensor($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename ... on Sensor { id } } }
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``stops_make_dev`` move behind the package's other tests (and stay inside the package)."""
    here = os.path.dirname(__file__)
    inside = [i for i, item in enumerate(items) if str(item.path).startswith(here + os.sep)]
    if not inside:
        return
    block = items[inside[0]:inside[-1] + 1]
    last = [item for item in block if item.get_closest_marker("stops_make_dev")]
    items[inside[0]:inside[-1] + 1] = [item for item in block if item not in last] + last


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(scope="package")
def dagster_dev(tmp_path_factory) -> Iterator[DagsterDev]:
    """``make dev``'s command on a free port over four generated landing days, everything else in a tmp dir.

    Its automation sensor is stopped, as a user switches it off (it would follow the backfill with
    gold/revenue_by_city, a second Spark run), and the welcome dialog is marked as seen.
    """
    root = tmp_path_factory.mktemp("dagster_dev")
    manifest = generate_landing_zone(root / "landing", FIRST_DAY, days=4, rows_per_day=ROWS_PER_DAY, seed=SEED, faults=FAULTS)
    # The UI and the processes are under test, not Spark's code generation: the small-data settings of the suite's session.
    with running_make_dev(root, manifest, STARTUP_TIMEOUT,
                          extra_env={"LAKEHOUSE_SPARK_CONF": json.dumps(SMALL_DATA_CONF)}) as running:
        running.graphql("mutation { setNuxSeen }")  # the "Join the Dagster community" dialog a first visit gets
        selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "sensorName": "lakehouse_automation"}
        sensor = running.graphql(SENSOR_QUERY, selector=selector)["sensorOrError"]
        assert sensor["__typename"] == "Sensor", sensor
        stopped = running.graphql(STOP_SENSOR_MUTATION, id=sensor["id"])["stopSensor"]
        assert stopped["__typename"] == "StopSensorMutationResult", stopped
        yield running


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the package; the screenshots of an earlier run are removed first."""
    executable = chromium_executable()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=launch_args())
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh tab for the test; ``data/test-artifacts/browser/<test>-failed.png`` shows it as it was if the test failed."""
    with new_tab(browser) as tab:
        yield tab
        if request.node.stash.get(_FAILED, False):
            screenshot(tab, f"{request.node.name}-failed")


@pytest.fixture(scope="package")
def backfill_id(dagster_dev: DagsterDev, request: pytest.FixtureRequest) -> str:
    """The package's one backfill of ``DAYS`` (from the dialog in Chromium, else over GraphQL), waited for until done."""
    try:
        chromium = request.getfixturevalue("browser")
    except pytest.skip.Exception:
        launched = launch_backfill_over_graphql(dagster_dev)
    else:
        launched = launch_backfill_from_dialog(dagster_dev, chromium)
    dagster_dev.wait_for_backfill(launched, BACKFILL_TIMEOUT)
    return launched
