"""SCD2 benchmark: an incremental run (change feed + MERGE of the changed keys) versus a full rebuild.

In a scratch folder, builds a Delta events table with Change Data Feed (an INSERT per key, an
earlier UPDATE for a fifth of the keys) and the dimension from it; then appends events for a
share of the keys: updates of a tracked column, no-op updates, deletes, and late updates older by
sequence than history already written. After a small warm-up MERGE, it times (a) the incremental
run as the asset does it: ``changed_keys`` + the full history of those keys (``history_of``) +
``merge_scd2``, and (b) ``rebuild_scd2`` over all events into a copy of the same dimension, and
checks that both tables are identical.

Which keys change (``--changes``): ``spread`` (default) picks every 100th key, so with 1% changed
every file of the dimension holds changed keys, whatever its layout; ``range`` picks the highest 1% of
ids (e.g. the customers who signed up lately), which a layout by key keeps in a few files. How the
dimension is laid out (``--layout``): ``written`` (default) is the files the first overwrite wrote;
``clustered`` creates it from the registry's ``silver/dim_customer`` declaration (``CLUSTER BY
customer_id``, deletion vectors) and clusters it with ``OPTIMIZE`` into files of at most ``--file-mib``
MiB, as the maintenance job would with that file size, so a MERGE can skip the files that hold no
changed key.

Usage::

    make bench ARGS="scd2"                                    # 1,000,000 keys, 1% changed
    make bench ARGS="scd2 --keys 20000 --changed-share 0.05"  # smaller
    make bench ARGS="scd2 --changes range --layout clustered" # changes in a few files of a clustered dimension
"""

from __future__ import annotations

import argparse
import shutil
import time
from importlib.metadata import version
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from benchmarks import machine
from lakehouse import delta, tables
from lakehouse.resources import SparkResource
from lakehouse.scd.scd2 import Scd2Result, Scd2Spec, changed_keys, history_of, last_source_version, merge_scd2, rebuild_scd2
from lakehouse.settings import PROJECT_ROOT

SPEC = Scd2Spec(keys=("customer_id",), sequence="seq", timestamp="event_ts",
                tracked=("name", "email", "phone", "city"), delete_when="op = 'DELETE'")
START = 1_735_689_600  # 2025-01-01T00:00:00Z
HISTORY_EVERY = 5      # keys with id % 5 == 0 have an UPDATE after their INSERT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scd2", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keys", type=int, default=1_000_000, help="dimension keys (default 1,000,000)")
    parser.add_argument("--changed-share", type=float, default=0.01,
                        help="share of keys with new events (default 0.01)")
    parser.add_argument("--changes", choices=("spread", "range"), default="spread",
                        help="which keys change: every 1/share-th key (default) or the highest share of ids")
    parser.add_argument("--layout", choices=("written", "clustered"), default="written",
                        help="the dimension as first written (default) or clustered by customer_id (the registry's declaration)")
    parser.add_argument("--file-mib", type=float, default=1.0, help="OPTIMIZE's largest file with --layout clustered (MiB)")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT / "data" / "bench" / "scd2")
    args = parser.parse_args(argv)
    step = max(1, round(1 / args.changed_share))

    shutil.rmtree(args.root, ignore_errors=True)
    args.root.mkdir(parents=True)
    events_path, dim_path, rebuilt_path = (str(args.root / name) for name in ("events", "dim", "dim_rebuilt"))
    spark = SparkResource(jars_dir=str(PROJECT_ROOT / ".cache" / "jars"),
                          conf={"spark.driver.memory": args.driver_memory}).get_session()
    changed = (F.col("customer_id") % step == 0) if args.changes == "spread" \
        else F.col("customer_id") > args.keys - max(1, round(args.keys * args.changed_share))

    print(f"building {args.keys:,} keys of history and the dimension in {args.root} ...", flush=True)
    began = time.perf_counter()
    history = _history(spark, args.keys, changed)
    history.write.format("delta").option("delta.enableChangeDataFeed", "true").save(events_path)
    if args.layout == "clustered":
        delta.create_table(spark, tables.SILVER_DIM_CUSTOMER, dim_path)
    initial = rebuild_scd2(spark, dim_path, _events(spark, events_path), SPEC, source_version=0)
    if args.layout == "clustered":
        delta.optimize(spark, dim_path, max_file_bytes=int(args.file_mib * 2**20))
    shutil.copytree(dim_path, rebuilt_path)
    print(f"  initial build: {initial.versions_written:,} versions in {time.perf_counter() - began:.1f} s", flush=True)
    _changes(spark, args.keys, changed, step).write.format("delta").mode("append").save(events_path)
    _warm_up(spark, str(args.root / "warm_up"))
    layout = _layout(spark, dim_path, args)  # before the incremental run adds its files

    began = time.perf_counter()
    keys, current = changed_keys(spark, events_path, last_source_version(spark, dim_path), SPEC.keys)
    found = time.perf_counter() - began
    if keys is None:
        raise ValueError(f"changed_keys cannot read the changes of {events_path} since the version recorded "
                         f"in {dim_path} (it asks for a full rebuild)")
    history = history_of(_events(spark, events_path), keys, SPEC)
    incremental = merge_scd2(spark, dim_path, history, SPEC, source_version=current)
    incremental_s = time.perf_counter() - began
    print(f"  incremental: {incremental_s:.1f} s (changed_keys {found:.1f} s)", flush=True)

    began = time.perf_counter()
    full = rebuild_scd2(spark, rebuilt_path, _events(spark, events_path), SPEC, source_version=current)
    full_s = time.perf_counter() - began
    print(f"  full rebuild: {full_s:.1f} s", flush=True)

    identical = _identical(spark, dim_path, rebuilt_path)
    _print_table(spark, args, events_path, dim_path, layout, [(incremental, incremental_s), (full, full_s)], identical)
    return 0 if identical else 1


def _warm_up(spark: SparkSession, folder: str) -> None:
    """One small MERGE first, so that neither timed mode pays for compiling Delta's MERGE code paths."""
    changed = F.col("customer_id") % 10 == 0
    small = _history(spark, 1_000, changed)
    rebuild_scd2(spark, folder, small, SPEC)
    merge_scd2(spark, folder, small.unionByName(_changes(spark, 1_000, changed, 10)), SPEC)


def _history(spark: SparkSession, keys: int, changed: Column) -> DataFrame:
    """An INSERT per key (seq 10) and, for every fifth key and every key that will change, an UPDATE of city (seq 20)."""
    ids = spark.range(1, keys + 1).withColumnRenamed("id", "customer_id")
    inserts = _event(ids, 10, "INSERT", city=_city(0))
    updated = ids.where((F.col("customer_id") % HISTORY_EVERY == 0) | changed)
    return inserts.unionByName(_event(updated, 20, "UPDATE", city=_city(1)))


def _changes(spark: SparkSession, keys: int, changed: Column, step: int) -> DataFrame:
    """Events for the keys ``changed`` selects: 70% email changes, 15% no-ops, 5% deletes, 10% late updates."""
    ids = spark.range(1, keys + 1).withColumnRenamed("id", "customer_id").where(changed)
    bucket = F.when(F.col("customer_id") % step == 0, (F.col("customer_id") / F.lit(step)).cast("long")) \
        .otherwise(F.col("customer_id")) % 20
    updates = _event(ids.where(bucket < 14), 30, "UPDATE", city=_city(1), email=F.concat(F.lit("new-"), _email()))
    no_op = _event(ids.where(bucket.between(14, 16)), 30, "UPDATE", city=_city(1))
    deleted = _event(ids.where(bucket == 17), 30, "DELETE", city=_city(1))
    # older by sequence than the UPDATE at seq 20 already in the dimension: splits the first version
    late = _event(ids.where(bucket >= 18), 15, "UPDATE", city=_city(0), name=F.concat(F.lit("late-"), _name()))
    return updates.unionByName(no_op).unionByName(deleted).unionByName(late)


def _event(ids: DataFrame, seq: int, op: str, city, email=None, name=None) -> DataFrame:
    key = F.col("customer_id")
    return ids.select(
        key, F.lit(seq).cast("long").alias("seq"), F.lit(op).alias("op"),
        F.timestamp_seconds(F.lit(START + seq * 86_400) + key % 86_400).alias("event_ts"),
        (name if name is not None else _name()).alias("name"),
        (email if email is not None else _email()).alias("email"),
        F.format_string("+1-555-%07d", key % 10_000_000).alias("phone"),
        city.alias("city"),
    )


def _name():
    return F.concat(F.lit("customer-"), F.col("customer_id").cast("string"))


def _email():
    return F.concat(F.lit("c"), F.col("customer_id").cast("string"), F.lit("@example.com"))


def _city(shift: int):
    return F.concat(F.lit("city-"), ((F.col("customer_id") + shift) % 50).cast("string"))


def _events(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def _identical(spark: SparkSession, left: str, right: str) -> bool:
    """Same row count and the same multiset of row hashes, both ways."""
    hashed = [spark.read.format("delta").load(p).select(F.xxhash64(*SPEC.columns).alias("h")) for p in (left, right)]
    return (hashed[0].count() == hashed[1].count()
            and hashed[0].exceptAll(hashed[1]).isEmpty() and hashed[1].exceptAll(hashed[0]).isEmpty())


def _layout(spark: SparkSession, path: str, args: argparse.Namespace) -> str:
    files = delta.detail(spark, path).num_files
    return f"clustered by customer_id, files up to {args.file_mib:g} MiB ({files} files before the incremental run)" \
        if args.layout == "clustered" \
        else f"as written ({files} files before the incremental run)"


def _print_table(spark, args, events_path, dim_path, layout: str,
                 results: list[tuple[Scd2Result, float]], identical: bool) -> None:
    events, dim = (DeltaTable.forPath(spark, p).detail().first() for p in (events_path, dim_path))
    if events is None or dim is None:
        raise ValueError(f"DESCRIBE DETAIL of {events_path} or {dim_path} returned no row")
    event_rows = spark.read.format("delta").load(events_path).count()
    dim_rows = spark.read.format("delta").load(dim_path).count()
    print()
    print(f"machine: {machine.describe()}, "
          f"pyspark {version('pyspark')}, delta-spark {version('delta-spark')}, Spark {spark.sparkContext.master}, "
          f"driver memory {args.driver_memory}")
    print(f"data: {args.keys:,} keys, {event_rows:,} events ({events.sizeInBytes / 2**20:.0f} MiB), "
          f"dimension {dim_rows:,} rows ({dim.sizeInBytes / 2**20:.0f} MiB); "
          f"{args.changed_share:.1%} of keys with new events ({args.changes}); layout {layout}")
    print()
    print("| mode | keys recomputed | versions written | rows inserted / updated / deleted | wall s |")
    print("|---|---:|---:|---:|---:|")
    for result, seconds in results:
        label = "incremental (change feed + MERGE)" if result.mode == "incremental" else "full rebuild (overwrite)"
        changes = f"{result.rows_inserted:,} / {result.rows_updated:,} / {result.rows_deleted:,}"
        print(f"| {label} | {result.keys_changed:,} | {result.versions_written:,} | {changes} | {seconds:.1f} |")
    print(f"\nincremental / full rebuild = {results[0][1] / results[1][1]:.2f}x (issue 12's target: at most 0.2x)")
    print("tables identical (count + exceptAll of row hashes both ways)" if identical else "TABLES DIFFER")

