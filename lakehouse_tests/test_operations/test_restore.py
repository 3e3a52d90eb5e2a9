"""restore_table on real Delta tables: the runbook "someone deleted rows from silver/sales", and every refusal."""

from lakehouse import delta, tables
from lakehouse.operations.__main__ import main as operations_cli
from lakehouse_tests.test_operations.conftest import BUILT_DAYS, LATER_DAY, append, failure, observations, rows_of

SILVER_SALES, GOLD_DAILY_SALES = tables.SILVER_SALES, tables.GOLD_DAILY_SALES
REASON = "OPS-42: rows of 2025-01-01 deleted from silver/sales by hand"


def _rows(frame) -> list[tuple]:
    return sorted(tuple(str(v) for v in r) for r in frame.collect())


def test_runbook_someone_deleted_rows_from_silver_sales_two_days_ago(built, monkeypatch, capsys):
    path, spark = str(built.path("silver/sales")), built.spark
    good_rows = _rows(built.table("silver/sales"))
    # The accident: rows deleted by hand, straight into the table.
    spark.sql(f"DELETE FROM {delta.sql_path(path)} WHERE sale_date = DATE'{BUILT_DAYS[0]}' AND store_id <= 5")
    deleted = len(good_rows) - built.table("silver/sales").count()
    assert deleted > 0
    # Life went on: the next day landed and was materialized on top of the damaged table.
    assert built.materialize(LATER_DAY, selection=["bronze/sales", "bronze/sales_rejects", "silver/sales",
                                                   "silver/sales_quarantine"]).success
    later = built.table("silver/sales").where(f"sale_date = DATE'{LATER_DAY}'").count()
    assert later > 0
    # The operator finds the good version: the one before the DELETE in the table's history.
    good = next(c for c in delta.history(spark, path) if c.operation == "DELETE").version - 1
    monkeypatch.setenv("LAKEHOUSE_WAREHOUSE", str(built.settings.warehouse))
    monkeypatch.setenv("LAKEHOUSE_LANDING", str(built.settings.landing))
    assert operations_cli(["history", "silver.sales"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[2].startswith(f"  v{good + 1} ") and " DELETE: 0 rows written, " in printed[2]
    assert printed[2].endswith("[not a Dagster run]")  # a hand-typed DELETE carries no run id
    assert printed[1].endswith(" step silver_sales]") and "[run " in printed[1]  # the later day's write names its run
    version = delta.latest_version(spark, path)
    assert version is not None

    preview = built.run("restore_table", {"table": "silver.sales", "version": good, "reason": REASON, "dry_run": True})
    assert preview.success and delta.latest_version(spark, path) == version  # a dry run restores nothing
    result = built.run("restore_table", {"table": "silver.sales", "version": good, "reason": REASON})

    assert result.success
    assert _rows(built.table("silver/sales")) == good_rows  # exactly the rows before the delete
    [previewed] = observations(built.instance, SILVER_SALES, preview.run_id)
    [restored] = observations(built.instance, SILVER_SALES, result.run_id)
    assert previewed["operation"] == "restore_dry_run" and restored["operation"] == "restore"
    for report in (previewed, restored):
        # The data written after the good version is reported lost, commit by commit and in rows.
        assert report["rows_brought_back"] == deleted and report["rows_removed"] == later
        assert report["partitions_changed"] == [BUILT_DAYS[0], LATER_DAY]
        lost = {c["operation"]: c for c in report["commits_lost"]}
        assert lost["DELETE"]["rows_deleted"] == deleted and lost["WRITE"]["rows_written"] == later
        assert report["commits_with_data_lost"] == 2
    assert restored["restored_to_version"] == good and restored["version_before"] == version
    assert restored["version_after"] == version + 1 and restored["reason"] == REASON
    assert restored["dagster_run_id"] == result.run_id
    restore_commit = delta.history(spark, path, limit=1)[0]
    assert restore_commit.operation == "RESTORE" and restore_commit.user_metadata["reason"] == REASON
    tags = built.instance.get_run_by_id(result.run_id).tags
    assert tags["lakehouse/reason"] == REASON and tags["lakehouse/restored"] == f"silver.sales@{good}"
    logged = " ".join(entry.user_message for entry in built.instance.all_logs(result.run_id))
    assert "undone by the restore: " in logged and f"partitions ['{BUILT_DAYS[0]}', '{LATER_DAY}']" in logged


def test_a_version_vacuumed_away_is_refused_naming_the_restorable_versions(lakehouse, make_table):
    path = make_table(GOLD_DAILY_SALES)
    spark = lakehouse.spark
    old = delta.latest_version(spark, path)
    assert old is not None
    delta.overwrite(lakehouse.table("gold/daily_sales").coalesce(1), path)
    delta.vacuum(spark, path, retention_hours=0, allow_short_retention=True)  # the old version's files are gone
    version, rows = delta.latest_version(spark, path), _rows(lakehouse.table("gold/daily_sales"))

    result = lakehouse.run("restore_table", {"table": "gold.daily_sales", "version": old, "reason": "test"},
                           raise_on_error=False)

    assert not result.success
    message = failure(result)
    assert f"Version {old} of gold.daily_sales cannot be restored: VACUUM has removed" in message
    assert f"Versions still restorable: {old + 1}..{version}" in message
    assert delta.latest_version(spark, path) == version and _rows(lakehouse.table("gold/daily_sales")) == rows


def test_restore_refuses_unknown_tables_versions_outside_the_history_and_incomplete_requests(lakehouse, make_table):
    path = make_table(GOLD_DAILY_SALES, batches=2)
    spark = lakehouse.spark
    version = delta.latest_version(spark, path)
    first = delta.history(spark, path)[-1].timestamp

    def refused(config: dict) -> str:
        result = lakehouse.run("restore_table", {"reason": "test", **config}, raise_on_error=False)
        assert not result.success, config
        return failure(result)

    assert "Unknown table(s) ['gold.daily_sale']" in refused({"table": "gold.daily_sale", "version": 1})
    # Injection attempts: a name is looked up in the registry and a timestamp parsed, before any SQL is built.
    assert "Unknown table(s)" in refused({"table": "gold.daily_sales; DROP TABLE silver.sales --", "version": 1})
    assert "Unknown table(s)" in refused({"table": "gold.daily_sales` TO VERSION AS OF 0 --", "version": 1})
    assert "not ISO-8601" in refused({"table": "gold.daily_sales", "timestamp": "2025-01-01' OR '1'='1"})
    assert "silver.sales" in refused({"table": "gold.daily_sale", "version": 1})  # the known names are listed
    assert f"has no version 99; its history holds 0..{version}" in refused({"table": "gold.daily_sales", "version": 99})
    assert "did not exist yet" in refused({"table": "gold.daily_sales", "timestamp": "2020-01-01T00:00:00Z"})
    assert "not ISO-8601" in refused({"table": "gold.daily_sales", "timestamp": "yesterday"})
    assert "exactly one of version and timestamp" in refused(
        {"table": "gold.daily_sales", "version": 1, "timestamp": first.isoformat()})
    assert "needs a reason" in refused({"table": "gold.daily_sales", "version": 1, "reason": " "})
    assert f"at version {version} already" in refused({"table": "gold.daily_sales", "version": version})
    assert "No Delta table yet for silver.sales" in refused({"table": "silver.sales", "version": 0})
    assert delta.latest_version(spark, path) == version


def test_restore_to_a_timestamp_takes_the_last_version_committed_by_then(lakehouse, make_table):
    path = make_table(GOLD_DAILY_SALES, batches=1)
    spark = lakehouse.spark
    wanted = delta.latest_version(spark, path)
    moment = delta.history(spark, path, limit=1)[0].timestamp
    rows = _rows(lakehouse.table("gold/daily_sales"))
    append(spark, GOLD_DAILY_SALES, path, rows_of(GOLD_DAILY_SALES, batch=5, count=4))

    result = lakehouse.run("restore_table", {"table": "gold/daily_sales", "timestamp": moment.isoformat(),
                                             "reason": "undo the batch-5 load"})

    assert result.success and _rows(lakehouse.table("gold/daily_sales")) == rows
    [report] = observations(lakehouse.instance, GOLD_DAILY_SALES, result.run_id)
    assert report["restored_to_version"] == wanted and report["rows_removed"] == 4 and report["rows_brought_back"] == 0
    assert report["partitions_changed"] == ["2025-01-02"]
