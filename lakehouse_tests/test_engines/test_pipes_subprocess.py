"""``LAKEHOUSE_ENGINE=pipes-subprocess``: every step through Dagster Pipes in a subprocess, equal to local mode.

The same landing zone goes through two lakehouses on one ephemeral instance each: local (the steps
run in this process) and pipes-subprocess (each step asset launches ``python -m lakehouse.pipes``
with ``dg.PipesSubprocessClient``). As under ``make dev``, the subprocesses reach a warm Spark
Connect server (a cold JVM per step costs about 30 s); the clickstream step, which needs embedded
Spark, starts its own in its subprocess. The server is the suite's (``conftest.connect_server``).
Two days of the sales chain as one single-run backfill, the customer dimension and the clickstream job. The tables, each
materialization's row count and metadata names, and every check evaluation (per partition) must be
the same. Then an erasure with the customer-token key missing in the subprocess: its config, its
run tag and its failure must travel through Pipes.
"""

import os
import re

import dagster as dg
import pytest

from lakehouse.connect import ConnectServer
from lakehouse.definitions import build_definitions
from lakehouse.governance.tokens import KEY_VARIABLE
from lakehouse.settings import REMOTE_VARIABLE, LakehouseSettings
from lakehouse_tests.conftest import REFERENCE_DAYS, RUN_PROCESS_CONF, Reference
from lakehouse_tests.lakehouse_runner import LakehouseRunner
from lakehouse_tests.test_cluster.test_standalone import assert_same_tables, delta_tables

FIRST, LAST = REFERENCE_DAYS
PIPES_LINE = re.compile(r"lakehouse\.pipes: running (?P<assets>.+) in process (?P<pid>[0-9]+) on ")


def run_everything(runner: LakehouseRunner) -> dict[str, dg.ExecuteInProcessResult]:
    return {
        "sales_pipeline": runner.materialize(FIRST, LAST, raise_on_error=False),
        "customer_dimension": runner.run("customer_dimension", raise_on_error=False),
        "clickstream": runner.run("clickstream", raise_on_error=False),
    }


@pytest.fixture(scope="module")
def both(reference_lakehouse: Reference, connect_server: ConnectServer, spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("pipes")
    local = reference_lakehouse
    settings = LakehouseSettings.for_root(
        root / "pipes", landing=local.landing, start_date=FIRST, spark_master="local[2]", landing_sensors=False,
        engine="pipes-subprocess", spark_remote=connect_server.url, spark_conf=RUN_PROCESS_CONF)
    # The URL carries the server's token: the definitions take it from the variable, as dagster dev's would.
    with pytest.MonkeyPatch.context() as patch, dg.DagsterInstance.ephemeral() as instance:
        patch.setenv(REMOTE_VARIABLE, connect_server.url)
        runs = run_everything(LakehouseRunner(build_definitions(settings), settings, instance, spark))
        logs = {job: [entry.user_message for entry in instance.all_logs(run.run_id)] for job, run in runs.items()}
    return {"local": (local.settings, local.runs, local.logs), "pipes-subprocess": (settings, runs, logs)}


def materializations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str | None], tuple[int, frozenset[str]]]:
    found = {}
    for event in result.get_asset_materialization_events():
        m = event.step_materialization_data.materialization
        found[m.asset_key.to_user_string(), m.partition] = (
            m.metadata["dagster/row_count"].value, frozenset(m.metadata))
    return found


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str, str | None], tuple[bool, str]]:
    return {(e.asset_key.to_user_string(), e.check_name, e.partition): (e.passed, e.severity.value)
            for e in result.get_asset_check_evaluations()}


def test_every_run_succeeds_in_both_engines(both):
    for engine, (_, runs, _) in both.items():
        for job, run in runs.items():
            assert run.success, (engine, job, [e.message for e in run.all_events if e.is_step_failure])


def test_each_step_ran_in_a_subprocess_of_its_own(both):
    _, runs, logs = both["pipes-subprocess"]
    for job, run in runs.items():
        lines = [m for line in logs[job] if (m := PIPES_LINE.search(line))]
        steps = {event.step_key for event in run.all_events if event.is_step_success}
        assert len(lines) == len(steps) > 0, (job, logs[job])
        pids = {int(m["pid"]) for m in lines}
        assert os.getpid() not in pids and len(pids) == len(lines), pids
    _, _, local_logs = both["local"]
    assert not any(PIPES_LINE.search(line) for lines in local_logs.values() for line in lines)


def test_materializations_carry_the_local_runs_row_counts_and_metadata_per_partition(both):
    for job in ("sales_pipeline", "customer_dimension", "clickstream"):
        local, remote = (materializations(both[engine][1][job]) for engine in ("local", "pipes-subprocess"))
        assert remote == local, job
    # One materialization per day of the backfill, each with that day's own count.
    sales = materializations(both["pipes-subprocess"][1]["sales_pipeline"])
    assert {partition for key, partition in sales if key == "bronze/sales"} == {FIRST, LAST}


def test_every_check_evaluation_equals_the_local_runs(both):
    for job in ("sales_pipeline", "customer_dimension", "clickstream"):
        local, remote = (evaluations(both[engine][1][job]) for engine in ("local", "pipes-subprocess"))
        assert remote == local, job
        assert len(remote) > 5, job
    # Each evaluation targets the materialization this run recorded on the orchestrator's instance.
    run = both["pipes-subprocess"][1]["sales_pipeline"]
    targeted = [e for e in run.get_asset_check_evaluations() if e.target_materialization_data is not None]
    assert targeted and all(e.target_materialization_data.run_id == run.run_id for e in targeted)


def test_every_table_equals_the_local_modes(both, spark):
    local, remote = both["local"][0], both["pipes-subprocess"][0]
    tables = delta_tables(local.warehouse)
    assert {"bronze/sales", "silver/sales", "gold/daily_sales", "silver/dim_customer", "gold/hourly_events"} <= set(tables)
    assert_same_tables(spark, local.warehouse, remote.warehouse, tables)


def test_config_run_tags_and_a_failure_travel_through_pipes(both, spark, monkeypatch):
    settings = both["pipes-subprocess"][0]
    monkeypatch.delenv(KEY_VARIABLE)  # the subprocess inherits this environment: no key there
    monkeypatch.setenv(REMOTE_VARIABLE, settings.spark_remote)
    with dg.DagsterInstance.ephemeral() as instance:
        runner = LakehouseRunner(build_definitions(settings), settings, instance, spark)
        run = runner.run("gdpr_erasure", {"customer_ids": [3], "reason": "ticket PIPES-1"}, raise_on_error=False)
        stored = instance.get_run_by_id(run.run_id)
        tags = stored.tags if stored else {}
    assert not run.success
    (failure,) = [e for e in run.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    message = error.message if error else ""
    assert "erase_customers failed where the pipes-subprocess engine ran it" in message
    assert f"{KEY_VARIABLE} is not set" in message  # the remote step's own error, not a Pipes stack trace
    assert tags.get("lakehouse/reason") == "ticket PIPES-1"  # set by the step in the subprocess
