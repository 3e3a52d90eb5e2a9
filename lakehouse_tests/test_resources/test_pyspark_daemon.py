"""The Python worker daemon of Spark on this host (lakehouse.pyspark_daemon): used, and a changed archive still seen."""

import importlib
import os
import sys
import zipfile
import zipimport

from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse import pyspark_daemon
from lakehouse.resources import SparkResource
from lakehouse.resources.spark import PYTHON_DAEMON_CONF


def test_spark_on_this_host_names_the_daemon_and_spark_elsewhere_does_not():
    for master in ("local[2]", "spark://127.0.0.1:7077"):
        assert PYTHON_DAEMON_CONF.items() <= SparkResource(master=master).spark_conf().items(), master
    assert "spark.python.daemon.module" not in SparkResource(master="spark://10.1.2.3:7077").spark_conf()


def test_the_sessions_python_workers_run_it(spark):
    def probe(_: int) -> str:
        import gc
        import zipimport

        return f"{zipimport.zipimporter.invalidate_caches.__name__} {gc.get_freeze_count() > 0}"

    [row] = spark.range(1).select(F.udf(probe, T.StringType())("id").alias("probe")).collect()
    assert row["probe"] == "_invalidate_if_changed True"


def test_an_archive_is_read_again_only_when_it_changed(tmp_path, monkeypatch):
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("lakehouse_probe_module.py", "VALUE = 1\n")
    importer = zipimport.zipimporter(str(archive))
    reads = []
    monkeypatch.setattr(pyspark_daemon, "_reread", lambda self: reads.append(self.archive) or zipimport.zipimporter.invalidate_caches(self))

    pyspark_daemon._invalidate_if_changed(importer)
    pyspark_daemon._invalidate_if_changed(importer)
    assert len(reads) == 1  # the first call reads (no stamp yet); the unchanged archive is not read again

    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("lakehouse_probe_module.py", "VALUE = 2\n")
        z.writestr("lakehouse_probe_other.py", "VALUE = 3\n")
    os.utime(archive, ns=(0, 1_000_000_000))  # a different modification time, whatever the clock's resolution
    pyspark_daemon._invalidate_if_changed(importer)
    assert len(reads) == 2
    monkeypatch.syspath_prepend(str(archive))
    monkeypatch.setitem(sys.path_importer_cache, str(archive), importer)
    try:
        assert importlib.import_module("lakehouse_probe_other").VALUE == 3
    finally:
        sys.modules.pop("lakehouse_probe_other", None)
