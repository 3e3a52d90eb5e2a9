"""The SQL endpoint (:mod:`lakehouse.sql`): Spark's Thrift server over tables the real lakehouse wrote.

The module runs the lakehouse once in this process (two days of sales as two runs, so ``silver/sales`` has an
earlier version to travel to, and the customer dimension), starts one Thrift server on a free port with its
metastore in tmp, registers the tables and queries them over Thrift from Python (impyla) and with the wheel's
``beeline``, as an analyst would. The server is stopped by the last test (and by the fixture, whatever happens).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from impala.hiveserver2 import HiveServer2Cursor
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import delta, tables
from lakehouse.checks.declared import declaration_problems
from lakehouse.connect import server_env, spark_home
from lakehouse.definitions import build_definitions
from lakehouse.generator import generate_landing_zone
from lakehouse.servers import port_in_use
from lakehouse.settings import LakehouseSettings
from lakehouse.sql import Pass, Registrar, SqlEndpointError, ThriftServer, column_comment, described, run
from lakehouse.tables.registry import PII, Table
from lakehouse_tests.conftest import SHORT_JVM_CONF, free_port
from lakehouse_tests.lakehouse_runner import LakehouseRunner
from lakehouse_tests.test_e2e.processes import session_members

FIRST, LAST = "2025-01-01", "2025-01-02"
SERVER_CONF = {**SHORT_JVM_CONF, "spark.driver.memory": "1g", "spark.sql.shuffle.partitions": "2",
               "spark.default.parallelism": "2"}


@dataclass(frozen=True)
class Warehouse:
    settings: LakehouseSettings
    sales_after_first_day: int  # the version of silver/sales that holds FIRST only

    def path(self, table: Table) -> Path:
        return self.settings.warehouse.joinpath(*table.key.path)


@pytest.fixture(scope="module")
def starting(tmp_path_factory) -> Iterator[ThriftServer]:
    """The module's server, launched first: its JVM starts (20-60 s) while :func:`warehouse` runs the lakehouse.
    Stopped at the end of the module whatever happened."""
    folder = tmp_path_factory.mktemp("endpoint")
    endpoint = ThriftServer(port=free_port(), log_file=folder / "spark-thrift.log", metastore=folder / "metastore",
                            master="local[2]", conf=SERVER_CONF)
    endpoint.launch()
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture(scope="module")
def warehouse(starting, spark: SparkSession, tmp_path_factory) -> Warehouse:
    """Two days of sales as two runs (silver/sales gets a version holding the first day only), then the customer
    dimension: the real lakehouse, in this process."""
    root = tmp_path_factory.mktemp("sql")
    generate_landing_zone(root / "landing", date(2025, 1, 1), days=2, rows_per_day=120, seed=15, customers=40, products=10,
                          clicks_per_day=0)
    settings = LakehouseSettings.for_root(root, landing=root / "landing", start_date=FIRST, spark_master="local[2]")
    with dg.DagsterInstance.ephemeral() as instance:
        runner = LakehouseRunner(build_definitions(settings), settings, instance, spark)
        runner.materialize(FIRST)
        after_first_day = delta.latest_version(spark, settings.warehouse / "silver" / "sales")
        runner.materialize(LAST)
        runner.run("customer_dimension")
    assert after_first_day is not None
    return Warehouse(settings, after_first_day)


@pytest.fixture(scope="module")
def server(starting: ThriftServer, warehouse) -> ThriftServer:
    return starting.wait()


@pytest.fixture(scope="module")
def cursor(server: ThriftServer) -> Iterator[HiveServer2Cursor]:
    """One HiveServer2 session on the module's server, as an analyst's tool holds one."""
    connection = server.connect()
    session = connection.cursor()
    yield session
    # Closed here, not left to the garbage collector: impyla's cursor closes its session in __del__, which, once the
    # last test has stopped the server, fails and logs, and doing that inside another parse (pytest's assertion
    # rewriting) makes CPython 3.11 raise "AST constructor recursion depth mismatch".
    with contextlib.suppress(Exception):  # the last test stopped the server: the session is gone with it
        session.close()
    with contextlib.suppress(Exception):
        connection.close()


@pytest.fixture(scope="module")
def registered(warehouse: Warehouse, cursor: HiveServer2Cursor) -> tuple[Registrar, Pass]:
    """The registrar after its first pass, and what that pass did."""
    registrar = Registrar(cursor, warehouse.settings.warehouse)
    return registrar, registrar.refresh()


def versions(spark: SparkSession, warehouse: Warehouse) -> dict[str, int | None]:
    return {t.name: delta.latest_version(spark, warehouse.path(t)) for t in tables.TABLES.values()}


def total(frame: DataFrame, column: str) -> float:
    return frame.agg(F.round(F.sum(column), 6)).collect()[0][0]


def show_tables(cursor: HiveServer2Cursor) -> set[str]:
    return {f"{schema}.{row[1]}" for (schema,) in run(cursor, "SHOW SCHEMAS") for row in run(cursor, f"SHOW TABLES IN `{schema}`")}


def test_the_first_pass_registers_every_table_of_the_warehouse_as_layer_dot_table(warehouse, registered, cursor, spark):
    _, first = registered
    present = sorted(t.name for t in tables.TABLES.values() if delta.latest_version(spark, warehouse.path(t)) is not None)
    assert {"gold.daily_sales", "silver.sales", "silver.dim_customer"} <= set(present)
    assert first.failed == {}
    assert sorted(first.registered) == present
    assert show_tables(cursor) == set(present)
    # Every column got its tags in its comment: the tables were created with their descriptions only.
    assert set(first.commented) <= set(present) and "silver.dim_customer" in first.commented


def test_gold_daily_sales_by_name_holds_the_delta_tables_rows(warehouse, registered, cursor, spark):
    expected = delta.read(spark, warehouse.path(tables.GOLD_DAILY_SALES))
    (count, revenue), = run(cursor, "SELECT count(*), round(sum(revenue), 6) FROM gold.daily_sales")
    assert count == expected.count() > 0
    assert revenue == pytest.approx(total(expected, "revenue"))
    rows = run(cursor, "SELECT sale_date, store_id, transactions FROM gold.daily_sales")
    assert sorted(map(tuple, rows)) == sorted(tuple(r) for r in expected.select("sale_date", "store_id", "transactions").collect())


def test_silver_sales_as_of_an_earlier_version_holds_the_first_day_only(warehouse, registered, cursor, spark):
    path, version = warehouse.path(tables.SILVER_SALES), warehouse.sales_after_first_day
    then = delta.read(spark, path, version=version)
    query = "SELECT count(*), round(sum(net_amount), 6), count(DISTINCT sale_date) FROM silver.sales"
    (count, amount, days), = run(cursor, f"{query} VERSION AS OF {version}")
    assert (count, days) == (then.count(), 1)
    assert amount == pytest.approx(total(then, "net_amount"))
    (now_count, _, now_days), = run(cursor, query)
    assert (now_count, now_days) == (delta.read(spark, path).count(), 2)
    assert now_count > count


def test_describe_extended_shows_each_columns_meaning_its_pii_tag_and_the_table_comment(registered, cursor):
    columns, detail = described(run(cursor, "DESCRIBE TABLE EXTENDED silver.dim_customer"))
    table = tables.SILVER_DIM_CUSTOMER
    assert columns == {c.name: column_comment(c) for c in table.columns}
    assert columns["email"] == "Email address in this version. [pii]"
    assert {name for name, comment in columns.items() if comment.endswith("]") and PII in comment.rsplit("[", 1)[1]} == {
        c.name for c in table.columns if c.is_pii} == {"name", "email", "phone"}
    assert detail["Comment"] == table.description
    assert detail["Type"] == "EXTERNAL"
    # A description with a quote in it survives the SQL literal.
    bronze, _ = described(run(cursor, "DESCRIBE TABLE EXTENDED bronze.customers_cdc"))
    assert bronze["email"] == "Customer's email address; absent on DELETE. [pii]"


def test_registering_again_changes_nothing(warehouse, registered, cursor, spark):
    registrar, _ = registered
    before_versions, before_tables = versions(spark, warehouse), show_tables(cursor)
    assert registrar.refresh() == Pass()  # this pass's comment commits are seen, and nothing is left to write
    assert registrar.refresh() == Pass()
    # A new process (make sql restarted) looks at every table again and still writes nothing.
    assert Registrar(cursor, warehouse.settings.warehouse).refresh() == Pass()
    assert versions(spark, warehouse) == before_versions
    assert show_tables(cursor) == before_tables


def test_registration_leaves_every_table_what_its_declaration_says(warehouse, registered, spark):
    """The comment commits change no schema type, nullability, layout, property or constraint the checks compare."""
    present = [t for t in tables.TABLES.values() if delta.latest_version(spark, warehouse.path(t)) is not None]
    assert {t.name: declaration_problems(spark, t, str(warehouse.path(t))) for t in present} == {t.name: [] for t in present}


def test_a_table_that_appears_later_is_registered_by_the_next_pass(warehouse, registered, cursor, spark):
    registrar, _ = registered
    table = tables.SILVER_STORES
    assert "silver.stores" not in show_tables(cursor)
    delta.create_table(spark, table, warehouse.path(table))  # what the lakehouse does before a table's first write
    outcome = registrar.refresh()
    assert outcome.registered == ["silver.stores"] and outcome.failed == {}
    assert run(cursor, "SELECT count(*) FROM silver.stores") == [(0,)]
    columns, detail = described(run(cursor, "DESCRIBE TABLE EXTENDED silver.stores"))
    assert columns == {c.name: column_comment(c) for c in table.columns} and detail["Comment"] == table.description


def test_beeline_from_the_venv_returns_the_rows(warehouse, server, registered, spark):
    beeline = spark_home() / "bin" / "beeline"
    # Ended by ";" as in the README: without it beeline prints its prompt before the header.
    query = "SELECT store_id, transactions FROM gold.daily_sales WHERE sale_date = DATE'2025-01-01' ORDER BY store_id;"
    result = subprocess.run([str(beeline), "-u", server.url, "--silent=true", "--outputformat=tsv2", "-e", query],
                            env=server_env(), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    expected = (delta.read(spark, warehouse.path(tables.GOLD_DAILY_SALES)).where(f"sale_date = '{FIRST}'")
                .orderBy("store_id").select("store_id", "transactions").collect())
    assert lines[0] == "store_id\ttransactions"
    assert lines[1:] == [f"{r['store_id']}\t{r['transactions']}" for r in expected] != []


def test_a_server_that_cannot_start_fails_naming_its_log(tmp_path):
    log = tmp_path / "spark-thrift.log"
    endpoint = ThriftServer(port=free_port(), log_file=log, metastore=tmp_path / "metastore",
                            conf={"spark.driver.memory": "1k"})  # the JVM refuses a 1 KiB heap and exits at once
    with pytest.raises(SqlEndpointError, match="stopped before it answered") as failure:
        endpoint.start()
    assert str(log) in str(failure.value)
    assert "heap" in log.read_text().lower()
    assert endpoint.process is None and not port_in_use(endpoint.host, endpoint.port)


def test_the_server_stops_when_its_context_ends(server):
    """Last: the module's server leaves no process and frees its port (what ``__exit__`` does)."""
    assert server.process is not None
    pid = server.process.pid
    server.__exit__(None, None, None)
    assert server.process is None
    assert session_members(pid) == {}  # nothing left of the server's session (spark-submit's JVM included)
    assert not port_in_use(server.host, server.port)
