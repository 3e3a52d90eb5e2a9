"""JSON Lines to bronze: every non-blank line becomes a record or a reject, never nothing.

* A line that is not a JSON object (bad syntax, truncated, an array, a bare value) is a
  **reject**: kept whole in ``_raw_line`` with a ``_reject_reason``.
* A JSON object is a **record**, read with an explicit schema. A field whose value cannot be
  read as the schema's type is null in the record and its raw value is kept in
  ``_rescued_data`` (a JSON object string, null when nothing was rescued), and so are fields
  the schema does not know. A JSON ``null`` is just null, not rescued.
* Blank (whitespace-only) lines are not records and are not counted.
* A line is also a reject, with a reason saying so, when it is not valid UTF-8 (kept with each
  invalid byte replaced by U+FFFD), when it is longer than ``MAX_LINE_BYTES`` (only its first
  ``KEPT_BYTES`` characters are kept; the whole line stays in the landing file), and, when it is
  the file's last line, has no line end and is not a complete object, as a file still being
  written. A UTF-8 byte-order mark at the start of a file is dropped; ``\r\n`` ends a line like ``\n``.
* A whole file the landing zone refuses (:mod:`lakehouse.ingest.landing_files`: a link out of the
  zone, compressed or binary data) is one reject with ``_source_line`` 0 and ``_raw_line`` NULL;
  it is never opened.

Every output row carries ``_source_file`` (the file's URI), ``_source_line`` (1-based line
number) and ``_ingested_at``. ``_ingested_at`` is the time the file landed (its modification
time), not the wall clock of the run: re-ingesting the same files gives identical rows, so
materializing a partition again is idempotent. Which run wrote a row is in the Delta history.

The steps are public for readers that do not start from a list of files (a streaming file
source, say): :func:`file_texts` takes a whole-text read to one row per file with its lineage,
:func:`split_lines` cuts it into numbered lines, :func:`parse_json_lines` makes records and rejects.

Example::

    batch = read_json_lines(spark, ["data/landing/sales/2025-01-01/part-0000.json"], SALES_SCHEMA)
    batch.records   # SALES_SCHEMA columns + _rescued_data, _source_file, _source_line, _ingested_at
    batch.rejects   # _raw_line, _reject_reason, _source_file, _source_line, _ingested_at

    texts = file_texts(spark.readStream.text("data/landing/clickstream", wholetext=True))
    # ... then, per micro-batch: parse_json_lines(split_lines(texts_of_the_batch), SCHEMA)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.ingest.landing_files import Refused, source_uri

RAW_MAP = T.MapType(T.StringType(), T.StringType())
TASK_BYTES = 64 * 1024 * 1024  # landed bytes per read task, at most (see read_json_lines)
MAX_LINE_BYTES = 1024 * 1024  # a sales or change-feed line is a few hundred bytes
KEPT_BYTES = 1024
# Jackson's default StreamReadConstraints: a document nested deeper does not parse.
MAX_NESTING = 1000
LINEAGE_COLUMNS = ["_source_file", "_source_line", "_ingested_at"]
REJECT_SCHEMA = T.StructType(
    [
        T.StructField("_raw_line", T.StringType()),
        T.StructField("_reject_reason", T.StringType()),
        T.StructField("_source_file", T.StringType()),
        T.StructField("_source_line", T.LongType()),
        T.StructField("_ingested_at", T.TimestampType()),
    ]
)

# Strict ISO-8601 with a zone: Spark's cast alone also accepts words such as 'yesterday'.
ISO_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})$"


def iso_timestamp(column: str) -> Column:
    """``column`` (a landed string) as a timestamp when it is ISO-8601 with ``Z`` or an offset, else null."""
    return F.when(F.col(column).rlike(ISO_TIMESTAMP), F.expr(f"try_cast({column} AS TIMESTAMP)"))


@dataclass(frozen=True)
class JsonLinesBatch:
    records: DataFrame
    rejects: DataFrame


def record_schema(schema: T.StructType) -> T.StructType:
    """The schema of ``records`` for a source schema: the source columns plus rescue and lineage."""
    return T.StructType(
        [
            *schema.fields,
            T.StructField("_rescued_data", T.StringType()),
            T.StructField("_source_file", T.StringType()),
            T.StructField("_source_line", T.LongType()),
            T.StructField("_ingested_at", T.TimestampType()),
        ]
    )


def read_json_lines(spark: SparkSession, files: Sequence[str], schema: T.StructType) -> JsonLinesBatch:
    """Parse JSON Lines ``files`` against ``schema`` into records and rejects (see module doc)."""
    if not files:
        return JsonLinesBatch(
            records=spark.createDataFrame([], record_schema(schema)),
            rejects=spark.createDataFrame([], REJECT_SCHEMA),
        )
    texts = file_texts(spark.read.text(list(files), wholetext=True))
    # Spark packs small files into tasks of at least 4 MiB (files.openCostInBytes each): 10,000 tiny files
    # would be 313 tasks and as many tiny files in bronze. Fewer tasks when the files are small together.
    tasks = max(2, -(-sum(os.path.getsize(f) for f in files) // TASK_BYTES))
    # Read and parsed once for both outputs; SparkResource clears the cache after the run.
    return parse_json_lines(split_lines(texts.coalesce(tasks)).persist(), schema)


def with_refused(spark: SparkSession, batch: JsonLinesBatch, refused: Sequence[Refused]) -> JsonLinesBatch:
    """``batch`` with one reject per refused file (``_source_line`` 0, ``_raw_line`` NULL, the refusal as reason)."""
    if not refused:
        return batch
    rows = [(None, r.reason, source_uri(r.path), 0, r.modified) for r in refused]
    return JsonLinesBatch(batch.records, batch.rejects.unionByName(spark.createDataFrame(rows, REJECT_SCHEMA)))


def file_texts(text: DataFrame) -> DataFrame:
    """One row per file of a whole-text read (batch or streaming): ``value``, ``_source_file``, ``_ingested_at``.

    Example::

        texts = file_texts(spark.read.text(["a.json", "b.json"], wholetext=True))
    """
    return text.select(
        "value",
        F.col("_metadata.file_path").alias("_source_file"),
        F.col("_metadata.file_modification_time").alias("_ingested_at"),
    )


def split_lines(texts: DataFrame) -> DataFrame:
    """One row per non-blank line of :func:`file_texts` rows, numbered from 1 and parsed as a raw JSON object.

    Columns: ``_line`` (without its line ending), ``_source_line``, ``_source_file``, ``_ingested_at``,
    ``_raw`` (the line as a map of raw field values; null when it is not a JSON object or has a
    flaw), ``_flaw`` (why the line cannot be read at all: invalid UTF-8, too long; else null) and
    ``_unterminated`` (the file's last line, without a line end).
    Cache the result when both outputs of :func:`parse_json_lines` are read.

    Example::

        lines = split_lines(file_texts(spark.read.text(["a.json"], wholetext=True))).persist()
    """
    pieces = F.split("value", "\n")
    lines = (
        # Per file, in a select of their own: Spark evaluates the other columns of a select holding a generator
        # after the generator, once per line, which made these two scan the whole file for each of its lines
        # (a 2.7 MB file of 16,666 lines took 43 s; now 1 s).
        texts.select(
            "value",
            "_source_file",
            "_ingested_at",
            F.is_valid_utf8("value").alias("_utf8"),  # before the split, which replaces invalid bytes with U+FFFD
            F.size(pieces).alias("_pieces"),
        )
        .select("_source_file", "_ingested_at", "_utf8", "_pieces", F.posexplode(pieces).alias("_pos", "_line"))
        .select(
            F.regexp_replace(F.when(F.col("_pos") == 0, F.regexp_replace("_line", "^\ufeff", "")).otherwise(F.col("_line")),
                             "\r$", "").alias("_line"),
            (F.col("_pos") + 1).cast("long").alias("_source_line"),
            "_source_file",
            "_ingested_at",
            "_utf8",
            (F.col("_pos") == F.col("_pieces") - 1).alias("_unterminated"),
        )
        .where(~F.col("_line").rlike(r"^\s*$"))
    )
    size = F.octet_length("_line")
    flaw = (
        F.when(~F.col("_utf8") & F.col("_line").contains("\ufffd"),
               F.lit("not valid UTF-8: each invalid byte is shown as U+FFFD; the landing contract is UTF-8"))
        .when(size > MAX_LINE_BYTES,
              F.format_string(f"line of %d bytes is longer than the {MAX_LINE_BYTES:,}-byte limit; _raw_line keeps its "
                              f"first {KEPT_BYTES:,} characters, the whole line stays in the landing file", size))
    )
    return (
        lines.select(
            F.when(size > MAX_LINE_BYTES, F.substring("_line", 1, KEPT_BYTES)).otherwise(F.col("_line")).alias("_line"),
            "_source_line", "_source_file", "_ingested_at", "_unterminated",
            # from_json parses into a MapType (pyspark documents ``schema: DataType or str``); its stub allows only Array/StructType.
            F.when(flaw.isNull(), F.from_json("_line", RAW_MAP)).alias("_raw"),  # pyright: ignore[reportArgumentType]
            flaw.alias("_flaw"),
        )
    )


def parse_json_lines(lines: DataFrame, schema: T.StructType) -> JsonLinesBatch:
    """Records and rejects of :func:`split_lines` rows, records read against ``schema`` (see module doc).

    Example::

        batch = parse_json_lines(lines, SALES_SCHEMA)
        batch.records.count(), batch.rejects.count()
    """
    records = lines.where(F.col("_raw").isNotNull()).select(
        F.from_json("_line", schema).alias("_typed"), "_raw", *LINEAGE_COLUMNS
    )
    records = records.select(
        *[F.col("_typed").getField(f.name).alias(f.name) for f in schema.fields],
        _rescued(schema).alias("_rescued_data"),
        *LINEAGE_COLUMNS,
    )
    rejects = lines.where(F.col("_raw").isNull()).select(
        F.col("_line").alias("_raw_line"), _reject_reason().alias("_reject_reason"), *LINEAGE_COLUMNS)
    return JsonLinesBatch(records=records, rejects=rejects)


def _reject_reason() -> Column:
    """Why a line of :func:`split_lines` is not a record: its flaw, else what kind of non-object it is."""
    line = F.col("_line")
    an_object = F.ltrim(line).startswith("{")
    brackets = F.length(line) - F.length(F.regexp_replace(line, r"[\[{]", ""))
    return (
        F.when(F.col("_flaw").isNotNull(), F.col("_flaw"))
        .when(an_object & F.col("_unterminated"),
              F.lit("truncated last line: no line end and not a complete JSON object, so the file was probably still "
                    "being written; a source must write to a dot- or underscore-named file and rename it when complete"))
        .when(an_object & (brackets > MAX_NESTING),
              F.lit(f"malformed JSON object: syntax error, truncated, or nested deeper than {MAX_NESTING:,} levels"))
        .when(an_object, F.lit("malformed JSON object: syntax error or truncated line"))
        .otherwise(F.lit("not a JSON object: each line must be one JSON object"))
    )


def _rescued(schema: T.StructType) -> Column:
    """JSON of the fields that did not fit the schema: unknown keys and values of the wrong type."""
    known = [f.name for f in schema.fields]
    raw = F.col("_raw")
    unknown = F.map_filter(raw, lambda key, _value: ~key.isin(known))
    wrong_type = F.map_filter(
        raw,
        lambda key, value: F.coalesce(
            *[
                F.when(key == F.lit(name), value.isNotNull() & F.col("_typed").getField(name).isNull())
                for name in known
            ],
            F.lit(False),
        ),
    )
    rescued = F.map_concat(unknown, wrong_type)
    return F.when(F.size(rescued) > 0, F.to_json(rescued))
