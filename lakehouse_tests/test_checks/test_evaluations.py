"""Each check's logic fails on bad data and passes on good data (real Spark, small frames)."""

import json
from datetime import date, timedelta

import dagster as dg
import pytest
from pyspark.sql import types as T

from lakehouse import tables
from lakehouse.assets.bronze import SALES_SCHEMA
from lakehouse.checks import evaluations as ev
from lakehouse.checks.declared import keys_unique

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
REQUIRED = ("sale_id", "customer_id", "product_id", "store_id", "quantity", "amount", "sale_ts")


def test_reconcile_passes_when_every_day_adds_up():
    results = ev.reconcile({"d1": 10, "d2": 5}, {"d1": 8, "d2": 5}, {"d1": 2}, days=["d1", "d2"], equation="a = b + c")
    assert results["d1"].passed and results["d2"].passed


def test_reconcile_fails_only_the_day_that_lost_rows():
    results = ev.reconcile({"d1": 10, "d2": 5}, {"d1": 8, "d2": 5}, {"d1": 1}, days=["d1", "d2"], equation="a = b + c")
    assert not results["d1"].passed and results["d1"].severity == ERROR and "d1" in (results["d1"].description or "")
    assert results["d1"].metadata["difference"].value == -1
    assert results["d2"].passed


def test_a_day_with_nothing_anywhere_reconciles():
    assert ev.reconcile({}, {}, days=["d3"], equation="a = b")["d3"].passed


def test_landed_lines_counts_non_blank_lines_like_bronze(tmp_path):
    path = tmp_path / "f.json"
    path.write_bytes(b'{"a": 1}\n\n  \t\n{"a": 2}\r\ngarbage\n')
    assert ev.landed_lines({"d": [str(path)]}, tmp_path) == {"d": 3}


def test_distinct_sales_counts_resent_copies_once_and_each_null_id(spark):
    bronze = spark.createDataFrame(
        [("S1", "f", 1), ("S1", "f", 2), ("S2", "f", 3), (None, "f", 4), (None, "f", 5)],
        "sale_id string, _source_file string, _source_line long",
    ).selectExpr("*", "DATE'2025-01-01' AS sale_date")
    assert ev.distinct_sales_by_day(bronze) == {"2025-01-01": 4}


def test_duplicate_keys(spark):
    assert ev.duplicate_keys(spark.createDataFrame([("a",), ("b",)], "k string"), ["k"]).passed
    failed = ev.duplicate_keys(spark.createDataFrame([("a",), ("a",), ("b",)], "k string"), ["k"])
    assert not failed.passed and failed.severity == ERROR and failed.metadata["duplicated_keys"].value == 1


def test_declared_keys_of_several_tables_are_counted_together_each_with_its_own_result(spark):
    cdc = spark.createDataFrame([(1, 10), (1, 11), (1, 11), (2, 10), (2, 10), (3, None), (3, None)], "customer_id long, seq long")
    stores = spark.createDataFrame([(1,), (2,)], "store_id long")
    results = keys_unique(spark, {"cdc": (tables.BRONZE_CUSTOMERS_CDC, cdc), "stores": (tables.SILVER_STORES, stores)})
    assert results["stores"].passed and results["stores"].metadata["duplicated_keys"].value == 0
    failed = results["cdc"]  # (1, 11), (2, 10) and (3, NULL) are each there twice
    assert not failed.passed and failed.severity == ERROR and failed.metadata["duplicated_keys"].value == 3
    sample = failed.metadata["sample"].value
    assert isinstance(sample, list) and len(sample) == 3 and "customer_id+seq" in (failed.description or "")
    assert keys_unique(spark, {}) == {}


def test_duplicate_keys_by_day_fails_only_the_day_with_a_copy(spark):
    frame = spark.createDataFrame([("a", "2025-01-01"), ("a", "2025-01-02"), ("b", "2025-01-02"), ("b", "2025-01-02")],
                                  "k string, sale_date string").selectExpr("k", "CAST(sale_date AS DATE) AS sale_date")
    results = ev.duplicate_keys_by_day(frame, ["k"], ["2025-01-01", "2025-01-02"])
    assert results["2025-01-01"].passed
    assert not results["2025-01-02"].passed and results["2025-01-02"].metadata["duplicated_keys"].value == 1


def test_orphans_warn_with_the_count_on_their_day(spark):
    stores = spark.createDataFrame([(1,), (2,)], "store_id long")
    sales = spark.createDataFrame([(1, "d1"), (2, "d2"), (7, "d2"), (7, "d2")], "store_id long, sale_date string")
    days = ["d1", "d2"]
    assert all(r.passed for r in ev.orphans(sales.where("store_id < 3"), "store_id", stores, "store_id", "silver/stores", days).values())
    results = ev.orphans(sales, "store_id", stores, "store_id", "silver/stores", days)
    assert results["d1"].passed
    assert not results["d2"].passed and results["d2"].severity == WARN and results["d2"].metadata["orphan_rows"].value == 2
    missing_reference = ev.orphans(sales, "store_id", None, "store_id", "silver/stores", days)["d1"]
    assert not missing_reference.passed and "not materialized" in (missing_reference.description or "")


def _days(n):
    return [str(date(2025, 1, 1) + timedelta(days=i)) for i in range(n)]


@pytest.mark.parametrize(("last", "passed"), [(100, True), (55, True), (49, False), (201, False), (199, True)])
def test_row_count_anomaly_against_the_median_of_the_previous_days(last, passed):
    days = _days(8)
    counts = {d: 100 for d in days[:7]} | {days[7]: last}
    result = ev.row_count_anomalies(counts, [days[7]])[days[7]]
    assert result.passed is passed and result.severity == WARN


def test_row_count_anomaly_needs_three_days_of_history():
    days = _days(3)
    assert ev.row_count_anomalies({days[0]: 100, days[1]: 100, days[2]: 1}, [days[2]])[days[2]].passed


DAY = "2025-01-01"


def _bronze(spark, rows):
    schema = T.StructType([*SALES_SCHEMA.fields, T.StructField("_rescued_data", T.StringType())])
    return spark.createDataFrame(rows, schema).selectExpr("*", f"DATE'{DAY}' AS sale_date")


def _drift(frame):
    return ev.schema_drift(frame, SALES_SCHEMA, REQUIRED, [DAY])[DAY]


GOOD = ("S1", 1, 2, 3, 1, 9.5, 0.1, "2025-01-01T10:00:00Z", None)


def test_schema_drift_passes_when_what_landed_matches(spark):
    assert _drift(_bronze(spark, [GOOD, GOOD])).passed


def test_schema_drift_warns_naming_a_new_field(spark):
    result = _drift(_bronze(spark, [GOOD, (*GOOD[:-1], json.dumps({"channel": "web"}))]))
    assert not result.passed and result.severity == WARN and "'channel'" in (result.description or "")


def test_schema_drift_errors_when_a_required_field_disappears(spark):
    gone = ("S1", None, 2, 3, 1, 9.5, 0.1, "2025-01-01T10:00:00Z", None)
    result = _drift(_bronze(spark, [gone, gone]))
    assert not result.passed and result.severity == ERROR and "'customer_id' disappeared" in (result.description or "")


def test_schema_drift_errors_when_a_field_changes_type(spark):
    retyped = ("S1", 1, 2, 3, None, 9.5, 0.1, "2025-01-01T10:00:00Z", json.dumps({"quantity": "two"}))
    result = _drift(_bronze(spark, [retyped, retyped, GOOD]))
    assert not result.passed and result.severity == ERROR and "'quantity' changed type" in (result.description or "")
    # a few bad values are bad records (quarantined), not drift
    assert _drift(_bronze(spark, [retyped, GOOD, GOOD])).passed


def test_totals_reconcile_within_a_relative_tolerance_and_fail_naming_the_total():
    silver = {"d1": {"revenue": 100.0, "transactions": 4.0}}
    assert ev.reconcile_totals(silver, {"d1": {"revenue": 100.0 + 1e-9, "transactions": 4.0}}, ["d1"], "r")["d1"].passed
    broken = ev.reconcile_totals(silver, {"d1": {"revenue": 99.0, "transactions": 4.0}}, ["d1"], "r")["d1"]
    assert not broken.passed and broken.severity == ERROR and "revenue 99" in (broken.description or "")


def test_hourly_events_reconcile_with_the_late_drops_and_flag_double_counting():
    from lakehouse.checks.clickstream import hourly_reconciliation

    assert hourly_reconciliation(bronze_events=100, gold_events=97, dropped=3).passed
    gap = hourly_reconciliation(bronze_events=100, gold_events=95, dropped=3)
    assert not gap.passed and gap.severity == WARN and "off by 2" in (gap.description or "")
    double = hourly_reconciliation(bronze_events=100, gold_events=101, dropped=0)
    assert not double.passed and double.severity == ERROR
