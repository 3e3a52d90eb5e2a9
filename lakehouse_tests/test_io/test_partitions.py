import dagster as dg
import pytest

from lakehouse.partitions import PartitionKeyError, partition_predicate

DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01")
STATIC = dg.StaticPartitionsDefinition(["eu-west", "us_east"])


def test_contiguous_days_become_a_range():
    assert partition_predicate("sale_date", ["2025-01-03", "2025-01-01", "2025-01-02"], DAILY) == (
        "`sale_date` >= DATE'2025-01-01' AND `sale_date` <= DATE'2025-01-03'"
    )


def test_gaps_become_an_explicit_list():
    assert partition_predicate("d", ["2025-01-01", "2025-01-03"], DAILY) == "`d` IN (DATE'2025-01-01', DATE'2025-01-03')"


def test_static_keys_are_quoted_after_validation():
    assert partition_predicate("region", ["eu-west"], STATIC) == "`region` IN ('eu-west')"


@pytest.mark.parametrize(
    "key",
    ["2025-01-01' OR '1'='1", "2025-1-1", "2025-01-01 00:00", "2025-13-01", "", "2025-01-01`"],
)
def test_daily_keys_that_are_not_plain_dates_are_refused(key):
    with pytest.raises(PartitionKeyError):
        partition_predicate("sale_date", [key], DAILY)


@pytest.mark.parametrize("key", ["eu' OR 1=1 --", "unknown-region", "a b"])
def test_static_keys_outside_the_definition_or_pattern_are_refused(key):
    with pytest.raises(PartitionKeyError):
        partition_predicate("region", [key], STATIC)


@pytest.mark.parametrize("column", ["sale date", "x`; DROP", "1col", ""])
def test_partition_column_must_be_an_identifier(column):
    with pytest.raises(PartitionKeyError):
        partition_predicate(column, ["2025-01-01"], DAILY)
