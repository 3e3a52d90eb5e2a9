"""The lakehouse's sales chain with Polars and delta-rs (``deltalake``), no JVM: a baseline of ``make bench ARGS=compare``.

The same logic as ``benchmarks/plain_spark.py`` (see there): rejects, records read with the sales
schema (a value of the wrong type is null and kept in ``_rescued_data``), the drop rules of silver,
one row per ``sale_id``, ``net_amount``, the daily aggregate per store; each table's days replaced
with ``write_deltalake(..., mode="overwrite", predicate=...)``.

Lines are parsed with Python's ``json`` module, one at a time: Polars' JSON readers
(``read_ndjson``, ``str.json_decode``) fail the whole batch on one malformed line or one value of
the wrong type, and cannot route it to the rejects. Everything after parsing is Polars.

Usage::

    python benchmarks/plain_polars.py --landing data/bench/landing_clean --days 2025-01-01...2025-01-30 W1 [W2 ...]

One pass per warehouse folder; prints one JSON line per pass: ``{"pass": 1, "seconds": 1.2}``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from deltalake import write_deltalake

# (field, type) of a landed sale, as in the sales schema: "long", "double" or "string".
FIELDS = (("sale_id", "string"), ("customer_id", "long"), ("product_id", "long"), ("store_id", "long"),
          ("quantity", "long"), ("amount", "double"), ("discount", "double"), ("sale_ts", "string"))
POLARS_TYPES = {"string": pl.String, "long": pl.Int64, "double": pl.Float64}
ISO_TIMESTAMP = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})$")
KNOWN = {name for name, _ in FIELDS}


def day_range(text: str) -> list[str]:
    """``'2025-01-01...2025-01-03'`` or ``'2025-01-03'`` → the days, in order."""
    first, _, last = text.partition("...")
    start, end = date.fromisoformat(first), date.fromisoformat(last or first)
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def run(landing: Path, warehouse: Path, days: list[str]) -> None:
    """Landing files of ``days`` → the five sales tables under ``warehouse`` (those days replaced)."""
    records: list[tuple] = []
    rejects: list[tuple] = []
    for day in days:
        sale_date = date.fromisoformat(day)
        for path in sorted((landing / "sales" / day).glob("*.json")):
            source, ingested = path.resolve().as_uri(), datetime.fromtimestamp(path.stat().st_mtime, UTC)
            for line in path.read_text(encoding="utf-8").split("\n"):  # as Spark splits lines: \n, then a trailing \r
                line = line.removesuffix("\r")
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    obj = None
                if not isinstance(obj, dict):
                    rejects.append((line, "not a JSON object", source, ingested, sale_date))
                    continue
                records.append((*_typed(obj), source, ingested, sale_date))
    lineage = {"_source_file": pl.String, "_ingested_at": pl.Datetime("us", "UTC"), "sale_date": pl.Date}
    bronze = pl.DataFrame(records, orient="row", schema={
        **{name: POLARS_TYPES[kind] for name, kind in FIELDS}, "_rescued_data": pl.String,
        "_sale_ts_utc": pl.Datetime("us", "UTC"), **lineage})
    reject_frame = pl.DataFrame(rejects, orient="row", schema={"_raw_line": pl.String, "_reject_reason": pl.String, **lineage})

    discount = pl.col("discount").fill_null(0.0)
    rules = {
        "sale_id_not_null": pl.col("sale_id").is_not_null(),
        "customer_id_not_null": pl.col("customer_id").is_not_null(),
        "product_id_not_null": pl.col("product_id").is_not_null(),
        "store_id_not_null": pl.col("store_id").is_not_null(),
        "quantity_positive": pl.col("quantity") > 0,
        "amount_positive": pl.col("amount") > 0,
        "discount_in_range": (discount >= 0) & (discount < 1) & ~(
            pl.col("discount").is_null() & pl.col("_rescued_data").str.contains('"discount"', literal=True).fill_null(False)),
        "sale_ts_parses": pl.col("_sale_ts_utc").is_not_null(),
        "sale_ts_in_partition_day": pl.col("_sale_ts_utc").is_null() | (pl.col("_sale_ts_utc").dt.date() == pl.col("sale_date")),
    }
    failed = pl.concat_list([pl.when(rule.fill_null(False)).then(None).otherwise(pl.lit(name)) for name, rule in rules.items()])
    checked = bronze.with_columns(failed.list.drop_nulls().alias("_failed_expectations")).with_columns(
        (pl.col("_failed_expectations").list.len() == 0).alias("_valid"))
    # One row per (sale_date, sale_id): a valid copy first, then the latest file; rows without a sale_id all kept.
    best_first = checked.sort(["_valid", "_ingested_at", "_source_file"], descending=True, maintain_order=True)
    distinct = pl.concat([
        best_first.filter(pl.col("sale_id").is_not_null()).unique(["sale_date", "sale_id"], keep="first", maintain_order=True),
        best_first.filter(pl.col("sale_id").is_null()),
    ])
    silver = distinct.filter("_valid").select(
        "sale_id", "customer_id", "product_id", "store_id", "quantity", "amount", discount.alias("discount"),
        pl.col("_sale_ts_utc").alias("sale_ts"),
        (pl.col("amount") * pl.col("quantity") * (1.0 - discount)).alias("net_amount"),
        "sale_date", "_source_file", "_ingested_at")
    quarantine = distinct.filter(~pl.col("_valid")).drop("_valid", "_sale_ts_utc")
    gold = silver.group_by("sale_date", "store_id").agg(
        pl.col("net_amount").sum().alias("revenue"), pl.len().cast(pl.Int64).alias("transactions"),
        pl.col("quantity").sum().alias("units"))

    where = f"sale_date >= '{days[0]}' AND sale_date <= '{days[-1]}'"
    for table, frame in (("bronze/sales", bronze.drop("_sale_ts_utc")), ("bronze/sales_rejects", reject_frame),
                         ("silver/sales", silver), ("silver/sales_quarantine", quarantine), ("gold/daily_sales", gold)):
        write_deltalake(str(warehouse / table), frame.to_arrow(), mode="overwrite", partition_by=["sale_date"], predicate=where)


def _typed(obj: dict) -> tuple:
    """The record's fields read as the schema's types (wrong type → None), ``_rescued_data`` and sale_ts in UTC."""
    values = []
    rescued = {key: value for key, value in obj.items() if key not in KNOWN}
    for name, kind in FIELDS:
        raw = obj.get(name)
        value = _as(raw, kind)
        if raw is not None and value is None:
            rescued[name] = raw
        values.append(value)
    return (*values, json.dumps(rescued) if rescued else None, _utc(values[-1]))


def _as(raw, kind: str):
    """``raw`` as Spark's JSON reader reads it into ``kind``: numbers are not read from strings, any value into a string."""
    if raw is None:
        return None
    if kind == "long":
        return raw if type(raw) is int else None
    if kind == "double":
        return float(raw) if type(raw) in (int, float) else None
    return raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":"))


def _utc(sale_ts: str | None) -> datetime | None:
    """The timestamp in UTC when ``sale_ts`` is ISO-8601 with ``Z`` or an offset and a real date and time, else None."""
    if sale_ts is None or not ISO_TIMESTAMP.match(sale_ts):
        return None
    try:
        return datetime.fromisoformat(sale_ts).astimezone(UTC)
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--landing", type=Path, required=True, help="landing zone (with sales/<day>/*.json)")
    parser.add_argument("--days", type=day_range, required=True, help="a day, or FIRST...LAST")
    parser.add_argument("warehouses", type=Path, nargs="+", help="one pass per warehouse folder")
    args = parser.parse_args(argv)
    for number, warehouse in enumerate(args.warehouses, start=1):
        began = time.perf_counter()
        run(args.landing, warehouse, args.days)
        print(json.dumps({"pass": number, "seconds": round(time.perf_counter() - began, 3)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
