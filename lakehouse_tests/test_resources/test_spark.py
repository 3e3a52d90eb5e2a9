from pathlib import Path

import pytest

from lakehouse.jars import delta_artifacts, delta_jars
from lakehouse.resources import SparkResource


def test_the_shared_session_writes_and_reads_delta(spark, tmp_path):
    spark.range(3).write.format("delta").save(str(tmp_path / "t"))
    assert spark.read.format("delta").load(str(tmp_path / "t")).count() == 3
    assert "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


def test_get_session_reuses_the_running_session(spark):
    assert SparkResource(master="local[2]").get_session() is spark


def test_conf_hands_spark_exactly_the_cached_delta_jars_and_user_conf_wins(tmp_path):
    for artifact in delta_artifacts():
        (tmp_path / artifact.file_name).write_bytes(b"")
    conf = SparkResource(jars_dir=str(tmp_path), conf={"spark.sql.shuffle.partitions": "64"}).spark_conf()
    assert sorted(Path(p).name for p in conf["spark.jars"].split(",")) == sorted(a.file_name for a in delta_artifacts())
    assert conf["spark.sql.shuffle.partitions"] == "64"
    assert conf["spark.sql.catalog.spark_catalog"].endswith("DeltaCatalog")


def test_a_cluster_master_does_not_pin_the_driver_to_loopback():
    conf = SparkResource(master="spark://10.1.2.3:7077").spark_conf()
    assert "spark.driver.host" not in conf


def test_missing_jars_fail_with_the_command_that_resolves_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"python -m lakehouse\.jars"):
        delta_jars(tmp_path)


def test_delta_artifact_matches_the_installed_spark_minor_version():
    import pyspark

    minor = ".".join(pyspark.__version__.split(".")[:2])
    assert delta_artifacts()[0].name == f"delta-spark_{minor}_2.13"


def test_a_master_on_this_host_keeps_the_driver_on_loopback():
    # make cluster's master: executors on this host reach the driver on 127.0.0.1, nothing listens outside.
    conf = SparkResource(master="spark://127.0.0.1:7077").spark_conf()
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
