"""table_maintenance on real Delta tables: compaction, Z-order, re-clustering, VACUUM, dry run, refusals, schedule."""

import os
import time
from pathlib import Path

import dagster as dg

from lakehouse import delta, tables
from lakehouse.operations import maintenance_schedule, table_maintenance
from lakehouse_tests.test_operations.conftest import failure, observations

SILVER_SALES, GOLD_DAILY_SALES, DIM_CUSTOMER = tables.SILVER_SALES, tables.GOLD_DAILY_SALES, tables.SILVER_DIM_CUSTOMER


def _last(spark, path: str, operation: str) -> delta.Commit:
    return next(c for c in delta.history(spark, path) if c.operation == operation)


def _on_disk(files: list[str]) -> list[bool]:
    return [Path(f.removeprefix("file:")).exists() for f in files]


def test_maintenance_compacts_and_zorders_silver_sales_records_observations_and_triggers_no_run(built):
    path = str(built.path("silver/sales"))
    spark = built.spark
    rows = sorted(r["sale_id"] for r in built.table("silver/sales").select("sale_id").collect())
    # Small files, as many small writes leave them: the same rows rewritten as 5 files per day.
    delta.overwrite(built.table("silver/sales").repartition(10), path)
    before = delta.detail(spark, path).num_files
    assert before >= 8
    tick = dg.evaluate_automation_conditions(defs=built.defs, instance=built.instance)
    tick = dg.evaluate_automation_conditions(defs=built.defs, instance=built.instance, cursor=tick.cursor)
    assert tick.total_requested == 0

    result = built.run("table_maintenance", {"tables": ["silver.sales"]})

    assert result.success
    assert delta.detail(spark, path).num_files < before
    assert sorted(r["sale_id"] for r in built.table("silver/sales").select("sale_id").collect()) == rows
    optimize = _last(spark, path, "OPTIMIZE")
    assert optimize.parameters["zOrderBy"] == '["customer_id"]'
    assert optimize.user_metadata["dagster_run_id"] == result.run_id
    optimized, vacuumed = observations(built.instance, SILVER_SALES, result.run_id)
    assert optimized["operation"] == "optimize" and vacuumed["operation"] == "vacuum"
    assert optimized["files_before"] == before and optimized["files"] == delta.detail(spark, path).num_files
    assert optimized["partitions_touched"] == 2 and optimized["zorder_by"] == ["customer_id"]
    assert optimized["average_file_bytes"] > optimized["average_file_bytes_before"]
    assert vacuumed["retention_hours"] == 168 and vacuumed["files_deleted"] == 0  # nothing is 7 days old yet
    # An observation is not a materialization: the automation sensor requests nothing after maintenance.
    after = dg.evaluate_automation_conditions(defs=built.defs, instance=built.instance, cursor=tick.cursor)
    assert after.total_requested == 0


def test_each_table_kind_is_optimized_as_declared_and_a_forced_vacuum_records_its_reason(lakehouse, make_table):
    kinds = (SILVER_SALES, GOLD_DAILY_SALES, DIM_CUSTOMER)
    paths = {t.name: make_table(t, batches=3 if t is GOLD_DAILY_SALES else 2) for t in kinds}
    spark = lakehouse.spark
    preview = lakehouse.run("table_maintenance", {"tables": ["gold.daily_sales"], "dry_run": True})
    [planned] = observations(lakehouse.instance, GOLD_DAILY_SALES, preview.run_id)
    reason = "erasure request ER-7: the deleted rows must leave storage today"

    result = lakehouse.run("table_maintenance", {"retention_hours": 0, "force_retention": True, "reason": reason})

    assert result.success
    optimized = {name: _last(spark, p, "OPTIMIZE") for name, p in paths.items()}
    assert optimized["silver.sales"].parameters["zOrderBy"] == '["customer_id"]'
    assert optimized["gold.daily_sales"].parameters["zOrderBy"] == "[]"
    assert optimized["silver.dim_customer"].parameters["zOrderBy"] == "[]"  # liquid clustering: OPTIMIZE re-clusters
    assert optimized["silver.dim_customer"].parameters["clusterBy"] == '["customer_id"]'
    # The dry run's estimate for a compacted table is what OPTIMIZE then did: day 1's two files, not day 2's one.
    assert planned["files_to_rewrite"] == optimized["gold.daily_sales"].metrics["numRemovedFiles"] == 2
    assert planned["partitions_to_touch"] == optimized["gold.daily_sales"].metrics["numAddedFiles"] == 1
    for table in kinds:
        path = paths[table.name]
        _, vacuumed = observations(lakehouse.instance, table, result.run_id)
        assert vacuumed["files_deleted"] > 0 and vacuumed["reason"] == reason and vacuumed["force_retention"]
        # Every version before the OPTIMIZE lost its files; the OPTIMIZE and the VACUUM commits read the same files.
        assert delta.readable_versions(spark, path)[0] == optimized[table.name].version
        assert _last(spark, path, "VACUUM END").user_metadata["reason"] == reason
    tags = lakehouse.instance.get_run_by_id(result.run_id).tags
    assert tags["lakehouse/reason"] == reason and tags["lakehouse/force_retention"] == "0h"


def test_a_dry_run_lists_what_vacuum_would_delete_and_changes_nothing(lakehouse, make_table):
    path = make_table(SILVER_SALES)
    spark = lakehouse.spark
    delta.overwrite(lakehouse.table("silver/sales").coalesce(1), path)  # the appended files are now unreferenced
    version, files = delta.latest_version(spark, path), sorted(spark.read.format("delta").load(path).inputFiles())

    result = lakehouse.run("table_maintenance", {"dry_run": True, "retention_hours": 0, "force_retention": True,
                                                 "reason": "see what a same-day VACUUM would delete"})

    assert result.success
    [report] = observations(lakehouse.instance, SILVER_SALES, result.run_id)
    assert report["operation"] == "dry_run" and report["vacuum_files"] == 3 == len(report["vacuum_file_list"])
    assert report["vacuum_bytes"] > 0 and report["files"] == report["files_before"] == len(files) == 2  # 1 per day
    assert report["optimize_plan"].startswith("Z-order by customer_id: rewrites 2 of 2 files")
    assert all(_on_disk(report["vacuum_file_list"])) and not set(report["vacuum_file_list"]) & set(files)
    assert delta.latest_version(spark, path) == version  # no OPTIMIZE, no VACUUM commit
    assert sorted(spark.read.format("delta").load(path).inputFiles()) == files


def test_vacuum_keeps_the_retention_asked_for_not_only_deltas_default(lakehouse, make_table):
    path = make_table(GOLD_DAILY_SALES, batches=1)
    stray = {}
    for hours in (2, 200):  # files no version reads, last written 2 h and 200 h ago
        stray[hours] = Path(path) / f"part-stray-{hours}h.snappy.parquet"
        stray[hours].write_bytes(b"not referenced by the log")
        written = time.time() - hours * 3600
        os.utime(stray[hours], (written, written))

    def listed(hours: float) -> set[str]:
        result = delta.vacuum(lakehouse.spark, path, retention_hours=hours, dry_run=True, allow_short_retention=True)
        return {Path(f.removeprefix("file:")).name for f in result.files}

    assert listed(1) == {stray[2].name, stray[200].name}
    assert listed(168) == {stray[200].name}
    assert listed(336) == set()  # two weeks asked for: the 200 h old file stays
    assert all(f.exists() for f in stray.values())


def test_a_retention_below_seven_days_is_refused_unless_forced_with_a_reason(lakehouse, make_table):
    path = make_table(GOLD_DAILY_SALES)
    version = delta.latest_version(lakehouse.spark, path)

    unforced = lakehouse.run("table_maintenance", {"retention_hours": 24}, raise_on_error=False)
    unexplained = lakehouse.run("table_maintenance", {"retention_hours": 24, "force_retention": True, "reason": " "},
                                raise_on_error=False)

    assert not unforced.success and not unexplained.success
    assert "retention_hours=24 is below Delta's 7-day default" in failure(unforced)
    assert "force_retention: true with a reason" in failure(unforced)
    assert "force_retention needs a reason" in failure(unexplained)
    assert delta.latest_version(lakehouse.spark, path) == version  # not even OPTIMIZE ran


def test_an_unknown_table_fails_before_touching_anything_naming_the_known_ones(lakehouse, make_table):
    path = make_table(GOLD_DAILY_SALES)
    version = delta.latest_version(lakehouse.spark, path)

    result = lakehouse.run("table_maintenance", {"tables": ["gold.daily_sales", "gold.dayly_sales"]},
                           raise_on_error=False)

    assert not result.success
    message = failure(result)
    assert "Unknown table(s) ['gold.dayly_sales']; nothing was touched" in message
    assert all(t.name in message for t in tables.TABLES.values())
    injected = lakehouse.run("table_maintenance", {"tables": ["gold.daily_sales; VACUUM silver.sales RETAIN 0 HOURS"]},
                             raise_on_error=False)
    assert not injected.success and "Unknown table(s)" in failure(injected)
    assert delta.latest_version(lakehouse.spark, path) == version


def test_the_weekly_schedule_is_running_and_maintains_every_table_with_the_default_retention(lakehouse):
    assert maintenance_schedule.cron_schedule == "0 3 * * 0" and maintenance_schedule.execution_timezone == "UTC"
    assert maintenance_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert lakehouse.defs.resolve_schedule_def("weekly_table_maintenance").job_name == "table_maintenance"
    requests = maintenance_schedule.evaluate_tick(dg.build_schedule_context(instance=lakehouse.instance)).run_requests
    assert requests is not None
    [request] = requests
    mapping = table_maintenance.run_config_schema.config_mapping
    assert mapping is not None
    resolved = mapping.resolve_from_unvalidated_config(request.run_config)
    config = resolved["ops"]["maintain_tables"]["config"]
    assert config["tables"] == [] and config["retention_hours"] == 168 and not config["dry_run"]
    assert not config["force_retention"]
