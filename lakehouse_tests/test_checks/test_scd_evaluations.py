"""Each dimension / change-feed check fails on a bad case and passes on a good one, on small real DataFrames."""

from datetime import datetime

import pytest

from lakehouse.assets.bronze import CDC_SCHEMA
from lakehouse.assets.silver.dimensions import CUSTOMER_SCD2, applicable_events
from lakehouse.checks import scd_evaluations as scd

DIM_SCHEMA = "customer_id BIGINT, city STRING, valid_from TIMESTAMP, valid_to TIMESTAMP, is_current BOOLEAN"
KEYS = ["customer_id"]


def _t(hour: int) -> datetime:
    return datetime(2025, 1, 1, hour)


@pytest.fixture
def good_dim(spark):
    return spark.createDataFrame(
        [(1, "Paris", _t(1), _t(3), False), (1, "Lyon", _t(3), None, True), (2, "Nice", _t(1), _t(2), False)], DIM_SCHEMA
    )


def test_one_current_row(spark, good_dim):
    assert scd.one_current_row(good_dim, KEYS).passed
    bad = good_dim.unionByName(spark.createDataFrame([(1, "Brest", _t(4), None, True)], DIM_SCHEMA))
    result = scd.one_current_row(bad, KEYS)
    assert not result.passed and result.metadata["problems"].value == 1 and "full_refresh" in (result.description or "")


@pytest.mark.parametrize("row, problem", [
    ((1, "Brest", _t(2), _t(4), False), "overlaps"),           # starts inside Paris' interval
    ((3, "Brest", _t(5), _t(4), False), "inverted"),
    ((3, "Brest", _t(5), None, False), "is_current disagrees"),
])
def test_valid_intervals(spark, good_dim, row, problem):
    assert scd.valid_intervals(good_dim, KEYS).passed
    result = scd.valid_intervals(good_dim.unionByName(spark.createDataFrame([row], DIM_SCHEMA)), KEYS)
    assert not result.passed and problem in (result.description or "")


def _events(spark, rows):
    full = [(cid, op, seq, ts, None, None, None, city) for cid, op, seq, ts, city in rows]
    return applicable_events(spark.createDataFrame(full, CDC_SCHEMA))


def test_current_rows_follow_events(spark):
    events = _events(spark, [(1, "INSERT", 1, "2025-01-01T01:00:00Z", "Paris"), (1, "UPDATE", 5, "2025-01-01T03:00:00Z", "Lyon"),
                             (2, "INSERT", 2, "2025-01-01T01:00:00Z", "Nice"), (2, "DELETE", 6, "2025-01-01T02:00:00Z", None)])
    dim = spark.createDataFrame(
        [(1, None, None, None, "Paris", _t(1), _t(3), False), (1, None, None, None, "Lyon", _t(3), None, True),
         (2, None, None, None, "Nice", _t(1), _t(2), False)],
        "customer_id BIGINT, name STRING, email STRING, phone STRING, city STRING, valid_from TIMESTAMP, valid_to TIMESTAMP, is_current BOOLEAN",
    )
    spec = CUSTOMER_SCD2

    def check(frame):
        return scd.current_rows_follow_events(frame, events, KEYS, spec.sequence, spec.tracked, spec.delete_when)

    assert check(dim).passed
    assert "no current row" in (check(dim.where("is_current = false")).description or "")
    stale = dim.withColumn("city", dim.city.substr(1, 2))
    assert "differs from the latest event" in (check(stale).description or "")
    deleted_still_current = dim.selectExpr("*").where("customer_id = 1").unionByName(
        dim.where("customer_id = 2").selectExpr("customer_id", "name", "email", "phone", "city", "valid_from",
                                               "CAST(NULL AS TIMESTAMP) AS valid_to", "true AS is_current"))
    assert "latest event is a delete" in (check(deleted_still_current).description or "")


def test_cdc_accounting(spark):
    schema = "customer_id BIGINT, seq BIGINT"
    landed = spark.createDataFrame([(1, 10), (1, 10), (2, 11), (None, 12), (3, None), (3, None)], schema)
    # Bronze stores a keyed event once; a record with part of its key missing is no one's duplicate.
    bronze = spark.createDataFrame([(1, 10), (2, 11), (None, 12), (3, None), (3, None)], schema)
    rejects = spark.createDataFrame([("{bad",)], "_raw_line STRING")
    ok = scd.cdc_accounting(landed, rejects, bronze, rejects, ["customer_id", "seq"], files_pending=2)
    assert ok.passed and ok.metadata["duplicate_events"].value == 1 and "2 landed file(s) not ingested" in (ok.description or "")
    assert ok.metadata["events_landed"].value == 6 and ok.metadata["distinct_events_in_bronze"].value == 5
    lost = scd.cdc_accounting(landed, rejects, bronze.limit(4), rejects, ["customer_id", "seq"], 0)
    assert not lost.passed and "broken" in (lost.description or "")
    twice = scd.cdc_accounting(landed, rejects, landed, rejects, ["customer_id", "seq"], 0)
    assert not twice.passed


def test_applicable_share(spark):
    rows = [(1, "INSERT", 1, "2025-01-01T01:00:00Z", None, None, None, "Paris"),
            (1, "MERGE", 2, "2025-01-01T01:00:00Z", None, None, None, "Paris"),
            (None, "INSERT", 3, "2025-01-01T01:00:00Z", None, None, None, "Paris"),
            (2, "INSERT", 4, "yesterday", None, None, None, "Paris")]
    bronze = spark.createDataFrame(rows, CDC_SCHEMA)
    result = scd.applicable_share(bronze, applicable_events(bronze))
    assert not result.passed and result.metadata["events_not_applicable"].value == 3
    good = bronze.where("seq = 1")
    assert scd.applicable_share(good, applicable_events(good)).passed


def test_current_rows_reconcile_in_total_and_per_city(spark, good_dim):
    dim = good_dim.unionByName(spark.createDataFrame([(4, None, _t(1), None, True)], DIM_SCHEMA))  # current: Lyon, NULL
    ok = scd.current_rows_reconcile(dim, spark.createDataFrame([("Lyon",), (None,)], "city STRING"), "gold/x")
    assert ok.passed and ok.metadata["current_customers"].value == ok.metadata["rows"].value == 2
    # Same total, wrong cities: NULL is a city of its own.
    moved = scd.current_rows_reconcile(dim, spark.createDataFrame([("Lyon",), ("Paris",)], "city STRING"), "gold/x")
    assert not moved.passed and moved.metadata["rows"].value == 2
    differing = moved.metadata["differing_cities"].value
    assert isinstance(differing, list) and sorted(differing, key=str) == sorted(
        [{"city": None, "current_customers": 1, "rows": 0}, {"city": "Paris", "current_customers": 0, "rows": 1}], key=str)
    short = scd.current_rows_reconcile(dim, spark.createDataFrame([("Lyon",)], "city STRING"), "gold/x")
    assert not short.passed and "1 rows for 2 current customers" in (short.description or "")
    empty = scd.current_rows_reconcile(dim.limit(0), spark.createDataFrame([], "city STRING"), "gold/x")
    assert empty.passed and empty.metadata["rows"].value == 0
