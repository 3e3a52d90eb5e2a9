"""Lakehouses for the operations tests: one built by the real sales pipeline, and small hand-made tables.

The pipeline-built lakehouse is shared by the session (building it is a whole Spark run): its
tests change silver/sales only in ways the other tests do not depend on, and each test reads
the versions it needs from the table's history.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from lakehouse import delta, tables
from lakehouse.definitions import build_definitions
from lakehouse.generator import FaultRates, generate_landing_zone
from lakehouse.settings import LakehouseSettings
from lakehouse.tables.registry import Table
from lakehouse_tests.lakehouse_runner import LakehouseRunner

BUILT_DAYS = ["2025-01-01", "2025-01-02"]
LATER_DAY = "2025-01-03"  # landed, not built: the data a test writes later


@pytest.fixture(scope="session")
def built(spark, tmp_path_factory):
    """Sales landed for three days, the first two materialized by ``sales_pipeline`` in one run."""
    settings = LakehouseSettings.for_root(tmp_path_factory.mktemp("operations"), spark_master="local[2]")
    generate_landing_zone(settings.landing, date(2025, 1, 1), days=3, rows_per_day=200, seed=5,
                          faults=FaultRates.none(), files_per_day=2)
    with dg.DagsterInstance.ephemeral() as instance:
        runner = LakehouseRunner(build_definitions(settings), settings, instance, spark)
        assert runner.materialize(BUILT_DAYS[0], BUILT_DAYS[-1]).success
        yield runner


@pytest.fixture
def make_table(lakehouse):
    """Create a registered table in the test's lakehouse from its declaration, then append ``batches`` commits."""

    def make(table: Table, batches: int = 3, rows: int = 20) -> str:
        path = str(lakehouse.path(table.key.to_user_string()))
        delta.create_table(lakehouse.spark, table, path)
        for batch in range(batches):
            append(lakehouse.spark, table, path, rows_of(table, batch, rows))
        return path

    return make


def append(spark: SparkSession, table: Table, path: str, rows: list[tuple]) -> None:
    spark.createDataFrame(rows, schema=table.schema).coalesce(1).write.format("delta").mode("append").save(path)


def rows_of(table: Table, batch: int, count: int) -> list[tuple]:
    """``count`` valid rows of ``table`` (silver/sales, gold/daily_sales or silver/dim_customer), distinct per batch."""
    day = date(2025, 1, 1) + timedelta(days=batch % 2)
    at = datetime(day.year, day.month, day.day, 8)
    ids = range(batch * 1000, batch * 1000 + count)
    if table is tables.SILVER_SALES:
        return [(f"S-{i}", i % 7, 1, 1 + i % 3, 1, 2.0, 0.0, at, 2.0, day, "landing/sales", at) for i in ids]
    if table is tables.GOLD_DAILY_SALES:
        return [(day, i, 10.0, 2, 3) for i in ids]
    if table is tables.SILVER_DIM_CUSTOMER:
        return [(i, f"name {i}", f"c{i}@example.com", "+1", "Lyon", at, None, True, i) for i in ids]
    raise ValueError(f"no rows for {table.name} in the tests")


def failure(result) -> str:
    """The message of a failed run's step failure."""
    event = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return str(event.event_specific_data.error)


def observations(instance: dg.DagsterInstance, table: Table, run_id: str) -> list[dict]:
    """Metadata of the AssetObservations ``run_id`` recorded on ``table``'s asset, oldest first."""
    records = instance.fetch_observations(table.key, limit=100).records
    found = [r.event_log_entry for r in records if r.event_log_entry.run_id == run_id]
    found.sort(key=lambda entry: entry.timestamp)
    return [{k: v.value for k, v in e.asset_observation.metadata.items()} for e in found]  # type: ignore[union-attr]
