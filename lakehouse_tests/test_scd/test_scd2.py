"""The SCD type 2 mechanism on its own: versions, incremental MERGE runs, rebuilds and the change feed."""

from __future__ import annotations

import random
from pathlib import Path
from urllib.parse import urlparse

import pytest
from delta.tables import DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from lakehouse.scd.scd2 import (
    Scd2Spec,
    changed_keys,
    last_source_version,
    merge_scd2,
    rebuild_scd2,
    scd2_versions,
)

SPEC = Scd2Spec(keys=("id",), sequence="seq", timestamp="ts", tracked=("name", "city"),
                delete_when="op = 'DELETE'", carried=("src",))
EVENT_SCHEMA = "id int, seq long, t long, op string, name string, city string, src string"
COLUMNS = ["id", "name", "city", "src", "valid_from", "valid_to", "is_current", "_valid_from_seq"]


def ins(key, seq, t, name, city=None, src=None):
    return (key, seq, t, "INSERT", name, city, src or f"e{key}.{seq}")


def upd(key, seq, t, name, city=None, src=None):
    return (key, seq, t, "UPDATE", name, city, src or f"e{key}.{seq}")


def delete(key, seq, t):
    return (key, seq, t, "DELETE", None, None, f"e{key}.{seq}")


def events(spark, rows):
    """Event rows (t in seconds) as the DataFrame the mechanism reads, in the given order."""
    frame = spark.createDataFrame(list(rows), EVENT_SCHEMA)
    return frame.withColumn("ts", F.timestamp_seconds("t")).drop("t")


def rows_of(frame):
    """Tuples (id, name, city, src, valid_from s, valid_to s, is_current, _valid_from_seq) by id, seq."""
    out = frame.select(
        "id", "name", "city", "src", F.unix_timestamp("valid_from"), F.unix_timestamp("valid_to"),
        "is_current", "_valid_from_seq",
    ).collect()
    return sorted((tuple(r) for r in out), key=lambda r: (r[0], r[-1]))


def table(spark, path):
    return rows_of(spark.read.format("delta").load(str(path)))


def version(spark, path):
    latest = DeltaTable.forPath(spark, str(path)).history(1).first()
    assert latest is not None
    return latest.version


def history_of(all_rows, keys):
    return [r for r in all_rows if r[0] in keys]


# ---------------------------------------------------------------------------------------------
# Spec and pure versions


def test_spec_is_validated_when_built():
    assert Scd2Spec(keys="id", sequence="seq", timestamp="ts", tracked=["name"], delete_when="op = 'D'").keys == ("id",)
    bad = [
        dict(keys=("id;drop",)),
        dict(tracked=("name", "id")),
        dict(tracked=("valid_to",)),
        dict(delete_when="op = = 'DELETE'"),
        dict(delete_when="(SELECT 1)"),
        dict(tracked=()),
    ]
    base = dict(keys=("id",), sequence="seq", timestamp="ts", tracked=("name",), delete_when="op = 'DELETE'")
    for change in bad:
        with pytest.raises(ValueError):
            Scd2Spec(**{**base, **change})


def test_versions_follow_the_contract(spark):
    rows = [
        # 1: no-op update, a null-safe change, duplicate, delete, delete again, re-insert
        ins(1, 1, 100, "a"), upd(1, 2, 200, "a"), upd(1, 3, 300, "a", "x"), upd(1, 3, 300, "a", "x"),
        delete(1, 4, 400), delete(1, 5, 500), upd(1, 6, 600, "a", "x"),
        # 2: delete of a key that never existed, then an insert; timestamps not in seq order
        delete(2, 1, 900), ins(2, 2, 50, "b"), upd(2, 3, 40, "c"),
        # 3: unusable events are ignored
        (3, None, 100, "INSERT", "z", None, "x"), (None, 1, 100, "INSERT", "z", None, "x"),
        (3, 1, None, "INSERT", "z", None, "x"),
    ]
    random.Random(7).shuffle(rows)
    versions = scd2_versions(events(spark, rows), SPEC)
    assert versions.columns == COLUMNS
    assert rows_of(versions) == [
        (1, "a", None, "e1.1", 100, 300, False, 1),
        (1, "a", "x", "e1.3", 300, 400, False, 3),
        (1, "a", "x", "e1.6", 600, None, True, 6),
        (2, "b", None, "e2.2", 50, 40, False, 2),
        (2, "c", None, "e2.3", 40, None, True, 3),
    ]


# ---------------------------------------------------------------------------------------------
# Incremental MERGE runs


def test_late_events_split_and_remove_versions_over_runs(spark, tmp_path):
    path = str(tmp_path / "dim")
    seen = [ins(1, 1, 10, "a"), upd(1, 5, 50, "c"), ins(2, 1, 10, "x"), upd(2, 3, 30, "y"), ins(3, 1, 10, "k")]
    first = merge_scd2(spark, path, events(spark, seen), SPEC)
    assert (first.mode, first.keys_changed, first.versions_written, first.rows_inserted) == ("full", 3, 5, 5)
    untouched = [r for r in table(spark, path) if r[0] == 3]

    # run 2: key 1 gets a late update that splits its first version; key 2 a late update that
    # turns its later update into a no-op, so that version disappears.
    seen += [upd(1, 3, 30, "b"), upd(2, 2, 20, "y")]
    second = merge_scd2(spark, path, events(spark, history_of(seen, {1, 2})), SPEC)
    after_second = table(spark, path)
    assert after_second == [
        (1, "a", None, "e1.1", 10, 30, False, 1),
        (1, "b", None, "e1.3", 30, 50, False, 3),
        (1, "c", None, "e1.5", 50, None, True, 5),
        (2, "x", None, "e2.1", 10, 20, False, 1),
        (2, "y", None, "e2.2", 20, None, True, 2),
        *untouched,
    ]
    assert (second.mode, second.keys_changed, second.versions_written) == ("incremental", 2, 5)
    # inserted: 1@3, 2@2; updated: valid_to of 1@1 and 2@1; deleted: 2@3; key 3 not touched
    assert (second.rows_inserted, second.rows_updated, second.rows_deleted) == (2, 2, 1)
    assert second.delta_version == first.delta_version + 1

    # run 3: a late update of key 1 equal to the newest image moves that version earlier
    seen += [upd(1, 4, 40, "c"), upd(1, 5, 50, "c")]  # plus a duplicate of 1@5
    third = merge_scd2(spark, path, events(spark, history_of(seen, {1})), SPEC)
    after_third = table(spark, path)
    assert [r for r in after_third if r[0] != 1] == [r for r in after_second if r[0] != 1]
    assert [r for r in after_third if r[0] == 1] == [
        (1, "a", None, "e1.1", 10, 30, False, 1),
        (1, "b", None, "e1.3", 30, 40, False, 3),
        (1, "c", None, "e1.4", 40, None, True, 4),
    ]
    assert (third.rows_inserted, third.rows_updated, third.rows_deleted) == (1, 1, 1)

    # run 4: a late no-op update and a duplicate change nothing, and make no commit
    seen += [upd(1, 2, 20, "a", src="late"), ins(1, 1, 10, "a")]
    fourth = merge_scd2(spark, path, events(spark, history_of(seen, {1})), SPEC)
    assert (fourth.rows_inserted, fourth.rows_updated, fourth.rows_deleted) == (0, 0, 0)
    assert fourth.delta_version == third.delta_version == version(spark, path)

    rebuilt = rebuild_scd2(spark, str(tmp_path / "rebuilt"), events(spark, seen), SPEC)
    assert table(spark, tmp_path / "rebuilt") == table(spark, path) == after_third
    assert (rebuilt.mode, rebuilt.keys_changed, rebuilt.versions_written) == ("full", 3, 6)


def test_duplicates_deletes_and_reinserts_across_runs(spark, tmp_path):
    path = str(tmp_path / "dim")
    seen = [ins(1, 1, 10, "a"), ins(1, 1, 10, "a"), delete(1, 2, 20), delete(2, 1, 10), ins(3, 1, 10, "c")]
    merge_scd2(spark, path, events(spark, seen), SPEC)
    assert table(spark, path) == [(1, "a", None, "e1.1", 10, 20, False, 1), (3, "c", None, "e3.1", 10, None, True, 1)]

    # 1 comes back; 2 is deleted again (still nothing); 3 is deleted twice; old events repeat
    seen += [ins(1, 4, 40, "a"), delete(1, 2, 20), delete(2, 2, 20),
             delete(3, 2, 20), delete(3, 3, 30), ins(3, 1, 10, "c")]
    result = merge_scd2(spark, path, events(spark, seen), SPEC)
    assert table(spark, path) == [
        (1, "a", None, "e1.1", 10, 20, False, 1),
        (1, "a", None, "e1.4", 40, None, True, 4),
        (3, "c", None, "e3.1", 10, 20, False, 1),
    ]
    assert (result.keys_changed, result.rows_inserted, result.rows_updated, result.rows_deleted) == (3, 1, 1, 0)

    # an update after two deletes re-opens the key, and a later delete closes it again
    seen += [upd(3, 4, 40, "d"), delete(3, 5, 50)]
    merge_scd2(spark, path, events(spark, history_of(seen, {3})), SPEC)
    assert [r for r in table(spark, path) if r[0] == 3] == [
        (3, "c", None, "e3.1", 10, 20, False, 1),
        (3, "d", None, "e3.4", 40, 50, False, 4),
    ]


def test_change_feed_runs_record_the_source_version_even_without_changes(spark, tmp_path):
    source, dim = str(tmp_path / "events"), str(tmp_path / "dim")
    raw = lambda rows: spark.createDataFrame(rows, EVENT_SCHEMA)  # noqa: E731
    read = lambda: events(spark, []).unionByName(  # noqa: E731
        spark.read.format("delta").load(source).withColumn("ts", F.timestamp_seconds("t")).drop("t"))
    raw([ins(1, 1, 10, "a"), ins(2, 1, 10, "b"), ins(3, 1, 10, "c")]).write.format("delta") \
        .option("delta.enableChangeDataFeed", "true").save(source)

    assert last_source_version(spark, dim) is None
    keys, current = changed_keys(spark, source, None, SPEC.keys)
    assert (keys, current) == (None, 0)
    rebuild_scd2(spark, dim, read(), SPEC, source_version=current)
    assert last_source_version(spark, dim) == 0
    keys, current = changed_keys(spark, source, 0, SPEC.keys)
    assert keys is not None and keys.count() == 0 and current == 0

    raw([upd(2, 2, 20, "B"), upd(3, 0, 5, "c0")]).write.format("delta").mode("append").save(source)
    raw([upd(3, 2, 20, "c")]).write.format("delta").mode("append").save(source)
    keys, current = changed_keys(spark, source, last_source_version(spark, dim), SPEC.keys)
    assert keys is not None and sorted(r.id for r in keys.collect()) == [2, 3] and current == 2
    result = merge_scd2(spark, dim, read().join(keys, "id", "left_semi"), SPEC, source_version=current)
    assert result.keys_changed == 2 and last_source_version(spark, dim) == 2
    expected = [
        (1, "a", None, "e1.1", 10, None, True, 1),
        (2, "b", None, "e2.1", 10, 20, False, 1),
        (2, "B", None, "e2.2", 20, None, True, 2),
        (3, "c0", None, "e3.0", 5, 10, False, 0),
        (3, "c", None, "e3.1", 10, None, True, 1),
    ]
    assert table(spark, dim) == expected

    # the same run again changes nothing and, having nothing new to record, makes no commit
    committed = version(spark, dim)
    again = merge_scd2(spark, dim, read().join(keys, "id", "left_semi"), SPEC, source_version=current)
    assert (again.rows_inserted, again.rows_updated, again.rows_deleted) == (0, 0, 0)
    assert again.delta_version == committed == version(spark, dim)

    # a new source version whose only event is a no-op is still recorded, by a commit without data
    raw([upd(1, 2, 30, "a")]).write.format("delta").mode("append").save(source)
    keys, current = changed_keys(spark, source, last_source_version(spark, dim), SPEC.keys)
    assert keys is not None and [r.id for r in keys.collect()] == [1] and current == 3
    noop = merge_scd2(spark, dim, read().join(keys, "id", "left_semi"), SPEC, source_version=current)
    assert (noop.keys_changed, noop.rows_inserted, noop.rows_updated, noop.rows_deleted) == (1, 0, 0, 0)
    assert noop.delta_version == committed + 1 and last_source_version(spark, dim) == 3
    nothing = merge_scd2(spark, dim, events(spark, []), SPEC, source_version=4)
    assert (nothing.keys_changed, nothing.versions_written) == (0, 0) and last_source_version(spark, dim) == 4
    assert table(spark, dim) == expected
    detail = DeltaTable.forPath(spark, dim).detail().first()
    assert detail is not None and detail.properties["delta.enableDeletionVectors"] == "true"

    # a source recreated behind the recorded version, or without a change feed: rebuild
    assert changed_keys(spark, source, 7, SPEC.keys) == (None, 3)
    plain = str(tmp_path / "plain")
    raw([ins(1, 1, 10, "a")]).write.format("delta").save(plain)
    raw([ins(2, 1, 10, "a")]).write.format("delta").mode("append").save(plain)
    assert changed_keys(spark, plain, 0, SPEC.keys) == (None, 1)


def test_a_merge_opens_only_the_files_whose_key_range_holds_a_changed_key(spark, tmp_path):
    """The literal key range in the MERGE condition and the stale-row read lets Delta skip files by their statistics.

    Three batches of new keys, each written by its own commit into files of its own range (1-10,
    11-20, 21-30). The files of 1-20 are then moved away, still listed in the Delta log: a change to
    key 25 succeeds, so neither the MERGE nor its read of the table opened them (Spark fails on a
    listed file it cannot find). Moved back, the table equals a rebuild from every event.
    """
    dim = str(tmp_path / "dim")
    batches = [[ins(k, 1, 100 + k, f"n{k}") for k in range(first, first + 10)] for first in (1, 11, 21)]
    rebuild_scd2(spark, dim, events(spark, batches[0]), SPEC)
    for batch in batches[1:]:
        merge_scd2(spark, dim, events(spark, batch), SPEC)  # only new keys: the MERGE inserts files of their own
    files = spark.read.format("delta").load(dim).select(F.input_file_name().alias("file"), "id") \
        .groupBy("file").agg(F.min("id").alias("low"), F.max("id").alias("high")).collect()
    outside = [Path(urlparse(f.file).path) for f in files if f.high <= 20]
    assert outside and all(f.low >= 21 for f in files if f.high > 20), files  # the last batch's files hold only 21-30
    aside = tmp_path / "aside"
    aside.mkdir()
    for file in outside:
        file.rename(aside / file.name)

    merge_scd2(spark, dim, events(spark, [*batches[2], upd(25, 2, 500, "renamed")]), SPEC)

    for file in outside:
        (aside / file.name).rename(file)
    rebuilt = str(tmp_path / "rebuilt")
    rebuild_scd2(spark, rebuilt, events(spark, [*batches[0], *batches[1], *batches[2], upd(25, 2, 500, "renamed")]), SPEC)
    assert table(spark, dim) == table(spark, rebuilt)
    assert ("renamed", True) in [(r.name, r.is_current) for r in spark.read.format("delta").load(dim).where("id = 25").collect()]


# ---------------------------------------------------------------------------------------------
# Property: any batching and delivery order gives the rebuild and the contract's reference model


def reference(rows):
    """The contract, written as a loop over each key's events in sequence order."""
    out = []
    for key in sorted({r[0] for r in rows}):
        mine = sorted({r[1]: r for r in rows if r[0] == key}.values(), key=lambda r: r[1])
        state, versions = None, []
        for _, seq, t, op, name, city, src in mine:
            if op == "DELETE":
                if state is not None:
                    versions[-1][5], state = t, None
            elif state != (name, city):
                if state is not None:
                    versions[-1][5] = t
                versions.append([key, name, city, src, t, None, None, seq])
                state = (name, city)
        out += [(*v[:6], v[5] is None, v[7]) for v in versions]
    return out


@st.composite
def delivered_batches(draw, max_keys=5):
    """Event histories of a few keys (with duplicates), cut into batches delivered in random order."""
    rows = []
    for key in range(1, draw(st.integers(1, max_keys)) + 1):
        seqs = draw(st.lists(st.integers(0, 30), min_size=1, max_size=6, unique=True))
        for seq in seqs:
            op = draw(st.sampled_from(["INSERT", "UPDATE", "UPDATE", "DELETE"]))
            name, city = (None, None)
            if op != "DELETE":
                name, city = draw(st.sampled_from("ab")), draw(st.sampled_from([None, "x"]))
            rows.append((key, seq, draw(st.integers(0, 10_000)), op, name, city, f"e{key}.{seq}"))
    rows += draw(st.lists(st.sampled_from(rows), max_size=4))  # exact duplicates
    rows = draw(st.permutations(rows))
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(rows) - 1)), min_size=min(1, len(rows) - 1), max_size=2,
                                unique=True)))
    return [rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)]) if rows[a:b]]


def test_versions_match_the_reference_model(spark):
    @settings(max_examples=15, deadline=None)
    @given(batches=delivered_batches())
    def check(batches):
        rows = [r for batch in batches for r in batch]
        assert rows_of(scd2_versions(events(spark, rows), SPEC)) == reference(rows)

    check()


def test_incremental_runs_in_any_order_match_rebuild_and_reference(spark, tmp_path_factory):
    # Few examples of several keys each: every MERGE costs seconds whatever its size.
    @settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(batches=delivered_batches())
    def check(batches):
        folder = tmp_path_factory.mktemp("scd2")
        path, delivered = str(folder / "dim"), []
        for batch in batches:
            delivered += batch
            merge_scd2(spark, path, events(spark, history_of(delivered, {r[0] for r in batch})), SPEC)
        rebuild_scd2(spark, str(folder / "rebuilt"), events(spark, delivered), SPEC)
        assert table(spark, path) == table(spark, folder / "rebuilt") == reference(delivered)

    check()
