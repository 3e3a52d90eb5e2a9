"""The layout benchmark's scan metrics are the files and bytes a query really read, after Delta's data skipping."""

from benchmarks.layout import ScanMetrics, collect_scanned
from lakehouse import delta


def test_scan_metrics_count_the_files_left_after_data_skipping(spark, tmp_path):
    table = tmp_path / "t"
    # four files with disjoint id ranges (0-99, 100-199, ...), so the min/max statistics can skip three of them
    spark.range(0, 400, numPartitions=4).write.format("delta").save(str(table))
    sizes = sorted(f.stat().st_size for f in table.glob("*.parquet"))
    assert len(sizes) == 4

    rows, everything = collect_scanned(spark.sql(f"SELECT count(*), sum(id) FROM {delta.sql_path(table)}"))
    assert tuple(rows[0]) == (400, 79_800)
    assert everything == ScanMetrics(files=4, bytes=sum(sizes))

    rows, one = collect_scanned(spark.sql(f"SELECT count(*), sum(id) FROM {delta.sql_path(table)} WHERE id = 150"))
    assert tuple(rows[0]) == (1, 150)
    assert one.files == 1
    assert one.bytes in sizes
