"""Erase a customer (GDPR article 17) on a real lakehouse, prove it from the files on disk, and keep them erased.

One module fixture builds a small lakehouse with the real jobs (change feed → bronze →
silver/dim_customer), then, in order: the ``erasure_requests`` sensor sees a request file and
``gdpr_erasure`` erases customer A; a second request file erases customer B among bad requests;
customer_dimension then runs on the purged tables with a new file re-delivering their events, and
once more after a full re-read of every landed file (file log wiped, ``full_refresh``): neither
brings them back.
The tests read what those runs left behind.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from datetime import date
from pathlib import Path
from typing import cast

import dagster as dg
import deltalake
import pytest
from dagster._serdes import serialize_value
from deltalake import QueryBuilder

from lakehouse import tables
from lakehouse.definitions import build_definitions
from lakehouse.generator import FaultRates, generate_landing_zone
from lakehouse.governance.erasure import pii_tables
from lakehouse.governance.evidence import Trace, scan_table
from lakehouse.governance.suppression import Suppression
from lakehouse.governance.tokens import PiiKey, customer_token
from lakehouse.resources import LandingZone
from lakehouse.scd.scd2 import feed_gap
from lakehouse.settings import LakehouseSettings
from lakehouse_tests.lakehouse_runner import LakehouseRunner

KEY = "test-erasure-key"
PII_TABLES = ("bronze/customers_cdc", "bronze/customers_cdc_rejects", "silver/dim_customer")


def _cdc_events(landing: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((landing / "customers_cdc").glob("*.json"))
            for line in f.read_text().splitlines() if line.strip()]


def _checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _materialization(result, key: dg.AssetKey) -> dict:
    found = [m for m in result.get_asset_materialization_events() if m.asset_key == key]
    return {k: v.value for k, v in found[-1].materialization.metadata.items()}


def _ids(runner: LakehouseRunner, table: str) -> set[int]:
    return {r["customer_id"] for r in runner.table(table).select("customer_id").distinct().collect()}


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LAKEHOUSE_PII_KEY", KEY)
        root = tmp_path_factory.mktemp("erasure")
        settings = LakehouseSettings.for_root(root, spark_master="local[2]")
        generate_landing_zone(settings.landing, date(2025, 1, 1), days=2, rows_per_day=20, seed=11,
                              faults=FaultRates.none(), customers=40, products=5, clicks_per_day=5)
        events = _cdc_events(settings.landing)
        counts = Counter(e["customer_id"] for e in events)
        updated = {e["customer_id"] for e in events if e["op"] == "UPDATE"}
        # Ids of two digits or more, so that a leaked id is not mistaken for any digit in a count.
        a, b, c = sorted((i for i in counts if i >= 10), key=lambda i: (i not in updated, -counts[i], i))[:3]
        email = {e["customer_id"]: e["email"] for e in events if e.get("email")}
        # Lines that are not JSON objects, as a source sends them: truncated records of A and C, one holding only A's email.
        (settings.landing / "customers_cdc" / "zz-broken.json").write_text(
            f'{{"customer_id": {a}, "op": "UPDATE", "seq": 99\n'
            f'garbage for {email[a]} and nothing else\n'
            f'{{"customer_id": {c}, "op": "UPD\n'
        )
        with dg.DagsterInstance.ephemeral() as instance:
            runner = LakehouseRunner(build_definitions(settings), settings, instance, spark)
            ran: dict = {"a": a, "b": b, "c": c, "email": email, "events": events}
            ran["built"] = runner.run("customer_dimension")
            shutil.copytree(runner.path("bronze/customers_cdc"), root / "before" / "customers_cdc")

            requests = settings.landing / "erasure_requests"
            requests.mkdir()
            (requests / "r1.json").write_text(json.dumps(
                {"request_id": "REQ-A", "customer_id": a, "requested_at": "2025-01-05T10:00:00Z"}) + "\n")
            sensor = runner.defs.resolve_sensor_def("erasure_requests")
            context = dg.build_sensor_context(instance=instance, resources={"landing": LandingZone(root=str(settings.landing))})
            first = sensor.evaluate_tick(context)
            again = dg.build_sensor_context(instance=instance, cursor=first.cursor,
                                            resources={"landing": LandingZone(root=str(settings.landing))})
            ran["ticks"] = [first, sensor.evaluate_tick(again)]
            [request] = first.run_requests or []
            ran["erase_a"] = runner.run("gdpr_erasure", dict(request.run_config))

            (requests / "r2.json").write_text("\n".join([
                json.dumps({"request_id": "REQ-B", "customer_id": b, "requested_at": "2025-01-06T09:00:00+01:00"}),
                "{not json",
                json.dumps({"request_id": "REQ-X", "requested_at": "2025-01-06T09:00:00Z"}),
                json.dumps({"request_id": "REQ-U", "customer_id": 987654, "requested_at": "2025-01-06T09:00:00Z"}),
                json.dumps({"request_id": "REQ-A", "customer_id": a, "requested_at": "2025-01-05T10:00:00Z"}),
                json.dumps({"request_id": "REQ-A2", "customer_id": a, "requested_at": "2025-01-07T10:00:00Z"}),
                json.dumps({"request_id": "REQ-T", "customer_id": c, "requested_at": "yesterday"}),
                "",
            ]) + "\n")
            ran["erase_b"] = runner.run("gdpr_erasure", {"files": [str(requests / "r2.json")]})

            # The source re-delivers A's and B's events (and C's) in a new file: the next customer_dimension run
            # ingests it on the purged tables (the dimension's incremental state is gone with its history) ...
            resent = [json.dumps(e) for e in events if e["customer_id"] in (a, b, c)]
            (settings.landing / "customers_cdc" / "zz-redelivery.json").write_text("\n".join(resent) + "\n")
            ran["redelivered"] = runner.run("customer_dimension")
            # ... and then every landed file is read again from scratch.
            spark.sql(f"DELETE FROM delta.`{runner.path('bronze/customers_cdc_files')}`")
            ran["reread"] = runner.run("customer_dimension", {"ops": {"silver__dim_customer": {"config": {"full_refresh": True}}}})
            yield runner, ran


def test_the_sensor_requests_one_run_for_a_new_file_and_none_for_the_same_file(lake):
    runner, ran = lake
    first, second = ran["ticks"]
    [request] = first.run_requests
    assert request.run_config == {"files": [str(runner.settings.landing / "erasure_requests" / "r1.json")]}
    assert request.run_key and request.run_key.startswith("erasure_requests:")
    assert not second.run_requests and second.skip_message
    assert runner.defs.resolve_job_def("gdpr_erasure").tags["lakehouse/serial"] == "customer_dimension"


def test_the_erasure_is_proven_by_opening_every_file(lake):
    runner, ran = lake
    result, a = ran["erase_a"], ran["a"]
    assert result.success
    check = _checks(result)["erasure_complete"]
    assert check.passed and check.severity == dg.AssetCheckSeverity.ERROR, check.description
    for table in PII_TABLES:
        path = runner.path(table)
        assert not list(path.glob("_change_data/*.parquet")), table
        assert not (path / "_delta_log" / f"{0:020d}.json").exists(), table  # the versions before the erasure are gone
        assert runner.spark.sql(f"DESCRIBE HISTORY delta.`{path}`").count() >= 1
    # The landing zone is the source's: reported, not changed.
    landing = cast(dict, check.metadata["landing_lines"].value)["REQ-A"]
    assert "erasure_requests/r1.json" in landing and landing["customers_cdc/zz-broken.json"] == [1, 2]
    assert any(f.startswith("customers_cdc/cdc-") for f in landing)
    # An independent scan after every later run: nothing of A anywhere, time travel to before the erasure is gone.
    trace = Trace("REQ-A", a, frozenset({ran["email"][a]}))
    for table in pii_tables():
        assert scan_table(runner.path(table.key.to_user_string()), table.name, [trace]) == [], table.name
    with pytest.raises(Exception):  # noqa: B017 - Delta's JVM error: the version's log is gone
        runner.spark.read.format("delta").option("versionAsOf", 1).load(str(runner.path("silver/dim_customer"))).count()


def test_the_check_fails_on_a_file_that_still_holds_the_customer(lake, tmp_path):
    runner, ran = lake
    a = ran["a"]
    before = runner.settings.warehouse.parent / "before" / "customers_cdc"
    trace = Trace("REQ-A", a, frozenset({ran["email"][a]}))
    findings = scan_table(before, "bronze.customers_cdc", [trace])
    # (the log's statistics hold them only when they were a file's min or max: test_units covers the log text)
    assert any(f.file.endswith(".parquet") and f.what == "customer_id value in column customer_id" for f in findings)
    assert all(str(a) not in f.what and f.table == "bronze.customers_cdc" for f in findings)  # never the value
    # A copy left in a table folder (VACUUM does not touch folders starting with "_") is found too.
    planted = runner.path("bronze/customers_cdc") / "_copy"
    planted.mkdir()
    try:
        shutil.copy(next(before.glob("*.parquet")), planted / "part-0.parquet")
        found = scan_table(runner.path("bronze/customers_cdc"), "bronze.customers_cdc", [trace])
        assert {f.file for f in found} == {"_copy/part-0.parquet"}
    finally:
        shutil.rmtree(planted)


def test_the_audit_row_holds_no_personal_data(lake):
    runner, ran = lake
    a = ran["a"]
    [row] = runner.table("governance/erasure_log").where("request_id = 'REQ-A'").collect()
    assert row["customer_token"] == customer_token(KEY.encode(), a)
    assert row["completed_at"] is not None and row["source"] == "erasure_requests/r1.json:1"
    assert row["dagster_run_id"] == ran["erase_a"].run_id
    assert row["rows_removed"]["bronze.customers_cdc"] == sum(e["customer_id"] == a for e in ran["events"])
    assert row["rows_removed"]["bronze.customers_cdc_rejects"] == 2  # its truncated line and the one with its email
    assert row["rows_removed"]["silver.dim_customer"] >= 1 and row["files_purged"]["bronze.customers_cdc"] >= 1
    assert len(row["trace_tokens"]) >= 2  # their email(s) and phone(s), as HMACs
    # Every text but the token and the run id (a random UUID, asserted above, whose hex can hold the id's digits
    # between letters: "…797a2-…" for customer 2).
    texts = [str(v) for k, v in row.asDict().items() if isinstance(v, str) and k not in ("customer_token", "dagster_run_id")]
    assert not [t for t in texts if re.search(rf"(?<![0-9]){a}(?![0-9])", t)]
    assert ran["email"][a] not in json.dumps(row.asDict(), default=str)
    assert not {"customer_id", "email", "phone", "name"} & set(runner.table("governance/erasure_log").columns)
    metadata = _materialization(ran["erase_a"], tables.GOVERNANCE_ERASURE_LOG.key)
    assert set(metadata["rows_removed"]) == {t.name for t in pii_tables()} and metadata["files_purged"]


def test_the_dimension_runs_after_an_erasure(lake):
    runner, ran = lake
    result, a, c = ran["redelivered"], ran["a"], ran["c"]
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    dim = _materialization(result, tables.SILVER_DIM_CUSTOMER.key)
    assert dim["mode"] == "full"
    assert a not in _ids(runner, "silver/dim_customer") and c in _ids(runner, "silver/dim_customer")
    assert feed_gap(runner.spark, str(runner.path("bronze/customers_cdc")), 1) is not None
    # delta-rs reads the purged tables from their checkpoint (dim_customer keeps its deletion-vector feature)
    dim_path = str(runner.path("silver/dim_customer"))
    rows = QueryBuilder().register("t", deltalake.DeltaTable(dim_path)).execute("SELECT count(*) AS n FROM t").read_all()
    assert rows.column("n")[0].as_py() == runner.table("silver/dim_customer").count()
    assert deltalake.DeltaTable(str(runner.path("bronze/customers_cdc"))).to_pyarrow_table().num_rows == \
        runner.table("bronze/customers_cdc").count()


def test_bad_requests_are_rejected_with_reasons_and_the_good_one_in_the_file_is_done(lake):
    runner, ran = lake
    result, b = ran["erase_b"], ran["b"]
    assert result.success and _checks(result)["erasure_complete"].passed
    log = {r["request_id"]: r for r in runner.table("governance/erasure_log").collect()}
    assert set(log) == {"REQ-A", "REQ-B"} and log["REQ-B"]["completed_at"] is not None
    assert b not in _ids(runner, "bronze/customers_cdc")
    rejects = {r["line"]: r for r in runner.table("governance/erasure_request_rejects").collect()}
    reasons = {line: r["reason"] for line, r in rejects.items()}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert reasons[2] == "not a JSON object" and reasons[3] == "missing customer_id"
    assert reasons[4].startswith("unknown customer")
    assert reasons[5].startswith("repeated request: request_id already processed")
    assert reasons[6] == "repeated request: customer already erased by request REQ-A"
    assert reasons[7].startswith("requested_at")
    assert rejects[6]["customer_token"] == customer_token(KEY.encode(), ran["a"]) and rejects[2]["customer_token"] is None
    assert {r["file"] for r in rejects.values()} == {"r2.json"}
    assert "_raw_line" not in runner.table("governance/erasure_request_rejects").columns


def test_a_later_ingestion_brings_no_erased_customer_back(lake):
    runner, ran = lake
    a, b, c = ran["a"], ran["b"], ran["c"]
    for name in ("redelivered", "reread"):
        result = ran[name]
        assert result.success, name
        checks = _checks(result)
        assert checks["customers_cdc_accounting"].passed, checks["customers_cdc_accounting"].description
        assert _materialization(result, tables.BRONZE_CUSTOMERS_CDC.key)["suppressed"] > 0, name
    assert _materialization(ran["reread"], tables.BRONZE_CUSTOMERS_CDC.key)["files_read"] == \
        len(list((runner.settings.landing / "customers_cdc").glob("*.json")))
    for table in ("bronze/customers_cdc", "silver/dim_customer"):
        found = _ids(runner, table)
        assert a not in found and b not in found and c in found, table
    raw = [r["_raw_line"] for r in runner.table("bronze/customers_cdc_rejects").collect()]
    assert not [line for line in raw if f'"customer_id": {a},' in line or f'"customer_id": {b},' in line]
    assert raw == [f'{{"customer_id": {c}, "op": "UPD']  # A's line holding only their email stays out too (trace tokens)


def test_without_the_key_a_nonempty_suppression_list_fails_naming_the_variable(lake, monkeypatch):
    runner, _ = lake
    monkeypatch.delenv("LAKEHOUSE_PII_KEY", raising=False)
    with pytest.raises(dg.Failure, match="LAKEHOUSE_PII_KEY"):
        Suppression.load(runner.spark, runner.path("governance/erasure_log"), PiiKey(), "the change-feed ingestion")


def test_the_pii_key_and_the_erased_email_are_in_no_event_log_run_config_tag_or_delta_commit(lake):
    """Secrets and personal data stay out of what Dagster stores and shows: every event, run config and tag of the runs."""
    runner, ran = lake
    stored = []
    for run in runner.instance.get_runs():
        stored += [serialize_value(run.run_config), serialize_value(run.tags)]
        stored += [serialize_value(event) for event in runner.instance.all_logs(run.run_id)]
    commits = [p.read_text() for p in runner.settings.warehouse.glob("*/*/_delta_log/*.json")]
    assert len(stored) > 100 and commits
    for text in stored + commits:
        assert KEY not in text and ran["email"][ran["a"]] not in text
