"""JSON Lines ingestion: every non-blank line is a record or a reject, with rescue and lineage."""

import json
from typing import Any

import pytest
from pyspark.sql import types as T

from lakehouse.ingest import read_json_lines

SCHEMA = T.StructType(
    [T.StructField("id", T.StringType()), T.StructField("n", T.LongType()), T.StructField("x", T.DoubleType())]
)


@pytest.fixture
def read(spark, tmp_path):
    def read_lines(*lines: str):
        path = tmp_path / "in.json"
        path.write_text("\n".join(lines) + "\n")
        batch = read_json_lines(spark, [str(path)], SCHEMA)
        return batch.records.orderBy("_source_line").collect(), batch.rejects.orderBy("_source_line").collect()

    return read_lines


def test_valid_object_is_a_record_with_lineage(read, tmp_path):
    records, rejects = read('{"id": "a", "n": 1, "x": 2.5}')
    assert rejects == []
    (row,) = records
    assert (row.id, row.n, row.x, row._rescued_data) == ("a", 1, 2.5, None)
    assert row._source_file.endswith("/in.json") and row._source_line == 1 and row._ingested_at is not None


def test_wrong_type_is_null_and_rescued_with_its_raw_value(read):
    (row,), _ = read('{"id": "a", "n": "three", "x": "12,5"}')
    assert (row.n, row.x) == (None, None)
    assert json.loads(row._rescued_data) == {"n": "three", "x": "12,5"}


def test_numeric_string_for_an_integer_is_a_wrong_type(read):
    (row,), _ = read('{"id": "a", "n": "12"}')
    assert row.n is None and json.loads(row._rescued_data) == {"n": "12"}


def test_unknown_fields_are_rescued_and_json_null_is_not(read):
    (row,), _ = read('{"id": "a", "n": null, "coupon": "XMAS", "nested": {"k": 1}}')
    assert row.n is None
    assert json.loads(row._rescued_data) == {"coupon": "XMAS", "nested": '{"k":1}'}


def test_missing_fields_are_null_without_rescue(read):
    (row,), _ = read('{"id": "a"}')
    assert (row.n, row.x, row._rescued_data) == (None, None, None)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"id": "a", "n": 1', "malformed JSON object"),
        ("[1, 2]", "not a JSON object"),
        ("garbage", "not a JSON object"),
        ("42", "not a JSON object"),
        ("null", "not a JSON object"),
    ],
)
def test_lines_that_are_not_json_objects_are_rejected_with_the_raw_line(read, line, reason):
    records, (reject,) = read(line)
    assert records == []
    assert reject._raw_line == line and reject._reject_reason.startswith(reason) and reject._source_line == 1


def test_blank_lines_are_skipped_but_line_numbers_stay_true(read):
    records, rejects = read("", '{"id": "a"}', "   ", "oops", "\t")
    assert [r._source_line for r in records] == [2]
    assert [r._source_line for r in rejects] == [4]


def test_crlf_line_endings_and_repeated_keys(read):
    records, rejects = read('{"id": "a", "n": 1}\r', '{"id": "b", "n": 1, "n": 2}')
    assert rejects == []
    assert [(r.id, r.n) for r in records] == [("a", 1), ("b", 2)]


def test_no_files_gives_empty_frames_with_the_schema(spark):
    batch = read_json_lines(spark, [], SCHEMA)
    assert batch.records.count() == 0 and batch.rejects.count() == 0
    assert batch.records.columns == ["id", "n", "x", "_rescued_data", "_source_file", "_source_line", "_ingested_at"]


def test_each_file_is_split_once_not_once_per_line(spark, tmp_path):
    """The whole-file work (the split into lines, the UTF-8 test) runs below the generator that makes one row per line.

    Written in the generator's own select, Spark evaluates it above the generator, once per line: a file of 16,666
    sales lines (2.7 MB) then took 43 s to read instead of 1 s, quadratic in the file's size.
    """
    from lakehouse.ingest.json_lines import file_texts, split_lines

    path = tmp_path / "in.json"
    path.write_text('{"id": "a"}\n{"id": "b"}\n')
    lines = split_lines(file_texts(spark.read.text([str(path)], wholetext=True)))
    jdf: Any = lines._jdf  # the JVM Dataset: its optimized plan, as Spark will run it
    plan = jdf.queryExecution().optimizedPlan().toString().splitlines()
    generate = next(i for i, line in enumerate(plan) if "Generate posexplode(split(" in line)
    above = [line for line in plan[:generate] if "split(" in line or ".isValid()" in line]
    assert above == [], "\n".join(plan)
    assert [r._line for r in lines.orderBy("_source_line").collect()] == ['{"id": "a"}', '{"id": "b"}']
