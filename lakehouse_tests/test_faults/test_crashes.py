"""Crashes mid-write: a run process SIGKILLed after a Delta operation wrote its files and before it committed.

The kill point is deterministic: the run process (a ``dagster`` CLI run with its own Spark JVM)
uses :file:`BlockingLogStore.java` as Delta's log store, which, for one table and one commit
operation named in the environment, writes a marker file and blocks instead of committing. The
test waits for the marker and kills the process group (Python and JVM). Then:

* the table's last committed version reads and holds exactly the rows it held before (no partial
  data is visible: the files written by the killed operation are in no commit);
* a re-run, as an operator would start it, converges to the same table as an uninterrupted run
  of the same work on a copy of the warehouse taken before the kill.

One lakehouse is built once (two sales days, the customer dimension); the scenarios then run in
order on it: a partition overwrite, the change-feed ingestion's file-log MERGE (after its events
committed) and then the SCD2 MERGE (two kills in a row, one re-run), OPTIMIZE, VACUUM (between
its deletions and ``VACUUM END``), an OPTIMIZE committing while an SCD2 MERGE waits to commit (held,
not killed), and an erasure (last: its purge rewrites the dimension into one file).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from lakehouse import delta
from lakehouse.definitions import build_definitions
from lakehouse.generator import FaultRates, generate_landing_zone
from lakehouse.jars import delta_jars
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings
from lakehouse_tests.conftest import RUN_PROCESS_CONF
from lakehouse_tests.lakehouse_runner import LakehouseRunner

pytestmark = pytest.mark.faults

DAYS = ["2025-01-01", "2025-01-02"]
DAGSTER = str(Path(sys.executable).parent / "dagster")
DEFINITIONS = ["-m", "lakehouse.definitions"]
SALES = ["--select", "silver/sales,silver/sales_quarantine", "--partition", DAYS[0]]


@pytest.fixture(scope="module")
def log_store(tmp_path_factory) -> Path:
    """BlockingLogStore compiled against the Delta and Hadoop JARs the lakehouse runs with, as a JAR."""
    import pyspark

    folder = tmp_path_factory.mktemp("blocking_log_store")
    classpath = os.pathsep.join([*map(str, (PROJECT_ROOT / ".cache" / "jars").glob("delta-storage-*.jar")),
                                 str(Path(pyspark.__file__).parent / "jars" / "*")])
    subprocess.run(["javac", "-nowarn", "-d", str(folder / "classes"), "-cp", classpath,
                    str(Path(__file__).with_name("BlockingLogStore.java"))], check=True)
    jar = folder / "blocking-log-store.jar"
    jar_tool = Path(shutil.which("javac") or "javac").resolve().with_name("jar")  # the JDK's, next to javac
    subprocess.run([str(jar_tool), "cf", str(jar), "-C", str(folder / "classes"), "."], check=True)
    return jar


class Lake:
    """The lakehouse under test: CLI runs in their own processes, in-process runs on the test's Spark session."""

    def __init__(self, root: Path, spark, log_store: Path):
        self.root, self.spark = root, spark
        self.settings = LakehouseSettings.for_root(root, spark_master="local[2]")
        home = root / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
        # The log store in spark.jars next to Delta's (one loader sees it and delta-storage's HDFSLogStore), not on the
        # JVM's class path: an extra class path would keep the runs' JVMs from the class archive (lakehouse.jvm).
        jars = [*map(str, delta_jars(PROJECT_ROOT / ".cache" / "jars")), str(log_store)]
        conf = {**RUN_PROCESS_CONF, "spark.jars": ",".join(jars),
                "spark.delta.logStore.file.impl": "lakehouse.faults.BlockingLogStore"}
        self.env = {**os.environ, "DAGSTER_HOME": str(home), "LAKEHOUSE_LANDING": str(self.settings.landing),
                    "LAKEHOUSE_WAREHOUSE": str(self.settings.warehouse), "LAKEHOUSE_CHECKPOINTS": str(root / "checkpoints"),
                    "LAKEHOUSE_START_DATE": DAYS[0], "LAKEHOUSE_LANDING_SENSORS": "off",
                    "LAKEHOUSE_SPARK_CONF": json.dumps(conf)}
        self.instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
        self.runner = LakehouseRunner(build_definitions(self.settings), self.settings, self.instance, spark)

    def path(self, key: str) -> Path:
        return self.runner.path(key)

    def kill_at_commit(self, args: list[str], table: str, operation: str, timeout: float = 600) -> None:
        """Run ``dagster <args>`` and SIGKILL it once it blocks on ``table``'s ``operation`` commit."""
        marker = self.root / f"blocked-{time.monotonic_ns()}"
        env = {**self.env, "LAKEHOUSE_BLOCK_TABLE": str(self.path(table)), "LAKEHOUSE_BLOCK_OPERATION": operation,
               "LAKEHOUSE_BLOCK_MARKER": str(marker)}
        log = self.root / f"{marker.name}.log"
        with log.open("w") as out:
            process = subprocess.Popen([DAGSTER, *args], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        deadline = time.monotonic() + timeout
        while not marker.exists():
            assert process.poll() is None, f"the run ended without reaching the {operation} commit of {table}:\n" \
                                           + log.read_text()[-4000:]
            assert time.monotonic() < deadline, f"no {operation} commit of {table} within {timeout} s"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def copy(self, name: str) -> Lake:
        """A lakehouse on a copy of this warehouse (and the same landing zone): the uninterrupted reference."""
        other = Lake.__new__(Lake)
        other.root, other.spark, other.env, other.instance = self.root / name, self.spark, self.env, self.instance
        shutil.copytree(self.settings.warehouse, other.root / "warehouse")
        other.settings = replace(self.settings, warehouse=other.root / "warehouse")
        other.runner = LakehouseRunner(build_definitions(other.settings), other.settings, self.instance, self.spark)
        return other

    def rows(self, key: str, *drop: str) -> list[str]:
        frame = self.runner.table(key).drop(*drop)
        return sorted(json.dumps(r.asDict(), default=str, sort_keys=True) for r in frame.collect())

    def version(self, key: str) -> int | None:
        return delta.latest_version(self.spark, self.path(key))


@pytest.fixture(scope="module")
def lake(spark, log_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("crashes")
    settings = LakehouseSettings.for_root(root, spark_master="local[2]")
    generate_landing_zone(settings.landing, date(2025, 1, 1), days=len(DAYS), rows_per_day=200, seed=8,
                          faults=FaultRates.none(), customers=60, products=5, clicks_per_day=5, files_per_day=2)
    built = Lake(root, spark, log_store)
    assert built.runner.materialize(DAYS[0], DAYS[-1]).success
    assert built.runner.run("customer_dimension").success
    return built


def land_changes(lake: Lake, name: str, seq: int) -> None:
    """A new change-feed file: a city change for five customers, sequence numbers and times after every landed one."""
    day = 1 + seq // 1_000_000  # after every generated event, and each batch after the one before
    lines = [json.dumps({"customer_id": c, "op": "UPDATE", "seq": seq + c, "event_ts": f"2030-01-{day:02d}T0{c}:00:00Z",
                         "city": f"Crashville-{seq}"}) for c in range(1, 6)]
    (lake.settings.landing / "customers_cdc" / name).write_text("\n".join(lines) + "\n")


def test_a_partition_overwrite_killed_before_its_commit_leaves_the_day_as_it_was(lake):
    before, version = lake.rows("silver/sales"), lake.version("silver/sales")
    lake.kill_at_commit(["asset", "materialize", *DEFINITIONS, *SALES], "silver/sales", "WRITE")
    assert lake.version("silver/sales") == version and lake.rows("silver/sales") == before
    assert lake.runner.materialize(DAYS[0], selection=["silver/sales", "silver/sales_quarantine"]).success
    assert lake.version("silver/sales") > version and lake.rows("silver/sales") == before


def test_the_change_feed_and_the_scd2_merge_killed_before_their_commits_rerun_to_the_same_tables(lake):
    """Two kills of customer_dimension in a row, then a re-run: the same tables as one uninterrupted run.

    The first run is killed after the change feed's events committed and before its file log
    did; the second (which finishes the file log) before the SCD2 MERGE of the dimension commits.
    """
    land_changes(lake, "cdc-crash.json", 1_000_000)
    reference = lake.copy("reference-cdc")
    assert reference.runner.run("customer_dimension").success
    dimension, version = lake.rows("silver/dim_customer"), lake.version("silver/dim_customer")
    job = ["job", "execute", *DEFINITIONS, "-j", "customer_dimension"]

    lake.kill_at_commit(job, "bronze/customers_cdc_files", "MERGE")
    logged = {Path(r["file"]).name for r in lake.runner.table("bronze/customers_cdc_files").collect()}
    assert "cdc-crash.json" not in logged  # its events committed, its file log entry did not
    assert lake.rows("bronze/customers_cdc") == reference.rows("bronze/customers_cdc")

    lake.kill_at_commit(job, "silver/dim_customer", "MERGE")
    assert _log(lake) == _log(reference)  # the second run logged the file, counting its events as new, not duplicates
    assert lake.version("silver/dim_customer") == version and lake.rows("silver/dim_customer") == dimension

    assert lake.runner.run("customer_dimension").success
    for key in ("bronze/customers_cdc", "bronze/customers_cdc_rejects", "silver/dim_customer"):
        assert lake.rows(key) == reference.rows(key), key
    assert _log(lake) == _log(reference)


def test_optimize_killed_before_its_commit_changes_nothing_and_runs_again(lake):
    before, version = lake.rows("silver/sales"), lake.version("silver/sales")
    config = lake.root / "optimize.yaml"
    config.write_text(json.dumps({"tables": ["silver.sales"]}))
    lake.kill_at_commit(["job", "execute", *DEFINITIONS, "-j", "table_maintenance", "-c", str(config)], "silver/sales", "OPTIMIZE")
    assert lake.version("silver/sales") == version and lake.rows("silver/sales") == before
    assert lake.runner.run("table_maintenance", {"tables": ["silver.sales"]}).success
    assert "OPTIMIZE" in [c.operation for c in delta.history(lake.spark, lake.path("silver/sales"))]
    assert lake.rows("silver/sales") == before


def test_vacuum_killed_between_its_deletions_and_its_end_commit_leaves_the_table_readable(lake):
    before = lake.rows("silver/sales")
    maintenance = {"tables": ["silver.sales"], "retention_hours": 0, "force_retention": True, "reason": "crash test"}
    config = lake.root / "vacuum.yaml"
    config.write_text(json.dumps(maintenance))
    lake.kill_at_commit(["job", "execute", *DEFINITIONS, "-j", "table_maintenance", "-c", str(config)], "silver/sales",
                        "VACUUM END")
    assert lake.rows("silver/sales") == before  # the files it deleted were in no current version
    assert lake.runner.run("table_maintenance", maintenance).success
    assert lake.rows("silver/sales") == before
    assert "VACUUM END" in [c.operation for c in delta.history(lake.spark, lake.path("silver/sales"))]


def _log(lake: Lake) -> list[tuple]:
    """The file log without its run id and time: which files, with which counts."""
    rows = lake.runner.table("bronze/customers_cdc_files").collect()
    return sorted((Path(r["file"]).name, r["lines"], r["records"], r["rejects"], r["new_rows"], r["duplicate_rows"]) for r in rows)


def test_an_optimize_committing_while_a_customer_dimension_merge_is_about_to_commit_both_end_consistent(lake):
    """Two writers of silver/dim_customer: OPTIMIZE commits between the SCD2 MERGE's files and its commit.

    The customer_dimension process is held at its MERGE commit (the log store's release file),
    maintenance compacts the dimension in the meantime, then the MERGE goes ahead. It commits, or
    meets Delta's conflict and recomputes and commits within the same run; the dimension then equals
    an uninterrupted run's and the OPTIMIZE is in its history.
    """
    assert delta.detail(lake.spark, lake.path("silver/dim_customer")).num_files > 1  # something for OPTIMIZE to compact
    land_changes(lake, "cdc-concurrent.json", 3_000_000)
    reference = lake.copy("reference-concurrent")
    assert reference.runner.run("customer_dimension").success
    marker, release, log = (lake.root / name for name in ("held", "release", "held.log"))
    env = {**lake.env, "LAKEHOUSE_BLOCK_TABLE": str(lake.path("silver/dim_customer")), "LAKEHOUSE_BLOCK_OPERATION": "MERGE",
           "LAKEHOUSE_BLOCK_MARKER": str(marker), "LAKEHOUSE_BLOCK_RELEASE": str(release)}
    with log.open("w") as out:
        process = subprocess.Popen([DAGSTER, "job", "execute", *DEFINITIONS, "-j", "customer_dimension"], cwd=PROJECT_ROOT,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not marker.exists():
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(0.2)
    assert lake.runner.run("table_maintenance", {"tables": ["silver.dim_customer"]}).success
    optimized = [c.version for c in delta.history(lake.spark, lake.path("silver/dim_customer")) if c.operation == "OPTIMIZE"]
    release.touch()
    code, output = process.wait(timeout=600), log.read_text()
    # A conflict with the OPTIMIZE, if Delta finds one, is retried within the run (recomputed from the table as the
    # OPTIMIZE left it): the run succeeds without a re-run.
    assert code == 0, output[-4000:]
    conflicted = "retrying from the table it left" in output
    assert lake.rows("silver/dim_customer") == reference.rows("silver/dim_customer")
    assert optimized, "the dimension had nothing to compact: the test did not make two writers meet"
    print(f"the held MERGE {'conflicted with the OPTIMIZE and was retried' if conflicted else 'committed after it'}")


def test_an_erasure_killed_before_its_delete_merge_commits_reruns_to_the_same_tables(lake):
    requests = lake.settings.landing / "erasure_requests"
    requests.mkdir(exist_ok=True)
    request = requests / "crash.json"
    request.write_text(json.dumps({"request_id": "REQ-CRASH", "customer_id": 3, "requested_at": "2025-01-05T10:00:00Z"}) + "\n")
    config = {"files": [str(request)]}
    reference = lake.copy("reference-erasure")
    assert reference.runner.run("gdpr_erasure", config).success
    before, version = lake.rows("silver/dim_customer"), lake.version("silver/dim_customer")
    (lake.root / "erasure.yaml").write_text(json.dumps(config))
    lake.kill_at_commit(["job", "execute", *DEFINITIONS, "-j", "gdpr_erasure", "-c", str(lake.root / "erasure.yaml")],
                        "silver/dim_customer", "MERGE")
    assert lake.version("silver/dim_customer") == version and lake.rows("silver/dim_customer") == before
    assert lake.runner.run("gdpr_erasure", config).success
    for key in ("silver/dim_customer", "bronze/customers_cdc"):
        assert lake.rows(key) == reference.rows(key), key
    assert lake.runner.table("silver/dim_customer").where("customer_id = 3").count() == 0
