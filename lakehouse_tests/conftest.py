"""Shared fixtures: one SparkSession for the whole test run, a lakehouse per test in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.definitions import build_definitions
from lakehouse.resources import SparkResource
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings
from lakehouse_tests.lakehouse_runner import LakehouseRunner

TEST_SPARK_CONF = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2", "spark.driver.memory": "2g"}


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test run (Delta enabled, local[2])."""
    return SparkResource(master="local[2]", jars_dir=str(PROJECT_ROOT / ".cache" / "jars"), conf=TEST_SPARK_CONF).get_session()


@pytest.fixture
def settings(tmp_path: Path) -> LakehouseSettings:
    return LakehouseSettings.for_root(tmp_path, spark_master="local[2]")


@pytest.fixture
def lakehouse(spark, settings: LakehouseSettings) -> Iterator[LakehouseRunner]:
    """A whole lakehouse (definitions + real Dagster instance) rooted in tmp_path."""
    with dg.instance_for_test() as instance:
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
