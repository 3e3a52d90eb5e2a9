"""Shared fixtures: one SparkSession for the whole test run, a lakehouse per test in tmp_path, a customer-token key."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from xdist.scheduler import LoadFileScheduling

from lakehouse.connect import ConnectServer
from lakehouse.definitions import build_definitions
from lakehouse.generator import generate_landing_zone
from lakehouse.governance.tokens import KEY_VARIABLE
from lakehouse.resources import SparkResource
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings
from lakehouse_tests.lakehouse_runner import LakehouseRunner

# The suite's data is tiny (tens to hundreds of rows per table), so compiling generated code costs more than it saves:
# expressions are interpreted (codegen.factoryMode, the mode Spark's own test suites also run in) and whole-stage
# codegen is off; the parallel collector has less overhead than G1 on a 2 GiB heap. Same results, a fifth less time
# (lakehouse_tests/test_checks/test_checks_in_runs.py alone: 116 s -> 92 s, 2026-12-05, 2 cores). The suite's own
# Spark Connect server (a JVM of its own) gets them too (test_connect alone: 79 s -> 70 s). The product's own runs
# (the end-to-end test's make dev and its runs, the benchmarks, make dev's Connect server) keep Spark's defaults,
# which pay off on real volumes.
SMALL_DATA_CONF = {
    "spark.sql.codegen.factoryMode": "NO_CODEGEN", "spark.sql.codegen.wholeStage": "false",
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
}
# Adaptive query execution off as well: on tables of tens of rows its re-planning between stages costs more than it
# saves (the customer-dimension module 108 s -> 97 s alone, 2026-12-07; a small gain, measured once).
# The JIT's second tier (C2) compiles a method after four times the default calls and loops: in the suite's own session
# C2 took a quarter of the JVM's CPU, compiling code that a module then runs a few thousand times. Five in-process
# modules in one session (2026-12-07, 2 cores, per-thread CPU from /proc): C2 71 -> 41 s, the JVM 279 -> 254 s, busy
# core-seconds 324 -> 299, wall time unchanged (235 s); ten times the defaults saved no more CPU and took 8 s longer.
C2_LATER = ("-XX:Tier4InvocationThreshold=20000 -XX:Tier4MinInvocationThreshold=3000 -XX:Tier4CompileThreshold=40000 "
            "-XX:Tier4BackEdgeThreshold=160000")
TEST_SPARK_CONF = {
    "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2", "spark.driver.memory": "2g", **SMALL_DATA_CONF,
    "spark.sql.adaptive.enabled": "false",
    "spark.driver.extraJavaOptions": f"{SMALL_DATA_CONF['spark.driver.extraJavaOptions']} {C2_LATER}",
}
# The Spark JVMs the suite starts in processes of their own (CLI runs, a standalone cluster's drivers and executors, the
# continuous stream, the suite's Spark Connect server and the SQL endpoint's Thrift server) each live for one short run
# or one module over tiny data: the JIT's second tier (C2) costs them more CPU compiling than its code saves, on a
# machine whose two cores the suite keeps busy. C1 only: the concurrent-writers module took 88 s instead of 124 s (twice
# each, 2026-12-06); the SQL endpoint's module 86 instead of 104 core-seconds (2026-12-07). The suite's own session keeps
# both tiers (C1 alone: the five modules above took 340 s and 464 core-seconds, its code cache swept all the while; with
# a 512 MB cache 283 s and 337) and the product's runs too (lakehouse/resources/spark.py: C1 alone halves a real
# backfill's pace).
C1_ONLY = "-XX:TieredStopAtLevel=1"
SHORT_JVM_CONF = {
    **SMALL_DATA_CONF, "spark.driver.extraJavaOptions": f"{SMALL_DATA_CONF['spark.driver.extraJavaOptions']} {C1_ONLY}",
}
RUN_PROCESS_CONF = {
    **TEST_SPARK_CONF, **SHORT_JVM_CONF, "spark.driver.memory": "1g", "spark.executor.extraJavaOptions": C1_ONLY,
}
TEST_PII_KEY = "lakehouse-tests-not-a-secret"
CONNECT_TOKEN = f"lakehouse-test-{uuid.uuid4().hex}"  # the suite's Connect endpoint's pre-shared token


_SESSION = pytest.StashKey[pytest.Session]()  # the test session, for its exit status in pytest_unconfigure


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_SESSION] = session


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the test process with the session's exit status once pytest has reported, skipping the interpreter's shutdown.

    delta-rs (``deltalake``, which tests use to read tables as another engine would) can abort a process's shutdown
    with "terminate called without an active exception" (exit 134, delta-io/delta-rs#2184; seen once at the end of
    ``make bench ARGS=compare``), which would fail CI after every test passed. By now the summary, the JUnit report
    and every fixture's teardown are done; the session's Spark JVM exits when this process's pipe closes. Not in an
    xdist worker, which reports to its controller after this hook.
    """
    session = config.stash.get(_SESSION, None)
    if session is None or hasattr(config, "workerinput"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(session.exitstatus))


# Two pytest-xdist workers (`make test`): each test file runs whole on one worker, as with `--dist loadfile`, and what
# one fixture builds for several files stays on one worker too, so that it is built once: the suite's Spark Connect
# server and local-mode reference lakehouse (ENGINE_MODULES compare against them), and the packages whose conftest
# shares a `make dev` or a built warehouse among their files (SHARED_PACKAGES). xdist's own `--dist loadgroup` cannot
# do it here: with pytest 9 the group it appends to a test's id is lost, and the tests of one file are spread over
# both workers.
SHARED_FIXTURES = ("connect_server", "reference_lakehouse")
ENGINE_MODULES = ("test_cluster/test_standalone.py", "test_connect/test_connect.py", "test_engines/test_databricks.py",
                  "test_engines/test_pipes_subprocess.py")
SHARED_PACKAGES = ("test_e2e", "test_operations")
TESTS = Path(__file__).parent


def worker_group(nodeid: str) -> str:
    """The work unit of a test for the xdist workers: its package, ``engines`` or its file."""
    module = nodeid.split("::", 1)[0].removeprefix(f"{TESTS.name}/")
    package = module.split("/", 1)[0]
    return package if package in SHARED_PACKAGES else "engines" if module in ENGINE_MODULES else module


def pytest_xdist_make_scheduler(config: pytest.Config, log) -> LoadFileScheduling:
    return GroupScheduling(config, log)


# Seconds each work unit takes in a whole `make test` (the mean of three fresh-clone CI runs' JUnit reports, 2026-12-07,
# 2 cores). xdist hands out the units with the most tests first, so a long unit with few tests (the crash scenarios:
# 6 tests, 4 minutes) started late and ran on alone while the other worker had finished: by three runs' reports, 18-24 s
# of the run with one worker idle. Handing out the longest first leaves the short ones to even out the end (a replay of those
# reports: 877 -> 859 s of pytest for the 2026-12-07 18:49 run). Units not listed follow in xdist's order; the figures
# need only be roughly right, and a new long module belongs here.
WORK_UNIT_SECONDS = {
    "engines": 351, "test_faults/test_crashes.py": 249, "test_e2e": 121, "assets_tests/test_customer_dimension.py": 107,
    "test_faults/test_concurrent_writers.py": 92, "test_tables/test_declared_tables.py": 84,
    "test_governance/test_erasure.py": 74, "test_checks/test_checks_in_runs.py": 71, "test_operations": 60,
    "test_scd/test_scd2.py": 60, "test_faults/test_hostile_landing.py": 53, "test_sql/test_sql_endpoint.py": 48,
    "assets_tests/test_sales_pipeline.py": 46, "test_resources/test_warehouse.py": 40,
}


class GroupScheduling(LoadFileScheduling):
    """xdist's file-by-file scheduling with the work units of :func:`worker_group`, the longest (WORK_UNIT_SECONDS) first."""

    _ordered = False

    def _split_scope(self, nodeid: str) -> str:
        return worker_group(nodeid)

    def _assign_work_unit(self, node) -> None:
        if not self._ordered:  # the first assignment: xdist has queued every unit
            self._ordered = True
            units = sorted(self.workqueue.items(), key=lambda unit: -WORK_UNIT_SECONDS.get(unit[0], 0))  # stable
            self.workqueue.clear()
            self.workqueue.update(units)
        super()._assign_work_unit(node)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test file that uses a shared fixture and that :func:`worker_group` would not keep with the others."""
    for item in items:
        module = item.path.relative_to(TESTS).as_posix()
        shared = [name for name in getattr(item, "fixturenames", ()) if name in SHARED_FIXTURES]
        if shared and worker_group(item.nodeid) != "engines":
            raise pytest.UsageError(f"{module} uses {', '.join(shared)}, built once per pytest worker: add it to "
                                    "ENGINE_MODULES in lakehouse_tests/conftest.py so that it runs on the worker that "
                                    "builds it for the other engine modules")


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def pii_key() -> Iterator[bytes]:
    """``LAKEHOUSE_PII_KEY`` for the whole test run (also for the ``dagster dev`` the end-to-end tests start), so every
    run that materializes gold/customers_masked has a key; a test of the missing key unsets it with ``monkeypatch``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_VARIABLE, TEST_PII_KEY)
        yield TEST_PII_KEY.encode("utf-8")


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test process (of each of the two xdist workers in `make test`; Delta, local[2])."""
    return SparkResource(master="local[2]", jars_dir=str(PROJECT_ROOT / ".cache" / "jars"), conf=TEST_SPARK_CONF).get_session()


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory) -> Iterator[ConnectServer]:
    """One real Spark Connect server for the suite (its small-data settings), started when a test first needs it.

    Like a remote endpoint it refuses clients without its token. The Connect tests, the Pipes-subprocess engine's
    steps and the Databricks stand-in's tasks share it, each on warehouses of its own: a server is a cold JVM, about
    15-30 s of the suite each time one starts.
    """
    with ConnectServer(port=free_port(), log_file=tmp_path_factory.mktemp("connect") / "spark-connect.log",
                       conf=SHORT_JVM_CONF, token=CONNECT_TOKEN) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> LakehouseSettings:
    return LakehouseSettings.for_root(tmp_path, spark_master="local[2]")


@pytest.fixture
def lakehouse(spark, settings: LakehouseSettings) -> Iterator[LakehouseRunner]:
    """A whole lakehouse rooted in tmp_path: its definitions and a real Dagster instance (storage in memory: faster per run)."""
    with dg.DagsterInstance.ephemeral() as instance:
        yield LakehouseRunner(build_definitions(settings), settings, instance, spark)


@pytest.fixture
def write_sales_day(settings: LakehouseSettings):
    """Write JSON lines into landing/sales/<day>/<name>; returns the file path."""

    def write(day: str, lines: Sequence[str], name: str = "part-0000.json") -> Path:
        folder = settings.landing / "sales" / day
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_text("".join(line + "\n" for line in lines))
        return path

    return write


@dataclass
class Reference:
    """A local-mode lakehouse over a small two-day landing zone, after the runs the engine tests repeat elsewhere."""

    landing: Path
    settings: LakehouseSettings
    runs: dict[str, dg.ExecuteInProcessResult]
    logs: dict[str, list[str]]


REFERENCE_DAYS = ("2025-01-01", "2025-01-02")


@pytest.fixture(scope="session")
def reference_lakehouse(spark, tmp_path_factory) -> Iterator[Reference]:
    """Two days of sales as one single-run backfill, the customer dimension and the clickstream job in local mode.

    The standalone-cluster and Pipes tests run the same jobs on the same landing zone elsewhere and compare every
    table, row count and check with these (built once for the session; tests only read it).
    """
    root = tmp_path_factory.mktemp("reference")
    landing = root / "landing"
    generate_landing_zone(landing, date(2025, 1, 1), days=2, rows_per_day=150, seed=21, customers=80, products=20,
                          clicks_per_day=60)
    settings = LakehouseSettings.for_root(root / "local", landing=landing, start_date=REFERENCE_DAYS[0],
                                          spark_master="local[2]", landing_sensors=False)
    with dg.DagsterInstance.ephemeral() as instance:
        runner = LakehouseRunner(build_definitions(settings), settings, instance, spark)
        runs = {"sales_pipeline": runner.materialize(*REFERENCE_DAYS, raise_on_error=False),
                "customer_dimension": runner.run("customer_dimension", raise_on_error=False),
                "clickstream": runner.run("clickstream", raise_on_error=False)}
        logs = {job: [entry.user_message for entry in instance.all_logs(run.run_id)] for job, run in runs.items()}
        yield Reference(landing, settings, runs, logs)
