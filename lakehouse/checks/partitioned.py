"""Partitioned asset checks that report one result per partition, also inside a single-run backfill.

Dagster plans a partitioned check once per partition of the run, but an ``AssetCheckResult``
returned from a run over a range carries no partition, so the UI lists every day of the range as
*Skipped*. A check built with :func:`partitioned_checks` instead returns ``{partition: result}``
and each entry is recorded as that partition's own evaluation, linked to that partition's
latest materialization, so the *Partitions* tab, the graph and the alerts see each day's status
and severity. A blocking check still stops downstream steps when any day fails with ERROR.

Several checks of one table can share one step (:func:`partitioned_checks`): each keeps its own
key, description, severity and blocking flag, and the step reads the table once for all of them.
A step costs a second or so of Dagster and Spark overhead even when its work is tiny, so a table's
checks are one step, not one step each; :func:`shared_step_checks` does the same for unpartitioned
checks.

Example::

    @partitioned_checks("bronze_sales_checks", [
        Check("bronze_sales_not_empty", BRONZE_SALES, "no empty day", blocking=True),
        Check("bronze_sales_few_rejects", BRONZE_SALES, "rejects below 5 %"),
    ], daily)
    def bronze_sales_checks(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        counts = warehouse.rows_by_partition(BRONZE_SALES, context.partition_keys, daily)
        results = {"bronze_sales_not_empty": {day: dg.AssetCheckResult(passed=counts.get(day, 0) > 0)
                                              for day in context.partition_keys}}
        if "bronze_sales_few_rejects" in selected_checks(context):
            results["bronze_sales_few_rejects"] = ...
        return results
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData

PartitionResults = Mapping[str, dg.AssetCheckResult]


@dataclass(frozen=True)
class Check:
    """One check of a :func:`partitioned_checks` step: its name (the check key's), asset, description and blocking flag."""

    name: str
    asset: dg.AssetKey
    description: str
    blocking: bool = False
    additional_deps: tuple[dg.AssetKey, ...] = ()


def partitioned_checks(
    name: str, checks: Sequence[Check], partitions_def: dg.PartitionsDefinition,
) -> Callable[[Callable[..., Mapping[str, PartitionResults]]], dg.AssetChecksDefinition]:
    """Decorate ``fn(context, **resources) -> {check name: {partition: AssetCheckResult}}`` into one step named ``name``.

    ``fn`` must answer, for every selected check (see :func:`selected_checks`), for every key of
    ``context.partition_keys``; a missing one is a bug and fails the step naming it. It may leave
    out checks that are not selected. Resources are injected by parameter, as for ``@dg.asset_check``.
    """

    def decorate(fn: Callable[..., Mapping[str, PartitionResults]]) -> dg.AssetChecksDefinition:
        specs = {
            c.name: dg.AssetCheckSpec(c.name, asset=c.asset, description=c.description, blocking=c.blocking,
                                      additional_deps=list(c.additional_deps), partitions_def=partitions_def)
            for c in checks
        }

        @functools.wraps(fn)
        def evaluate(context: dg.AssetCheckExecutionContext, *args, **kwargs) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
            results = fn(context, *args, **kwargs)
            targets: dict[tuple[dg.AssetKey, str], AssetCheckEvaluationTargetMaterializationData | None] = {}
            for check_name in sorted(selected_checks(context)):
                spec = specs[check_name]
                if check_name not in results:
                    raise dg.Failure(description=f"check step {name} gave no result for check {check_name}")
                yield from evaluations(context, spec, results[check_name], targets)
            # Each check's (empty) output tells downstream steps it ran; a failed blocking
            # evaluation above still fails this step, which is what keeps them from running.
            for check_name in sorted(selected_checks(context)):
                yield dg.Output(None, output_name=specs[check_name].get_python_identifier())

        evaluate.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]  # resources by name
        # can_subset: the outputs are then optional, so the evaluations above are the checks' only results.
        return dg.multi_asset_check(specs=list(specs.values()), name=name, can_subset=True)(evaluate)

    return decorate


def shared_step_checks(
    name: str, checks: Sequence[Check],
) -> Callable[[Callable[..., Mapping[str, dg.AssetCheckResult]]], dg.AssetChecksDefinition]:
    """Unpartitioned checks sharing one step: ``fn(context, **resources) -> {check name: AssetCheckResult}``.

    As :func:`partitioned_checks` without partitions: ``fn`` answers every selected check (it may
    leave out the others) and reads its tables once for all of them. Each result is recorded
    under its own check, with that check's blocking flag: a failed blocking check fails the step
    after every result is recorded, which keeps the checked asset's downstream steps from running.

    Example::

        @shared_step_checks("dim_customer_checks", [Check("one_current_row", DIM, "...", blocking=True), ...])
        def dim_customer_checks(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
            dim = warehouse.read(DIM)
            return {"one_current_row": scd.one_current_row(dim, ["customer_id"]), ...}
    """

    def decorate(fn: Callable[..., Mapping[str, dg.AssetCheckResult]]) -> dg.AssetChecksDefinition:
        specs = {c.name: dg.AssetCheckSpec(c.name, asset=c.asset, description=c.description, blocking=c.blocking,
                                           additional_deps=list(c.additional_deps)) for c in checks}

        @functools.wraps(fn)
        def evaluate(context: dg.AssetCheckExecutionContext, *args, **kwargs) -> Iterator[dg.AssetCheckResult]:
            results = fn(context, *args, **kwargs)
            for check_name in sorted(selected_checks(context)):
                if check_name not in results:
                    raise dg.Failure(description=f"check step {name} gave no result for check {check_name}")
                result = results[check_name]
                yield dg.AssetCheckResult(asset_key=specs[check_name].asset_key, check_name=check_name, passed=result.passed,
                                          severity=result.severity, description=result.description, metadata=result.metadata)

        evaluate.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]  # resources by name
        return dg.multi_asset_check(specs=list(specs.values()), name=name, can_subset=True)(evaluate)

    return decorate


def partitioned_check(
    asset: dg.AssetKey,
    description: str,
    partitions_def: dg.PartitionsDefinition,
    *,
    blocking: bool = False,
    additional_deps: Iterable[dg.AssetKey] = (),
) -> Callable[[Callable[..., PartitionResults]], dg.AssetChecksDefinition]:
    """One check in its own step: ``fn(context, **resources) -> {partition: AssetCheckResult}``, named like ``fn``."""

    def decorate(fn: Callable[..., PartitionResults]) -> dg.AssetChecksDefinition:
        check = Check(fn.__name__, asset, description, blocking, tuple(additional_deps))

        @functools.wraps(fn)
        def single(*args, **kwargs) -> Mapping[str, PartitionResults]:
            return {check.name: fn(*args, **kwargs)}

        single.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]  # resources by name
        return partitioned_checks(fn.__name__, [check], partitions_def)(single)

    return decorate


def selected_checks(context: dg.AssetCheckExecutionContext) -> frozenset[str]:
    """Names of the checks of this step the run selected (a run may select some of a step's checks)."""
    return frozenset(key.name for key in context.selected_asset_check_keys)


def evaluations(
    context: dg.AssetCheckExecutionContext, spec: dg.AssetCheckSpec, results: PartitionResults,
    targets: dict[tuple[dg.AssetKey, str], AssetCheckEvaluationTargetMaterializationData | None] | None = None,
) -> Iterator[dg.AssetCheckEvaluation]:
    """One evaluation per partition of the run, each targeting that partition's latest materialization.

    ``targets`` caches the materializations looked up, when several checks of one step target one asset.
    """
    targets = {} if targets is None else targets
    missing = [key for key in context.partition_keys if key not in results]
    if missing:
        raise dg.Failure(description=f"check {spec.name} gave no result for partitions {missing}")
    for key in context.partition_keys:
        result = results[key]
        if (spec.asset_key, key) not in targets:
            targets[spec.asset_key, key] = _latest_materialization(context.instance, spec.asset_key, key)
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
            blocking=spec.blocking,
            partition=key,
            target_materialization_data=targets[spec.asset_key, key],
        )


def same_for_every_partition(keys: Iterable[str], result: dg.AssetCheckResult) -> dict[str, dg.AssetCheckResult]:
    """A result that holds for the whole range, recorded for each of its partitions."""
    return dict.fromkeys(keys, result)


def _latest_materialization(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str
) -> AssetCheckEvaluationTargetMaterializationData | None:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1)
    if not records.records:
        return None
    record = records.records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.event_log_entry.run_id, timestamp=record.timestamp
    )
