"""Change feed → bronze/customers_cdc → silver/dim_customer → gold/revenue_by_city, as real runs.

Generated CDC files are delivered into the landing zone over several runs in shuffled order
(a later run brings lower seqs and re-delivered events); the final dimension must be what the
contract and the generator's manifest say, and the same as a full rebuild.
"""

import json
import random
import shutil
from datetime import date
from pathlib import Path, PurePosixPath

import dagster as dg
import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from lakehouse.definitions import build_definitions
from lakehouse.generator import FaultRates, generate_landing_zone
from lakehouse.settings import LakehouseSettings
from lakehouse_tests.lakehouse_runner import LakehouseRunner

DIM = "silver/dim_customer"


def _rows(runner: LakehouseRunner, table: str, order: str = "customer_id, valid_from") -> list[dict]:
    frame = runner.table(table)
    return [r.asDict() for r in frame.orderBy(*[c.strip() for c in order.split(",")]).collect()]


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def delivered(spark, tmp_path_factory):
    """CDC files of 5 days delivered in 3 shuffled batches, one customer_dimension run after each."""
    root = tmp_path_factory.mktemp("cdc")
    source = root / "generated"
    manifest = generate_landing_zone(source, date(2025, 1, 1), days=5, rows_per_day=200, seed=5, faults=FaultRates.none(),
                                     customers=400, cdc_files_per_day=3)
    # Heavier duplication than the generator's default: re-send 10 % of all events into random files.
    files = sorted((source / "customers_cdc").glob("*.json"))
    rng = random.Random(3)
    all_lines = [line for f in files for line in f.read_text().splitlines()]
    resent = rng.sample(all_lines, len(all_lines) // 10)
    for line in resent:
        with rng.choice(files).open("a") as handle:
            handle.write(line + "\n")
    rng.shuffle(files)
    batches = [files[: len(files) // 3], files[len(files) // 3: 2 * len(files) // 3], files[2 * len(files) // 3:]]

    settings = LakehouseSettings.for_root(root, spark_master="local[2]")
    shutil.copytree(source, settings.landing, ignore=shutil.ignore_patterns("customers_cdc"))
    (settings.landing / "customers_cdc").mkdir()
    with dg.DagsterInstance.ephemeral() as instance:
        runner = LakehouseRunner(build_definitions(settings), settings, instance, spark)
        results = []
        for batch in batches:
            for f in batch:
                shutil.copy(f, settings.landing / "customers_cdc" / f.name)
            results.append(runner.run("customer_dimension"))
        yield runner, manifest, results, len(resent), [[f.name for f in batch] for batch in batches]


def test_every_run_reads_only_the_new_files(delivered):
    runner, _, results, _, _ = delivered
    read = [r.asset_materializations_for_node("bronze_customers_cdc")[0].metadata["files_read"].value for r in results]
    log = runner.table("bronze/customers_cdc_files")
    assert sum(read) == log.count() == len(list((runner.settings.landing / "customers_cdc").glob("*.json")))
    assert all(n > 0 for n in read)
    for result in results:  # the run log says it in words, with the figures of the metadata
        meta = {k: v.value for k, v in result.asset_materializations_for_node("bronze_customers_cdc")[0].metadata.items()}
        assert runner.messages(result, "customers_cdc: ") == [
            f"customers_cdc: {meta['files_read']} of {meta['files_landed']} landed file(s) read: {meta['lines']} line(s), "
            f"{meta['records']} record(s), {meta['rejects']} reject(s); {meta['new_rows']} new row(s), "
            f"{meta['duplicate_rows']} duplicate(s)"]
    assert log.select("file").distinct().count() == log.count()


def test_no_run_log_says_a_check_step_left_out_its_outputs(delivered):
    runner, _, results, _, _ = delivered
    assert all(runner.messages(r, "did not yield or return expected outputs") == [] for r in results)
    assert all(any(e.step_key == "table_declarations" and e.event_type_value == "ASSET_CHECK_EVALUATION" for e in r.all_events) for r in results)


def test_duplicates_are_stored_once_and_the_accounting_reconciles(delivered):
    runner, manifest, results, resent, _ = delivered
    bronze = runner.table("bronze/customers_cdc")
    assert bronze.count() == manifest.customers_cdc.distinct_events
    assert bronze.select("customer_id", "seq").distinct().count() == bronze.count()
    log = runner.table("bronze/customers_cdc_files").agg({"records": "sum", "duplicate_rows": "sum"}).collect()[0]
    assert log["sum(records)"] == manifest.customers_cdc.events_written + resent
    assert log["sum(duplicate_rows)"] == manifest.customers_cdc.duplicate_events + resent
    assert all(_checks(r)["customers_cdc_accounting"] for r in results)


def test_dimension_is_the_contracts_after_out_of_order_runs(delivered):
    runner, manifest, results, _, _ = delivered
    dim = runner.table(DIM)
    assert dim.count() == manifest.customers_cdc.expected_dim_customer_rows
    assert dim.where("is_current").count() == manifest.customers_cdc.expected_current_customers
    assert set(dim.columns) >= {"customer_id", "name", "email", "phone", "city", "valid_from", "valid_to", "is_current"}
    for result in results:
        checks = _checks(result)
        assert checks["dim_customer_one_current_row"] and checks["dim_customer_valid_intervals"], checks
        assert checks["dim_customer_follows_events"], checks


def test_incremental_runs_recompute_only_changed_customers(delivered):
    runner, _, results, _, batches = delivered
    changed = [r.asset_materializations_for_node("silver__dim_customer")[0].metadata["keys_changed"].value for r in results]
    # The customers each run brought new events of: bronze keeps an event once, with the file that first
    # delivered it, and run i delivered batch i's files. Re-delivered events (stored before) change no one.
    run_of = {name: i for i, batch in enumerate(batches) for name in batch}
    per_run = [0] * len(results)
    files_per_customer = runner.table("bronze/customers_cdc").groupBy("customer_id").agg(
        F.collect_set("_source_file").alias("files")).collect()
    for row in files_per_customer:
        for i in {run_of[PurePosixPath(f).name] for f in row["files"]}:
            per_run[i] += 1
    assert changed == per_run
    assert max(per_run[1:]) < len(files_per_customer)  # later runs did not simply recompute everyone
    operations = [r["operation"] for r in DeltaTable.forPath(runner.spark, str(runner.path(DIM))).history().collect()]
    assert "MERGE" in operations


def test_rerun_without_new_files_changes_nothing_and_full_refresh_agrees(delivered):
    runner, _, _, _, _ = delivered
    before = _rows(runner, DIM)
    bronze_version = DeltaTable.forPath(runner.spark, str(runner.path("bronze/customers_cdc"))).history(1).collect()[0]["version"]
    again = runner.run("customer_dimension")
    assert again.asset_materializations_for_node("bronze_customers_cdc")[0].metadata["files_read"].value == 0
    # A run that wrote nothing says so, instead of repeating the figures of an older commit.
    for node in ("bronze_customers_cdc", "silver__dim_customer"):
        metadata = again.asset_materializations_for_node(node)[0].metadata
        assert metadata["delta_operation"].value == "none (nothing changed)", node
        assert metadata["files_written"].value == metadata["bytes_written"].value == 0, node
    assert DeltaTable.forPath(runner.spark, str(runner.path("bronze/customers_cdc"))).history(1).collect()[0]["version"] == bronze_version
    assert _rows(runner, DIM) == before

    rebuilt = runner.run("customer_dimension", run_config={"ops": {"silver__dim_customer": {"config": {"full_refresh": True}}}})
    assert rebuilt.asset_materializations_for_node("silver__dim_customer")[0].metadata["mode"].value == "full"
    assert _rows(runner, DIM) == before


# --- a hand-written feed: late events, duplicates, a malformed line, delete and re-insert, no-op update ---

def _event(customer_id, op, seq, ts, city=None, name="Ann Lee"):
    event = {"customer_id": customer_id, "op": op, "seq": seq, "event_ts": f"2025-01-01T{ts}:00Z"}
    if op != "DELETE":
        event.update(name=name, email=f"c{customer_id}@x.example", phone="+33 6 00", city=city)
    return json.dumps(event)


@pytest.fixture
def small_feed(lakehouse):
    folder = lakehouse.settings.landing / "customers_cdc"
    folder.mkdir(parents=True)

    def land(name: str, *lines: str) -> Path:
        path = folder / name
        path.write_text("".join(line + "\n" for line in lines))
        return path

    return land


def test_late_event_is_placed_into_history_not_appended(lakehouse, small_feed):
    small_feed("a.json",
               _event(1, "INSERT", 10, "01:00", "Paris"), _event(1, "UPDATE", 30, "03:00", "Lyon"),
               _event(2, "INSERT", 11, "01:00", "Nice"), _event(2, "DELETE", 31, "03:00"),
               '{"customer_id": 3, "op": "INSERT", "seq": 12', _event(3, "INSERT", 13, "01:30", "Brest"))
    first = lakehouse.run("customer_dimension")
    assert [(r["customer_id"], r["city"], r["is_current"]) for r in _rows(lakehouse, DIM)] == [
        (1, "Paris", False), (1, "Lyon", True), (2, "Nice", False), (3, "Brest", True)]
    assert lakehouse.table("bronze/customers_cdc_rejects").count() == 1

    # A late file: an older change of customer 1, a re-sent event, a re-insert of 2, a no-op update of 3.
    small_feed("b.json",
               _event(1, "UPDATE", 20, "02:00", "Nice"), _event(1, "INSERT", 10, "01:00", "Paris"),
               _event(2, "INSERT", 40, "04:00", "Nice"), _event(3, "UPDATE", 41, "04:00", "Brest"))
    second = lakehouse.run("customer_dimension")
    rows = [(r["customer_id"], r["city"], str(r["valid_from"])[11:16], str(r["valid_to"])[11:16] if r["valid_to"] else None,
             r["is_current"]) for r in _rows(lakehouse, DIM)]
    assert rows == [
        (1, "Paris", "01:00", "02:00", False), (1, "Nice", "02:00", "03:00", False), (1, "Lyon", "03:00", None, True),
        (2, "Nice", "01:00", "03:00", False), (2, "Nice", "04:00", None, True),
        (3, "Brest", "01:30", None, True),
    ]
    assert lakehouse.table("bronze/customers_cdc").count() == 8  # 9 records landed, 1 duplicate
    assert second.asset_materializations_for_node("silver__dim_customer")[0].metadata["keys_changed"].value == 3
    for result in (first, second):
        assert all(_checks(result).values()), _checks(result)


def test_a_dimension_broken_behind_the_pipeline_fails_its_checks_and_stops_the_masked_table(lakehouse, small_feed):
    """The dimension's checks share a step: every result is recorded, and a failed blocking one stops downstream gold."""
    small_feed("a.json", _event(1, "INSERT", 10, "01:00", "Paris"), _event(2, "INSERT", 11, "01:00", "Nice"))
    assert lakehouse.run("customer_dimension").success
    # Written around the pipeline: a second current version of customer 1.
    copy = lakehouse.table(DIM).where("customer_id = 1").withColumn("_valid_from_seq", F.col("_valid_from_seq") + 1000)
    copy.write.format("delta").mode("append").save(str(lakehouse.path(DIM)))

    result = lakehouse.run("customer_dimension", raise_on_error=False)
    assert not result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["dim_customer_one_current_row"].passed and not checks["dim_customer_valid_intervals"].passed
    assert checks["dim_customer_follows_events"].passed  # both current rows hold the latest event's values
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "dim_customer_checks" and "dim_customer_one_current_row" in str(failure.event_specific_data.error)
    assert not result.asset_materializations_for_node("gold__customers_masked")
    assert "gold_customers_masked_reconciles" not in checks


def test_revenue_by_city_uses_the_version_valid_at_each_sale(lakehouse, small_feed, write_sales_day):
    small_feed("a.json", _event(1, "INSERT", 10, "01:00", "Paris"), _event(1, "UPDATE", 20, "12:00", "Lyon"),
               _event(2, "INSERT", 11, "01:00", "Nice"), _event(2, "DELETE", 21, "13:00"))
    sale = '{{"sale_id": "S{0}", "customer_id": {1}, "product_id": 1, "store_id": 1, "quantity": 1, "amount": {2}, "sale_ts": "2025-01-01T{3}:00Z"}}'
    write_sales_day("2025-01-01", [
        sale.format(1, 1, 10.0, "09:00"),  # customer 1 in Paris
        sale.format(2, 1, 20.0, "12:00"),  # valid_from is inclusive: Lyon
        sale.format(3, 1, 40.0, "18:00"),  # Lyon
        sale.format(4, 2, 80.0, "12:59"),  # customer 2 in Nice, just before the delete
        sale.format(5, 2, 160.0, "13:00"),  # valid_to is exclusive: no version, city NULL
    ])
    lakehouse.run("customer_dimension")
    lakehouse.materialize("2025-01-01")
    result = lakehouse.materialize("2025-01-01", job="customer_revenue")
    revenue = {r["city"]: (r["revenue"], r["transactions"]) for r in lakehouse.table("gold/revenue_by_city").collect()}
    assert revenue == {"Paris": (10.0, 1), "Lyon": (60.0, 2), "Nice": (80.0, 1), None: (160.0, 1)}
    metadata = result.asset_materializations_for_node("gold__revenue_by_city")[0].metadata
    assert metadata["sales_without_customer_version"].value == 1


def test_revenue_by_city_fails_clearly_before_the_dimension_exists(lakehouse, write_sales_day):
    write_sales_day("2025-01-01", ['{"sale_id": "S1", "customer_id": 1, "product_id": 1, "store_id": 1, "quantity": 1, '
                                   '"amount": 1.0, "sale_ts": "2025-01-01T09:00:00Z"}'])
    lakehouse.materialize("2025-01-01")
    result = lakehouse.materialize("2025-01-01", job="customer_revenue", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "silver.dim_customer" in str(failure.event_specific_data.error) and "Materialize silver/dim_customer" in str(
        failure.event_specific_data.error)


def test_product_dimension_holds_the_latest_prices(lakehouse):
    manifest = generate_landing_zone(lakehouse.settings.landing, date(2025, 1, 1), days=4, rows_per_day=10, seed=8,
                                     faults=FaultRates.none(), products=60)
    result = lakehouse.run("reference_data")
    assert result.success
    prices = {str(r["product_id"]): r["list_price"] for r in lakehouse.table("silver/dim_product").collect()}
    assert prices == pytest.approx(manifest.products.final_prices)
    assert _checks(result)["silver_dim_product_key_unique"]
    assert lakehouse.table("silver/dim_product").count() == manifest.products.products_total
