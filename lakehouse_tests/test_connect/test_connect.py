"""Runs over Spark Connect: the sales chain gives what embedded Spark gives.

The server is real, the suite's (``conftest.connect_server``), and requires its token as a remote endpoint does.

The lakehouse runs in a ``dagster`` CLI subprocess, as a user runs it: a process that opened a
Connect session cannot also use the test run's embedded session (see :mod:`lakehouse.connect`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.connect import TOKEN_VARIABLE, parser, probe, redact, server_command, server_from
from lakehouse.definitions import build_definitions
from lakehouse.generator.cli import main as generate
from lakehouse.resources.spark import SMALL_MACHINE_CONF
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings
from lakehouse_tests.conftest import CONNECT_TOKEN as TOKEN  # the suite's endpoint's pre-shared token
from lakehouse_tests.conftest import free_port
from lakehouse_tests.lakehouse_runner import LakehouseRunner
from lakehouse_tests.test_e2e.processes import listening_addresses

DAY = "2026-11-01"
SALES_ASSETS = "bronze/sales,bronze/sales_rejects,silver/sales,silver/sales_quarantine,gold/daily_sales"


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    """One sample day of sales (200 rows, with faults)."""
    out = tmp_path_factory.mktemp("landing") / "landing"
    assert generate(["--out", str(out), "--start", DAY, "--days", "1", "--rows-per-day", "200", "--quiet"]) == 0
    return out


def test_the_sales_chain_over_connect_equals_the_embedded_run(connect_server, landing, spark, tmp_path):
    over_connect = tmp_path / "connect"
    result = dagster_materialize(over_connect, landing, remote=connect_server.url)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "RUN_SUCCESS" in result.stderr + result.stdout
    # The endpoint's token (in LAKEHOUSE_SPARK_REMOTE) is in no output and no file of the run's Dagster instance.
    assert TOKEN in connect_server.url and TOKEN not in result.stdout + result.stderr
    stored = [p for p in (over_connect / "dagster_home").rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert stored == []

    embedded = LakehouseSettings.for_root(tmp_path / "embedded", landing=landing, start_date=DAY, spark_master="local[2]")
    with dg.DagsterInstance.ephemeral() as instance:
        LakehouseRunner(build_definitions(embedded), embedded, instance, spark).materialize(DAY)

    for table in ("silver/sales", "silver/sales_quarantine"):
        assert rows(spark, over_connect / "warehouse" / table).count() == rows(spark, embedded.warehouse / table).count() > 0
    # Revenue is a sum of doubles: its last bits depend on the order Spark adds them in (the partitioning).
    connect_gold, embedded_gold = (rows(spark, root / "gold/daily_sales").withColumn("revenue", F.round("revenue", 6))
                                   for root in (over_connect / "warehouse", embedded.warehouse))
    assert connect_gold.count() == embedded_gold.count() > 0
    assert connect_gold.exceptAll(embedded_gold).count() == 0 == embedded_gold.exceptAll(connect_gold).count()


def test_an_unreachable_server_fails_naming_the_url_and_the_fix():
    # What a run's first step does, in a process of its own (this one holds the embedded session).
    url = f"sc://127.0.0.1:{free_port()}/;token=not-for-logs"
    code = f"from lakehouse.resources import SparkResource; SparkResource(remote={url!r}).get_session()"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"ConnectError: no Spark Connect server answers at {redact(url)}" in output
    assert "make dev" in output and "python -m lakehouse.connect" in output and "unset LAKEHOUSE_SPARK_REMOTE" in output
    assert "not-for-logs" not in output


def test_probe_answers_once_the_server_is_ready(connect_server):
    probe(connect_server.url)  # raises if not


@pytest.mark.parametrize(("suffix", "says"), [("", "no token given"), ("/;token=wrong-token-not-for-logs", "wrong token")])
def test_a_client_without_the_endpoints_token_fails_saying_so(connect_server, suffix, says):
    url = connect_server.url.split("/;")[0] + suffix
    code = f"from lakehouse.resources import SparkResource; SparkResource(remote={url!r}).get_session()"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"ConnectError: the Spark Connect server at {redact(url)} refused this client's token ({says}" in output
    assert "LAKEHOUSE_SPARK_REMOTE" in output
    assert "wrong-token-not-for-logs" not in output and TOKEN not in output


def test_the_server_listens_on_loopback_only(connect_server):
    port = int(connect_server.url.removeprefix("sc://").split("/")[0].split(":")[1])
    assert listening_addresses(port) == {"127.0.0.1"}


def test_server_command_runs_connect_with_the_delta_jars_and_the_lakehouse_settings():
    command = server_command(15002, PROJECT_ROOT / ".cache" / "jars")
    settings = dict(arg.split("=", 1) for arg in command[command.index("--jars") + 2:] if arg != "--conf")
    assert command[0].endswith("pyspark/bin/spark-submit")
    assert command[command.index("--class") + 1] == "org.apache.spark.sql.connect.service.SparkConnectServer"
    assert [Path(jar).name.split("-")[:2] for jar in command[command.index("--jars") + 1].split(",")] == [
        ["delta", "spark_4.1_2.13"], ["delta", "storage"]]
    assert settings["spark.connect.grpc.binding.address"] == "127.0.0.1"
    assert settings["spark.connect.grpc.binding.port"] == "15002"
    assert settings["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert settings["spark.sql.session.timeZone"] == "UTC"


def test_the_server_of_the_command_line_takes_lakehouse_spark_conf_and_the_token_from_the_environment():
    env = {"LAKEHOUSE_SPARK_CONF": '{"spark.driver.memory": "3g", "spark.sql.shuffle.partitions": "7"}',
           TOKEN_VARIABLE: "secret"}
    server = server_from(parser().parse_args(["--port", "15009"]), env)
    settings = dict(arg.split("=", 1) for arg in server.command[server.command.index("--jars") + 2:] if arg != "--conf")
    assert settings["spark.driver.memory"] == "3g" and settings["spark.sql.shuffle.partitions"] == "7"
    assert server.url == "sc://localhost:15009/;token=secret"
    default = server_from(parser().parse_args([]), {})
    assert f"spark.driver.memory={SMALL_MACHINE_CONF['spark.driver.memory']}" in default.command and default.token is None


def test_redact_hides_the_token_only():
    assert redact("sc://h:443/;use_ssl=true;token=abc;user_id=me") == "sc://h:443/;use_ssl=true;token=***;user_id=me"
    assert redact("sc://127.0.0.1:15002") == "sc://127.0.0.1:15002"


def dagster_materialize(root: Path, landing: Path, remote: str, assets: str = SALES_ASSETS) -> subprocess.CompletedProcess:
    """``dagster asset materialize`` of ``assets`` for DAY in a fresh process, the lakehouse rooted at ``root``."""
    (root / "dagster_home").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LAKEHOUSE_LANDING": str(landing), "LAKEHOUSE_WAREHOUSE": str(root / "warehouse"),
           "LAKEHOUSE_CHECKPOINTS": str(root / "checkpoints"), "DAGSTER_HOME": str(root / "dagster_home"),
           "LAKEHOUSE_START_DATE": DAY, "LAKEHOUSE_LANDING_SENSORS": "off", "LAKEHOUSE_SPARK_REMOTE": remote}
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "lakehouse.definitions",
               "--select", assets, "--partition", DAY]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)


def rows(spark: SparkSession, path: Path) -> DataFrame:
    return spark.read.format("delta").load(str(path))
