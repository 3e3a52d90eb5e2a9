"""``dagster dev`` started as a user starts it, and driven over GraphQL as the UI drives it.

One ``dagster dev`` (webserver, daemon, code server) serves the whole module: the asset graph
shows the layers bronze → silver → gold, and a partition backfill launched like the UI's
"Materialize selected → backfill" runs as one run (``BackfillPolicy.single_run()``) that writes
exactly the requested days.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import deltalake
import pytest

from lakehouse.generator import FaultRates, Manifest, generate_landing_zone
from lakehouse.settings import PROJECT_ROOT
from lakehouse_tests.test_e2e.dagster_ui import RUNS_QUERY, DagsterUI, free_port

pytestmark = pytest.mark.e2e

DAGSTER = PROJECT_ROOT / ".venv" / "bin" / "dagster"
TABLES = ["bronze/sales", "bronze/sales_rejects", "silver/sales", "silver/sales_quarantine", "gold/daily_sales"]
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]
NOT_REQUESTED = "2025-01-04"  # landed, never backfilled
STARTUP_TIMEOUT, BACKFILL_TIMEOUT, SHUTDOWN_TIMEOUT = 180, 420, 30

# Tags Dagster puts on backfill runs (shown on the run page of the UI).
BACKFILL_TAG = "dagster/backfill"
RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
# BulkActionStatus: asset backfills end COMPLETED_SUCCESS or COMPLETED_FAILED (COMPLETED is the deprecated name).
BACKFILL_SUCCEEDED = {"COMPLETED_SUCCESS", "COMPLETED"}
BACKFILL_FAILED = {"COMPLETED_FAILED", "FAILED", "FAILING", "CANCELED", "CANCELING"}

ASSET_GRAPH_QUERY = """
query AssetGraph {
  assetNodes { assetKey { path } groupName dependencyKeys { path } }
}
"""
LAUNCH_BACKFILL_MUTATION = """
mutation LaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""
BACKFILL_QUERY = """
query Backfill($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill { status partitionNames error { message } }
    ... on Error { message }
  }
}
"""


@dataclass
class DagsterDev(DagsterUI):
    """A running ``dagster dev`` and the lakehouse folders it was pointed at."""

    warehouse: Path
    manifest: Manifest


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory) -> Iterator[DagsterDev]:
    """``dagster dev`` on a free port over four generated landing days, everything else in a tmp dir."""
    root = tmp_path_factory.mktemp("dagster_dev")
    # Seed 2: every day has rejected and quarantined lines, so each of the five tables gets every requested day.
    manifest = generate_landing_zone(root / "landing", date(2025, 1, 1), days=4, rows_per_day=200, seed=2,
                                     faults=FaultRates())
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LAKEHOUSE_LANDING": str(root / "landing"),
        "LAKEHOUSE_WAREHOUSE": str(root / "warehouse"),
        "LAKEHOUSE_CHECKPOINTS": str(root / "checkpoints"),
        "LAKEHOUSE_LANDING_SENSORS": "off",  # the test launches its own backfill; sensors would materialize every day
        "PYTHONUNBUFFERED": "1",  # so the log tail is current when a test fails
    }
    port = free_port()
    log = root / "dagster_dev.log"
    command = [str(DAGSTER), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(PROJECT_ROOT / "workspace.yaml")]
    with log.open("wb") as out:
        # Its own session, so teardown can stop the webserver, daemon, code server, runs and JVMs together.
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/graphql"
    dev = DagsterDev(url, log, process, warehouse=root / "warehouse", manifest=manifest)
    try:
        dev.wait_until_loaded(STARTUP_TIMEOUT)
        yield dev
    finally:
        _stop(process)


def test_asset_graph_has_bronze_silver_gold_groups_in_that_order(dagster_dev):
    nodes = {"/".join(n["assetKey"]["path"]): n for n in dagster_dev.graphql(ASSET_GRAPH_QUERY)["assetNodes"]}
    group = {key: node["groupName"] for key, node in nodes.items()}
    deps = {key: {"/".join(d["path"]) for d in node["dependencyKeys"]} for key, node in nodes.items()}

    assert set(group.values()) == {"bronze", "silver", "gold"}
    assert set(TABLES) <= set(nodes)
    assert all(group[key] == key.split("/")[0] for key in nodes), group  # group = layer = key prefix
    assert "bronze/sales" in deps["silver/sales"]
    assert "silver/sales" in deps["gold/daily_sales"]
    # Collapsed to groups, as the UI draws them: bronze → silver → gold, never backwards. The one
    # bronze → gold edge is the streaming gold/hourly_events, which reads the bronze stream directly.
    between_groups = {(group[up], group[key]) for key, ups in deps.items() for up in ups
                      if up in group and group[up] != group[key]}
    assert between_groups == {("bronze", "silver"), ("silver", "gold"), ("bronze", "gold")}
    assert {key for key, ups in deps.items() if group[key] == "gold" and any(group.get(u) == "bronze" for u in ups)} == {
        "gold/hourly_events"}


def test_backfill_of_three_days_is_one_run_writing_exactly_those_days(dagster_dev):
    assert NOT_REQUESTED in dagster_dev.manifest.sales_days
    # What the UI's "Materialize selected" sends for a date range of partitioned assets.
    launched = dagster_dev.graphql(LAUNCH_BACKFILL_MUTATION, backfillParams={
        "assetSelection": [{"path": key.split("/")} for key in TABLES],
        "partitionNames": DAYS,
        "fromFailure": False,
    })["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    _wait_for_backfill(dagster_dev, backfill_id)

    backfill_runs = {"tags": [{"key": BACKFILL_TAG, "value": backfill_id}]}
    runs = dagster_dev.graphql(RUNS_QUERY, filter=backfill_runs)["runsOrError"]
    assert runs["__typename"] == "Runs", runs
    assert len(runs["results"]) == 1, [(r["runId"], r["status"]) for r in runs["results"]]
    run = runs["results"][0]
    assert run["status"] == "SUCCESS", f"run {run['runId']}: {run['status']}{dagster_dev.log_tail()}"
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert (tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)) == (DAYS[0], DAYS[-1]), tags
    assert sorted("/".join(key["path"]) for key in run["assetSelection"]) == sorted(TABLES)

    for table, expected in _expected_rows_by_day(dagster_dev.manifest).items():
        written = _rows_by_day(dagster_dev.warehouse, table)
        assert sorted(written) == sorted(expected), table  # the requested days, not 2025-01-04
        assert written == expected, table


def _wait_for_backfill(dev: DagsterDev, backfill_id: str) -> None:
    """Until the backfill daemon marks the backfill done; fails fast if it fails or is canceled."""
    deadline = time.monotonic() + BACKFILL_TIMEOUT
    backfill: dict = {}
    while time.monotonic() < deadline:
        if dev.process.poll() is not None:
            pytest.fail(f"dagster dev exited with code {dev.process.returncode}{dev.log_tail()}")
        backfill = dev.graphql(BACKFILL_QUERY, backfillId=backfill_id)["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        if backfill["status"] in BACKFILL_SUCCEEDED:
            return
        if backfill["status"] in BACKFILL_FAILED:
            pytest.fail(f"backfill {backfill_id} ended {backfill['status']}: {backfill['error']}{dev.log_tail()}")
        time.sleep(2)
    pytest.fail(f"backfill {backfill_id} not done after {BACKFILL_TIMEOUT} s: {backfill}{dev.log_tail()}")


def _expected_rows_by_day(manifest: Manifest) -> dict[str, dict[str, int]]:
    """Rows per requested day of each table, from the generator's ground truth (days with none left out)."""
    counts = {
        "bronze/sales": lambda day: day.parsed,
        "bronze/sales_rejects": lambda day: day.malformed,
        "silver/sales": lambda day: day.valid,
        "silver/sales_quarantine": lambda day: day.invalid,
        "gold/daily_sales": lambda day: len(day.by_store),  # one row per store with a valid sale
    }
    return {
        table: {day: count(manifest.sales_days[day]) for day in DAYS if count(manifest.sales_days[day])}
        for table, count in counts.items()
    }


def _rows_by_day(warehouse: Path, table: str) -> dict[str, int]:
    path = Path(warehouse).joinpath(*dg.AssetKey.from_user_string(table).path)
    days = deltalake.DeltaTable(str(path)).to_pyarrow_table(columns=["sale_date"]).column("sale_date").to_pylist()
    return {day.isoformat(): rows for day, rows in sorted(Counter(days).items())}


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole process group, SIGKILL to whatever is left after ``SHUTDOWN_TIMEOUT``."""
    _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT
    # Wait without reaping: the group id stays reserved until the SIGKILL below has been sent.
    while time.monotonic() < deadline and not os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
        time.sleep(0.2)
    _signal_group(process.pid, signal.SIGKILL)  # a hung child or a stray JVM
    process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
