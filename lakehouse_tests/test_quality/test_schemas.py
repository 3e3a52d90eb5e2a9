"""pandera models: a table that keeps its promises passes, one that breaks them fails naming them."""

import datetime as dt

import pytest

from lakehouse.quality.schemas import GoldDailySales, SilverSales, keeps_every_promise, validate

SILVER_COLUMNS = ("sale_id string, customer_id long, product_id long, store_id long, quantity long, amount double, "
                  "discount double, sale_ts timestamp, net_amount double, sale_date date, _source_file string, "
                  "_ingested_at timestamp")
TS = dt.datetime(2025, 1, 1, 10)
DAY = dt.date(2025, 1, 1)


def _silver(spark, *rows):
    return spark.createDataFrame(list(rows), SILVER_COLUMNS)


def test_silver_sales_that_keeps_its_promises_passes(spark):
    result = validate(SilverSales, _silver(spark, ("S1", 1, 1, 1, 2, 5.0, 0.0, TS, 10.0, DAY, "f", TS),
                                           ("S2", 1, 1, 1, 1, 5.0, 0.5, TS, 2.5, DAY, "f", TS)))
    assert result.passed, result.metadata["errors"]


def test_silver_sales_with_a_bad_range_a_null_and_a_duplicate_fails(spark):
    result = validate(SilverSales, _silver(spark, ("S1", 1, 1, 1, -2, 5.0, 0.0, TS, 10.0, DAY, "f", TS),
                                           ("S1", None, 1, 1, 1, 5.0, 1.5, TS, 2.5, DAY, "f", TS)))
    assert not result.passed
    errors = result.metadata["errors"].value
    for column in ("quantity", "customer_id", "discount", "sale_id"):
        assert column in errors, (column, errors)


def test_wrong_column_type_fails(spark):
    frame = spark.createDataFrame([(DAY, 1, 5.0, 1, 1)], "sale_date date, store_id int, revenue double, transactions long, units long")
    result = validate(GoldDailySales, frame)
    assert not result.passed and "store_id" in str(result.metadata["errors"].value)


GOOD = ("S1", 1, 1, 1, 2, 5.0, 0.0, TS, 10.0, DAY, "f", TS)


def _with(**changes):
    names = [c.split()[0] for c in SILVER_COLUMNS.split(", ")]
    return tuple(changes.get(name, value) for name, value in zip(names, GOOD, strict=True))


@pytest.mark.parametrize("rows", [
    [GOOD, _with(sale_id="S2", discount=None, _source_file=None)],  # nullable, and a column pandera does not model
    [_with(customer_id=None)],
    [_with(discount=1.0)],  # the bound of "less than" is excluded
    [_with(net_amount=-0.5)],
    [GOOD, GOOD],
], ids=["clean", "null", "discount-at-bound", "net-negative", "duplicate"])
def test_the_one_pass_verdict_is_panderas(spark, rows):
    """The one-aggregation pass decides exactly when pandera finds nothing broken (else pandera lists what is)."""
    frame = _silver(spark, *rows)
    pandera_errors = SilverSales.to_schema().validate(frame).pandera.errors
    assert keeps_every_promise(SilverSales.to_schema(), frame) == (not pandera_errors), pandera_errors


def test_a_type_or_a_missing_column_goes_to_pandera(spark):
    frame = _silver(spark, GOOD)
    assert not keeps_every_promise(SilverSales.to_schema(), frame.withColumn("quantity", frame["quantity"].cast("int")))
    assert not keeps_every_promise(SilverSales.to_schema(), frame.drop("sale_date"))
