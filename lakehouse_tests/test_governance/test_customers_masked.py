"""gold/customers_masked and the statistics exclusion, in real runs of the customer_dimension job on a small change feed.

The module's lakehouse is run three times: once with no key (refused), then twice with the
test key (tokens stable). The change feed holds a customer who moved, one who was deleted, one
with neither email nor phone, a rejected line and a rescued field, each carrying personal data.
"""

import json
from pathlib import Path

import dagster as dg
import pytest

from lakehouse import tables
from lakehouse.definitions import build_definitions
from lakehouse.governance.masking import masked_email, masked_phone
from lakehouse.governance.tokens import KEY_VARIABLE, customer_token
from lakehouse.settings import LakehouseSettings
from lakehouse.tables.registry import PII, STATS_COLUMNS
from lakehouse_tests.lakehouse_runner import LakehouseRunner

MASKED = "gold/customers_masked"
SARAH = {"name": "Sarah Martin", "email": "sarah@email.com", "phone": "+33 6 12 34 56 78", "city": "Paris"}
EVENTS = [
    {"customer_id": 1, "op": "INSERT", "seq": 1, "event_ts": "2025-01-01T08:00:00Z", **SARAH},
    {"customer_id": 1, "op": "UPDATE", "seq": 4, "event_ts": "2025-01-02T08:00:00Z", **SARAH, "city": "Lyon"},
    {"customer_id": 2, "op": "INSERT", "seq": 2, "event_ts": "2025-01-01T09:00:00Z", "name": "Jean Dupont",
     "email": "jean.dupont@mail.example", "phone": "+33 7 98 76 54 32", "city": "Nantes"},
    {"customer_id": 2, "op": "DELETE", "seq": 5, "event_ts": "2025-01-03T09:00:00Z"},
    {"customer_id": 3, "op": "INSERT", "seq": 3, "event_ts": "2025-01-01T10:00:00Z", "name": "Ana Lopez", "city": "Lille",
     "nickname": "ana.lopez@old-mail.example"},  # an unknown field: kept in _rescued_data
]
REJECTED = "not json: Louis Petit louis.petit@mail.example +33 6 11 22 33 44"
PERSONAL_VALUES = ["sarah@email.com", "+33 6 12 34 56 78", "jean.dupont@mail.example", "+33 7 98 76 54 32",
                   "ana.lopez@old-mail.example", "louis.petit@mail.example", "Sarah Martin", "Jean Dupont"]
PII_TABLES = [t for t in tables.TABLES.values() if t.has_pii]


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory, pii_key):
    settings = LakehouseSettings.for_root(tmp_path_factory.mktemp("masked"), spark_master="local[2]")
    folder = settings.landing / "customers_cdc"
    folder.mkdir(parents=True)
    (folder / "cdc-2025-01-01-00.json").write_text("".join(json.dumps(e) + "\n" for e in EVENTS) + REJECTED + "\n")
    with dg.DagsterInstance.ephemeral() as instance:
        runner = LakehouseRunner(build_definitions(settings), settings, instance, spark)
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv(KEY_VARIABLE)
            refused = runner.run("customer_dimension", raise_on_error=False)
            refused_masked_exists = runner.path(MASKED).exists()
        first = runner.run("customer_dimension")
        first_rows = _rows(runner)
        second = runner.run("customer_dimension")
        yield runner, refused, refused_masked_exists, first, first_rows, second, pii_key


def _rows(runner: LakehouseRunner) -> list[dict]:
    return sorted((r.asDict() for r in runner.table(MASKED).collect()), key=lambda r: r["customer_token"])


def test_without_a_key_the_masked_table_is_refused_naming_the_variable(runs):
    runner, refused, masked_existed, *_ = runs
    assert not refused.success and not masked_existed
    failures = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["gold__customers_masked"]
    assert KEY_VARIABLE in str(failures[0].event_specific_data.error)
    assert runner.table("silver/dim_customer").count() > 0  # the steps that need no key ran


def test_one_row_per_current_customer_with_the_contract_token_and_masks(runs):
    _, _, _, first, rows, _, key = runs
    assert first.success
    expected = [
        {"customer_token": customer_token(key, 1), "email_masked": "sa***@email.com", "phone_masked": "+** * ** ** 56 78",
         "city": "Lyon"},
        {"customer_token": customer_token(key, 3), "email_masked": None, "phone_masked": None, "city": "Lille"},
    ]
    assert rows == sorted(expected, key=lambda r: r["customer_token"])  # customer 2 was deleted: absent
    assert rows[0]["customer_token"] != customer_token(b"another key", 1)
    assert masked_email(SARAH["email"]) == "sa***@email.com" and masked_phone(SARAH["phone"]) == "+** * ** ** 56 78"


def test_tokens_are_stable_across_runs(runs):
    runner, *_, first_rows, second, _ = runs
    assert second.success and _rows(runner) == first_rows


def test_the_masked_table_holds_no_raw_personal_data(runs):
    runner, *_ = runs
    values = {v for r in _rows(runner) for v in r.values() if v is not None}
    assert not values & set(PERSONAL_VALUES)
    files = "".join(p.read_text(errors="replace") for p in _log_files(runner, MASKED))
    assert not [v for v in PERSONAL_VALUES if v in files]


def test_declared_checks_and_reconciliation_pass_on_the_masked_table(runs):
    *_, second, _ = runs
    checks = {e.check_name: e for e in second.get_asset_check_evaluations() if e.asset_key == tables.GOLD_CUSTOMERS_MASKED.key}
    assert set(checks) == {"gold_customers_masked_matches_declaration", "gold_customers_masked_key_unique",
                           "gold_customers_masked_small_files", "gold_customers_masked_pii_leak",
                           "gold_customers_masked_reconciles"}
    assert all(e.passed for e in checks.values()), {n: e.description for n, e in checks.items() if not e.passed}
    assert "email_masked" in (checks["gold_customers_masked_pii_leak"].description or "")  # it scanned the masks


def test_the_change_feed_put_personal_data_into_every_pii_column(runs):
    runner, *_ = runs  # so the statistics tests below are not passing on empty columns
    assert [r["_raw_line"] for r in runner.table("bronze/customers_cdc_rejects").collect()] == [REJECTED]
    rescued = [r["_rescued_data"] for r in runner.table("bronze/customers_cdc").where("customer_id = 3").collect()]
    assert len(rescued) == 1 and "ana.lopez@old-mail.example" in rescued[0]
    assert runner.table("silver/dim_customer").where("email = 'sarah@email.com'").count() == 2


@pytest.mark.parametrize("table", PII_TABLES, ids=lambda t: t.name)
def test_no_file_statistics_in_the_delta_log_mention_a_pii_column(runs, table):
    runner, *_ = runs
    key = table.key.to_user_string()
    pii = {c.name for c in table.columns_tagged(PII)}
    stats = [json.loads(action["add"]["stats"]) for path in _log_files(runner, key)
             for action in map(json.loads, path.read_text().splitlines()) if "add" in action and action["add"].get("stats")]
    assert stats, f"{key}: no file statistics at all"
    for stat in stats:
        for part in ("minValues", "maxValues", "nullCount"):
            assert not pii & set(stat.get(part, {})), (key, part, stat)
    properties = {r["key"]: r["value"] for r in runner.spark.sql(f"SHOW TBLPROPERTIES delta.`{runner.path(key)}`").collect()}
    assert properties[STATS_COLUMNS] == table.properties[STATS_COLUMNS]
    # The strongest form: no personal value anywhere in the log (statistics, commit info, metadata).
    text = "".join(p.read_text(errors="replace") for p in _log_files(runner, key))
    assert not [v for v in PERSONAL_VALUES if v in text], key


def _log_files(runner: LakehouseRunner, key: str) -> list[Path]:
    return sorted((runner.path(key) / "_delta_log").glob("*.json"))
