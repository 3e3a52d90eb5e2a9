"""A class-data-sharing archive for the Spark JVMs this machine starts: a cold JVM loads Spark and Delta faster.

Every run process (`dagster` CLI, a run worker without the Connect server), the Spark Connect server and
a standalone cluster's JVMs load about 20,000 classes of Spark and Delta, parsing and verifying each one:
several seconds of CPU per JVM before its first job. Java's application class-data sharing (JDK 13+,
``-XX:ArchiveClassesAtExit`` / ``-XX:SharedArchiveFile``) keeps those classes parsed and verified in
a file the JVM maps at start. ``make setup`` builds the archive once per Java, ``pyspark`` and Delta
version by running :func:`workload` (Delta writes, MERGE, change feed, OPTIMIZE, VACUUM, a stream)
in a JVM that dumps what it loaded at exit; :func:`java_options` hands the archive to the JVMs the
lakehouse starts. The JVM checks that the archive matches its own class path and Java; when it does
not (another class path, a reinstalled wheel), it starts as without it: the archive is a speed-up,
never a requirement. ``-Xshare:off`` in the JVM's options (``LAKEHOUSE_SPARK_CONF='{"spark.driver.extraJavaOptions":
"-Xshare:off"}'``) leaves it out.

Example::

    python -m lakehouse.jvm                 # build .cache/jvm/spark-<key>.jsa if missing (make setup does)
    java_options("-Xmx1g")                  # '-Xmx1g -XX:SharedArchiveFile=.../spark-<key>.jsa -Xlog:cds=off,...'
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

from lakehouse.settings import PROJECT_ROOT

CACHE_DIR = PROJECT_ROOT / ".cache" / "jvm"
DEFAULT_JARS_DIR = PROJECT_ROOT / ".cache" / "jars"
# An archive that does not match the JVM's class path is skipped with a warning per start; quiet, as it is only speed.
QUIET = "-Xlog:cds=off,cds+dynamic=off"
EXTRA_CLASS_PATH = ("spark.driver.extraClassPath", "spark.executor.extraClassPath")


def java() -> Path | None:
    """The ``java`` Spark's launcher runs: ``$JAVA_HOME/bin/java``, else the one on ``PATH`` (links resolved)."""
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else (Path(shutil.which("java") or ""))
    return found.resolve() if found.name == "java" and found.exists() else None


def archive_path(cache_dir: Path = CACHE_DIR) -> Path | None:
    """Where the archive of this Java, ``pyspark`` and Delta lives (it may not exist yet); None without Java."""
    binary = java()
    if binary is None:
        return None
    stat = binary.stat()
    spark_jars = _spark_jars()  # a reinstalled wheel has new JAR files, which the JVM would refuse the archive for
    key = "|".join([str(binary), str(stat.st_size), str(int(stat.st_mtime)), version("pyspark"), version("delta-spark"),
                    str(spark_jars), str(int(spark_jars.stat().st_mtime)) if spark_jars.exists() else ""])
    return cache_dir / f"spark-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsa"


def _spark_jars() -> Path:
    spec = find_spec("pyspark")  # not imported: this module is read by every run's resource setup
    return Path(spec.origin if spec and spec.origin else ".").parent / "jars"


def java_options(existing: str = "", conf: Mapping[str, str] | None = None, cache_dir: Path = CACHE_DIR) -> str:
    """``existing`` JVM options plus the archive's, when it exists and the JVM's class path is Spark's own.

    ``conf`` is the Spark configuration the JVM starts with: an extra class path goes first on the JVM's class
    path, which the archive then would not match, so none is added (nor when ``existing`` already names an
    archive or says ``-Xshare``). What Spark's launcher appends (``HADOOP_CONF_DIR``, ``SPARK_DIST_CLASSPATH``)
    keeps it valid: the archive's class path need only be the start of the JVM's.
    """
    conf = conf or {}
    if (any(option in existing for option in ("SharedArchiveFile", "ArchiveClassesAtExit", "-Xshare"))
            or any(conf.get(key) for key in EXTRA_CLASS_PATH)):
        return existing
    archive = archive_path(cache_dir)
    if archive is None or not archive.exists():
        return existing
    return f"{existing} -XX:SharedArchiveFile={archive} {QUIET}".strip()


def with_archive(conf: Mapping[str, str], keys: tuple[str, ...] = ("spark.driver.extraJavaOptions",)) -> dict[str, str]:
    """``conf`` with :func:`java_options` in each of ``keys`` (JVM option settings), where the archive applies."""
    result = dict(conf)
    for key in keys:
        options = java_options(result.get(key, ""), result)
        if options:
            result[key] = options
    return result


def workload(spark, folder: Path) -> None:
    """What the archive learns from: the Spark and Delta work the lakehouse does, on a few rows."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    lines = folder / "landing"
    lines.mkdir()
    (lines / "a.json").write_text('{"id": 1, "name": "a"}\n{"id": 2, "name": "b"}\nnot json\n', encoding="utf-8")
    schema = StructType([StructField("id", LongType()), StructField("name", StringType()),
                         StructField("_corrupt_record", StringType())])
    raw = (spark.read.schema(schema).option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", "_corrupt_record")
           .json(str(lines)).withColumn("_file", F.input_file_name()).cache())
    raw.filter(F.col("_corrupt_record").isNull()).count()
    table = folder / "sales"
    spark.sql(f"CREATE TABLE delta.`{table}` (id BIGINT, name STRING, day DATE, amount DOUBLE) USING delta "
              "PARTITIONED BY (day) TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    spark.sql(f"ALTER TABLE delta.`{table}` ADD CONSTRAINT positive CHECK (amount >= 0)")
    rows = raw.filter(F.col("id").isNotNull()).select(
        "id", "name", F.to_date(F.lit("2025-01-01")).alias("day"), (F.col("id") * 1.5).alias("amount"))
    for _ in range(2):
        (rows.write.format("delta").mode("overwrite").option("replaceWhere", "day = '2025-01-01'").save(str(table)))
    rows.createOrReplaceTempView("changes")
    spark.sql(f"MERGE INTO delta.`{table}` t USING changes s ON t.id = s.id AND t.day = s.day "
              "WHEN MATCHED AND t.name <> s.name THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
    spark.sql(f"MERGE INTO delta.`{table}` t USING changes s ON t.id = s.id AND t.day = s.day "
              "WHEN MATCHED THEN UPDATE SET amount = s.amount + 1")
    spark.sql(f"DELETE FROM delta.`{table}` WHERE id = 2")
    spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0).load(str(table)).count()
    spark.read.format("delta").option("versionAsOf", 1).load(str(table)).groupBy("day").agg(F.sum("amount")).collect()
    spark.sql(f"DESCRIBE HISTORY delta.`{table}`").collect()
    spark.sql(f"DESCRIBE DETAIL delta.`{table}`").collect()
    spark.sql(f"OPTIMIZE delta.`{table}` ZORDER BY (id)").collect()
    spark.sql(f"VACUUM delta.`{table}` RETAIN 168 HOURS DRY RUN").collect()
    clustered = folder / "dimension"
    spark.sql(f"CREATE TABLE delta.`{clustered}` (id BIGINT, name STRING) USING delta CLUSTER BY (id) "
              "TBLPROPERTIES (delta.enableDeletionVectors = true)")
    spark.sql(f"INSERT INTO delta.`{clustered}` SELECT id, name FROM changes")
    spark.sql(f"OPTIMIZE delta.`{clustered}`").collect()
    label = F.udf(lambda name: (name or "").upper(), StringType())
    spark.read.format("delta").load(str(table)).select(label("name")).collect()
    stream = (spark.readStream.format("delta").load(str(table)).writeStream
              .foreachBatch(lambda batch, _: batch.count())
              .option("checkpointLocation", str(folder / "checkpoint")).trigger(availableNow=True).start())
    stream.awaitTermination()


def build(cache_dir: Path = CACHE_DIR, jars_dir: Path = DEFAULT_JARS_DIR) -> Path | None:
    """Build this machine's archive unless it exists: :func:`workload` in a JVM that dumps its classes at exit."""
    archive = archive_path(cache_dir)
    if archive is None or archive.exists():
        return archive
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(f".{os.getpid()}.partial")
    log = cache_dir / "build.log"
    with log.open("wb") as out:
        result = subprocess.run([sys.executable, "-m", "lakehouse.jvm", "--dump-to", str(partial), "--jars-dir",
                                 str(jars_dir)], stdout=out, stderr=subprocess.STDOUT)
    _wait_for_exit(partial.with_suffix(".pid"))
    if result.returncode != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"building the JVM class archive failed (exit {result.returncode}); see {log}. "
                           "Runs work without it.")
    partial.replace(archive)
    for stale in [*cache_dir.glob("spark-*.jsa"), *cache_dir.glob("spark-*.partial")]:  # older keys, interrupted builds
        if stale != archive:
            stale.unlink(missing_ok=True)
    return archive


def _wait_for_exit(pid_file: Path, timeout: float = 300) -> None:
    """The JVM writes the archive as it exits, after the Python process that drove it has ended."""
    if not pid_file.exists():
        return
    pid, deadline = int(pid_file.read_text()), time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    pid_file.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dump(target: Path, jars_dir: Path) -> None:
    from lakehouse.resources.spark import DRIVER_JAVA_OPTIONS, SparkResource

    # The session a run opens (its settings, Delta JARs, Python workers), dumping its classes at exit. The JIT's first
    # tier only: which classes load does not depend on the JIT, and the archive serves JVMs with either (`make setup`
    # 50 s -> 43 s, 2026-12-07; a default-JIT session then loaded 11,543 classes from it).
    spark = SparkResource(master="local[2]", app_name="lakehouse-jvm-archive", jars_dir=str(jars_dir), conf={
        "spark.driver.memory": "1g", DRIVER_JAVA_OPTIONS: f"-XX:TieredStopAtLevel=1 -XX:ArchiveClassesAtExit={target}"}).get_session()
    target.with_suffix(".pid").write_text(str(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()))  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory(prefix="lakehouse-jvm-") as folder:
        workload(spark, Path(folder))
    spark.stop()  # the JVM dumps the archive as it exits, after this process ends the gateway


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakehouse.jvm", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--dump-to", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--jars-dir", type=Path, default=DEFAULT_JARS_DIR)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    args = parser.parse_args(argv)
    if args.dump_to:
        _dump(args.dump_to, args.jars_dir)
        return 0
    started = time.monotonic()
    archive = build(args.cache_dir, args.jars_dir)
    if archive is None:
        print("no java found: no JVM class archive built", file=sys.stderr)
        return 1
    print(f"{archive} ({archive.stat().st_size / 2**20:.0f} MiB, {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
