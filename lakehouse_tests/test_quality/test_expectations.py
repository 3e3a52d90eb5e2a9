"""Expectations: checked at definition load, and warn / drop / fail behave as declared."""

import dagster as dg
import pytest

from lakehouse.quality import Action, Expectation, ExpectationFailure, ExpectationSet


@pytest.mark.parametrize(
    ("rules", "options", "message"),
    [
        ([Expectation("qty_ok", "quantity >")], {}, "not a valid Spark SQL condition"),
        ([Expectation("qty_ok", "SELECT 1")], {}, "not a query"),
        ([Expectation("qty_ok", "qty > 0")], {"columns": ["quantity"]}, "uses columns ['qty']"),
        ([Expectation("qty_ok", "quantity > 0")] * 2, {}, "must be unique"),
        ([Expectation("Qty OK", "quantity > 0")], {}, "lower_snake_case"),
        ([Expectation("qty_ok", "quantity > 0")], {"quarantine": False}, "has no quarantine table"),
    ],
)
def test_bad_rules_fail_when_the_definitions_load(rules, options, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        ExpectationSet("t", rules, **options)


RULES = ExpectationSet(
    "t",
    [
        Expectation("quantity_positive", "quantity > 0"),
        Expectation("id_not_null", "id IS NOT NULL"),
        Expectation("quantity_small", "quantity < 10", Action.WARN),
    ],
)


def test_drop_sends_rows_to_quarantine_naming_every_broken_rule_and_warn_keeps_rows(spark):
    frame = spark.createDataFrame([("a", 1), ("b", 20), (None, -1), ("d", None)], "id string, quantity int")
    checked = RULES.evaluate(frame)
    outcome = RULES.outcome(checked, partitions="2025-01-01")
    kept, quarantine = RULES.split(checked)
    assert sorted(r.id for r in kept.collect()) == ["a", "b"]  # b only broke a warn rule
    broken = {r.quantity: sorted(r._failed_expectations) for r in quarantine.collect()}
    assert broken == {-1: ["id_not_null", "quantity_positive"], None: ["quantity_positive", "quantity_small"]}
    assert outcome.failed == {"quantity_positive": 2, "id_not_null": 1, "quantity_small": 2}
    metadata = outcome.metadata()
    assert metadata["expectation/quantity_positive/failed"].value == 2
    assert metadata["expectation/quantity_positive/passed"].value == 2


def test_fail_raises_before_anything_is_written_naming_rule_partition_and_samples(spark):
    rules = ExpectationSet("gold.t", [Expectation("revenue_not_negative", "revenue >= 0", Action.FAIL)], quarantine=False)
    frame = spark.createDataFrame([(1, 5.0), (2, -3.0)], "store_id int, revenue double")
    with pytest.raises(ExpectationFailure) as raised:
        rules.outcome(rules.evaluate(frame), partitions="2025-01-03")
    message = raised.value.description or ""
    assert "revenue_not_negative" in message and "2025-01-03" in message and "-3.0" in message and "1 of 2 rows" in message
    assert isinstance(raised.value, dg.Failure)
    assert rules.outcome(rules.evaluate(frame.where("revenue >= 0")), partitions="x").failed == {}
