"""The Spark resource: one Delta-enabled SparkSession per process, shared by every asset of a run.

Embedded ``local[*]`` by default, tuned for a laptop (few shuffle partitions, UI off, UTC);
point ``master`` at a standalone cluster (``spark://host:7077``) to run there instead. The
session is created lazily on first use with ``getOrCreate``, so all assets of a run (in-process
executor) and all tests of a pytest session share one JVM; it is never stopped by the
resource, because the run worker process ends with the run.

With ``remote`` set (``sc://127.0.0.1:15002``, what ``make dev`` sets through
``LAKEHOUSE_SPARK_REMOTE``) the run starts no JVM: it opens a session on a Spark Connect server
(:mod:`lakehouse.connect`). That server was started with the Delta JARs and the static
settings; the session gets the runtime SQL settings (time zone, shuffle partitions, ...).
A process holds either an embedded or a Connect session, never both (PySpark switches
``pyspark.sql.functions`` to Connect columns for the whole process).

Example::

    spark = SparkResource(jars_dir=".cache/jars").get_session()
    spark.read.format("delta").load("data/warehouse/silver/sales").count()

    spark = SparkResource(remote="sc://127.0.0.1:15002").get_session()   # over Spark Connect
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
from pydantic import Field
from pyspark.sql import SparkSession
from pyspark.sql.utils import is_remote

from lakehouse import jvm
from lakehouse.jars import delta_jars

DRIVER_JAVA_OPTIONS, EXECUTOR_JAVA_OPTIONS = "spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"
LOOPBACK = ("127.0.0.1", "localhost")  # a master here: its executors run on this host too (make cluster)

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

# The JVM keeps the default JIT (C1, then C2 for hot code). Tried and left out: C1 only
# (LAKEHOUSE_SPARK_CONF='{"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}' opts in). A JVM
# that lives for one short run then spends less CPU compiling (a module of Delta writes,
# lakehouse_tests/test_io: 95 s -> 56 s of JVM CPU, 2026-12-04), but heavy work runs about twice as
# slow. `make bench ARGS=compare` with C1 only (2026-12-05, 2 cores, 2,000,000 sales over 30 days):
# the 30-day single-run backfill took 203 s (lakehouse) and 99.9 s (plain script), against 100.9 s and
# 50.0 s with the default JIT (the performance issue's figures); one day took 44.0 s and 21.7 s against
# 48.7 s and 30.3 s. Backfills matter more than a few seconds on one day, so the default JIT stays.

# Spark's Python workers (the lakehouse's UDFs: customer tokens, erasure suppression) from PySpark's daemon without its
# fixed costs per task (see lakehouse.pyspark_daemon), where the workers run this installation: Spark on this host.
PYTHON_DAEMON_CONF = {"spark.python.daemon.module": "lakehouse.pyspark_daemon"}

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
    log_level: str = Field(default="WARN", description="Spark log level for the session's context (embedded Spark).")
    remote: str = Field(
        default="",
        description="Spark Connect URL (sc://host:port, optionally /;token=...): when set, sessions are opened on that "
        "server and master, jars_dir and JVM settings are the server's business. Empty for embedded Spark.",
    )

    def get_session(self) -> SparkSession:
        """Return the process's SparkSession, creating it on first use."""
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        if self.remote:
            return self._remote_session()
        return self._embedded_session()

    def get_embedded_session(self) -> SparkSession:
        """An embedded session even when ``remote`` is set: for code that needs the JVM in this process.

        Structured Streaming's ``foreachBatch`` in :mod:`lakehouse.streaming.clickstream` gathers per-batch counts in
        the driver and stops between batches, which a Connect server's Python worker cannot do. Call it before
        anything else in the run opens a session: a process that holds a Connect session cannot start a JVM one.

        Example::

            session = spark.get_embedded_session()   # then warehouse.read(...) and checks of the run share it
        """
        active = SparkSession.getActiveSession()
        if active is not None and is_remote():
            raise RuntimeError(
                "this needs embedded Spark, but the process already holds a Spark Connect session (remote); "
                "call get_embedded_session() before anything else of the run opens a session")
        return active if active is not None else self._embedded_session()

    def _embedded_session(self) -> SparkSession:
        # Python workers (the lakehouse's UDFs) run on this interpreter, which can import lakehouse and its
        # dependencies; PySpark's default is whatever `python3` is on the PATH, which on a cluster's worker, whose
        # executors run in their own folder, cannot import lakehouse. A multi-host cluster needs this same path.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.master(self.master).appName(self.app_name)
        for key, value in self.spark_conf().items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel(self.log_level)
        return session

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Drop DataFrames the run's assets cached; an embedded session lives on, a Connect session is released.

        Over Spark Connect the cache is the server's, shared by every session: a run that ends
        clears what a concurrent run cached too (that run recomputes it), rather than leaving
        its own cached frames on a server that outlives it.
        """
        active = SparkSession.getActiveSession()
        if active is not None:
            active.catalog.clearCache()
            if is_remote():
                active.stop()

    def _remote_session(self) -> SparkSession:
        # Imported here: lakehouse.connect builds the server's settings from this module's constants.
        from lakehouse.connect import probe

        probe(self.remote)  # fails in seconds naming the URL and the fix; the Connect client would retry for minutes
        session = SparkSession.builder.remote(self.remote).getOrCreate()
        server_side = []
        # No spark.jars here: the server has them (a client of a remote server needs no Delta JARs).
        for key, value in {**SMALL_MACHINE_CONF, **LAKEHOUSE_CONF, **self.conf}.items():
            if session.conf.isModifiable(key):
                session.conf.set(key, value)
            elif key in self.conf:
                server_side.append(key)
        if server_side:
            dg.get_dagster_logger().warning(
                f"Spark settings {', '.join(sorted(server_side))} cannot be set per session over Spark Connect; "
                "they are the server's (start it with them) and are ignored here.")
        return session

    def spark_conf(self) -> dict[str, str]:
        """The full Spark configuration this resource starts an embedded session with (a Connect session gets the
        runtime ones of it)."""
        conf = {**SMALL_MACHINE_CONF, **LAKEHOUSE_CONF, **DELTA_CONF}
        if self.jars_dir:
            conf["spark.jars"] = ",".join(str(p) for p in delta_jars(Path(self.jars_dir)))
        on_this_host = self.master.startswith("local") or urlparse(self.master).hostname in LOOPBACK
        if on_this_host:
            conf.update(PYTHON_DAEMON_CONF)
        else:
            # Executors on other hosts connect back to the driver: it must not listen on loopback only.
            for key in ("spark.driver.host", "spark.driver.bindAddress"):
                conf.pop(key)
        conf.update(self.conf)
        # Spark's and Delta's classes from the archive make setup builds (a cold JVM starts faster; see lakehouse.jvm),
        # for the driver and for executors of a cluster on this host (other hosts have no such file).
        cluster_here = on_this_host and not self.master.startswith("local")
        return jvm.with_archive(conf, (DRIVER_JAVA_OPTIONS, EXECUTOR_JAVA_OPTIONS) if cluster_here else (DRIVER_JAVA_OPTIONS,))
