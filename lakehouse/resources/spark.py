"""The Spark resource: one Delta-enabled SparkSession per process, shared by every asset of a run.

Embedded ``local[*]`` by default, tuned for a laptop (few shuffle partitions, UI off, UTC);
point ``master`` at a standalone cluster (``spark://host:7077``) to run there instead. The
session is created lazily on first use with ``getOrCreate``, so all assets of a run (in-process
executor) and all tests of a pytest session share one JVM; it is never stopped by the
resource, because the run worker process ends with the run.

Example::

    spark = SparkResource(jars_dir=".cache/jars").get_session()
    spark.read.format("delta").load("data/warehouse/silver/sales").count()
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field
from pyspark.sql import SparkSession

from lakehouse.jars import delta_jars

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# Settings for a small machine, after delta-io/delta python/delta/testing/utils.py.
SMALL_MACHINE_CONF = {
    "spark.driver.memory": "4g",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "4",
    "spark.sql.debug.maxToStringFields": "200",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.adaptive.enabled": "true",
}

# Settings the lakehouse's correctness relies on, whatever the machine.
LAKEHOUSE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    # A JSON line with a repeated key keeps the last value (as JSON parsers do) instead of
    # failing the whole batch.
    "spark.sql.mapKeyDedupPolicy": "LAST_WIN",
}


class SparkResource(dg.ConfigurableResource):
    """A Delta-enabled SparkSession (embedded local Spark unless ``master`` says otherwise)."""

    master: str = Field(
        default="local[*]",
        description="Spark master URL: local[*] for embedded Spark, spark://host:7077 for a standalone cluster.",
    )
    app_name: str = Field(default="lakehouse", description="Spark application name shown in the Spark UI.")
    jars_dir: str = Field(
        default="",
        description="Folder holding the Delta JARs resolved by `python -m lakehouse.jars`; "
        "empty when the cluster already provides Delta.",
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark settings, applied over the lakehouse's small-machine defaults.",
    )
    log_level: str = Field(default="WARN", description="Spark log level for the session's context.")

    def get_session(self) -> SparkSession:
        """Return the process's SparkSession, creating it on first use."""
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        builder = SparkSession.builder.master(self.master).appName(self.app_name)
        for key, value in self.spark_conf().items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel(self.log_level)
        return session

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Drop DataFrames the run's assets cached; the session itself lives on."""
        active = SparkSession.getActiveSession()
        if active is not None:
            active.catalog.clearCache()

    def spark_conf(self) -> dict[str, str]:
        """The full Spark configuration this resource starts a session with."""
        conf = {**SMALL_MACHINE_CONF, **LAKEHOUSE_CONF, **DELTA_CONF}
        if self.jars_dir:
            conf["spark.jars"] = ",".join(str(p) for p in delta_jars(Path(self.jars_dir)))
        if not self.master.startswith("local"):
            for key in ("spark.driver.host", "spark.driver.bindAddress"):
                conf.pop(key)
        conf.update(self.conf)
        return conf
