"""Every table of the registry, built by the real jobs on sample data, is what it declares and readable outside Spark.

One module fixture does what ``lakehouse-checks`` does, on a small generated landing zone with
the generator's faults: it materializes everything (reference data, change feed and dimension,
three days of sales, revenue by city, clickstream, the erasure job with no request) with every
asset check; this is the check run of ``make test`` (no ERROR check may fail). The tests then read
each table's schema, layout, properties and constraints back from its Delta log, and read every
table with a second Delta implementation (delta-rs, the ``deltalake`` package).
"""

import shutil
from datetime import date

import dagster as dg
import deltalake
import pytest
from deltalake import QueryBuilder

from lakehouse import delta, tables
from lakehouse.checks.cli import JOBS, QUIET, check_rows, materialize_everything, print_table
from lakehouse.definitions import build_definitions
from lakehouse.generator import FaultRates, generate_landing_zone
from lakehouse.settings import LakehouseSettings
from lakehouse_tests.lakehouse_runner import LakehouseRunner

FIRST, LAST = "2025-01-01", "2025-01-03"
TABLES = sorted(tables.TABLES.values(), key=lambda t: t.name)
# Table features that delta-rs's PyArrow reader refuses and its DataFusion QueryBuilder reads.
QUERY_BUILDER_ONLY = {"deletionVectors"}


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    settings = LakehouseSettings.for_root(tmp_path_factory.mktemp("declared"), spark_master="local[2]")
    generate_landing_zone(settings.landing, date(2025, 1, 1), days=3, rows_per_day=150, seed=3, faults=FaultRates(),
                          customers=100, products=30, clicks_per_day=60)
    with dg.DagsterInstance.ephemeral() as instance:
        runner = LakehouseRunner(build_definitions(settings), settings, instance, spark)
        # The checks command's jobs; the last, gdpr_erasure with no request, creates the governance tables.
        results = materialize_everything(runner.defs, instance, FIRST, LAST, run_config=QUIET)
        yield runner, results


def test_the_checks_command_passes_on_the_faulty_sample(built, capsys):
    """What ``lakehouse-checks`` decides on this build: every run succeeded and no ERROR check failed."""
    _, results = built
    rows, runs_ok = check_rows(results)
    print_table(rows)
    assert runs_ok, [r.dagster_run.job_name for r in results if not r.success]
    assert {r.dagster_run.job_name for r in results} == set(JOBS)
    failed = [r for r in rows if r["status"] == "FAILED" and r["severity"] == "ERROR"]
    assert not failed, capsys.readouterr().out


def test_the_checks_command_materializes_every_asset_and_runs_every_check(built):
    """"Everything" read from the definitions, not from the command's own job list: the clickstream job included."""
    runner, results = built
    graph = runner.defs.resolve_asset_graph()
    materialized = {event.asset_key for result in results for event in result.get_asset_materialization_events()}
    evaluated = {dg.AssetCheckKey(e.asset_key, e.check_name) for result in results
                 for e in result.get_asset_check_evaluations()}
    assert set(graph.materializable_asset_keys) - materialized == set()
    assert set(graph.asset_check_keys) - evaluated == set()
    assert dg.AssetKey(["gold", "hourly_events"]) in materialized


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_each_table_is_what_it_declares_read_back_from_the_delta_log(built, table):
    runner, _ = built
    path = str(runner.settings.warehouse.joinpath(*table.key.path))
    spark = runner.spark
    actual = spark.read.format("delta").load(path).schema
    assert [(f.name, f.dataType.simpleString(), f.nullable) for f in actual.fields] == [
        (c.name, c.data_type.simpleString(), c.nullable) for c in table.columns]
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    assert list(detail["partitionColumns"]) == ([table.partition_column] if table.partition_column else [])
    assert list(detail["clusteringColumns"]) == list(table.cluster_by)
    properties = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()}
    assert {k: properties.get(k) for k in table.properties} == dict(table.properties)
    constraints = {k.removeprefix("delta.constraints."): v for k, v in properties.items() if k.startswith("delta.constraints.")}
    assert {k: _spaceless(v) for k, v in constraints.items()} == {k: _spaceless(v) for k, v in table.constraints.items()}
    comments = {r["col_name"]: r["comment"] for r in spark.sql(f"DESCRIBE TABLE delta.`{path}`").collect()}
    assert all(comments.get(c.name) == c.description for c in table.columns), table.name


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_the_detail_read_from_the_commit_checksum_is_describe_details(built, table):
    runner, _ = built
    path = runner.settings.warehouse.joinpath(*table.key.path)
    from_checksum = delta.checksum_detail(path)
    assert from_checksum == delta.describe_detail(runner.spark, path) == delta.detail(runner.spark, path)
    assert from_checksum is not None and from_checksum.schema == runner.spark.read.format("delta").load(str(path)).schema


def test_without_the_newest_checksum_detail_asks_describe_detail(built, tmp_path):
    runner, _ = built
    path = runner.path("silver/sales")
    described = delta.describe_detail(runner.spark, path)
    copy = shutil.copytree(path, tmp_path / "copy")  # as a writer that writes no checksum leaves it
    (copy / "_delta_log" / f"{described.version:020d}.crc").unlink()
    assert delta.checksum_detail(copy) is None
    assert delta.detail(runner.spark, copy) == described


def test_every_error_check_passed_on_the_sample(built):
    _, results = built
    failed = [(e.asset_key.to_user_string(), e.check_name, e.description)
              for r in results for e in r.get_asset_check_evaluations()
              if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    assert not failed


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_each_table_is_read_by_delta_rs_with_the_rows_spark_reads(built, table):
    runner, _ = built
    path = str(runner.settings.warehouse.joinpath(*table.key.path))
    expected = runner.spark.read.format("delta").load(path).count()
    other = deltalake.DeltaTable(path)
    features = set(other.protocol().reader_features or [])
    if features & QUERY_BUILDER_ONLY:
        with pytest.raises(Exception, match=r"(?i)deletion"):  # the PyArrow reader refuses deletion vectors ...
            other.to_pyarrow_table()
        # ... and the DataFusion query engine reads them (the README's reader table says which is which).
        rows = QueryBuilder().register("t", other).execute("SELECT count(*) AS n FROM t").read_all()
        assert rows.column("n")[0].as_py() == expected
    else:
        assert other.to_pyarrow_table().num_rows == expected
    assert [f.name for f in other.schema().fields] == table.column_names


def test_a_writer_that_bypasses_the_pipeline_cannot_break_a_declared_constraint(built):
    runner, _ = built
    path = str(runner.path("silver/sales"))
    good = runner.spark.read.format("delta").load(path).limit(1)
    negative = good.withColumn("amount", good["amount"] * -1)
    before = runner.spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first()["version"]
    with pytest.raises(Exception, match="amount_positive"):
        negative.write.format("delta").mode("append").save(path)
    assert runner.spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first()["version"] == before


def test_materializations_record_the_input_versions_they_read(built):
    runner, results = built
    sales_run = next(r for r in results if r.dagster_run.job_name == "sales_pipeline")
    silver = next(m for m in sales_run.asset_materializations_for_node("silver_sales") if m.asset_key == tables.SILVER_SALES.key)
    versions = silver.metadata["input_versions"].value
    bronze_version = runner.spark.sql(f"DESCRIBE HISTORY delta.`{runner.path('bronze/sales')}` LIMIT 1").first()["version"]
    assert versions == {"bronze.sales": bronze_version}
    revenue_run = next(r for r in results if r.dagster_run.job_name == "customer_revenue")
    revenue = revenue_run.asset_materializations_for_node("gold__revenue_by_city")[0].metadata["input_versions"].value
    assert set(revenue) == {"silver.sales", "silver.dim_customer"}


def _spaceless(expression: str) -> str:
    """Delta stores a constraint re-spaced (``( valid_to IS NULL )``); compare without spaces."""
    return "".join(expression.split())
