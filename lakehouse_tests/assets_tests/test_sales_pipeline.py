"""The sales chain landing → bronze → silver → gold on generated faulty data, as one real run."""

import json
from datetime import date
from pathlib import Path

import dagster as dg
import deltalake
import pytest

from lakehouse.definitions import build_definitions
from lakehouse.generator import FaultRates, generate_landing_zone
from lakehouse.settings import LakehouseSettings
from lakehouse_tests.lakehouse_runner import LakehouseRunner

TABLES = ["bronze/sales", "bronze/sales_rejects", "silver/sales", "silver/sales_quarantine", "gold/daily_sales"]
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]
NOT_RUN = "2025-01-04"


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    """Four landed days with every kind of fault; days 1-3 materialized in one single-run backfill."""
    settings = LakehouseSettings.for_root(tmp_path_factory.mktemp("lakehouse"), spark_master="local[2]")
    faults = FaultRates(malformed=0.03, wrong_type=0.03, missing_field=0.03, invalid_value=0.03, wrong_day=0.03,
                        extra_field=0.03, duplicate=0.05, blank_line=0.02)
    manifest = generate_landing_zone(settings.landing, date(2025, 1, 1), days=4, rows_per_day=400, seed=11,
                                     faults=faults, files_per_day=3)
    with dg.DagsterInstance.ephemeral() as instance:
        runner = LakehouseRunner(build_definitions(settings), settings, instance, spark)
        result = runner.materialize(DAYS[0], DAYS[-1])
        assert result.success
        yield runner, manifest, result


def _rows_by_day(runner, table):
    frame = runner.table(table)
    return {str(r["sale_date"]): r["count"] for r in frame.groupBy("sale_date").count().collect()}


def _snapshot(runner, table, day):
    rows = runner.table(table).where(f"sale_date = DATE'{day}'").collect()
    return sorted(json.dumps(r.asDict(), default=str, sort_keys=True) for r in rows)


def test_single_run_backfill_writes_exactly_the_three_days(built):
    runner, _, result = built
    assert len(runner.instance.get_runs()) == 1
    for table in TABLES:
        assert sorted(_rows_by_day(runner, table)) == DAYS, table
        node = {"bronze/sales": "bronze_sales", "bronze/sales_rejects": "bronze_sales", "silver/sales": "silver_sales",
                "silver/sales_quarantine": "silver_sales", "gold/daily_sales": "gold__daily_sales"}[table]
        key = dg.AssetKey.from_user_string(table)
        partitions = sorted(m.partition for m in result.asset_materializations_for_node(node) if m.asset_key == key)
        assert partitions == DAYS, table


def test_every_check_step_hands_on_its_outputs_so_the_run_log_does_not_say_they_are_missing(built):
    runner, _, result = built
    # A check step that records evaluations but yields no outputs makes Dagster log, for every check it has just
    # recorded, that the step "did not yield or return expected outputs": a false alarm in every run's log.
    assert runner.messages(result, "did not yield or return expected outputs") == []
    steps = {e.step_key for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert {"bronze_sales_checks", "silver_sales_checks", "daily_table_declarations"} <= steps


def test_nothing_lost_for_every_day(built):
    runner, manifest, _ = built
    landed = _landed_nonblank_lines(runner.settings.landing)
    bronze, rejects = _rows_by_day(runner, "bronze/sales"), _rows_by_day(runner, "bronze/sales_rejects")
    silver, quarantine = _rows_by_day(runner, "silver/sales"), _rows_by_day(runner, "silver/sales_quarantine")
    bronze_table = runner.table("bronze/sales")
    for day in DAYS:
        # Equation 1: every non-blank landed line is in bronze or in the rejects (counted from the files).
        assert landed[day] == bronze[day] + rejects.get(day, 0), day
        # Equation 2: bronze, re-sent copies of a sale_id counted once, = silver + quarantine.
        of_day = bronze_table.where(f"sale_date = DATE'{day}'")
        distinct = of_day.where("sale_id IS NOT NULL").select("sale_id").distinct().count()
        distinct += of_day.where("sale_id IS NULL").count()
        assert distinct == silver[day] + quarantine.get(day, 0), day
        # And against the generator's ground truth, so a fault cannot move silently between tables.
        expected = manifest.sales_days[day]
        assert (bronze[day], rejects.get(day, 0)) == (expected.parsed, expected.malformed), day
        assert (silver[day], quarantine.get(day, 0)) == (expected.valid, expected.invalid), day
        assert expected.malformed > 0 and expected.invalid > 0 and expected.duplicate_copies > 0


def test_quarantine_names_every_broken_rule_and_silver_keeps_the_contract(built):
    runner, _, _ = built
    quarantine = runner.table("silver/sales_quarantine")
    assert quarantine.where("size(_failed_expectations) = 0").count() == 0
    failed = {r["rule"] for r in quarantine.selectExpr("explode(_failed_expectations) AS rule").collect()}
    assert {"customer_id_not_null", "quantity_positive", "sale_ts_parses", "sale_ts_in_partition_day"} <= failed
    silver = runner.table("silver/sales")
    assert silver.count() == silver.select("sale_id").distinct().count()
    assert silver.where("abs(net_amount - amount * quantity * (1 - discount)) > 1e-9").count() == 0
    assert silver.where("to_date(sale_ts) != sale_date OR NOT (discount >= 0 AND discount < 1)").count() == 0


def test_gold_matches_the_expected_revenue_per_store(built):
    runner, manifest, _ = built
    gold = {(str(r["sale_date"]), str(r["store_id"])): r for r in runner.table("gold/daily_sales").collect()}
    for day in DAYS:
        for store, expected in manifest.sales_days[day].by_store.items():
            row = gold[(day, store)]
            assert row["transactions"] == expected["transactions"] and row["units"] == expected["units"]
            assert row["revenue"] == pytest.approx(expected["revenue"], abs=1e-6)


def test_every_table_is_readable_by_a_second_delta_implementation(built):
    runner, _, _ = built
    for table in TABLES:
        arrow = deltalake.DeltaTable(str(runner.path(table))).to_pyarrow_table()
        assert arrow.num_rows == runner.table(table).count(), table
        assert set(arrow.column_names) == set(runner.table(table).columns), table


def test_rematerializing_one_day_is_idempotent_and_leaves_other_days_untouched(built):
    runner, _, _ = built
    before = {(t, d): _snapshot(runner, t, d) for t in TABLES for d in DAYS}
    files_before = {t: set(runner.table(t).where(f"sale_date != DATE'{DAYS[1]}'").inputFiles()) for t in TABLES}

    assert runner.materialize(DAYS[1]).success

    for table in TABLES:
        for day in DAYS:
            assert _snapshot(runner, table, day) == before[(table, day)], (table, day)
        assert set(runner.table(table).where(f"sale_date != DATE'{DAYS[1]}'").inputFiles()) == files_before[table]


def test_late_files_in_an_old_day_add_exactly_their_lines(built):
    # Runs after the idempotence test (same module fixture): a file lands late in day 2, the day is materialized
    # again, and each table of that day gains exactly the late file's rows; every row there before is unchanged.
    runner, _, _ = built
    day = DAYS[1]
    before = {t: _snapshot(runner, t, day) for t in TABLES[:4]}
    others = {(t, d): _snapshot(runner, t, d) for t in TABLES for d in DAYS if d != day}
    sales = [{"sale_id": f"LATE-{n}", "customer_id": 7, "product_id": 3, "store_id": 2, "quantity": 2,
              "amount": 10.0 + n, "sale_ts": f"{day}T23:5{n}:00Z"} for n in range(3)]
    invalid = {**sales[0], "sale_id": "LATE-BAD", "quantity": -1}  # breaks a silver rule: quarantined
    late = runner.settings.landing / "sales" / day / "late-0001.json"
    late.write_text("".join(json.dumps(sale) + "\n" for sale in [*sales, invalid]) + "{not json\n")

    assert runner.materialize(day).success

    added = {t: sorted(set(_snapshot(runner, t, day)) - set(before[t])) for t in before}
    for table in before:
        assert set(before[table]) <= set(_snapshot(runner, table, day)), table
    assert sorted(json.loads(r)["sale_id"] for r in added["bronze/sales"]) == ["LATE-0", "LATE-1", "LATE-2", "LATE-BAD"]
    assert [json.loads(r)["_raw_line"] for r in added["bronze/sales_rejects"]] == ["{not json"]
    assert sorted(json.loads(r)["sale_id"] for r in added["silver/sales"]) == ["LATE-0", "LATE-1", "LATE-2"]
    assert [json.loads(r)["sale_id"] for r in added["silver/sales_quarantine"]] == ["LATE-BAD"]
    for (table, other_day), rows in others.items():
        assert _snapshot(runner, table, other_day) == rows, (table, other_day)


def test_a_missing_day_folder_fails_naming_the_path(lakehouse):
    result = lakehouse.materialize("2025-01-05", raise_on_error=False)
    assert not result.success
    error = str(next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error)
    assert str(lakehouse.settings.landing / "sales" / "2025-01-05") in error
    assert "has not delivered" in error


def test_an_empty_day_folder_gives_an_empty_partition(lakehouse, write_sales_day):
    path = write_sales_day("2025-01-05", ['{"sale_id": "S-1", "customer_id": 1, "product_id": 1, "store_id": 1, '
                                          '"quantity": 1, "amount": 2.5, "sale_ts": "2025-01-05T08:00:00Z"}'])
    assert lakehouse.materialize("2025-01-05").success
    assert lakehouse.table("silver/sales").count() == 1
    path.unlink()  # the day's folder stays, now empty
    assert lakehouse.materialize("2025-01-05").success
    for table in TABLES:
        assert lakehouse.table(table).count() == 0, table


def _landed_nonblank_lines(landing: Path) -> dict[str, int]:
    return {
        folder.name: sum(1 for f in folder.glob("*.json") for line in f.read_text().split("\n") if line.strip())
        for folder in (landing / "sales").iterdir()
    }
