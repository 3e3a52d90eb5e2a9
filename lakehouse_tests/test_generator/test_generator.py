"""The landing-zone generator: determinism, manifest truth (recounted independently), CLI."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeGuard

import pytest

from lakehouse.generator import FaultRates, Manifest, generate_landing_zone
from lakehouse.generator.cli import days_ending_yesterday, main

START = date(2025, 1, 1)
HIGH_FAULTS = FaultRates(
    malformed=0.04, wrong_type=0.04, missing_field=0.04, invalid_value=0.04, wrong_day=0.04,
    extra_field=0.04, duplicate=0.04, blank_line=0.03,
    cdc_duplicate=0.1, click_malformed=0.03, click_duplicate=0.05, click_late=0.05,
)


# --- an independent reading of the contract -------------------------------------------------

def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n")
    return text.split("\n")[:-1]


def _as_object(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _utc_date(text: object) -> date | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return None if parsed.tzinfo is None else parsed.astimezone(UTC).date()


def _is_valid_sale(record: dict, day: date) -> bool:
    """The drop-level expectations of silver/sales, re-implemented from CONTRACT.md."""
    if not isinstance(record.get("sale_id"), str):
        return False
    if not all(_is_int(record.get(k)) for k in ("customer_id", "product_id", "store_id")):
        return False
    quantity, amount, discount = record.get("quantity"), record.get("amount"), record.get("discount", 0)
    if not (_is_int(quantity) and quantity > 0 and _is_number(amount) and amount > 0):
        return False
    if not (_is_number(discount) and 0 <= discount < 1):
        return False
    return _utc_date(record.get("sale_ts")) == day


def _recount_sales_day(folder: Path) -> dict:
    day = date.fromisoformat(folder.name)
    blank = malformed = 0
    parsed: list[str] = []
    for path in sorted(folder.glob("*.json")):
        for line in _lines(path):
            if not line.strip():
                blank += 1
            elif _as_object(line) is None:
                malformed += 1
            else:
                parsed.append(line)
    copies = Counter(parsed)
    distinct = [json.loads(line) for line in copies]
    assert len({r["sale_id"] for r in distinct}) == len(distinct), "a sale_id re-sent with other bytes"
    valid = [r for r in distinct if _is_valid_sale(r, day)]
    return {
        "blank_lines": blank,
        "malformed": malformed,
        "parsed": len(parsed),
        "lines_nonblank": malformed + len(parsed),
        "duplicate_copies": len(parsed) - len(copies),
        "distinct_sales": len(distinct),
        "valid": len(valid),
        "invalid": len(distinct) - len(valid),
        "valid_records": valid,
    }


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("faulty")
    manifest = generate_landing_zone(out, START, days=3, rows_per_day=3000, seed=11, faults=HIGH_FAULTS,
                                     files_per_day=3, customers=300, products=60, stores=7)
    return out, manifest


# --- tests ------------------------------------------------------------------------------------

def test_same_seed_gives_byte_identical_tree_and_another_seed_does_not(tmp_path):
    args: dict[str, Any] = dict(start=START, days=2, rows_per_day=400, faults=FaultRates(), customers=50, clicks_per_day=80)
    generate_landing_zone(tmp_path / "a", seed=5, **args)
    generate_landing_zone(tmp_path / "b", seed=5, **args)
    generate_landing_zone(tmp_path / "c", seed=6, **args)
    a, b, c = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "c")
    assert "_manifest.json" in a and "sales/2025-01-02/part-0003.json" in a
    assert a == b
    assert a.keys() == c.keys()
    assert a["sales/2025-01-01/part-0000.json"] != c["sales/2025-01-01/part-0000.json"]
    assert a["customers_cdc/cdc-2025-01-01-00.json"] != c["customers_cdc/cdc-2025-01-01-00.json"]


def test_manifest_counts_match_an_independent_recount(faulty):
    out, manifest = faulty
    assert sorted(manifest.sales_days) == ["2025-01-01", "2025-01-02", "2025-01-03"]
    for day, expected in manifest.sales_days.items():
        recount = _recount_sales_day(out / "sales" / day)
        for key in ("blank_lines", "malformed", "parsed", "lines_nonblank", "duplicate_copies",
                    "distinct_sales", "valid", "invalid"):
            assert getattr(expected, key) == recount[key], (day, key)
        assert expected.faults["duplicate"] == expected.duplicate_copies
        assert expected.faults["blank_line"] == expected.blank_lines
        assert expected.valid + expected.invalid == expected.distinct_sales
        assert expected.malformed > 0 and expected.invalid > 0 and expected.duplicate_copies > 0


def test_manifest_gold_figures_match_the_valid_sales(faulty):
    out, manifest = faulty
    for day, expected in manifest.sales_days.items():
        revenue: Counter = Counter()
        units: Counter = Counter()
        transactions: Counter = Counter()
        for r in _recount_sales_day(out / "sales" / day)["valid_records"]:
            store = str(r["store_id"])
            revenue[store] += r["amount"] * r["quantity"] * (1 - r.get("discount", 0))
            units[store] += r["quantity"]
            transactions[store] += 1
        assert set(expected.by_store) == set(transactions)
        for store, figures in expected.by_store.items():
            assert figures["transactions"] == transactions[store]
            assert figures["units"] == units[store]
            assert figures["revenue"] == pytest.approx(revenue[store], abs=1e-6)


def test_manifest_round_trips_through_its_file(faulty):
    out, manifest = faulty
    loaded = Manifest.load(out)
    assert loaded == Manifest.load(out / "_manifest.json") == manifest
    raw = json.loads((out / "_manifest.json").read_text())
    assert raw["sales"]["totals"]["valid"] == sum(d.valid for d in manifest.sales_days.values())
    assert raw["sales"]["totals"]["records"] == 3 * 3000


def test_valid_sale_ts_keeps_the_folder_utc_date_with_z_and_offsets(faulty):
    out, _ = faulty
    suffixes: Counter = Counter()
    local_day_differs = 0
    for folder in sorted((out / "sales").iterdir()):
        day = date.fromisoformat(folder.name)
        for record in _recount_sales_day(folder)["valid_records"]:
            ts = record["sale_ts"]
            assert _utc_date(ts) == day
            suffixes["Z" if ts.endswith("Z") else "offset"] += 1
            local_day_differs += date.fromisoformat(ts[:10]) != day
    assert suffixes["Z"] > 1000 and suffixes["offset"] > 1000
    assert local_day_differs > 0  # e.g. 23:30Z written as 01:30+02:00 the next local day


def test_faulty_lines_look_like_the_contract_says(faulty):
    out, _ = faulty
    folder = out / "sales" / "2025-01-02"
    lines = [line for p in sorted(folder.glob("*.json")) for line in _lines(p)]
    records = [r for r in map(_as_object, lines) if r is not None]
    known = {"sale_id", "customer_id", "product_id", "store_id", "quantity", "amount", "discount", "sale_ts"}
    extra = [r for r in records if set(r) - known]
    assert extra and all(_is_valid_sale(r, date(2025, 1, 2)) for r in extra)
    assert any("discount" not in r and _is_valid_sale(r, date(2025, 1, 2)) for r in records)
    assert any(r.get("customer_id", 0) is None for r in records)
    assert any(isinstance(r.get("store_id"), bool) for r in records)
    for r in records:  # no ambiguous digit strings for integer fields
        for key in ("customer_id", "product_id", "store_id", "quantity"):
            assert not (isinstance(r.get(key), str) and r[key].strip().lstrip("-").isdigit())
    assert any(line.strip() == "" and line != "" for line in lines)  # whitespace-only blanks too


def test_no_faults_gives_a_clean_feed(tmp_path):
    manifest = generate_landing_zone(tmp_path, START, days=2, rows_per_day=2000, seed=3,
                                     faults=FaultRates.none(), customers=100)
    totals = manifest.sales_totals
    assert totals["malformed"] == totals["invalid"] == totals["blank_lines"] == totals["duplicate_copies"] == 0
    assert totals["valid"] == totals["lines_nonblank"] == 4000
    assert manifest.customers_cdc.duplicate_events == 0
    assert manifest.clickstream.malformed == manifest.clickstream.duplicates == 0
    for day in manifest.sales_days:
        recount = _recount_sales_day(tmp_path / "sales" / day)
        assert recount["valid"] == 2000 and recount["blank_lines"] == 0


def test_default_rates_are_roughly_honoured(tmp_path):
    rates = FaultRates()
    manifest = generate_landing_zone(tmp_path, START, days=1, rows_per_day=40_000, seed=9,
                                     faults=rates, clicks_per_day=0)
    counts = manifest.sales_days["2025-01-01"].faults
    for kind, count in counts.items():
        expected = getattr(rates, kind) * 40_000
        assert 0.7 * expected <= count <= 1.3 * expected, (kind, count, expected)


def test_cdc_has_duplicate_deliveries_and_otherwise_unique_increasing_seqs(faulty):
    out, manifest = faulty
    stats = manifest.customers_cdc
    files = sorted((out / "customers_cdc").glob("cdc-*.json"))
    assert len(files) == stats.files == 4 * 3
    events, max_seq_per_file = [], []
    for path in files:
        lines = _lines(path)
        events += [(line, json.loads(line)) for line in lines]
        max_seq_per_file.append(max((json.loads(line)["seq"] for line in lines), default=0))
    assert len(events) == stats.events_written
    by_key = Counter((e["customer_id"], e["seq"]) for _, e in events)
    assert sum(n - 1 for n in by_key.values()) == stats.duplicate_events > 0
    assert len(by_key) == stats.distinct_events
    assert len({seq for _, seq in by_key}) == len(by_key)  # seq unique per distinct event
    first_line = {}
    for line, e in events:  # a re-delivery is the same bytes
        assert first_line.setdefault((e["customer_id"], e["seq"]), line) == line
    assert max_seq_per_file != sorted(max_seq_per_file)  # files land out of seq order
    distinct = sorted({(e["seq"], line): e for line, e in events}.values(), key=lambda e: e["seq"])
    times = [datetime.fromisoformat(e["event_ts"]) for e in distinct]
    assert times == sorted(times) and len(set(times)) == len(times)
    # replay: ops are consistent and the expected SCD2 row counts follow
    attrs: dict[int, dict] = {}
    live: set[int] = set()
    versions = 0
    for e in distinct:
        cid, op = e["customer_id"], e["op"]
        tracked = {k: e.get(k) for k in ("name", "email", "phone", "city")}
        if op == "DELETE":
            assert cid in live and set(e) == {"customer_id", "op", "seq", "event_ts"}
            live.discard(cid)
        elif op == "INSERT":
            assert cid not in live and all(tracked.values())
            live.add(cid)
            versions += 1
        else:
            assert op == "UPDATE" and cid in live
            versions += tracked != attrs[cid]
        if op != "DELETE":
            attrs[cid] = tracked
    assert versions == stats.expected_dim_customer_rows
    assert len(live) == stats.expected_current_customers
    assert stats.ops["DELETE"] > 0 and stats.reinserts > 0 and stats.noop_updates > 0


def test_every_sold_customer_was_inserted_before_the_sale_day(faulty):
    out, _ = faulty
    inserted: dict[int, date] = {}
    for path in (out / "customers_cdc").glob("*.json"):
        for line in _lines(path):
            e = json.loads(line)
            if e["op"] == "INSERT":
                when = datetime.fromisoformat(e["event_ts"]).date()
                inserted[e["customer_id"]] = min(when, inserted.get(e["customer_id"], when))
    for folder in (out / "sales").iterdir():
        day = date.fromisoformat(folder.name)
        for record in _recount_sales_day(folder)["valid_records"]:
            assert inserted[record["customer_id"]] < day


def test_product_snapshots_and_sale_amounts_use_the_day_price(faulty):
    out, manifest = faulty
    snapshots = sorted((out / "products").glob("products_*.csv"))
    assert [p.name for p in snapshots] == [f"products_2025-01-0{d}.csv" for d in (1, 2, 3)]
    prices: dict[str, dict[int, float]] = {}
    for path in snapshots:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["product_id", "product_name", "category", "list_price"]
        assert all(float(r[3]) > 0 and r[1] and r[2] for r in rows[1:])
        prices[path.stem.split("_")[1]] = {int(r[0]): float(r[3]) for r in rows[1:]}
    assert prices["2025-01-01"] != prices["2025-01-02"]
    last = prices["2025-01-03"]
    assert {int(k): v for k, v in manifest.products.final_prices.items()} == last
    for day, day_prices in prices.items():
        for record in _recount_sales_day(out / "sales" / day)["valid_records"]:
            if record["product_id"] in day_prices:
                assert record["amount"] == day_prices[record["product_id"]]
    with (out / "stores" / "stores.csv").open(newline="") as handle:
        stores = list(csv.DictReader(handle))
    assert [int(s["store_id"]) for s in stores] == list(range(1, 8))


def test_clickstream_counts_match_the_manifest(faulty):
    out, manifest = faulty
    stats = manifest.clickstream
    lines = [line for p in sorted((out / "clickstream").glob("*.json")) for line in _lines(p)]
    objects = [o for o in map(_as_object, lines) if o is not None]
    ids = Counter(o["event_id"] for o in objects)
    assert len(lines) == stats.lines
    assert len(lines) - len(objects) == stats.malformed > 0
    assert sum(n - 1 for n in ids.values()) == stats.duplicates > 0
    assert len(ids) == stats.distinct_events
    assert {o["event_type"] for o in objects} <= {"view", "add_to_cart", "purchase"}
    assert any(o["customer_id"] is None for o in objects) and stats.late_events > 0


def test_cli_refuses_a_non_empty_out_unless_forced(tmp_path, capsys):
    out = tmp_path / "landing"
    (out / "sales" / "2099-01-01").mkdir(parents=True)
    (out / "README.txt").write_text("keep me")
    argv = ["--out", str(out), "--days", "2", "--rows-per-day", "50", "--quiet", "--malformed-rate", "0.2"]
    assert main(argv) == 2
    assert "not empty" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0
    assert "manifest" in capsys.readouterr().out
    assert (out / "README.txt").read_text() == "keep me"
    assert not (out / "sales" / "2099-01-01").exists()
    manifest = Manifest.load(out)
    assert manifest.args["faults"]["malformed"] == 0.2 and manifest.sales_totals["records"] == 100
    assert main(["--out", str(tmp_path / "clean"), "--days", "1", "--rows-per-day", "50",
                 "--no-faults", "--quiet"]) == 0
    assert Manifest.load(tmp_path / "clean").sales_totals["valid"] == 50


def test_days_back_dates_the_feed_to_end_yesterday_and_refuses_explicit_dates(tmp_path, capsys):
    assert days_ending_yesterday(7, today=date(2026, 12, 4)) == date(2026, 11, 27)
    assert main(["--out", str(tmp_path / "rel"), "--days-back", "3", "--rows-per-day", "10", "--quiet"]) == 0
    yesterday = datetime.now(UTC).date().toordinal() - 1
    days = sorted(p.name for p in (tmp_path / "rel" / "sales").iterdir())
    assert [date.fromisoformat(d).toordinal() for d in days] == [yesterday - 2, yesterday - 1, yesterday]
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "x"), "--days-back", "3", "--start", "2025-01-01"])
    assert "drop --start" in capsys.readouterr().err
