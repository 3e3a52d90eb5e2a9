"""The compare benchmark's baselines do the lakehouse's work: plain PySpark + Delta and Polars + delta-rs agree table by table."""

from datetime import date

import deltalake

from benchmarks import plain_polars, plain_spark
from benchmarks.compare import gold_totals, same_totals
from lakehouse.assets.bronze import SALES_SCHEMA
from lakehouse.assets.silver.sales import SALES_EXPECTATIONS
from lakehouse.generator import FaultRates, generate_landing_zone
from lakehouse.quality import Action
from lakehouse.resources import SparkResource
from lakehouse.resources.spark import PYTHON_DAEMON_CONF
from lakehouse.settings import PROJECT_ROOT

DAYS = ["2025-01-01", "2025-01-02"]


def rows_per_table(warehouse) -> dict[str, int]:
    return {table: deltalake.DeltaTable(str(warehouse / table)).to_pyarrow_table(columns=["sale_date"]).num_rows
            for table in plain_spark.TABLES}


def test_plain_spark_and_polars_write_the_same_tables_from_faulty_landing_files(spark, tmp_path):
    landing = tmp_path / "landing"
    # every kind of fault, often, so that rejects, rescued values, duplicates and quarantine all have rows
    faults = FaultRates(malformed=0.05, wrong_type=0.05, missing_field=0.05, invalid_value=0.05, wrong_day=0.05,
                        extra_field=0.05, duplicate=0.05, blank_line=0.05)
    generate_landing_zone(landing, date(2025, 1, 1), days=2, rows_per_day=400, seed=3, faults=faults, clicks_per_day=0)
    with_spark, with_polars = tmp_path / "spark", tmp_path / "polars"

    plain_spark.run(spark, landing, with_spark, DAYS)
    plain_polars.run(landing, with_polars, DAYS)

    counts = rows_per_table(with_spark)
    assert counts == rows_per_table(with_polars)
    assert all(counts.values()), counts
    totals = gold_totals(with_spark, DAYS)
    assert list(totals) == DAYS
    assert same_totals(totals, gold_totals(with_polars, DAYS))



def test_the_plain_script_has_the_lakehouse_settings_schema_and_drop_rules():
    jars = PROJECT_ROOT / ".cache" / "jars"
    # The plain script runs no Python UDF, so the lakehouse's Python worker daemon (lakehouse.pyspark_daemon) is not its.
    lakehouse = {k: v for k, v in SparkResource(jars_dir=str(jars)).spark_conf().items() if k not in PYTHON_DAEMON_CONF}
    assert plain_spark.spark_conf(jars) == lakehouse
    assert [(f.name, f.dataType) for f in plain_spark.SALES_SCHEMA.fields] == [(f.name, f.dataType) for f in SALES_SCHEMA.fields]
    assert [name for name, _ in plain_polars.FIELDS] == SALES_SCHEMA.fieldNames()
    drop_rules = {e.name: e.condition for e in SALES_EXPECTATIONS.expectations if e.action == Action.DROP}
    assert drop_rules == plain_spark.RULES
