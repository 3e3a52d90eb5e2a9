"""What OPTIMIZE would do to a table, estimated from its file list without running it (the dry run).

The estimate follows Delta's own rules, as far as they are knowable from the files alone:

* **compaction**: per partition, files smaller than ``spark.databricks.delta.optimize.minFileSize``
  are packed, smallest first, into bins of at most the target file size; a bin of one file is
  left alone. So a partition with one small file is not rewritten.
* **Z-order**: Delta (open source) rewrites every file of every partition, each time.
* **liquid clustering**: Delta re-clusters the files not yet clustered; which ones is recorded
  per file in the log, not cheaply known here, so only the table's files are reported.

Example::

    plan = preview_optimize(spark, tables.SILVER_SALES, path)
    plan.summary()     # 'Z-order by customer_id: rewrites all 12 files (48,210 bytes) in 2 partitions'
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse import delta
from lakehouse.tables.registry import Table

MIN_FILE_CONF = "spark.databricks.delta.optimize.minFileSize"
DELTA_DEFAULT_FILE_BYTES = 1 << 30  # Delta's default minFileSize and maxFileSize: 1 GiB


@dataclass(frozen=True)
class OptimizePreview:
    """Files of the table now, and those OPTIMIZE would rewrite (``None``: Delta decides, not estimated)."""

    strategy: str
    files: int
    partitions: int
    files_to_rewrite: int | None
    bytes_to_rewrite: int | None
    partitions_to_touch: int | None

    def summary(self) -> str:
        if self.files_to_rewrite is None:
            return f"{self.strategy}: Delta re-clusters the files not yet clustered (of {self.files}); not estimated"
        if not self.files_to_rewrite:
            return f"{self.strategy}: nothing to rewrite ({self.files} files in {self.partitions} partition(s))"
        return (f"{self.strategy}: rewrites {self.files_to_rewrite} of {self.files} files "
                f"({self.bytes_to_rewrite:,} bytes) in {self.partitions_to_touch} partition(s)")

    def metadata(self) -> dict[str, object]:
        figures = {"files_to_rewrite": self.files_to_rewrite, "bytes_to_rewrite": self.bytes_to_rewrite,
                   "partitions_to_touch": self.partitions_to_touch}
        return {"optimize_plan": self.summary(), **{k: v for k, v in figures.items() if v is not None}}


def strategy(table: Table) -> str:
    """How maintenance optimizes ``table``, as said in logs and metadata."""
    if table.cluster_by:
        return f"re-cluster by {', '.join(table.cluster_by)}"
    if table.zorder:
        return f"Z-order by {', '.join(table.zorder)}"
    return "compaction"


def preview_optimize(spark: SparkSession, table: Table, path: str | Path) -> OptimizePreview:
    """Estimate what maintenance's OPTIMIZE of ``table`` would rewrite (see the module docstring)."""
    files = delta.data_files(spark, path)
    by_partition: dict[str, list[int]] = defaultdict(list)
    for f in files:
        by_partition[f.partition].append(f.bytes)
    common = {"strategy": strategy(table), "files": len(files), "partitions": len(by_partition)}
    if table.cluster_by:
        return OptimizePreview(**common, files_to_rewrite=None, bytes_to_rewrite=None, partitions_to_touch=None)
    if table.zorder:
        return OptimizePreview(**common, files_to_rewrite=len(files), bytes_to_rewrite=sum(f.bytes for f in files),
                               partitions_to_touch=len(by_partition))
    small = int(spark.conf.get(MIN_FILE_CONF, None) or DELTA_DEFAULT_FILE_BYTES)
    target = table.optimize_max_file_bytes or int(spark.conf.get(delta.OPTIMIZE_MAX_FILE_CONF, None)
                                                  or DELTA_DEFAULT_FILE_BYTES)
    rewritten = {p: _compacted(sizes, small, target) for p, sizes in by_partition.items()}
    rewritten = {p: sizes for p, sizes in rewritten.items() if sizes}
    return OptimizePreview(**common, files_to_rewrite=sum(len(s) for s in rewritten.values()),
                           bytes_to_rewrite=sum(sum(s) for s in rewritten.values()), partitions_to_touch=len(rewritten))


def _compacted(sizes: list[int], small: int, target: int) -> list[int]:
    """Sizes of the files compaction rewrites in one partition: bins of more than one small file."""
    bins: list[list[int]] = [[]]
    for size in sorted(s for s in sizes if s < small):
        if bins[-1] and sum(bins[-1]) + size > target:
            bins.append([])
        bins[-1].append(size)
    return [size for b in bins if len(b) > 1 for size in b]
