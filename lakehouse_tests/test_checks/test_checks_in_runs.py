"""Checks, expectations, freshness and automation inside real runs of the real definitions."""

import json

import dagster as dg
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from delta.tables import DeltaTable

from lakehouse import tables
from lakehouse.checks.cli import main as checks_main

BRONZE_SALES, BRONZE_SALES_REJECTS, GOLD_DAILY_SALES, SILVER_SALES = tables.BRONZE_SALES.key, tables.BRONZE_SALES_REJECTS.key, tables.GOLD_DAILY_SALES.key, tables.SILVER_SALES.key

SUCCEEDED, FAILED = AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED

DAY = "2025-01-02"
SALE = {"sale_id": "S-1", "customer_id": 1, "product_id": 1, "store_id": 1, "quantity": 2, "amount": 5.0,
        "sale_ts": f"{DAY}T08:00:00Z"}


def _line(**changes):
    return json.dumps({**SALE, **changes})


def _evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_blocking_nothing_lost_check_keeps_gold_from_running_on_a_broken_silver_day(lakehouse, write_sales_day):
    write_sales_day(DAY, [_line(sale_id=f"S-{i}") for i in range(5)])
    assert lakehouse.materialize(DAY).success
    gold_version = DeltaTable.forPath(lakehouse.spark, str(lakehouse.path("gold/daily_sales"))).history(1).collect()[0].version
    DeltaTable.forPath(lakehouse.spark, str(lakehouse.path("silver/sales"))).delete("sale_id = 'S-3'")  # a lost row

    gate = dg.define_asset_job(
        "gate", selection=dg.AssetSelection.assets(GOLD_DAILY_SALES)
        | dg.AssetSelection.checks(dg.AssetCheckKey(SILVER_SALES, "silver_sales_nothing_lost"))
    )
    defs = dg.Definitions.merge(lakehouse.defs, dg.Definitions(jobs=[gate]))
    result = defs.resolve_job_def("gate").execute_in_process(
        instance=lakehouse.instance, partition_key=DAY, raise_on_error=False
    )
    check = _evaluations(result)["silver_sales_nothing_lost"]
    assert not check.passed and DAY in (check.description or "")
    assert result.asset_materializations_for_node("gold__daily_sales") == []
    assert DeltaTable.forPath(lakehouse.spark, str(lakehouse.path("gold/daily_sales"))).history(1).collect()[0].version == gold_version


def test_every_check_runs_with_the_pipeline_and_error_checks_pass_on_accounted_faults(lakehouse, write_sales_day):
    write_sales_day(DAY, [_line(sale_id="S-1"), _line(sale_id="S-1"), _line(sale_id="S-2", quantity="two"), "garbage",
                          _line(sale_id="S-3", coupon="X")])
    result = lakehouse.materialize(DAY)
    evaluations = _evaluations(result)
    assert {"bronze_sales_nothing_lost", "bronze_sales_schema_drift", "bronze_sales_row_count",
            "silver_sales_nothing_lost", "silver_sales_sale_id_unique", "silver_sales_store_exists",
            "silver_sales_row_count", "silver_sales_schema", "silver_sales_quarantine_schema",
            "gold_daily_sales_schema"} <= set(evaluations)
    for name, evaluation in evaluations.items():
        if evaluation.severity == dg.AssetCheckSeverity.ERROR and "freshness" not in name:
            assert evaluation.passed, (name, evaluation.description)
    drift = evaluations["bronze_sales_schema_drift"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN and "'coupon'" in (drift.description or "")
    assert evaluations["bronze_sales_nothing_lost"].partition == DAY
    silver = next(m for m in result.asset_materializations_for_node("silver_sales") if m.asset_key == SILVER_SALES)
    assert silver.metadata["expectation/quantity_positive/failed"].value == 1
    assert silver.metadata["expectation/no_rescued_data/failed"].value == 2


def test_a_fail_rule_stops_gold_before_it_writes(lakehouse, write_sales_day):
    write_sales_day(DAY, [_line()])
    assert lakehouse.materialize(DAY).success
    silver = lakehouse.table("silver/sales")
    bad = silver.selectExpr("'S-BAD' AS sale_id", *[c for c in silver.columns if c != "sale_id"]).withColumn("net_amount", silver.net_amount * -100)
    bad.write.format("delta").mode("append").save(str(lakehouse.path("silver/sales")))
    before = sorted(r.asDict().items() for r in lakehouse.table("gold/daily_sales").collect())

    result = lakehouse.materialize(DAY, selection=["gold/daily_sales"], raise_on_error=False)

    assert not result.success
    error = str(next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error)
    assert "revenue_not_negative" in error and DAY in error and "Sample rows" in error
    assert sorted(r.asDict().items() for r in lakehouse.table("gold/daily_sales").collect()) == before


def test_silver_and_gold_follow_a_new_or_updated_bronze_partition(lakehouse, write_sales_day):
    for day in ("2025-01-02", "2025-01-03"):
        write_sales_day(day, [_line(sale_id=f"S-{day}", sale_ts=f"{day}T08:00:00Z")])
    assert lakehouse.materialize("2025-01-02", "2025-01-03").success
    tick = dg.evaluate_automation_conditions(defs=lakehouse.defs, instance=lakehouse.instance)
    tick = dg.evaluate_automation_conditions(defs=lakehouse.defs, instance=lakehouse.instance, cursor=tick.cursor)
    assert tick.total_requested == 0  # everything is up to date

    # late data: bronze of the older day is materialized again
    assert lakehouse.materialize("2025-01-02", selection=["bronze/sales", "bronze/sales_rejects"]).success
    requested = dg.evaluate_automation_conditions(defs=lakehouse.defs, instance=lakehouse.instance, cursor=tick.cursor)
    assert requested.get_requested_partitions(SILVER_SALES) == {"2025-01-02"}
    assert requested.get_requested_partitions(GOLD_DAILY_SALES) == {"2025-01-02"}  # in the same run as silver
    assert requested.get_requested_partitions(BRONZE_SALES) == set()
    assert requested.get_requested_partitions(BRONZE_SALES_REJECTS) == set()


def test_automation_and_alert_sensors_are_declared_running(lakehouse):
    statuses = {s.name: s.default_status for s in lakehouse.defs.sensors}
    for name in ("lakehouse_automation", "alert_on_run_failure", "alert_on_failed_error_checks"):
        assert statuses[name] == dg.DefaultSensorStatus.RUNNING, name


def test_freshness_is_one_signal_the_policy_on_every_derived_daily_table(lakehouse):
    graph = lakehouse.defs.resolve_asset_graph()
    assert not [key for key in graph.asset_check_keys if "freshness" in key.name]  # no second, disagreeing signal
    for key in (SILVER_SALES, GOLD_DAILY_SALES):
        policy = graph.get(key).freshness_policy
        assert policy is not None and policy.deadline_cron == "0 6 * * *", key


def test_a_backfill_records_each_days_own_check_results_and_row_counts(lakehouse, write_sales_day):
    days = ["2025-01-02", "2025-01-03", "2025-01-04"]
    for n, day in enumerate(days, start=2):
        lines = [_line(sale_id=f"S-{day}-{i}", sale_ts=f"{day}T08:00:00Z") for i in range(n)]
        if day == days[1]:
            lines.append(_line(sale_id=f"S-{day}-x", sale_ts=f"{day}T08:00:00Z", coupon="X"))  # drift on this day only
        write_sales_day(day, lines)
    assert lakehouse.materialize(days[0], days[-1]).success
    storage = lakehouse.instance.event_log_storage
    for n, day in enumerate(days, start=2):
        by_day = PartitionKeyFilter(key=day)
        for check in ("bronze_sales_nothing_lost", "bronze_sales_schema_drift"):
            records = storage.get_asset_check_execution_history(dg.AssetCheckKey(BRONZE_SALES, check), limit=10,
                                                                partition_filter=by_day)
            assert len(records) == 1, (check, day)
            drifted = check == "bronze_sales_schema_drift" and day == days[1]
            assert records[0].status == (FAILED if drifted else SUCCEEDED), (check, day, records[0].status)
            evaluation = records[0].event.dagster_event.event_specific_data
            assert evaluation.partition == day and evaluation.target_materialization_data is not None
            if drifted:
                assert evaluation.severity == dg.AssetCheckSeverity.WARN and "'coupon'" in evaluation.description
        expected_rows = n + (1 if day == days[1] else 0)
        for key in (GOLD_DAILY_SALES, SILVER_SALES):
            record = lakehouse.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1).records[0]
            metadata = record.asset_materialization.metadata
            rows = 1 if key == GOLD_DAILY_SALES else expected_rows  # one store a day in gold
            assert metadata["dagster/row_count"].value == rows, (key, day)
        silver = lakehouse.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=SILVER_SALES, asset_partitions=[day]), limit=1).records[0]
        rescued = silver.asset_materialization.metadata["expectation/no_rescued_data/failed"].value
        assert rescued == (1 if day == days[1] else 0), day
    # Nothing was left planned (the UI's "Skipped") for any day of the run.
    for check in lakehouse.defs.resolve_asset_graph().asset_check_keys:
        if check.asset_key == BRONZE_SALES:
            statuses = {r.status for r in storage.get_asset_check_execution_history(check, limit=20)}
            assert statuses <= {SUCCEEDED, FAILED}, (check, statuses)


def test_the_row_count_checks_compare_each_day_with_the_days_before_it(lakehouse, write_sales_day):
    # Four days of 4 sales in one run (their history is partly in the run), then a day of 12 sales alone (its history is
    # only in the tables, counted without being read into the run's cache).
    def write(day: str, n: int) -> None:
        write_sales_day(day, [_line(sale_id=f"S-{day}-{i}", sale_ts=f"{day}T08:00:00Z") for i in range(n)])

    for day in ("2025-01-02", "2025-01-03", "2025-01-04", "2025-01-05"):
        write(day, 4)
    write("2025-01-06", 12)
    first = _evaluations_by_day(lakehouse.materialize("2025-01-02", "2025-01-05"))
    second = _evaluations_by_day(lakehouse.materialize("2025-01-06"))
    for check in ("bronze_sales_row_count", "silver_sales_row_count"):
        inside = first[check, "2025-01-05"]  # three earlier days with rows, all in this run
        assert inside.passed and inside.metadata["days_of_history"].value == 3, (check, inside.description)
        assert inside.metadata["median_previous"].value == 4.0
        alone = second[check, "2025-01-06"]
        assert not alone.passed and alone.severity == dg.AssetCheckSeverity.WARN, (check, alone.description)
        assert alone.metadata["days_of_history"].value == 4 and alone.metadata["median_previous"].value == 4.0
        assert alone.metadata["rows"].value == 12


def _evaluations_by_day(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str | None], dg.AssetCheckEvaluation]:
    return {(e.check_name, e.partition): e for e in result.get_asset_check_evaluations()}


def test_checks_command_exits_non_zero_when_an_error_check_fails(tmp_path, capsys):
    folder = tmp_path / "landing" / "sales" / DAY
    folder.mkdir(parents=True)
    (tmp_path / "landing" / "stores").mkdir()
    (tmp_path / "landing" / "stores" / "stores.csv").write_text("store_id,store_name,city,region\n1,One,Oslo,North\n")
    # the source started sending quantity as text: a type change, not a few bad records
    (folder / "part-0000.json").write_text("\n".join(_line(sale_id=f"S-{i}", quantity="two") for i in range(4)) + "\n")
    assert checks_main(["--landing", str(tmp_path / "landing"), "--keep", str(tmp_path / "out")]) == 1
    output = capsys.readouterr().out
    assert "bronze/sales:bronze_sales_schema_drift" in output and "'quantity' changed type" in output
