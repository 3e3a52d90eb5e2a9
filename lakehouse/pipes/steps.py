"""Step assets: the lakehouse's assets with their work launched through a Pipes engine.

:func:`pipes_assets` turns each asset definition into one with the same specs (keys, deps,
partitions, automation and freshness policies, metadata, owners, tags), the same op name, config
schema and backfill policy, plus the check specs of every check that targets its
tables. Its body asks the ``engine`` resource (:mod:`lakehouse.pipes.engines`) to run
``python -m lakehouse.pipes`` with extras naming the selected assets and checks, the partitions,
the run's op config and the settings, then records what came back (:mod:`lakehouse.pipes.messages`):
one materialization per asset and partition with the remote's metadata, one evaluation per check
and partition (targeting this run's materialization), and the remote's failures as this step's.

A check that ran in its own step locally runs in its table's step here: on Databricks one job
run per table and day range rather than one per check.

Example::

    assets = pipes_assets(build_assets(daily), build_checks(daily), settings)
    dg.Definitions(assets=assets, resources={"engine": SubprocessEngine(), ...})
"""


from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster._config.field_utils import Shape
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData
from dagster_shared.record import copy

from lakehouse.pipes.engines import PipesEngine
from lakehouse.pipes.messages import Outcome
from lakehouse.settings import LakehouseSettings

ENGINE_KEY = "engine"


def pipes_assets(
    assets: Sequence[dg.AssetsDefinition], checks: Sequence[dg.AssetChecksDefinition], settings: LakehouseSettings,
) -> list[dg.AssetsDefinition]:
    """One step asset per asset definition of ``assets``, carrying the specs of ``checks`` that target its keys."""
    check_specs = [spec for definition in checks for spec in definition.check_specs]
    owned = {key for definition in assets for key in definition.keys}
    orphans = sorted(spec.key.to_user_string() for spec in check_specs if spec.asset_key not in owned)
    if orphans:
        raise ValueError(f"checks whose table has no asset to run them with: {orphans}")
    return [_step_asset(definition, [s for s in check_specs if s.asset_key in definition.keys], settings)
            for definition in assets]


def _step_asset(
    definition: dg.AssetsDefinition, extra_checks: list[dg.AssetCheckSpec], settings: LakehouseSettings,
) -> dg.AssetsDefinition:
    op = definition.node_def
    assert isinstance(op, dg.OpDefinition), f"{definition.keys} is not a single op"
    # multi_asset takes a dict of fields: the original op's (a Shape, e.g. gdpr_erasure's ErasureConfig) field by field.
    config_type = op.config_field.config_type if op.config_field is not None else None
    config_schema = dict(config_type.fields) if isinstance(config_type, Shape) else None

    check_specs = [*definition.check_specs, *extra_checks]
    outputs = {spec.key: spec.get_python_identifier() for spec in check_specs}

    @dg.multi_asset(
        name=op.name,
        specs=list(definition.specs),
        check_specs=check_specs,
        can_subset=True,
        partitions_def=definition.partitions_def,
        backfill_policy=definition.backfill_policy,
        # No retry policy here: the entry point runs the op with its own (e.g. file reads retried), and a retry of
        # the whole remote step would multiply them.
        op_tags=op.tags,
        config_schema=config_schema,
        required_resource_keys={ENGINE_KEY},
        description=op.description,
    )
    def step(context: AssetExecutionContext) -> Iterator[Any]:  # (no __future__ annotations: Dagster reads this one)
        engine: PipesEngine = getattr(context.resources, ENGINE_KEY)
        extras = step_extras(context, settings)
        outcome = Outcome.of(engine.run(context=context, extras=extras).get_custom_messages())
        yield from _record(context, outcome)
        # Each check's (empty) output tells downstream steps it ran; its results are the evaluations above.
        for key in sorted(context.selected_asset_check_keys):
            yield dg.Output(None, output_name=outputs[key])
        if outcome.failures:
            raise dg.Failure(
                description=f"{op.name} failed where the {engine.name} engine ran it: "
                + "; ".join(f"{name}: {message}" for name, message in outcome.failures),
                metadata={"engine": engine.name},
                allow_retries=False,
            )

    return step


def step_extras(context: dg.AssetExecutionContext, settings: LakehouseSettings) -> dict[str, Any]:
    """What the entry point needs to run this step as the run asked (see :mod:`lakehouse.pipes.remote`)."""
    partitions = None
    if context.has_partition_key_range:
        partition_range = context.partition_key_range
        partitions = [partition_range.start, partition_range.end]
    latest = []
    for key in sorted(context.selected_asset_keys):
        event = context.instance.get_latest_materialization_event(key)
        if event is not None and event.asset_materialization is not None:
            latest.append(dg.serialize_value(event.asset_materialization))
    return {
        "run_id": context.run.run_id,  # the step's commits name this run (userMetadata), not the entry point's inner one
        "assets": [key.to_user_string() for key in sorted(context.selected_asset_keys)],
        "checks": [key.to_user_string() for key in sorted(context.selected_asset_check_keys)],
        "partitions": partitions,
        "op_config": context.op_execution_context.op_config,
        "settings": settings.as_env(),
        # Steps read the latest materialization of their own tables (e.g. the clickstream's late-event total).
        "latest_materializations": latest,
    }


def _record(context: dg.AssetExecutionContext, outcome: Outcome) -> Iterator[Any]:
    per_partition = context.has_partition_key_range and len(context.partition_keys) > 1
    for key in sorted(context.selected_asset_keys):
        events = outcome.materializations.get(key)
        if not events:
            continue  # the entry point reports why (a failure), raised after the rest is recorded
        if not per_partition:
            (event,) = events.values()
            yield dg.MaterializeResult(asset_key=key, metadata=dict(event.metadata))
            continue
        for partition, event in events.items():
            context.add_asset_metadata(dict(event.metadata), asset_key=key, partition_key=partition)
        yield dg.MaterializeResult(asset_key=key)
    targets: dict[tuple[dg.AssetKey, str | None], AssetCheckEvaluationTargetMaterializationData | None] = {}
    for evaluation in outcome.checks:
        place = (evaluation.asset_key, evaluation.partition)
        if place not in targets:
            targets[place] = _latest_materialization(context.instance, *place)
        yield copy(evaluation, target_materialization_data=targets[place])
    if outcome.run_tags:
        context.instance.add_run_tags(context.run.run_id, outcome.run_tags)


def _latest_materialization(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str | None,
) -> AssetCheckEvaluationTargetMaterializationData | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition] if partition else None), limit=1)
    if not records.records:
        return None
    record = records.records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.event_log_entry.run_id, timestamp=record.timestamp)


__all__ = ["ENGINE_KEY", "pipes_assets", "step_extras"]
