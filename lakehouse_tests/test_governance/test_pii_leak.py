"""The pii_leak check in real runs: personal data that a sales line suddenly carries is found per day, named and counted."""

import json

import dagster as dg

from lakehouse import tables
from lakehouse.checks.declared import PII_LEAK, check_name, names

CLEAN_DAY, LEAK_DAY = "2025-01-02", "2025-01-03"
SALE = {"customer_id": 1, "product_id": 1, "store_id": 1, "quantity": 2, "amount": 5.0}


def _line(day: str, n: int, **extra) -> str:
    return json.dumps({"sale_id": f"S-{day}-{n}", **SALE, "sale_ts": f"{day}T08:00:00+01:00", **extra})


def test_every_table_has_a_pii_leak_check_named_like_the_other_declared_checks():
    declared = names(list(tables.TABLES.values()))
    assert {check_name(t, PII_LEAK) for t in tables.TABLES.values()} <= set(declared)
    assert "bronze_sales_pii_leak" in declared and "gold_customers_masked_pii_leak" in declared


def test_an_email_and_a_phone_landed_with_sales_fail_the_check_of_their_day_only(lakehouse, write_sales_day):
    write_sales_day(CLEAN_DAY, [_line(CLEAN_DAY, n) for n in range(3)])
    write_sales_day(LEAK_DAY, [_line(LEAK_DAY, 0), _line(LEAK_DAY, 1, email="someone@example.com"),
                               _line(LEAK_DAY, 2, contact={"phone": "+44 20 7946 0958"})])
    result = lakehouse.materialize(CLEAN_DAY, LEAK_DAY)
    assert result.success  # the check reports; it does not stop the pipeline

    by_day = {e.partition: e for e in result.get_asset_check_evaluations()
              if e.asset_key == tables.BRONZE_SALES.key and e.check_name == "bronze_sales_pii_leak"}
    assert set(by_day) == {CLEAN_DAY, LEAK_DAY}
    assert by_day[CLEAN_DAY].passed
    leak = by_day[LEAK_DAY]
    assert not leak.passed and leak.severity == dg.AssetCheckSeverity.ERROR
    description = leak.description or ""
    assert "bronze.sales" in description and LEAK_DAY in description
    assert "_rescued_data: 1 value that looks like an email address" in description
    assert "_rescued_data: 1 value that looks like a phone number" in description
    assert leak.metadata["matches"].value == {"_rescued_data.email": 1, "_rescued_data.phone": 1}
    # Counts only: the values themselves never reach the event log.
    logged = json.dumps([str(e.event_specific_data) for e in result.all_events])
    assert "someone@example.com" not in logged and "7946 0958" not in logged
    # The timestamps with an offset (+01:00) and the ids of the clean day match neither pattern.
    clean = [e for e in result.get_asset_check_evaluations() if e.check_name.endswith("_pii_leak") and e.partition == CLEAN_DAY]
    assert clean and all(e.passed for e in clean), [(e.check_name, e.description) for e in clean if not e.passed]
