"""The catalog's Delta log reader against what Spark reads: live rows per partition across a checkpoint and deletion vectors."""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse import delta
from lakehouse.catalog.delta_log import NULL_PARTITION, read_snapshot


def test_rows_per_partition_are_sparks_across_checkpoints_and_deletion_vectors(spark, tmp_path):
    path = tmp_path / "events"
    spark.sql(f"CREATE TABLE delta.`{path}` (id BIGINT, day STRING) USING delta PARTITIONED BY (day) "
              "TBLPROPERTIES ('delta.enableDeletionVectors' = 'true', 'delta.checkpointInterval' = '3')")
    for start in (0, 30, 60):
        frame = spark.range(start, start + 30).withColumn("day", F.when(F.col("id") % 7 == 0, None).otherwise(
            F.concat(F.lit("2025-01-0"), (F.col("id") % 3 + 1).cast("string"))))
        frame.write.format("delta").mode("append").save(str(path))
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id % 4 = 0")  # marks rows in deletion vectors, files stay
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id % 5 = 0")  # a second vector replaces the first of a file
    spark.range(90, 95).withColumn("day", F.lit("2025-01-04")).write.format("delta").mode("append").save(str(path))

    log = path / "_delta_log"
    assert list(log.glob("*.checkpoint.parquet")), "the test needs a checkpoint"
    assert any('"deletionVector"' in f.read_text() for f in log.glob("*.json")), "the test needs deletion vectors"
    table = spark.read.format("delta").load(str(path))
    expected = {(r["day"] if r["day"] is not None else NULL_PARTITION): r["count"] for r in table.groupBy("day").count().collect()}

    snapshot = read_snapshot(path)
    assert snapshot is not None
    assert snapshot.rows_by_partition("day") == dict(sorted(expected.items()))
    assert snapshot.rows == table.count()
    assert snapshot.version == delta.latest_version(spark, path)
    assert snapshot.partition_columns == ("day",)
    assert snapshot.operation == "WRITE"


def test_no_table_is_none(tmp_path):
    assert read_snapshot(tmp_path / "nothing") is None
    (tmp_path / "empty" / "_delta_log").mkdir(parents=True)
    assert read_snapshot(tmp_path / "empty") is None
