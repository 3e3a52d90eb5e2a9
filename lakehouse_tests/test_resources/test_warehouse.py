"""Reading tables as of a past version (run tags), and recording what each materialization read."""

import json

import dagster as dg
import pytest

from lakehouse import delta

DAY = "2025-01-02"


def _sale(sale_id: str, amount: float) -> str:
    return json.dumps({"sale_id": sale_id, "customer_id": 1, "product_id": 1, "store_id": 1, "quantity": 1,
                       "amount": amount, "sale_ts": f"{DAY}T08:00:00Z"})


def _revenue(lakehouse) -> float:
    return lakehouse.table("gold/daily_sales").where(f"sale_date = DATE'{DAY}'").first()["revenue"]


def _gold_as_of(lakehouse, version, raise_on_error=True):
    job = lakehouse.defs.resolve_job_def("sales_pipeline")
    return job.execute_in_process(
        instance=lakehouse.instance, partition_key=DAY, raise_on_error=raise_on_error,
        asset_selection=[dg.AssetKey(["gold", "daily_sales"])], tags={"lakehouse/as_of/silver.sales": str(version)},
    )


def test_a_run_tagged_as_of_a_version_reproduces_the_result_of_that_version(lakehouse, write_sales_day):
    write_sales_day(DAY, [_sale("S-1", 10.0)])
    assert lakehouse.materialize(DAY).success
    first = delta.latest_version(lakehouse.spark, str(lakehouse.path("silver/sales")))
    write_sales_day(DAY, [_sale("S-2", 5.0)], name="late-0000.json")  # late data: the day is rebuilt
    assert lakehouse.materialize(DAY).success
    assert _revenue(lakehouse) == 15.0

    result = _gold_as_of(lakehouse, first)

    assert _revenue(lakehouse) == 10.0  # gold rebuilt from silver as it was
    gold = result.asset_materializations_for_node("gold__daily_sales")[0]
    assert gold.metadata["input_versions"].value == {"silver.sales": first}


def test_a_version_vacuum_removed_is_refused_naming_the_versions_still_readable(lakehouse, write_sales_day):
    write_sales_day(DAY, [_sale("S-1", 10.0)])
    assert lakehouse.materialize(DAY).success
    path = str(lakehouse.path("silver/sales"))
    first = delta.latest_version(lakehouse.spark, path)
    assert lakehouse.materialize(DAY).success  # the day rewritten: version `first`'s files are now unreferenced
    delta.vacuum(lakehouse.spark, path, retention_hours=0, allow_short_retention=True)

    result = _gold_as_of(lakehouse, first, raise_on_error=False)

    assert not result.success
    failure = str(next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error)
    assert f"version {first} of silver.sales can no longer be read" in failure and "Versions still readable" in failure


def test_an_as_of_tag_naming_an_unknown_table_fails_listing_the_tables(lakehouse, write_sales_day):
    write_sales_day(DAY, [_sale("S-1", 10.0)])
    result = lakehouse.defs.resolve_job_def("sales_pipeline").execute_in_process(
        instance=lakehouse.instance, partition_key=DAY, raise_on_error=False, tags={"lakehouse/as_of/silver.sale": "1"})
    assert not result.success
    failure = str(next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error)
    assert "unknown table 'silver.sale'" in failure and "silver.sales" in failure


def test_versions_and_timestamps_resolve_to_versions(spark, tmp_path):
    path = str(tmp_path / "t")
    spark.range(3).write.format("delta").save(path)
    spark.range(5).write.format("delta").mode("overwrite").save(path)
    commits = delta.history(spark, path)
    assert delta.version_at(spark, path, "0") == 0
    assert delta.version_at(spark, path, commits[0].timestamp.isoformat()) == 1
    with pytest.raises(ValueError, match="did not exist yet"):
        delta.version_at(spark, path, "2000-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="has no version 7"):
        delta.version_at(spark, path, "7")
    # A run tag is user input: an injection attempt is neither a version nor a timestamp, and never reaches SQL.
    with pytest.raises(ValueError, match="neither a version number nor an ISO-8601 timestamp"):
        delta.version_at(spark, path, "1; DROP TABLE silver.sales")


def test_a_write_finds_its_own_commit_when_others_committed_since_the_log_was_listed(spark, tmp_path, monkeypatch):
    # The race the concurrent-writers test met: the log is listed (newest: this write's version 1), another writer
    # commits versions 2 and 3, then the history is read. The listing is pinned at 1 to make that order certain.
    path = str(tmp_path / "t")
    spark.range(1).write.format("delta").save(path)
    with delta.tracked(spark, path) as write:
        spark.range(2).write.format("delta").mode("overwrite").save(path)
    assert [c.version for c in write.result.commits] == [1]
    for n in (3, 4):
        spark.range(n).write.format("delta").mode("overwrite").save(path)
    monkeypatch.setattr(delta, "latest_version", lambda *_: 1)
    assert [c.version for c in delta.commits_of(spark, path, write.token, since_version=0)] == [1]


def test_a_local_write_reads_its_commits_from_the_log_as_describe_history_reports_them(spark, tmp_path):
    """The commit files' reading (no Spark query) gives what DESCRIBE HISTORY gives, operation by operation."""
    path = str(tmp_path / "t")
    table = delta.sql_path(path)
    with delta.tracked(spark, path, step="create") as create:
        spark.range(6).selectExpr("id", "id % 2 AS k").write.format("delta").partitionBy("k").save(path)
    spark.sql(f"ALTER TABLE {table} SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    with delta.tracked(spark, path, step="changes") as changes:
        spark.range(4, 9).selectExpr("id", "id % 2 AS k").createOrReplaceTempView("changes")
        spark.sql(f"MERGE INTO {table} t USING changes s ON t.id = s.id WHEN MATCHED THEN DELETE "
                  "WHEN NOT MATCHED THEN INSERT *")
        spark.sql(f"INSERT INTO {table} VALUES (20, 0)")
        spark.sql(f"OPTIMIZE {table}")
    with delta.tracked(spark, path) as nothing:
        spark.sql(f"DELETE FROM {table} WHERE id > 100")  # matches no row
    history = {c.version: c for c in delta.history(spark, path)}

    assert [c.operation for c in create.result.commits] == ["WRITE"]
    assert [c.operation for c in changes.result.commits] == ["MERGE", "WRITE", "OPTIMIZE"]
    for write in (create, changes):
        commits = write.result.commits
        assert commits == [history[c.version] for c in commits]  # metrics, parameters, user metadata, time: all equal
        assert all(c.user_metadata["lakehouse_write"] == write.token for c in commits)
    assert changes.result.commits[0].metrics["numTargetRowsDeleted"] == 2
    assert changes.result.metadata()["delta_version"] == max(history)
    assert nothing.result.commits == [c for v, c in sorted(history.items()) if c.user_metadata.get("lakehouse_write") == nothing.token]


def test_a_write_whose_commit_file_was_cleaned_up_is_found_in_the_history(spark, tmp_path):
    path = tmp_path / "t"
    spark.range(3).write.format("delta").option("delta.checkpointInterval", "1").save(str(path))
    with delta.tracked(spark, str(path)) as write:
        spark.range(4).write.format("delta").mode("overwrite").save(str(path))
    assert (path / "_delta_log" / f"{1:020d}.checkpoint.parquet").exists()
    (path / "_delta_log" / f"{0:020d}.json").unlink()  # as log cleanup after a checkpoint would
    assert delta.commits_of(spark, str(path), write.token) == write.result.commits
