"""Partitioned asset checks that report one result per partition, also inside a single-run backfill.

Dagster plans a partitioned check once per partition of the run, but an ``AssetCheckResult``
returned from a run over a range carries no partition, so the UI lists every day of the range as
*Skipped*. A check built with :func:`partitioned_check` instead returns ``{partition: result}``
and each entry is recorded as that partition's own evaluation, linked to that partition's
latest materialization, so the *Partitions* tab, the graph and the alerts see each day's status
and severity. A blocking check still stops downstream steps when any day fails with ERROR.

Example::

    @partitioned_check(BRONZE_SALES, "no empty day", daily, blocking=True)
    def bronze_sales_not_empty(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        counts = rows_by_day(warehouse.read(BRONZE_SALES, context.partition_keys, daily))
        return {day: dg.AssetCheckResult(passed=counts.get(day, 0) > 0) for day in context.partition_keys}
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData

PartitionResults = Mapping[str, dg.AssetCheckResult]


def partitioned_check(
    asset: dg.AssetKey,
    description: str,
    partitions_def: dg.PartitionsDefinition,
    *,
    blocking: bool = False,
    additional_deps: Iterable[dg.AssetKey] = (),
) -> Callable[[Callable[..., PartitionResults]], dg.AssetChecksDefinition]:
    """Decorate ``fn(context, **resources) -> {partition: AssetCheckResult}`` into a check named like ``fn``.

    ``fn`` must answer for every key of ``context.partition_keys``; a missing day is a bug and
    fails the check naming it. Resources are injected by parameter, as for ``@dg.asset_check``.
    """

    def decorate(fn: Callable[..., PartitionResults]) -> dg.AssetChecksDefinition:
        spec = dg.AssetCheckSpec(
            fn.__name__, asset=asset, description=description, blocking=blocking,
            additional_deps=list(additional_deps), partitions_def=partitions_def,
        )

        @functools.wraps(fn)
        def evaluate(context: dg.AssetCheckExecutionContext, *args, **kwargs) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
            yield from evaluations(context, spec, fn(context, *args, **kwargs))
            # The check's (empty) output tells downstream steps it ran; a failed blocking
            # evaluation above still fails this step, which is what keeps them from running.
            yield dg.Output(None, output_name=spec.get_python_identifier())

        evaluate.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]  # resources by name
        # can_subset: the check's output is then optional, so the evaluations below are its only result.
        return dg.multi_asset_check(specs=[spec], name=fn.__name__, can_subset=True)(evaluate)

    return decorate


def evaluations(
    context: dg.AssetCheckExecutionContext, spec: dg.AssetCheckSpec, results: PartitionResults
) -> Iterator[dg.AssetCheckEvaluation]:
    """One evaluation per partition of the run, each targeting that partition's latest materialization."""
    missing = [key for key in context.partition_keys if key not in results]
    if missing:
        raise dg.Failure(description=f"check {spec.name} gave no result for partitions {missing}")
    for key in context.partition_keys:
        result = results[key]
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
            blocking=spec.blocking,
            partition=key,
            target_materialization_data=_latest_materialization(context.instance, spec.asset_key, key),
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
