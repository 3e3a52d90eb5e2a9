"""``<table>_small_files`` on real Delta tables: files per partition are counted only when the verdict depends on them."""

import dataclasses

from lakehouse import delta, tables
from lakehouse.checks.declared import small_files

DAILY = dataclasses.replace(tables.SILVER_SALES, max_files_per_partition=2, min_average_file_bytes=1_000_000)


def _write(spark, path, days):
    """One tiny file per element of ``days`` (a day may repeat: several files in its partition)."""
    for day in days:
        spark.createDataFrame([(day, "S-1")], "sale_date string, sale_id string") \
            .selectExpr("CAST(sale_date AS DATE) AS sale_date", "sale_id").write.format("delta").mode("append").partitionBy("sale_date").save(path)


def test_small_files_piling_up_in_one_partition_warn_naming_the_fix(spark, tmp_path):
    path = str(tmp_path / "t")
    _write(spark, path, ["2025-01-01"] * 3)
    result = small_files(spark, DAILY, path)
    assert not result.passed
    assert "3 per partition (more than 2)" in str(result.description) and "table_maintenance" in str(result.description)
    assert result.metadata["partitions"].value == 1


def test_as_many_files_spread_over_as_many_partitions_pass(spark, tmp_path):
    path = str(tmp_path / "t")
    _write(spark, path, ["2025-01-01", "2025-01-02", "2025-01-03"])
    result = small_files(spark, DAILY, path)
    assert result.passed, result.description
    assert result.metadata["partitions"].value == 3 and "3 files over 3 partition(s)" in str(result.description)


def test_few_files_pass_without_counting_partitions(spark, tmp_path):
    path = str(tmp_path / "t")
    _write(spark, path, ["2025-01-01", "2025-01-01"])
    result = small_files(spark, DAILY, path)
    assert result.passed and "within the small-files threshold" in str(result.description)
    assert "partitions" not in result.metadata


def _spark_partitions(spark, path) -> int:
    return len({delta.partition_of(f) for f in spark.read.format("delta").load(path).inputFiles()})


def test_partitions_are_counted_from_the_log_as_spark_lists_the_files(spark, tmp_path):
    path = str(tmp_path / "t")
    _write(spark, path, ["2025-01-01", "2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"])
    # A partition emptied and another rewritten: only the current version's files count.
    spark.sql(f"DELETE FROM delta.`{path}` WHERE sale_date = DATE'2025-01-04'")
    spark.createDataFrame([("2025-01-02", "S-2")], "sale_date string, sale_id string") \
        .selectExpr("CAST(sale_date AS DATE) AS sale_date", "sale_id").write.format("delta").mode("overwrite") \
        .option("replaceWhere", "sale_date = DATE'2025-01-02'").save(path)
    assert delta.partitions_with_files(spark, path) == _spark_partitions(spark, path) == 3


def test_an_unpartitioned_table_is_one_partition_and_an_empty_one_none(spark, tmp_path):
    path = str(tmp_path / "u")
    spark.createDataFrame([("S-1",)], "sale_id string").write.format("delta").save(path)
    assert delta.partitions_with_files(spark, path) == 1
    spark.sql(f"DELETE FROM delta.`{path}`")
    assert delta.partitions_with_files(spark, path) == 0


def test_without_delta_rs_the_partitions_come_from_spark(spark, tmp_path, monkeypatch):
    # delta-rs is a shortcut: a log it cannot open (a table feature it does not read) falls back to Spark's file list.
    import deltalake
    from deltalake.exceptions import DeltaProtocolError

    def refuse(*_args, **_kwargs):
        raise DeltaProtocolError("unsupported reader features: ['someFutureFeature']")

    path = str(tmp_path / "t")
    _write(spark, path, ["2025-01-01", "2025-01-02"])
    monkeypatch.setattr(deltalake, "DeltaTable", refuse)
    assert delta.partitions_with_files(spark, path) == 2
