"""SCD type 1 from full snapshots, on real Delta tables in tmp_path."""

import csv
from datetime import date
from pathlib import Path

import pytest
from delta.tables import DeltaTable

from lakehouse.generator import FaultRates, Manifest, generate_landing_zone
from lakehouse.scd.scd1 import SnapshotSpec, merge_snapshots, read_csv_snapshots

SPEC = SnapshotSpec(keys=("product_id",), attributes=("product_name", "category", "list_price"))
SCHEMA = "product_id BIGINT, product_name STRING, category STRING, list_price DOUBLE"
D1, D2, D3, D4 = (date(2025, 1, d) for d in range(1, 5))


def _snapshots(spark, *snapshots):
    """``(day, {product_id: price})`` pairs -> one input frame; name and category derive from the id."""
    rows = [(pid, f"Product {pid}", "Toys", price, day) for day, prices in snapshots for pid, price in prices.items()]
    return spark.createDataFrame(rows, f"{SCHEMA}, snapshot_date DATE")


def _table(spark, path, version: int | None = None) -> dict[int, dict]:
    """The table (at ``version`` if given) as ``{product_id: row dict}``."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return {r.product_id: r.asDict() for r in reader.load(str(path)).collect()}


def _merge(spark, path, *snapshots):
    return merge_snapshots(spark, str(path), _snapshots(spark, *snapshots), SPEC)


HISTORY = (
    (D1, {1: 1.0, 2: 2.0, 3: 3.0}),
    (D2, {1: 1.5, 3: 3.0}),  # 1 changes price, 2 is left out
    (D3, {1: 1.5, 3: 3.0, 4: 4.0}),  # 4 is new
    (D4, {1: 1.25, 2: 2.0, 4: 4.0}),  # 2 comes back, 3 is left out
)


@pytest.fixture(scope="module")
def one_by_one(spark, tmp_path_factory):
    """HISTORY applied one snapshot per call: the table's path and each call's result."""
    path = tmp_path_factory.mktemp("scd1") / "one_by_one"
    return path, [_merge(spark, path, snapshot) for snapshot in HISTORY]


@pytest.fixture(scope="module")
def at_once(spark, tmp_path_factory):
    """HISTORY applied in one call."""
    path = tmp_path_factory.mktemp("scd1") / "at_once"
    return path, _merge(spark, path, *HISTORY)


def test_first_load_creates_the_table(spark, one_by_one):
    path, results = one_by_one
    first = results[0]

    assert (first.rows_inserted, first.rows_updated, first.rows_total, first.rows_flagged_missing) == (3, 0, 3, 0)
    assert (first.snapshots_applied, first.latest_snapshot, first.delta_version) == (1, "2025-01-01", 0)
    assert first.metadata() == {"snapshots_applied": 1, "latest_snapshot": "2025-01-01", "rows_inserted": 3,
                                "rows_updated": 0, "rows_flagged_missing": 0, "rows_total": 3, "delta_version": 0}
    assert spark.read.format("delta").load(str(path)).columns == [
        "product_id", "product_name", "category", "list_price",
        "snapshot_date", "first_seen", "last_seen", "in_latest_snapshot", "missing_since",
    ]
    assert _table(spark, path, 0)[1] == {
        "product_id": 1, "product_name": "Product 1", "category": "Toys", "list_price": 1.0, "snapshot_date": D1,
        "first_seen": D1, "last_seen": D1, "in_latest_snapshot": True, "missing_since": None,
    }


def test_later_snapshot_updates_a_price_and_inserts_a_product(spark, one_by_one):
    path, results = one_by_one

    # D2: 1 (new price) and 3 (last_seen moves) are updated, 2 is flagged: 3 updates.
    assert (results[1].rows_inserted, results[1].rows_updated, results[1].delta_version) == (0, 3, 1)
    assert (results[2].rows_inserted, results[2].rows_updated, results[2].rows_total) == (1, 2, 4)
    after_d2 = _table(spark, path, 1)
    assert (after_d2[1]["list_price"], after_d2[1]["first_seen"], after_d2[1]["last_seen"]) == (1.5, D1, D2)
    after_d3 = _table(spark, path, 2)
    assert (after_d3[4]["first_seen"], after_d3[4]["in_latest_snapshot"]) == (D3, True)


def test_missing_product_is_flagged_not_deleted_then_cleared(spark, one_by_one):
    path, results = one_by_one

    assert [r.rows_flagged_missing for r in results] == [0, 1, 1, 1]
    gone = _table(spark, path, 2)[2]  # after D3: missing from D2 on, last values kept
    assert (gone["in_latest_snapshot"], gone["missing_since"], gone["last_seen"], gone["list_price"]) == (
        False, D2, D1, 2.0)
    table = _table(spark, path)
    assert (table[2]["in_latest_snapshot"], table[2]["missing_since"], table[2]["last_seen"]) == (True, None, D4)
    assert (table[3]["in_latest_snapshot"], table[3]["missing_since"], table[3]["last_seen"]) == (False, D4, D3)


def test_several_snapshots_in_one_call_equal_one_call_per_snapshot(spark, one_by_one, at_once):
    path, result = at_once

    assert (result.snapshots_applied, result.latest_snapshot, result.rows_total) == (4, "2025-01-04", 4)
    assert _table(spark, path) == _table(spark, one_by_one[0])


def test_late_older_snapshot_does_not_roll_values_back(spark, tmp_path):
    path = tmp_path / "dim"
    _merge(spark, path, (D1, {1: 1.0, 2: 2.0}), (D3, {1: 3.0}))
    result = _merge(spark, path, (D2, {1: 2.0, 9: 9.0}))  # lands after D3; 2 is missing in it too

    table = _table(spark, path)
    assert table[1]["list_price"] == 3.0 and table[1]["last_seen"] == D3
    assert table[2]["missing_since"] == D2  # the late snapshot is the first that lacked product 2
    assert (table[9]["first_seen"], table[9]["missing_since"], table[9]["in_latest_snapshot"]) == (D2, D3, False)
    assert (result.rows_inserted, result.latest_snapshot) == (1, "2025-01-03")
    _merge(spark, tmp_path / "in_order", (D1, {1: 1.0, 2: 2.0}), (D2, {1: 2.0, 9: 9.0}), (D3, {1: 3.0}))
    assert table == _table(spark, tmp_path / "in_order")


def test_same_input_twice_changes_nothing(spark, at_once):
    path = at_once[0]
    before, files = _table(spark, path), set(DeltaTable.forPath(spark, str(path)).toDF().inputFiles())

    again = _merge(spark, path, *HISTORY)

    assert (again.rows_inserted, again.rows_updated, again.rows_total, again.delta_version) == (0, 0, 4, 0)
    assert _table(spark, path) == before
    assert set(DeltaTable.forPath(spark, str(path)).toDF().inputFiles()) == files  # no file rewritten
    assert DeltaTable.forPath(spark, str(path)).history().count() == 1  # and no commit at all


def test_duplicate_or_null_key_in_a_snapshot_fails_naming_it(spark, tmp_path):
    rows = _snapshots(spark, (D1, {1: 1.0, 7: 7.0}), (D2, {1: 1.0, 7: 7.0}), (D2, {7: 7.5, None: 0.5}))

    with pytest.raises(ValueError) as error:
        merge_snapshots(spark, str(tmp_path / "dim"), rows, SPEC)

    assert "snapshot 2025-01-02: 2 row(s) with product_id=7" in str(error.value)
    assert "snapshot 2025-01-02: 1 row(s) with product_id=None" in str(error.value)
    assert "2025-01-01" not in str(error.value) and "deduplicate" in str(error.value)
    assert not (tmp_path / "dim").exists()


def test_read_csv_snapshots_dates_rows_by_file_name_and_keeps_malformed_lines(spark, tmp_path):
    folder = tmp_path / "products"
    folder.mkdir()
    header = "product_id,product_name,category,list_price\n"
    (folder / "products_2025-01-01.csv").write_text(header + "1,Kite,Toys,4.50\n2,Tea,Beverages,2.00\n")
    (folder / "products_2025-01-02.csv").write_text(header + "1,Kite,Toys,4.75\n2,Tea,Beverages,not-a-price\n")

    batch = read_csv_snapshots(spark, sorted(str(p) for p in folder.iterdir()), SCHEMA)

    rows = sorted((r.snapshot_date, r.product_id, r.list_price) for r in batch.rows.collect())
    assert rows == [(D1, 1, 4.5), (D1, 2, 2.0), (D2, 1, 4.75)]
    [reject] = batch.rejects.collect()
    assert (reject._raw_line, reject.snapshot_date) == ("2,Tea,Beverages,not-a-price", D2)
    assert reject._source_file.endswith("products_2025-01-02.csv") and "schema" in reject._reject_reason
    # The rejected line's key is absent from its snapshot: flagged, its last good values kept.
    merge_snapshots(spark, str(tmp_path / "dim"), batch.rows, SPEC)
    assert _table(spark, tmp_path / "dim")[2]["missing_since"] == D2

    with pytest.raises(ValueError, match=r"products_latest\.csv"):
        read_csv_snapshots(spark, [str(folder / "products_latest.csv")], SCHEMA)


def test_generated_product_snapshots_give_the_manifest_prices(spark, tmp_path):
    landing = tmp_path / "landing"
    generate_landing_zone(landing, days=5, rows_per_day=0, seed=3, faults=FaultRates.none(), customers=5,
                          products=40, stores=2, clicks_per_day=0)
    manifest = Manifest.load(landing)
    files = sorted(str(p) for p in (landing / "products").glob("products_*.csv"))
    path = str(tmp_path / "dim_product")

    # Days 1-4, then day 5 on its own, as a daily schedule would. Seed 3 leaves a product out on day 4.
    merge_snapshots(spark, path, read_csv_snapshots(spark, files[:-1], SCHEMA).rows, SPEC)
    flagged = {pid: row["missing_since"] for pid, row in _table(spark, path).items() if not row["in_latest_snapshot"]}
    assert flagged == {pid: date.fromisoformat(day) for day, pid in manifest.products.missing if day == "2025-01-04"}
    batch = read_csv_snapshots(spark, files[-1:], SCHEMA)
    result = merge_snapshots(spark, path, batch.rows, SPEC)

    table = _table(spark, path)
    last_day = {int(row["product_id"]) for row in csv.DictReader(Path(files[-1]).read_text().splitlines())}
    assert batch.rejects.count() == 0
    assert result.rows_total == manifest.products.products_total == len(table)
    assert {str(pid): row["list_price"] for pid, row in table.items()} == pytest.approx(manifest.products.final_prices)
    assert {pid for pid, row in table.items() if row["in_latest_snapshot"]} == last_day
    assert result.rows_flagged_missing == len(set(table) - last_day) == 0
