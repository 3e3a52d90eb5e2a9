"""The JVM class archive (lakehouse.jvm): which JVMs get it, and that a cold run's JVM really loads from it."""

import json
import subprocess
import sys

import pytest

from benchmarks.jvm import FIRST_WRITE
from lakehouse import connect, jvm
from lakehouse.cluster import cluster_env
from lakehouse.resources import SparkResource
from lakehouse.resources.spark import DRIVER_JAVA_OPTIONS, EXECUTOR_JAVA_OPTIONS
from lakehouse.settings import PROJECT_ROOT


@pytest.fixture
def archive(tmp_path):
    path = jvm.archive_path(tmp_path)
    assert path is not None, "no java on this machine"
    return path


def test_the_options_name_the_archive_once_it_exists(archive, tmp_path):
    assert jvm.java_options("-Xmx1g", {}, cache_dir=tmp_path) == "-Xmx1g"
    archive.write_bytes(b"")
    options = jvm.java_options("-Xmx1g", {}, cache_dir=tmp_path)
    assert options.startswith("-Xmx1g ") and f"-XX:SharedArchiveFile={archive}" in options


@pytest.mark.parametrize(("existing", "conf"), [
    ("", {"spark.driver.extraClassPath": "/opt/log-store"}),  # goes first on the class path: the archive would not match
    ("", {"spark.executor.extraClassPath": "/opt/lib"}),
    ("-Xshare:off", {}),  # switched off (LAKEHOUSE_SPARK_CONF)
    ("-XX:SharedArchiveFile=/elsewhere.jsa", {}),  # the user's own archive
])
def test_no_archive_for_another_class_path_when_switched_off_or_named_already(archive, tmp_path, existing, conf):
    archive.write_bytes(b"")
    assert jvm.java_options(existing, conf, cache_dir=tmp_path) == existing


def test_run_connect_and_cluster_jvms_get_the_archive_make_setup_built():
    archive = jvm.archive_path()
    assert archive is not None and archive.exists(), f"no JVM class archive at {archive}: run `make setup`"
    named = f"-XX:SharedArchiveFile={archive}"
    assert named in SparkResource(master="local[2]", jars_dir=".cache/jars").spark_conf()[DRIVER_JAVA_OPTIONS]
    on_this_host = SparkResource(master="spark://127.0.0.1:7077", jars_dir=".cache/jars").spark_conf()
    assert named in on_this_host[DRIVER_JAVA_OPTIONS] and named in on_this_host[EXECUTOR_JAVA_OPTIONS]
    elsewhere = SparkResource(master="spark://10.1.2.3:7077", jars_dir=".cache/jars").spark_conf()
    assert named in elsewhere[DRIVER_JAVA_OPTIONS] and EXECUTOR_JAVA_OPTIONS not in elsewhere  # no such file there
    assert named in connect.server_conf(15002, conf={DRIVER_JAVA_OPTIONS: "-XX:+UseParallelGC"})[DRIVER_JAVA_OPTIONS]
    assert named in cluster_env()["SPARK_DAEMON_JAVA_OPTS"]


def test_a_cold_run_jvm_loads_spark_and_delta_classes_from_the_archive(tmp_path):
    archive = jvm.archive_path()
    assert archive is not None and archive.exists(), f"no JVM class archive at {archive}: run `make setup`"
    log = tmp_path / "classes.log"
    conf = {DRIVER_JAVA_OPTIONS: f"-Xlog:class+load=info:file={log}"}  # the benchmark's cold JVM, listing its classes
    subprocess.run([sys.executable, "-c", FIRST_WRITE, json.dumps(conf)], cwd=PROJECT_ROOT, check=True,
                   capture_output=True, timeout=300)
    loaded = log.read_text(encoding="utf-8").splitlines()
    shared = [line for line in loaded if "source: shared objects file (top)" in line]
    for name in ("org.apache.spark.sql.SparkSession", "org.apache.spark.sql.delta.DeltaLog",
                 "org.apache.spark.sql.delta.commands.MergeIntoCommand"):
        assert any(f" {name} source: shared objects file (top)" in line for line in shared), name
    from_jars = [line for line in loaded if " source: jar:" in line or " source: file:" in line]
    assert len(from_jars) < 0.1 * len(shared), f"{len(from_jars)} classes read from JARs, {len(shared)} from the archive"
