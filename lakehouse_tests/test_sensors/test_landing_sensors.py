"""Landing sensors on real files in ``tmp_path``: each file triggers work once, whatever the ticks and restarts."""

import json
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from lakehouse import tables
from lakehouse.partitions import daily_partitions
from lakehouse.resources import LandingZone
from lakehouse.sensors.landing import (
    CDC_BRONZE_ASSETS,
    NEW_FILES_TAG,
    build_landing_sensors,
    contiguous_ranges,
    dump_cursor,
    is_date,
    list_files,
    load_cursor,
    new_files,
)

BRONZE_CUSTOMERS_CDC, SILVER_DIM_CUSTOMER = tables.BRONZE_CUSTOMERS_CDC.key, tables.SILVER_DIM_CUSTOMER.key
DAILY = daily_partitions("2025-01-01")


# Stand-ins for the lakehouse's assets: the sensors only need jobs with the right keys and partitions.
@dg.asset(key=["bronze", "sales"], partitions_def=DAILY)
def bronze_sales() -> None: ...


@dg.multi_asset(specs=[dg.AssetSpec(key) for key in CDC_BRONZE_ASSETS])
def bronze_customers_cdc(): ...


@dg.asset(key=SILVER_DIM_CUSTOMER, deps=[BRONZE_CUSTOMERS_CDC])
def dim_customer() -> None: ...


@dg.asset(key=["bronze", "clickstream"])
def bronze_clickstream() -> None: ...


SALES_JOB = dg.define_asset_job("sales_pipeline", selection=[bronze_sales])
CUSTOMER_JOB = dg.define_asset_job("customer_dimension", selection=[bronze_customers_cdc, dim_customer])
@dg.asset(key=["silver", "stores"])
def stores() -> None: ...


CLICKSTREAM_JOB = dg.define_asset_job("clickstream", selection=[bronze_clickstream])
REFERENCE_JOB = dg.define_asset_job("reference_data", selection=[stores])


def sensors(partitions_def=DAILY) -> dict[str, dg.SensorDefinition]:
    built = build_landing_sensors(
        partitions_def, sales_job=SALES_JOB, customer_job=CUSTOMER_JOB, clickstream_job=CLICKSTREAM_JOB,
        reference_job=REFERENCE_JOB,
    )
    return {sensor.name: sensor for sensor in built}


def land(root, folder: str, *names: str) -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / folder / name).write_text('{"id": 1}\n')


def day(n: int) -> str:
    return f"2025-01-{n:02d}"


@dataclass(frozen=True)
class Tick:
    """What one evaluation of a landing sensor returned: its requests (none when it skipped), cursor and skip message."""

    run_requests: Sequence[dg.RunRequest]
    cursor: str
    skip_message: str | None


def tick(root, sensor="sales_landing_sensor", cursor=None, instance=None, partitions_def=DAILY) -> Tick:
    landing = LandingZone(root=str(root))
    context = dg.build_sensor_context(cursor=cursor, instance=instance, resources={"landing": landing})
    result = sensors(partitions_def)[sensor](context)
    # The landing sensors always return a SensorResult with a cursor; dagster makes no requests an empty list.
    assert isinstance(result, dg.SensorResult) and result.run_requests is not None and result.cursor is not None
    skipped = result.skip_reason.skip_message if result.skip_reason else None
    return Tick(result.run_requests, result.cursor, skipped)


def summary(result: Tick) -> list[tuple]:
    """(partition key or range, new files) per request."""
    return [(r.partition_key or partition_range(r), int(r.tags[NEW_FILES_TAG])) for r in result.run_requests]


def partition_range(request: dg.RunRequest) -> tuple[str, str]:
    return request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG]


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_a_new_day_requests_its_partition_once(tmp_path):
    land(tmp_path, f"sales/{day(3)}", "part-0000.json", "part-0001.json")
    first = tick(tmp_path)
    assert summary(first) == [(day(3), 2)]
    assert str(first.run_requests[0].run_key).startswith(f"sales:{day(3)}:")
    again = tick(tmp_path, cursor=first.cursor)
    assert again.run_requests == [] and "no new files" in (again.skip_message or "")


def test_a_late_file_requests_its_old_day_again_once(tmp_path):
    for n in (1, 2, 3):
        land(tmp_path, f"sales/{day(n)}", "part-0000.json")
    first = tick(tmp_path)
    land(tmp_path, f"sales/{day(1)}", "part-0001.json")  # late data
    land(tmp_path, f"sales/{day(5)}", "part-0000.json")  # and a new day
    late = tick(tmp_path, cursor=first.cursor)
    assert summary(late) == [(day(1), 1), (day(5), 1)]
    assert not {r.run_key for r in late.run_requests} & {r.run_key for r in first.run_requests}
    assert tick(tmp_path, cursor=late.cursor).run_requests == []


def test_after_a_restart_the_stored_cursor_sees_nothing_new(tmp_path):
    for n in (1, 2):
        land(tmp_path, f"sales/{day(n)}", "part-0000.json", "part-0001.json")
    land(tmp_path, "customers_cdc", "cdc-1.json")
    stored = tmp_path / "stored_cursor.txt"
    stored.write_text(tick(tmp_path).cursor)

    restarted = sensors()  # freshly built definitions, as after a code-server restart
    context = dg.build_sensor_context(cursor=stored.read_text(), resources={"landing": LandingZone(root=str(tmp_path))})
    result = restarted["sales_landing_sensor"](context)
    assert isinstance(result, dg.SensorResult) and result.run_requests == []
    stored_json = json.loads(stored.read_text())
    assert stored_json["v"] == 1 and sorted(stored_json["folders"]) == [day(1), day(2)]
    assert all(count == 2 and len(fingerprint) == 16 for count, fingerprint in stored_json["folders"].values())


def test_the_same_files_without_cursor_give_the_same_run_keys(tmp_path, instance):
    for n in (1, 2, 4):
        land(tmp_path, f"sales/{day(n)}", "part-0000.json")
    land(tmp_path, "customers_cdc", "cdc-1.json", "cdc-2.json")
    land(tmp_path, "clickstream", "clicks-1.json")
    for sensor in ("sales_landing_sensor", "customers_cdc_sensor", "clickstream_sensor"):
        first, lost_cursor = tick(tmp_path, sensor, instance=instance), tick(tmp_path, sensor, instance=instance)
        assert [r.run_key for r in first.run_requests] == [r.run_key for r in lost_cursor.run_requests]
        assert first.run_requests


def test_several_new_days_are_grouped_into_contiguous_ranges(tmp_path):
    for n in (1, 2, 3, 5, 6, 9):
        land(tmp_path, f"sales/{day(n)}", "part-0000.json", "part-0001.json")
    result = tick(tmp_path)
    assert summary(result) == [((day(1), day(3)), 6), ((day(5), day(6)), 4), (day(9), 2)]
    assert [r.partition_key for r in result.run_requests] == [None, None, day(9)]
    assert ASSET_PARTITION_RANGE_START_TAG not in result.run_requests[2].tags


def test_non_date_folders_temporary_files_and_unknown_days_are_ignored(tmp_path):
    land(tmp_path, f"sales/{day(2)}", "part-0000.json", ".part-1.json", "_tmp.json", "part-2.json.tmp", "notes.csv")
    (tmp_path / f"sales/{day(2)}/nested.json").mkdir()  # a folder named like a file is not a file
    for folder in ("tmp", "2025-1-5", "2024-12-31", "2999-01-01", "_staging", ".hidden"):
        land(tmp_path, f"sales/{folder}", "part-0000.json")
    result = tick(tmp_path)
    assert summary(result) == [(day(2), 1)]
    assert set(load_cursor(result.cursor)) == {day(2)}
    land(tmp_path, f"sales/{day(2)}", ".part-0003.json")  # still being written
    assert tick(tmp_path, cursor=result.cursor).run_requests == []


def test_a_day_folder_whose_name_is_not_a_date_is_named_in_a_warning(tmp_path, capfd):
    land(tmp_path, f"sales/{day(2)}", "part-0000.json")
    land(tmp_path, "sales/2025-13-45", "part-0000.json")
    land(tmp_path, "sales/2999-01-01", "part-0000.json")  # a date, not a partition yet: no warning
    result = tick(tmp_path)
    assert summary(result) == [(day(2), 1)]
    warnings = [line for line in capfd.readouterr().err.splitlines() if " - dagster - WARNING - " in line]
    assert len(warnings) == 1 and "2025-13-45" in warnings[0] and "2999-01-01" not in warnings[0]
    assert "not a day (YYYY-MM-DD)" in warnings[0] and str(tmp_path / "sales") in warnings[0]
    assert is_date("2025-02-28") and not is_date("2025-02-30") and not is_date("2025-13-45") and not is_date("tmp")


def test_a_day_that_is_not_a_partition_yet_is_requested_once_it_is(tmp_path):
    land(tmp_path, f"sales/{day(3)}", "part-0000.json")  # "today": the partitions end before it
    until_2nd = dg.DailyPartitionsDefinition(start_date=day(1), end_date=day(3))
    before = tick(tmp_path, partitions_def=until_2nd)
    assert before.run_requests == [] and load_cursor(before.cursor) == {}
    until_3rd = dg.DailyPartitionsDefinition(start_date=day(1), end_date=day(4))
    after_midnight = tick(tmp_path, cursor=before.cursor, partitions_def=until_3rd)
    assert summary(after_midnight) == [(day(3), 1)]


def test_cdc_files_run_bronze_only_until_the_dimension_exists_then_the_whole_job(tmp_path, instance):
    land(tmp_path, "customers_cdc", "cdc-2025-01-01-00.json", "cdc-2025-01-01-01.json")
    first = tick(tmp_path, "customers_cdc_sensor", instance=instance)
    assert [r.asset_selection for r in first.run_requests] == [list(CDC_BRONZE_ASSETS)]
    assert first.run_requests[0].tags[NEW_FILES_TAG] == "2"
    assert tick(tmp_path, "customers_cdc_sensor", cursor=first.cursor, instance=instance).run_requests == []

    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=SILVER_DIM_CUSTOMER))
    land(tmp_path, "customers_cdc", "cdc-2025-01-02-00.json")
    second = tick(tmp_path, "customers_cdc_sensor", cursor=first.cursor, instance=instance)
    assert [(r.asset_selection, r.tags[NEW_FILES_TAG]) for r in second.run_requests] == [(None, "1")]


def test_clickstream_makes_one_request_per_tick_whatever_the_number_of_files(tmp_path):
    land(tmp_path, "clickstream", *(f"clicks-2025-01-01-{n:02d}.json" for n in range(25)), "_clicks-tmp.json")
    first = tick(tmp_path, "clickstream_sensor")
    assert [r.tags[NEW_FILES_TAG] for r in first.run_requests] == ["25"]
    land(tmp_path, "clickstream", "clicks-2025-01-02-00.json", "clicks-2025-01-00-99.json")  # one sorts first
    second = tick(tmp_path, "clickstream_sensor", cursor=first.cursor)
    assert [r.tags[NEW_FILES_TAG] for r in second.run_requests] == ["2"]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert tick(tmp_path, "clickstream_sensor", cursor=second.cursor).run_requests == []


def test_reference_files_request_one_run_and_a_redelivered_file_with_the_same_name_another(tmp_path):
    (tmp_path / "stores").mkdir()
    (tmp_path / "stores" / "stores.csv").write_text("store_id,store_name,city,region\n1,One,Oslo,North\n")
    land(tmp_path, "products", "products_2025-01-01.csv", "products_2025-01-02.csv")
    first = tick(tmp_path, "reference_landing_sensor")
    assert [r.tags[NEW_FILES_TAG] for r in first.run_requests] == ["3"]
    assert tick(tmp_path, "reference_landing_sensor", cursor=first.cursor).run_requests == []
    # the store list delivered again under the same name (new content): one more run
    (tmp_path / "stores" / "stores.csv").write_text("store_id,store_name,city,region\n1,One,Oslo,North\n2,Two,Bergen,West\n")
    second = tick(tmp_path, "reference_landing_sensor", cursor=first.cursor)
    assert len(second.run_requests) == 1 and second.run_requests[0].run_key != first.run_requests[0].run_key


def test_thousands_of_files_over_a_month_are_one_backfill_and_late_files_are_counted(tmp_path):
    for n in range(1, 31):
        land(tmp_path, f"sales/{day(n)}", *(f"part-{i:04d}.json" for i in range(100)))
    first = tick(tmp_path)
    assert summary(first) == [((day(1), day(30)), 3000)]
    assert len(load_cursor(first.cursor)) == 30 and len(first.cursor) < 40 * 30 + 50

    for n, late in ((3, 4), (4, 3), (20, 3)):
        land(tmp_path, f"sales/{day(n)}", *(f"late-{i}.json" for i in range(late)))
    late = tick(tmp_path, cursor=first.cursor)
    assert summary(late) == [((day(3), day(4)), 7), (day(20), 3)]
    assert tick(tmp_path, cursor=late.cursor).run_requests == []


def test_requests_resolve_against_the_jobs_as_the_daemon_does(tmp_path, instance):
    for n in (1, 2, 7):
        land(tmp_path, f"sales/{day(n)}", "part-0000.json")
    land(tmp_path, "customers_cdc", "cdc-1.json")
    landing = LandingZone(root=str(tmp_path))
    defs = dg.Definitions(
        assets=[bronze_sales, bronze_customers_cdc, dim_customer, bronze_clickstream, stores],
        jobs=[SALES_JOB, CUSTOMER_JOB, CLICKSTREAM_JOB, REFERENCE_JOB],
        sensors=list(sensors().values()),
        resources={"landing": landing},
    )
    context = dg.build_sensor_context(instance=instance, definitions=defs, resources={"landing": landing})
    sales = defs.resolve_sensor_def("sales_landing_sensor").evaluate_tick(context).run_requests or []
    assert [r.tags.get("dagster/partition") for r in sales] == [None, day(7)]
    assert partition_range(sales[0]) == (day(1), day(2))
    cdc = defs.resolve_sensor_def("customers_cdc_sensor").evaluate_tick(context).run_requests or []
    assert [r.asset_selection for r in cdc] == [list(CDC_BRONZE_ASSETS)]
    assert defs.resolve_sensor_def("clickstream_sensor").minimum_interval_seconds == 30


def test_the_builder_takes_job_names_and_leaves_out_clickstream_without_a_target():
    built = build_landing_sensors(DAILY, sales_job="sales_pipeline", customer_job="customer_dimension")
    assert [(s.name, s.job_name, s.default_status) for s in built] == [
        ("sales_landing_sensor", "sales_pipeline", dg.DefaultSensorStatus.RUNNING),
        ("customers_cdc_sensor", "customer_dimension", dg.DefaultSensorStatus.RUNNING),
    ]


def test_pure_listing_diff_cursor_and_ranges(tmp_path):
    assert list_files(tmp_path / "missing") == []
    changes, cursor = new_files({day(1): ["a.json", "b.json"], day(2): []}, {})
    assert {folder: change.new_files for folder, change in changes.items()} == {day(1): 2}
    assert new_files({day(1): ["b.json", "a.json"]}, cursor) == ({}, cursor)
    assert new_files({day(1): ["a.json", "b.json", "c.json"]}, cursor)[0][day(1)].new_files == 1
    assert load_cursor(dump_cursor(cursor)) == cursor and load_cursor(None) == {}
    with pytest.raises(ValueError, match="Clear the cursor"):
        load_cursor("not json")
    assert contiguous_ranges([day(3), day(1), day(2), day(5)], DAILY) == [[day(1), day(2), day(3)], [day(5)]]
