"""The lakehouse's sales chain as one plain PySpark + Delta script: the baseline of ``make bench ARGS=compare``.

Landing ``sales/<day>/*.json`` → bronze/sales and bronze/sales_rejects → silver/sales and
silver/sales_quarantine → gold/daily_sales, for a range of days, with the lakehouse's logic and
none of its framework: lines that are not JSON objects go to rejects; records are parsed with the
sales schema (a value of the wrong type is null and kept in ``_rescued_data``); the drop rules of
silver; one row per ``sale_id`` (a valid copy first, then the latest file); ``net_amount``; the
daily aggregate per store. Every table is written with ``replaceWhere`` over the days, as the
lakehouse's IO manager does. Left out on purpose, as a plain script would: Dagster, the table
registry (declared columns, CHECK constraints, Change Data Feed), warn-level rules, asset checks,
metadata and ``_source_line``.

The SparkSession has the lakehouse's settings (``lakehouse.resources.spark``; a test keeps
them equal) and its Delta JARs. It imports nothing of the lakehouse but the JAR list (stdlib
only), so that a cold run times Python, the JVM and the work, not Dagster's imports.

Usage::

    python benchmarks/plain_spark.py --landing data/bench/landing_clean --days 2025-01-30 data/bench/compare/w1
    python benchmarks/plain_spark.py --landing L --days 2025-01-01...2025-01-30 W1 W2 W3   # three passes, one JVM

One pass per warehouse folder, in one JVM (the same folder may be given again); prints one JSON
line per pass: ``{"pass": 1, "seconds": 12.3}``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, timedelta
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse import jvm
from lakehouse.jars import delta_jars

SALES_SCHEMA = T.StructType([
    T.StructField("sale_id", T.StringType()),
    T.StructField("customer_id", T.LongType()),
    T.StructField("product_id", T.LongType()),
    T.StructField("store_id", T.LongType()),
    T.StructField("quantity", T.LongType()),
    T.StructField("amount", T.DoubleType()),
    T.StructField("discount", T.DoubleType()),
    T.StructField("sale_ts", T.StringType()),
])
ISO_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})$"
TS_PARSES = f"(sale_ts RLIKE '{ISO_TIMESTAMP}' AND try_cast(sale_ts AS TIMESTAMP) IS NOT NULL)"
# The drop rules of silver/sales (lakehouse/assets/silver/sales.py): a row breaking one goes to quarantine.
RULES = {
    "sale_id_not_null": "sale_id IS NOT NULL",
    "customer_id_not_null": "customer_id IS NOT NULL",
    "product_id_not_null": "product_id IS NOT NULL",
    "store_id_not_null": "store_id IS NOT NULL",
    "quantity_positive": "quantity > 0",
    "amount_positive": "amount > 0",
    "discount_in_range": "coalesce(discount, 0) >= 0 AND coalesce(discount, 0) < 1"
                         " AND NOT (discount IS NULL AND get_json_object(_rescued_data, '$.discount') IS NOT NULL)",
    "sale_ts_parses": TS_PARSES,
    "sale_ts_in_partition_day": f"NOT {TS_PARSES} OR to_date(try_cast(sale_ts AS TIMESTAMP)) = sale_date",
}
# The lakehouse's session settings (lakehouse/resources/spark.py), written out as a plain script would.
CONF = {
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
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.mapKeyDedupPolicy": "LAST_WIN",
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
TABLES = ("bronze/sales", "bronze/sales_rejects", "silver/sales", "silver/sales_quarantine", "gold/daily_sales")
_DAY_FOLDER = r"/sales/([0-9]{4}-[0-9]{2}-[0-9]{2})/[^/]+$"


def spark_conf(jars_dir: Path) -> dict[str, str]:
    """The session's settings: the lakehouse's, plus its Delta JARs from ``jars_dir``."""
    return jvm.with_archive({**CONF, "spark.jars": ",".join(str(p) for p in delta_jars(jars_dir))})  # as the lakehouse's JVMs


def session(jars_dir: Path) -> SparkSession:
    """A local Delta-enabled SparkSession with the lakehouse's settings."""
    builder = SparkSession.builder.master("local[*]").appName("plain_spark")
    for key, value in spark_conf(jars_dir).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def day_range(text: str) -> list[str]:
    """``'2025-01-01...2025-01-03'`` or ``'2025-01-03'`` → the days, in order."""
    first, _, last = text.partition("...")
    start, end = date.fromisoformat(first), date.fromisoformat(last or first)
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def run(spark: SparkSession, landing: Path, warehouse: Path, days: list[str]) -> None:
    """Landing files of ``days`` → the five sales tables under ``warehouse`` (those days replaced)."""
    files = [str(p) for day in days for p in sorted((landing / "sales" / day).glob("*.json"))]
    where = f"sale_date >= DATE'{days[0]}' AND sale_date <= DATE'{days[-1]}'"
    lines = (
        spark.read.text(files)
        .select(F.col("value").alias("line"), F.col("_metadata.file_path").alias("_source_file"),
                F.col("_metadata.file_modification_time").alias("_ingested_at"))
        .where(~F.col("line").rlike(r"^\s*$"))
        .withColumn("sale_date", F.to_date(F.regexp_extract("_source_file", _DAY_FOLDER, 1)))
        # null when the line is not a JSON object
        .withColumn("_raw", F.from_json("line", T.MapType(T.StringType(), T.StringType())))  # pyright: ignore[reportArgumentType]
        .persist()
    )
    rejects = lines.where(F.col("_raw").isNull()).select(
        F.col("line").alias("_raw_line"), F.lit("not a JSON object").alias("_reject_reason"),
        "_source_file", "_ingested_at", "sale_date")
    typed = lines.where(F.col("_raw").isNotNull()).withColumn("_typed", F.from_json("line", SALES_SCHEMA))
    bronze = typed.select(*[F.col("_typed").getField(f.name).alias(f.name) for f in SALES_SCHEMA.fields],
                          _rescued().alias("_rescued_data"), "_source_file", "_ingested_at", "sale_date")
    failed = F.filter(F.array(*[F.when(~F.coalesce(F.expr(rule), F.lit(False)), F.lit(name)) for name, rule in RULES.items()]),
                      lambda name: name.isNotNull())
    checked = bronze.withColumn("_failed_expectations", failed).withColumn("_valid", F.size("_failed_expectations") == 0)
    best_first = Window.partitionBy("sale_date", "sale_id").orderBy(
        F.col("_valid").desc(), F.col("_ingested_at").desc(), F.col("_source_file").desc())
    distinct = (checked.withColumn("_copy", F.when(F.col("sale_id").isNotNull(), F.row_number().over(best_first)).otherwise(1))
                .where("_copy = 1").drop("_copy").persist())
    discount = F.coalesce(F.col("discount"), F.lit(0.0))
    silver = distinct.where("_valid").select(
        "sale_id", "customer_id", "product_id", "store_id", "quantity", "amount", discount.alias("discount"),
        F.expr("try_cast(sale_ts AS TIMESTAMP)").alias("sale_ts"),
        (F.col("amount") * F.col("quantity") * (F.lit(1.0) - discount)).alias("net_amount"),
        "sale_date", "_source_file", "_ingested_at")
    quarantine = distinct.where("NOT _valid").drop("_valid")

    _replace(bronze, warehouse / "bronze" / "sales", where)
    _replace(rejects, warehouse / "bronze" / "sales_rejects", where)
    _replace(silver, warehouse / "silver" / "sales", where)
    _replace(quarantine, warehouse / "silver" / "sales_quarantine", where)
    written = spark.read.format("delta").load(str(warehouse / "silver" / "sales")).where(where)
    gold = written.groupBy("sale_date", "store_id").agg(
        F.sum("net_amount").alias("revenue"), F.count("sale_id").alias("transactions"), F.sum("quantity").alias("units"))
    _replace(gold, warehouse / "gold" / "daily_sales", where)
    distinct.unpersist()
    lines.unpersist()


def _rescued() -> Column:
    """JSON of the fields that did not fit the schema (unknown keys, values of the wrong type); null if none."""
    known = [f.name for f in SALES_SCHEMA.fields]
    raw, typed = F.col("_raw"), F.col("_typed")
    wrong_type = F.map_filter(raw, lambda key, value: F.coalesce(
        *[F.when(key == F.lit(name), value.isNotNull() & typed.getField(name).isNull()) for name in known], F.lit(True)))
    return F.when(F.size(wrong_type) > 0, F.to_json(wrong_type))


def _replace(frame: DataFrame, path: Path, where: str) -> None:
    frame.write.format("delta").mode("overwrite").option("replaceWhere", where).partitionBy("sale_date").save(str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--landing", type=Path, required=True, help="landing zone (with sales/<day>/*.json)")
    parser.add_argument("--days", type=day_range, required=True, help="a day, or FIRST...LAST")
    parser.add_argument("--jars-dir", type=Path, default=Path(__file__).resolve().parents[1] / ".cache" / "jars")
    parser.add_argument("warehouses", type=Path, nargs="+", help="one pass per warehouse folder, in this JVM")
    args = parser.parse_args(argv)
    spark = session(args.jars_dir)
    for number, warehouse in enumerate(args.warehouses, start=1):
        began = time.perf_counter()
        run(spark, args.landing, warehouse, args.days)
        print(json.dumps({"pass": number, "seconds": round(time.perf_counter() - began, 3)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
