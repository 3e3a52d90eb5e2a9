"""The same lakehouse on a real Spark standalone cluster: a master and a worker from the pyspark wheel.

:class:`lakehouse.cluster.LocalCluster` (what ``make cluster`` starts) runs on free ports. Three runs, pointed at it by
``LAKEHOUSE_SPARK_MASTER=spark://127.0.0.1:<port>`` alone, go through one process that loads ``lakehouse.definitions``
from the environment as the Dagster CLI does (``run_jobs.py``: one driver and one executor JVM for the three, where three
``dagster job execute`` processes would start six): two days of the sales chain as one single-run backfill, the
customer dimension, and the clickstream job. Their executors run in the worker's executor JVM. The same runs in local
mode, in this process (the session's reference_lakehouse), on the same landing zone, give the reference: every table
must hold the same rows. The cluster stops when the module ends, also when a test failed.
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.cluster import LocalCluster, alive_workers
from lakehouse.servers import port_in_use
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings
from lakehouse_tests.conftest import REFERENCE_DAYS, RUN_PROCESS_CONF, Reference, free_port

pytestmark = pytest.mark.cluster

FIRST, LAST = REFERENCE_DAYS
RANGE_TAGS = {"dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": LAST}


@dataclass
class Stopped:
    """What `make cluster` printed and left behind, and what `make cluster-stop` left running."""

    started_output: str
    pids: dict[str, int]
    stop_code: int
    still_alive: list[int]
    ports_in_use: list[int]


def cluster_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lakehouse.cluster", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run_jobs(env: dict[str, str], plan: list[tuple[str, dict[str, str] | None]]) -> tuple[dict[str, dict], str]:
    """Each job of ``plan`` with its tags, in one process (``run_jobs.py``): ``{job: {"success", "failure"}}`` and the
    process's output."""
    command = [sys.executable, "-m", "lakehouse_tests.test_cluster.run_jobs", json.dumps(plan)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    output = done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1:] or ["{}"]
    try:
        return json.loads(last[0]), output
    except json.JSONDecodeError:
        return {}, output


@pytest.fixture(scope="module")
def both(reference_lakehouse: Reference, tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    landing = reference_lakehouse.landing
    on_cluster = LakehouseSettings.for_root(root / "cluster", landing=landing, spark_master="local[2]")
    local = reference_lakehouse.settings  # the same jobs in local mode on the same landing zone
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")

    port, webui_port, folder = free_port(), free_port(), root / "spark-cluster"
    cluster = LocalCluster(port, webui_port, folder=folder)  # the addresses `make cluster` gives for these ports
    # As `make cluster` / `make cluster-stop` do, with ports free here (7077 and 8080 may be taken on a dev machine).
    started = cluster_command("start", "--port", str(port), "--webui-port", str(webui_port), "--cores", "2",
                              "--memory", "2g", "--folder", str(folder))
    pids = {f.stem: int(f.read_text()) for f in folder.glob("*.pid")}
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        env = {**os.environ, "DAGSTER_HOME": str(home), "LAKEHOUSE_LANDING": str(landing),
               "LAKEHOUSE_WAREHOUSE": str(on_cluster.warehouse), "LAKEHOUSE_CHECKPOINTS": str(on_cluster.checkpoints),
               "LAKEHOUSE_START_DATE": FIRST, "LAKEHOUSE_LANDING_SENSORS": "off", "LAKEHOUSE_SPARK_MASTER": cluster.url,
               "LAKEHOUSE_SPARK_CONF": json.dumps({**RUN_PROCESS_CONF, "spark.executor.memory": "1g"})}
        env.pop("LAKEHOUSE_SPARK_REMOTE", None)
        runs, output = run_jobs(env, [("sales_pipeline", RANGE_TAGS), ("customer_dimension", None), ("clickstream", None)])
        workers = alive_workers(cluster.webui_url)
        applications = sorted(p.name for p in (folder / "work").iterdir())
    finally:
        stopped = cluster_command("stop", "--folder", str(folder))
    cluster_state = Stopped(started.stdout, pids, stopped.returncode, [p for p in pids.values() if _alive(p)],
                            [p for p in (port, webui_port) if port_in_use("127.0.0.1", p)])

    assert all(run.success for run in reference_lakehouse.runs.values())
    yield on_cluster, local, (runs, output), workers, applications, cluster_state


# Columns that record the run itself (which run logged a change-feed file, and when): they differ between any
# two runs. Sums of doubles depend on the order Spark adds them in, so doubles are compared to 6 decimals.
RUN_RECORD_COLUMNS = {"bronze/customers_cdc_files": ("run_id", "logged_at")}


def comparable(frame: DataFrame, table: str = "") -> DataFrame:
    frame = frame.drop(*RUN_RECORD_COLUMNS.get(table, ()))
    return frame.select(*[F.round(c, 6).alias(c) if t == "double" else F.col(c) for c, t in frame.dtypes])


def test_make_cluster_starts_a_master_and_a_worker_and_cluster_stop_ends_them(both):
    *_, state = both
    assert sorted(state.pids) == ["master", "worker"]
    assert "spark://127.0.0.1:" in state.started_output
    assert state.stop_code == 0 and state.still_alive == [] and state.ports_in_use == []


def test_every_run_succeeds_on_the_cluster(both):
    _, _, (runs, output), workers, _, _ = both
    assert sorted(runs) == ["clickstream", "customer_dimension", "sales_pipeline"], output[-3000:]
    for job, run in runs.items():
        assert run["success"], (job, run["failure"], output[-3000:])
    assert workers == 1


def test_the_runs_executors_ran_on_the_worker(both):
    # The worker keeps a folder per application (the runs' one driver) with its executors' logs.
    _, _, (_, output), _, applications, _ = both
    assert len(applications) == 1, (applications, output[-3000:])
    assert all(name.startswith("app-") for name in applications)


def delta_tables(warehouse: Path) -> list[str]:
    """``layer/table`` of every Delta table under ``warehouse``."""
    return sorted(str(p.parent.relative_to(warehouse)) for p in warehouse.glob("*/*/_delta_log"))


def assert_same_tables(spark, expected: Path, actual: Path, tables: list[str]) -> None:
    """Each of ``tables`` holds the same columns and rows (doubles to 6 decimals, run records left out) in both."""
    for table in tables:
        want, got = (comparable(spark.read.format("delta").load(str(warehouse / table)), table)
                     for warehouse in (expected, actual))
        assert got.columns == want.columns, table
        assert got.count() == want.count(), table
        assert got.exceptAll(want).count() == 0 and want.exceptAll(got).count() == 0, table


def test_every_table_equals_the_local_modes(both, spark):
    on_cluster, local, *_ = both
    tables = delta_tables(local.warehouse)
    assert {"bronze/sales", "silver/sales", "gold/daily_sales", "silver/dim_customer", "gold/hourly_events"} <= set(tables)
    assert_same_tables(spark, local.warehouse, on_cluster.warehouse, tables)
    for table in ("bronze/sales", "silver/sales", "gold/daily_sales", "silver/dim_customer", "gold/hourly_events"):
        assert spark.read.format("delta").load(str(local.warehouse / table)).count() > 0, table
