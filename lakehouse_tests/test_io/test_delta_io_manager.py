"""The Delta IO manager on its own, with small assets, real Delta tables and a real instance."""

from dataclasses import replace
from datetime import date

import dagster as dg
import pytest
from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.sql import functions as F

from lakehouse import delta as delta_module
from lakehouse import tables
from lakehouse.catalog import delta_log
from lakehouse.io import DeltaIOManager
from lakehouse.partitions import daily_partitions
from lakehouse.resources import SparkResource, Warehouse
from lakehouse.tables import Column, Table

DAILY = daily_partitions("2025-01-01")
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


TEST_TABLES = (
    Table(key=dg.AssetKey(["test", "events"]), description="Test events.", domain="test", partition_column="day",
          columns=(Column("day", "date", "Partition day.", nullable=False), Column("id", "string", "Event id."),
                   Column("n", "int", "A number."))),
    Table(key=dg.AssetKey(["test", "event_totals"]), description="Rows per day.", domain="test", partition_column="day",
          columns=(Column("day", "date", "Partition day.", nullable=False), Column("rows", "bigint", "Rows of the day.",
                   nullable=False))),
    Table(key=dg.AssetKey(["test", "snapshot"]), description="A snapshot.", domain="test",
          columns=(Column("n", "int", "A number."),)),
)


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """The test tables, declared in the registry for the duration of a test."""
    for table in TEST_TABLES:
        monkeypatch.setitem(tables.TABLES, table.key, table)


def _assets(rows_per_day: int = 3, shift_days: int = 0):
    @dg.asset(key=["test", "events"], partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run(),
              metadata={"partition_expr": "day"})
    def events(context: dg.AssetExecutionContext, spark: SparkResource):
        days = [date.fromisoformat(k) for k in context.partition_keys]
        rows = [(d, f"{d}-{i}", i) for d in days for i in range(rows_per_day)]
        frame = spark.get_session().createDataFrame(rows, "day date, id string, n int")
        return frame.withColumn("day", F.date_add("day", shift_days))

    @dg.asset(key=["test", "event_totals"], partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run(),
              metadata={"partition_expr": "day"}, ins={"events": dg.AssetIn(key=["test", "events"])})
    def event_totals(events):
        return events.groupBy("day").agg(F.count("*").alias("rows"))

    @dg.asset(key=["test", "snapshot"])
    def snapshot(spark: SparkResource):
        return spark.get_session().createDataFrame([(rows_per_day,)], "n int")

    return [events, event_totals, snapshot]


def _run(tmp_path, instance, selection, first, last=None, **asset_args):
    spark = SparkResource(master="local[2]")
    defs = dg.Definitions(
        assets=_assets(**asset_args),
        resources={"spark": spark, "io_manager": DeltaIOManager(warehouse=Warehouse(spark=spark, root=str(tmp_path)))},
        executor=dg.in_process_executor,
    )
    job = defs.resolve_implicit_global_asset_job_def()
    tags = {RANGE_START: first, RANGE_END: last or first} if first else {}
    return job.execute_in_process(
        instance=instance, tags=tags, raise_on_error=False,
        asset_selection=[dg.AssetKey.from_user_string(s) for s in selection],
    )


def _files(spark, path):
    return set(DeltaTable.forPath(spark, str(path)).toDF().inputFiles())


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def test_writes_exactly_the_partition_range_and_leaves_other_partitions_untouched(spark, tmp_path, instance):
    assert _run(tmp_path, instance, ["test/events"], "2025-01-01", "2025-01-03").success
    path = tmp_path / "test" / "events"
    untouched = {f for f in _files(spark, path) if "2025-01-02" not in f}

    assert _run(tmp_path, instance, ["test/events"], "2025-01-02", rows_per_day=5).success

    table = spark.read.format("delta").load(str(path))
    counts = {str(r["day"]): r["count"] for r in table.groupBy("day").count().collect()}
    assert counts == {"2025-01-01": 3, "2025-01-02": 5, "2025-01-03": 3}
    assert untouched <= _files(spark, path), "files of other partitions were rewritten"


def test_rewriting_a_partition_is_idempotent(spark, tmp_path, instance):
    for _ in range(2):
        assert _run(tmp_path, instance, ["test/events"], "2025-01-01").success
    table = spark.read.format("delta").load(str(tmp_path / "test" / "events"))
    assert table.count() == 3
    assert table.select("id").distinct().count() == 3


def test_rows_outside_the_partition_fail_the_write_and_leave_the_table_unchanged(spark, tmp_path, instance):
    assert _run(tmp_path, instance, ["test/events"], "2025-01-01").success
    result = _run(tmp_path, instance, ["test/events"], "2025-01-01", shift_days=1)
    assert not result.success
    message = str(result.get_step_failure_events()[0].step_failure_data.error)
    assert "test.events" in message and "2025-01-01" in message
    table = spark.read.format("delta").load(str(tmp_path / "test" / "events"))
    assert [str(r["day"]) for r in table.select("day").distinct().collect()] == ["2025-01-01"]


def test_inputs_are_read_for_the_needed_partitions_only(spark, tmp_path, instance):
    assert _run(tmp_path, instance, ["test/events"], "2025-01-01", "2025-01-04").success
    assert _run(tmp_path, instance, ["test/event_totals"], "2025-01-02", "2025-01-03").success
    totals = spark.read.format("delta").load(str(tmp_path / "test" / "event_totals"))
    assert sorted((str(r["day"]), r["rows"]) for r in totals.collect()) == [("2025-01-02", 3), ("2025-01-03", 3)]


def test_missing_upstream_table_fails_naming_the_table_and_what_to_do(tmp_path, instance):
    result = _run(tmp_path, instance, ["test/event_totals"], "2025-01-02")
    assert not result.success
    message = str(result.get_step_failure_events()[0].step_failure_data.error)
    assert "test.events" in message and "Materialize test/events first" in message


def test_unpartitioned_asset_overwrites_its_table(spark, tmp_path, instance):
    assert _run(tmp_path, instance, ["test/snapshot"], None).success
    assert _run(tmp_path, instance, ["test/snapshot"], None, rows_per_day=7).success
    rows = spark.read.format("delta").load(str(tmp_path / "test" / "snapshot")).collect()
    assert [r["n"] for r in rows] == [7]


def test_materializations_carry_the_metadata_the_ui_renders(tmp_path, instance):
    result = _run(tmp_path, instance, ["test/events"], "2025-01-01", "2025-01-02")
    materializations = result.asset_materializations_for_node("test__events")
    assert sorted(str(m.partition) for m in materializations) == ["2025-01-01", "2025-01-02"]
    metadata = materializations[0].metadata
    # each partition's own row count (3 a day), not the range's 6
    assert {m.partition: m.metadata["dagster/row_count"].value for m in materializations} == {"2025-01-01": 3, "2025-01-02": 3}
    assert metadata["dagster/table_name"].value == "test.events"
    uri = str(metadata["dagster/uri"].value)
    assert uri.startswith("file://") and uri.endswith("/test/events")
    assert "dagster/column_schema" not in metadata  # the declared schema is the asset's definition metadata
    assert metadata["delta_version"].value == 1  # version 0 created the table from its declaration
    files_written, bytes_written = metadata["files_written"].value, metadata["bytes_written"].value
    assert isinstance(files_written, int) and files_written >= 1 and isinstance(bytes_written, int) and bytes_written > 0
    assert metadata["rows_per_partition"].value == {"2025-01-01": 3, "2025-01-02": 3}



def test_a_ranges_rows_per_partition_are_its_commits_files_and_counted_when_they_have_no_statistics(spark, tmp_path, instance):
    path = tmp_path / "test" / "events"

    def rows_per_partition(**asset_args) -> dict:
        result = _run(tmp_path, instance, ["test/events"], "2025-01-01", "2025-01-02", **asset_args)
        assert result.success
        value = result.asset_materializations_for_node("test__events")[0].metadata["rows_per_partition"].value
        assert isinstance(value, dict)
        return value

    assert _run(tmp_path, instance, ["test/events"], "2025-01-01", "2025-01-03").success
    # Only the files the overwrite added count: not the replaced ones, nor the third day's.
    assert rows_per_partition(rows_per_day=4) == {"2025-01-01": 4, "2025-01-02": 4}
    added = delta_log.added_files(path, delta_module.latest_version(spark, path) or 0)
    assert added and all(f.rows is not None for f in added)

    spark.conf.set("spark.databricks.delta.stats.collect", "false")
    try:
        assert rows_per_partition(rows_per_day=2) == {"2025-01-01": 2, "2025-01-02": 2}
    finally:
        spark.conf.unset("spark.databricks.delta.stats.collect")
    added = delta_log.added_files(path, delta_module.latest_version(spark, path) or 0)
    assert added and all(f.rows is None for f in added), "the write had statistics: the count was not exercised"


@pytest.mark.parametrize(("exception", "conflict"), [
    ("io.delta.exceptions.ConcurrentAppendException", True),
    ("io.delta.exceptions.ConcurrentDeleteReadException", True),
    ("io.delta.exceptions.ProtocolChangedException", True),
    ("io.delta.exceptions.MetadataChangedException", True),
    ("java.lang.IllegalStateException", False),
])
def test_delta_conflicts_thrown_by_the_jvm_are_told_apart_from_other_errors(spark, exception, conflict):
    # The IO manager and OPTIMIZE retry only what this recognizes. A Delta conflict reaches Python converted to
    # delta.exceptions' classes once that module is imported (here by delta.tables), and as py4j's plain
    # Py4JJavaError in the product's runs, which never import it: both forms, from an exception made in the JVM.
    jvm = spark.sparkContext._jvm
    thrown = getattr(jvm, exception)("a concurrent writer committed first")
    with pytest.raises(Exception) as raised:  # any class: what comes out is the point
        jvm.scala.util.Failure(thrown).get()  # thrown in the JVM, converted on its way out
    unconverted = Py4JJavaError("An error occurred while calling o42.save.\n", thrown)
    assert delta_module.is_conflict(raised.value) is conflict
    assert delta_module.is_conflict(unconverted) is conflict


@pytest.mark.parametrize("checksum", [True, False], ids=["from the checksum", "from Spark"])
def test_an_existing_table_is_brought_to_its_declaration_and_left_alone_once_it_matches(spark, tmp_path, checksum):
    """What every write's ``Warehouse.ensure`` does to an existing table, read from the newest commit's checksum or,
    when there is none (a writer that writes none), from Spark: the same changes, the same refusals."""
    first = Table(key=dg.AssetKey(["test", "evolving"]), description="Evolving.", domain="test", partition_column="day",
                  columns=(Column("day", "date", "Partition day.", nullable=False), Column("n", "int", "A number.")),
                  properties={"delta.enableChangeDataFeed": "true"}, constraints={"n_positive": "n > 0"})
    path = tmp_path / "evolving"
    assert delta_module.create_table(spark, first, path)

    def without_checksum() -> None:
        if not checksum:
            for crc in (path / "_delta_log").glob("*.crc"):
                crc.unlink()

    without_checksum()
    assert delta_module.align_table(spark, first, path) == []
    assert delta_module.latest_version(spark, path) == 0

    later = replace(first, columns=(*first.columns, Column("note", "string", "A note.")),
                    properties={**first.properties, "delta.appendOnly": "false"},
                    constraints={**first.constraints, "day_known": "day IS NOT NULL"})
    assert delta_module.align_table(spark, later, path) == [
        "added columns ['note']", "set properties ['delta.appendOnly']", "added constraint day_known"]
    without_checksum()
    assert delta_module.align_table(spark, later, path) == []
    assert [f.name for f in spark.read.format("delta").load(str(path)).schema.fields] == ["day", "n", "note"]
    properties = delta_module.properties(spark, path)
    assert properties["delta.appendOnly"] == "false" and properties["delta.constraints.day_known"] == "day IS NOT NULL"

    retyped = replace(later, columns=(first.columns[0], Column("n", "bigint", "A number."), later.columns[2]))
    with pytest.raises(ValueError, match=r"column\(s\) \['n'\] have another type"):
        delta_module.align_table(spark, retyped, path)
    changed = replace(later, constraints={**later.constraints, "n_positive": "n > 1"})
    with pytest.raises(ValueError, match="constraint n_positive is"):
        delta_module.align_table(spark, changed, path)


def test_rows_per_partition_from_the_log_are_sparks_counts_with_deleted_rows_time_travel_and_no_statistics(
        spark, tmp_path, instance):
    warehouse = Warehouse(spark=SparkResource(master="local[2]"), root=str(tmp_path))
    key, days = dg.AssetKey(["test", "events"]), ["2025-01-01", "2025-01-02", "2025-01-03"]
    path = str(warehouse.path(key))

    def spark_counts() -> dict[str, int]:
        rows = spark.read.format("delta").load(path).groupBy("day").count().collect()
        return {str(r["day"]): r["count"] for r in rows if str(r["day"]) in days[:2]}

    assert _run(tmp_path, instance, ["test/events"], days[0], days[1], rows_per_day=5).success
    first = delta_module.latest_version(spark, path)
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    spark.sql(f"DELETE FROM delta.`{path}` WHERE day = '2025-01-01' AND n < 3")  # soft-deleted: a deletion vector
    assert any("deletionVector" in line for line in (tmp_path / "test" / "events" / "_delta_log").glob("*.json")
               for line in line.read_text().splitlines()), "no deletion vector: the test would not exercise them"
    expected = spark_counts()
    assert expected == {"2025-01-01": 2, "2025-01-02": 5}
    assert warehouse.rows_by_partition(key, days, DAILY) == expected  # a day without rows is not listed
    assert warehouse.rows(key) == spark.read.format("delta").load(path).count() == 7

    # As of a version (a run's lakehouse/as_of tag): that version's counts.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("lakehouse.resources.warehouse._as_of_tags", lambda: {"test.events": str(first)})
        assert warehouse.rows_by_partition(key, days, DAILY) == {"2025-01-01": 5, "2025-01-02": 5}

    # A file without statistics: counted by Spark, the same figures.
    spark.conf.set("spark.databricks.delta.stats.collect", "false")
    try:
        assert _run(tmp_path, instance, ["test/events"], days[1], rows_per_day=4).success
    finally:
        spark.conf.unset("spark.databricks.delta.stats.collect")
    assert warehouse.rows_by_partition(key, days, DAILY) == spark_counts() == {"2025-01-01": 2, "2025-01-02": 4}
