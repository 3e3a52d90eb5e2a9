"""Checks every registered table gets from its declaration: it is what it declares, its keys are unique, its files are not too small, it leaks no personal data.

* ``<table>_matches_declaration`` (ERROR): the Delta table's schema (names, types, nullability),
  partitioning or clustering, declared properties and CHECK constraints, read back from its log,
  equal the declaration in :mod:`lakehouse.tables`. Something that wrote around the pipeline, or a
  declaration changed without its table, shows up here.
* ``<table>_key_unique`` (ERROR): unpartitioned tables with declared key columns hold each key
  once. (Daily tables check their keys per partition with their own checks; ``bronze/clickstream``
  is deduplicated by its MERGE, tested, and not re-scanned here as it grows with all time.)
* ``<table>_small_files`` (WARN): more files than ``max_files_per_partition`` per partition whose
  average size is below ``min_average_file_bytes`` (both in the registry): run maintenance.
* ``<table>_pii_leak`` (ERROR): no value of a ``string`` column that is not tagged ``pii`` looks
  like an email address or a phone number (:mod:`lakehouse.governance.leaks`), e.g. a source
  that started sending ``email`` with sales lines, kept in ``bronze/sales._rescued_data``. One
  aggregation per table, all of a step's tables in one query (:func:`pii_leaks`); daily tables
  are scanned and reported per partition of the run. The description names the table, the column
  and the count, never a value.

They are evaluated by one step per run (:func:`build_table_checks`; two kinds of step, as the
daily tables' checks are partitioned like them), which reads only table metadata except for the
key counts and the leak scan, each one query for all of the step's tables, so they add little to a run.

Example::

    problems = declaration_problems(spark, tables.SILVER_SALES, "data/warehouse/silver/sales")
    # [] when the table is what it declares
"""


import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence

import dagster as dg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import delta
from lakehouse.checks.partitioned import evaluations, same_for_every_partition
from lakehouse.governance import leaks
from lakehouse.resources import Warehouse
from lakehouse.tables.registry import Table

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
MATCHES, UNIQUE, SMALL_FILES, PII_LEAK = "matches_declaration", "key_unique", "small_files", "pii_leak"
UNIQUE_SKIPPED = frozenset({"bronze.clickstream"})


def check_name(table: Table, kind: str) -> str:
    """``<layer>_<table>_<kind>``, e.g. ``silver_sales_matches_declaration``."""
    return f"{table.layer}_{table.key.path[1]}_{kind}"


def declaration_problems(spark: SparkSession, table: Table, path: str, table_detail: delta.Detail | None = None) -> list[str]:
    """What differs between the Delta table at ``path`` and its declaration (empty: nothing); ``table_detail``: its :func:`lakehouse.delta.detail`, if read already."""
    actual = delta.read(spark, path).schema
    declared = table.schema
    problems = []
    present = {f.name: f for f in actual.fields}
    for field in declared.fields:
        found = present.get(field.name)
        if found is None:
            problems.append(f"column {field.name} is missing")
        elif found.dataType != field.dataType:
            problems.append(f"column {field.name} is {found.dataType.simpleString()}, declared {field.dataType.simpleString()}")
        elif found.nullable != field.nullable:
            problems.append(f"column {field.name} is {'' if found.nullable else 'NOT '}NULL-able, declared "
                            f"{'nullable' if field.nullable else 'NOT NULL'}")
    problems += [f"column {name} is not declared" for name in present if name not in {f.name for f in declared.fields}]
    detail = table_detail or delta.detail(spark, path)
    partitions = (table.partition_column,) if table.partition_column else ()
    if tuple(detail.partition_columns) != partitions:
        problems.append(f"partitioned by {list(detail.partition_columns)}, declared {list(partitions)}")
    if tuple(detail.clustering_columns) != table.cluster_by:
        problems.append(f"clustered by {list(detail.clustering_columns)}, declared {list(table.cluster_by)}")
    for key, value in table.properties.items():
        if detail.properties.get(key) != value:
            problems.append(f"property {key} is {detail.properties.get(key)!r}, declared {value!r}")
    constraints = delta.constraints(detail.properties)
    for name, expression in table.constraints.items():
        if name not in constraints:
            problems.append(f"constraint {name} ({expression}) is missing")
    problems += [f"constraint {name} is not declared" for name in constraints if name not in table.constraints]
    return problems


def matches_declaration(spark: SparkSession, table: Table, path: str, table_detail: delta.Detail | None = None) -> dg.AssetCheckResult:
    problems = declaration_problems(spark, table, path, table_detail)
    return dg.AssetCheckResult(
        passed=not problems,
        severity=ERROR,
        description=(f"{table.name} is what lakehouse/tables declares" if not problems else
                     f"{table.name} differs from its declaration in lakehouse/tables: {'; '.join(problems)}. "
                     "Re-materialize it (missing columns, properties and constraints are added), or align the "
                     "declaration; a type or layout change needs a rewrite (README runbook)."),
        metadata={"problems": dg.MetadataValue.json(problems)},
    )


def keys_unique(spark: SparkSession, declared: Mapping[str, tuple[Table, DataFrame]]) -> dict[str, dg.AssetCheckResult]:
    """``key_unique`` of each table (``name: (table, frame)``): how many keys its frame holds more than once, in one query.

    Tables with duplicated keys then get a sample of five (a second query for them only).
    """
    duplicated = {name: frame.groupBy(*table.key_columns).count().where("count > 1") for name, (table, frame) in declared.items()}
    parts = [keys.agg(F.count(F.lit(1)).alias("n")).select(F.lit(name).alias("_table"), "n") for name, keys in duplicated.items()]
    counts = {row["_table"]: int(row["n"]) for row in functools.reduce(DataFrame.unionByName, parts).collect()} if parts else {}
    results = {}
    for name, (table, _) in declared.items():
        keys, count = table.key_columns, counts[name]
        sample = [r.asDict() for r in duplicated[name].limit(5).collect()] if count else []
        results[name] = dg.AssetCheckResult(
            passed=count == 0,
            severity=ERROR,
            description=(f"each {'+'.join(keys)} is in {table.name} once" if count == 0 else
                         f"{count} {'+'.join(keys)} value(s) are in {table.name} more than once, e.g. {sample}"),
            metadata={"duplicated_keys": count,
                      "sample": dg.MetadataValue.json([{k: str(v) for k, v in r.items()} for r in sample])},
        )
    return results


def small_files(spark: SparkSession, table: Table, path: str, table_detail: delta.Detail | None = None) -> dg.AssetCheckResult:
    detail = table_detail or delta.detail(spark, path)
    partitions = 1
    # Partitions holding files, from the Delta log (no data file is read), counted only when the
    # verdict depends on it: with at most max_files_per_partition files, or files large enough, it passes anyway.
    undecided = detail.num_files > table.max_files_per_partition and detail.average_file_bytes < table.min_average_file_bytes
    if table.partition_column and undecided:
        partitions = max(1, delta.partitions_with_files(spark, path))
    per_partition = detail.num_files / partitions
    too_many = undecided and per_partition > table.max_files_per_partition  # per_partition <= num_files
    return dg.AssetCheckResult(
        passed=not too_many,
        severity=WARN,
        description=(
            (f"{detail.num_files} files over {partitions} partition(s), {detail.average_file_bytes:,} bytes on average"
             if undecided or not table.partition_column else
             f"{detail.num_files} files, {detail.average_file_bytes:,} bytes on average: within the small-files threshold")
            if not too_many else
            f"{table.name} has built up small files: {per_partition:.0f} per partition (more than "
            f"{table.max_files_per_partition}), {detail.average_file_bytes:,} bytes on average (less than "
            f"{table.min_average_file_bytes:,}). Run the table_maintenance job for it (README: Operating the tables)."
        ),
        metadata={
            "files": detail.num_files, "bytes": detail.size_bytes, "average_file_bytes": detail.average_file_bytes,
            **({"partitions": partitions, "files_per_partition": round(per_partition, 1)} if undecided else {}),
        },
    )


def pii_leaks(spark: SparkSession, warehouse: Warehouse, declared: Sequence[Table],
              partition_keys: Sequence[str] | None = None,
              partitions: dg.PartitionsDefinition | None = None) -> dict[str, dict[str, dg.AssetCheckResult]]:
    """``pii_leak`` of each of ``declared`` tables (which exist), in one query: ``{table name: {partition: result}}``.

    Daily tables are scanned over ``partition_keys`` only, each partition with its own result (one
    aggregation by partition; none when the run has one partition). Other tables are scanned whole,
    their one result under the key ``""``.
    """
    scans: dict[str, tuple[DataFrame, Sequence[str], str | None]] = {}
    for table in declared:
        if table.daily and partition_keys is not None:
            frame = warehouse.read(table.key, partition_keys, partitions)
            scans[table.name] = (frame, table.non_pii_string_columns, None if len(partition_keys) == 1 else table.partition_column)
        else:
            scans[table.name] = (delta.read(spark, str(warehouse.path(table.key))), table.non_pii_string_columns, None)
    found = leaks.leak_counts_of(scans)
    results: dict[str, dict[str, dg.AssetCheckResult]] = {}
    for table in declared:
        by_group = found.get(table.name, {})
        if table.daily and partition_keys is not None:
            if len(partition_keys) == 1:  # scanned without grouping: its one group is the run's partition
                by_group = {partition_keys[0]: by_group.get("", {})}
            results[table.name] = {key: _leak_result(table, by_group.get(key, {}), f" on {key}") for key in partition_keys}
        else:
            results[table.name] = {"": _leak_result(table, by_group.get("", {}), "")}
    return results


def _leak_result(table: Table, found: Mapping[tuple[str, str], int], where: str) -> dg.AssetCheckResult:
    scanned = table.non_pii_string_columns
    return dg.AssetCheckResult(
        passed=not found,
        severity=ERROR,
        description=(
            (f"no email address or phone number in {table.name}{where} outside its pii columns "
             f"(scanned: {', '.join(scanned)})" if scanned else f"{table.name} has no string column outside its pii columns")
            if not found else
            f"personal data in {table.name}{where}, in columns not tagged pii: {leaks.describe(found)}. Find the source "
            "field it comes from; tag the column pii in lakehouse/tables if it holds personal data by design, else stop "
            "it at ingestion (README: Governance)."
        ),
        metadata={"matches": dg.MetadataValue.json({f"{column}.{kind}": n for (column, kind), n in sorted(found.items())}),
                  "scanned_columns": dg.MetadataValue.json(scanned)},
    )


def _kinds(table: Table) -> list[str]:
    kinds = [MATCHES, SMALL_FILES]
    if table.key_columns and not table.partition_column and table.name not in UNIQUE_SKIPPED:
        kinds.append(UNIQUE)
    return [*kinds, PII_LEAK]


EVALUATE = {MATCHES: matches_declaration, SMALL_FILES: small_files}  # key_unique, pii_leak: one query each per step
DESCRIBE = {
    MATCHES: "Schema, layout, properties and CHECK constraints read back from the Delta log equal the registry's declaration.",
    UNIQUE: "Each declared key ({keys}) is in the table once.",
    SMALL_FILES: "WARN when small files build up (threshold in the registry): run table maintenance.",
    PII_LEAK: "No email address or phone number in a string column not tagged pii (counts only, no values).",
}


def build_table_checks(declared: Iterable[Table], partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    """Two check steps evaluating the declared checks of ``declared`` tables (the subset a run selects).

    The checks of daily tables are partitioned like them and record their (table-wide) result on
    each partition of the run, so no day of a backfill is left showing *Skipped*.
    """
    daily = [t for t in declared if t.daily]
    other = [t for t in declared if not t.daily]
    return [_table_checks("daily_table_declarations", daily, partitions), _table_checks("table_declarations", other, None)]


def _table_checks(name: str, declared: Sequence[Table], partitions: dg.PartitionsDefinition | None) -> dg.AssetChecksDefinition:
    specs, lookup = [], {}
    for table in declared:
        for kind in _kinds(table):
            spec = dg.AssetCheckSpec(check_name(table, kind), asset=table.key, partitions_def=partitions,
                                     description=DESCRIBE[kind].format(keys=", ".join(table.key_columns)))
            specs.append(spec)
            lookup[spec.key] = (table, kind, spec)

    @dg.multi_asset_check(specs=specs, name=name, can_subset=True)
    def evaluate(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
        spark = warehouse.spark.get_session()
        details: dict[str, delta.Detail] = {}  # once per table, for both checks that need it
        selected = sorted(context.selected_asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name))
        exists = {table.name: warehouse.exists(table.key) for table in {lookup[k][0].name: lookup[k][0] for k in selected}.values()}

        def existing(kind: str) -> list[Table]:
            """The selected tables that exist and have a check of ``kind`` selected."""
            return [lookup[key][0] for key in selected if lookup[key][1] == kind and exists[lookup[key][0].name]]

        # Every selected table's leak scan in one query, and key counts in another (the scans are the step's largest part).
        leak_results = pii_leaks(spark, warehouse, existing(PII_LEAK),
                                 context.partition_keys if partitions is not None else None, partitions)
        unique_results = keys_unique(spark, {t.name: (t, delta.read(spark, str(warehouse.path(t.key)))) for t in existing(UNIQUE)})
        for key in selected:
            table, kind, spec = lookup[key]
            # The check's (empty) output, first, as Dagster yields it for an AssetCheckResult: without it Dagster logs
            # that the step "did not yield or return expected outputs", naming every check it has just recorded.
            yield dg.Output(None, output_name=spec.get_python_identifier())
            path = str(warehouse.path(table.key))
            if not exists[table.name]:
                result = dg.AssetCheckResult(passed=False, severity=ERROR,
                                             description=f"{table.name} has no Delta table at {path}: materialize it")
            elif kind == PII_LEAK and partitions is not None:  # the one declared check with a result per day
                yield from evaluations(context, spec, leak_results[table.name])
                continue
            elif kind == PII_LEAK:
                result = leak_results[table.name][""]
            elif kind == UNIQUE:
                result = unique_results[table.name]
            else:
                if kind in (MATCHES, SMALL_FILES) and path not in details:
                    details[path] = delta.detail(spark, path)
                result = EVALUATE[kind](spark, table, path, details.get(path))
            if partitions is None:
                yield dg.AssetCheckEvaluation(asset_key=key.asset_key, check_name=key.name, passed=result.passed,
                                              severity=result.severity, description=result.description,
                                              metadata=result.metadata, blocking=False)
            else:
                yield from evaluations(context, spec, same_for_every_partition(context.partition_keys, result))

    return evaluate


def names(declared: Sequence[Table]) -> list[str]:
    """The check names :func:`build_table_checks` gives ``declared`` tables (for docs and tests)."""
    return [check_name(t, kind) for t in declared for kind in _kinds(t)]
