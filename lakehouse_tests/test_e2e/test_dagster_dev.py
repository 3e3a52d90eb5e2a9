"""``make dev`` started as a user starts it, driven over GraphQL as the UI drives it, then stopped with Ctrl-C.

The package's one ``make dev`` (its supervisor, then dagster dev: webserver, daemon, code server; see
``conftest.py``) serves the module, over a landing zone dated like the sample ``make dev`` sets up (days
ending yesterday, no start date set), with ``LAKEHOUSE_DEV_CONNECT=off``: each run starts its own Spark
JVM, the case that used to outlive Ctrl-C (see :mod:`lakehouse.dev`; the Connect server's stop is
test_dev's). The asset graph shows the layers bronze → silver → gold and exactly the landed days as
partitions; the package's partition backfill (launched from the UI's *Materialize* dialog by
test_browser, or over GraphQL as that dialog does where there is no Chromium) runs as one run
(``BackfillPolicy.single_run()``) that writes exactly the requested days; afterwards each day shows its
own check results and row count, and the freshness policy passes. Last, while a run of the fourth day
(launched as the UI launches one partition) is in its first step with a Spark JVM, Ctrl-C (SIGINT to the
process group, as a shell sends it to a foreground job) stops everything within 10 s. The test follows
the processes itself (sessions, parent chains), independently of the supervisor.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import deltalake
import pytest

from lakehouse.generator import Manifest
from lakehouse_tests.test_e2e.dagster_ui import LOCATION, RANGE_END_TAG, RANGE_START_TAG, RUNS_QUERY
from lakehouse_tests.test_e2e.make_dev import DagsterDev
from lakehouse_tests.test_e2e.processes import listening_addresses, port_taken
from lakehouse_tests.test_e2e.scenario import DAYS, NOT_REQUESTED, SALES_TABLES

pytestmark = pytest.mark.e2e

FRESHNESS_TIMEOUT = 120
RUN_TIMEOUT, STOP_SECONDS = 180, 10
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]

ASSET_GRAPH_QUERY = """
query AssetGraph {
  assetNodes { assetKey { path } groupName dependencyKeys { path } }
}
"""
PARTITIONS_QUERY = """
query Partitions {
  assetNodes { assetKey { path } partitionKeysByDimension { name partitionKeys } }
}
"""
MATERIALIZATIONS_QUERY = """
query Materializations($assetKey: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $assetKey) {
    ... on Asset {
      assetMaterializations(partitions: $partitions) {
        partition runId
        metadataEntries { label ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text } }
      }
    }
  }
}
"""
CHECK_EXECUTIONS_QUERY = """
query CheckExecutions($assetKey: AssetKeyInput!, $checkName: String!, $partition: String) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, partition: $partition, limit: 10) {
    partition status evaluation { severity targetMaterialization { runId } }
  }
}
"""
LAUNCH_RUN_MUTATION = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}
"""
AUTOMATION_PAUSED_QUERY = "query Paused { instance { autoMaterializePaused } }"
FRESHNESS_QUERY = """
query Freshness {
  assetNodes { assetKey { path } freshnessStatusInfo { freshnessStatus } }
}
"""


def test_make_dev_listens_on_loopback_only_by_default(dagster_dev):
    """The recipe is `make dev` without HOST: the UI is reachable from this machine only (`HOST=0.0.0.0` opens it)."""
    assert listening_addresses(dagster_dev.port) == {"127.0.0.1"}


def test_asset_graph_has_bronze_silver_gold_groups_in_that_order(dagster_dev):
    nodes = {"/".join(n["assetKey"]["path"]): n for n in dagster_dev.graphql(ASSET_GRAPH_QUERY)["assetNodes"]}
    group = {key: node["groupName"] for key, node in nodes.items()}
    deps = {key: {"/".join(d["path"]) for d in node["dependencyKeys"]} for key, node in nodes.items()}

    # The three layers, plus governance (the erasure audit tables, written by gdpr_erasure, outside the flow).
    assert set(group.values()) == {"bronze", "silver", "gold", "governance"}
    assert set(SALES_TABLES) <= set(nodes)
    assert all(group[key] == key.split("/")[0] for key in nodes), group  # group = layer = key prefix
    assert "bronze/sales" in deps["silver/sales"]
    assert "silver/sales" in deps["gold/daily_sales"]
    assert not any(deps[key] for key in nodes if group[key] == "governance")
    # Collapsed to groups, as the UI draws them: bronze → silver → gold, never backwards. The one
    # bronze → gold edge is the streaming gold/hourly_events, which reads the bronze stream directly.
    between_groups = {(group[up], group[key]) for key, ups in deps.items() for up in ups
                      if up in group and group[up] != group[key]}
    assert between_groups == {("bronze", "silver"), ("silver", "gold"), ("bronze", "gold")}
    assert {key for key, ups in deps.items() if group[key] == "gold" and any(group.get(u) == "bronze" for u in ups)} == {
        "gold/hourly_events"}


@pytest.fixture(scope="module")
def backfill_run(dagster_dev, backfill_id) -> dict:
    """The one run of the package's 3-day backfill of the sales chain (see ``conftest.py``)."""
    runs = dagster_dev.backfill_runs(backfill_id)
    assert len(runs) == 1, [(r["runId"], r["status"]) for r in runs]
    return runs[0]


def test_job_headers_show_automation_on_as_it_is(dagster_dev):
    assert dagster_dev.graphql(AUTOMATION_PAUSED_QUERY)["instance"]["autoMaterializePaused"] is False


def test_partitions_are_the_landed_days_inside_the_materialize_dialogs_window(dagster_dev):
    nodes = dagster_dev.graphql(PARTITIONS_QUERY)["assetNodes"]
    keys = next(n for n in nodes if n["assetKey"]["path"] == ["gold", "daily_sales"])["partitionKeysByDimension"][0]["partitionKeys"]
    # From the first landed day to yesterday: no empty year of partitions, and all within the dialog's last 90 days.
    assert keys == sorted(dagster_dev.manifest.sales_days), keys[:3]
    assert set(dagster_dev.manifest.sales_days) <= set(keys[-90:])


def test_backfill_of_three_days_is_one_run_writing_exactly_those_days(dagster_dev, backfill_run):
    assert NOT_REQUESTED in dagster_dev.manifest.sales_days
    run = backfill_run
    assert run["status"] == "SUCCESS", f"run {run['runId']}: {run['status']}{dagster_dev.log_tail()}"
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert (tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)) == (DAYS[0], DAYS[-1]), tags
    assert sorted("/".join(key["path"]) for key in run["assetSelection"]) == sorted(SALES_TABLES)

    for table, expected in _expected_rows_by_day(dagster_dev.manifest).items():
        written = _rows_by_day(dagster_dev.warehouse, table)
        assert sorted(written) == sorted(expected), table  # the requested days, not the fourth
        assert written == expected, table


def test_after_the_backfill_each_day_shows_its_own_checks_and_row_count_and_is_fresh(dagster_dev, backfill_run):
    expected = _expected_rows_by_day(dagster_dev.manifest)
    for table in SALES_TABLES:
        path = table.split("/")
        materializations = dagster_dev.graphql(MATERIALIZATIONS_QUERY, assetKey={"path": path}, partitions=DAYS)
        events = materializations["assetOrError"]["assetMaterializations"]
        row_counts = {e["partition"]: _metadata(e)["dagster/row_count"] for e in events if e["runId"] == backfill_run["runId"]}
        assert row_counts == {day: expected[table].get(day, 0) for day in DAYS}, table
    checks = {"bronze/sales": "bronze_sales_nothing_lost", "silver/sales": "silver_sales_nothing_lost",
              "gold/daily_sales": "gold_daily_sales_schema"}
    for table, check in checks.items():
        for day in DAYS:
            executions = dagster_dev.graphql(CHECK_EXECUTIONS_QUERY, assetKey={"path": table.split("/")}, checkName=check,
                                             partition=day)["assetCheckExecutions"]
            assert [(e["partition"], e["status"]) for e in executions] == [(day, "SUCCEEDED")], (check, day, executions)
            assert executions[0]["evaluation"]["targetMaterialization"] is not None, (check, day)
    # The daemon evaluates freshness policies on its own schedule: UNKNOWN until it has, then HEALTHY.
    deadline, freshness = time.monotonic() + FRESHNESS_TIMEOUT, {}
    while time.monotonic() < deadline:
        freshness = {"/".join(n["assetKey"]["path"]): (n["freshnessStatusInfo"] or {}).get("freshnessStatus")
                     for n in dagster_dev.graphql(FRESHNESS_QUERY)["assetNodes"]}
        if all(freshness[table] == "HEALTHY" for table in ("silver/sales", "gold/daily_sales")):
            break
        time.sleep(3)
    assert freshness["silver/sales"] == freshness["gold/daily_sales"] == "HEALTHY", freshness


@pytest.mark.stops_make_dev
def test_ctrl_c_stops_make_dev_and_every_process_it_started_within_10_s(dagster_dev):
    """Last in the package (``conftest.py`` moves it there): it stops the ``make dev`` the other tests use."""
    dev = dagster_dev
    run_id = _wait_for_a_run_with_its_jvm(dev, _launch_partition_run(dev, NOT_REQUESTED))

    os.killpg(dev.process.pid, signal.SIGINT)  # Ctrl-C
    signalled = time.monotonic()
    while time.monotonic() - signalled < STOP_SECONDS and (dev.tree.alive() or port_taken(dev.port)):
        dev.tree.update()
        time.sleep(0.2)
    seconds = time.monotonic() - signalled

    alive = dev.tree.alive()
    assert not alive, f"alive {seconds:.0f} s after Ctrl-C:\n" + "\n".join(
        f"{pid} {command[:160]}" for pid, command in alive.items()) + dev.log_tail()
    assert not port_taken(dev.port), f"port {dev.port} still taken {seconds:.0f} s after Ctrl-C"
    assert dev.process.wait(timeout=1) == -signal.SIGINT, dev.log_tail()  # exits as interrupted, for make
    with dg.DagsterInstance.from_config(str(dev.home)) as instance:
        left = instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS))
        run = instance.get_run_by_id(run_id)
        status = run.status if run else None
    assert left == [], [(run.run_id, run.status) for run in left]
    assert status in {dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS}
    assert "[dev]" in dev.log.read_text(errors="replace").splitlines()[-1], dev.log_tail()  # the one-line summary


def _launch_partition_run(dev: DagsterDev, day: str) -> str:
    """A run of ``sales_pipeline`` for ``day``, launched as the UI's *Materialize* of one partition does; its id."""
    launched = dev.graphql(LAUNCH_RUN_MUTATION, executionParams={
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": "sales_pipeline"},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
        "mode": "default",
    })["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _wait_for_a_run_with_its_jvm(dev: DagsterDev, run_id: str) -> str:
    """Until the run is STARTED and a Spark JVM runs among make dev's processes; returns ``run_id``."""
    deadline = time.monotonic() + RUN_TIMEOUT
    started = {"runIds": [run_id], "statuses": ["STARTED"]}
    while time.monotonic() < deadline:
        if dev.process.poll() is not None:
            pytest.fail(f"make dev exited with code {dev.process.returncode}{dev.log_tail()}")
        dev.tree.update()
        runs = dev.graphql(RUNS_QUERY, filter=started)["runsOrError"]["results"]
        if runs and any("java" in command.split(" ", 1)[0] for command in dev.tree.alive().values()):
            return run_id
        time.sleep(0.5)
    pytest.fail(f"run {run_id} not started with a Spark JVM after {RUN_TIMEOUT} s{dev.log_tail()}")


def _metadata(event: dict) -> dict:
    return {m["label"]: m.get("intValue", m.get("text")) for m in event["metadataEntries"]}


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
