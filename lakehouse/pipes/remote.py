"""The Pipes entry point: ``python -m lakehouse.pipes [--transport file|dbfs]`` runs one step where the engine put it.

It opens Dagster Pipes (``file``: the default transport of ``PipesSubprocessClient``; ``dbfs``: the
DBFS context and message files of ``PipesDatabricksClient``), reads the extras the step asset sent
(:func:`lakehouse.pipes.steps.step_extras`), builds the lakehouse's definitions from those
settings with the local engine, and runs exactly the selected assets and checks for the run's
partitions in this process, on an ephemeral Dagster instance seeded with the latest
materializations the orchestrator knows and under the orchestrator's run id, so the Delta commits
and the metadata name the run a user sees in the UI. Then it sends back every materialization, check
evaluation, added run tag and failure (:mod:`lakehouse.pipes.messages`) and the run's log lines.

The process ends with code 0 once it has reported, also when the step failed: the failure travels
as a message and fails the Dagster step with the step's own error, after the materializations
and check results that did happen are recorded. A non-zero exit means the entry point itself broke.

On Databricks (``--transport dbfs``) the SparkSession is the cluster's: the entry point takes it
with ``getOrCreate`` and sets the lakehouse's runtime settings on it (:data:`lakehouse.resources.spark.LAKEHOUSE_CONF`);
``LAKEHOUSE_SPARK_MASTER``, the JAR folder and the small-machine settings do not apply there.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_pipes import (
    DAGSTER_PIPES_CONTEXT_CLI_ARGUMENT,
    PipesCliArgsParamsLoader,
    PipesContext,
    PipesDbfsContextLoader,
    PipesDbfsMessageWriter,
    PipesEnvVarParamsLoader,
    PipesUnityCatalogVolumesContextLoader,
    PipesUnityCatalogVolumesMessageWriter,
    open_dagster_pipes,
)

from lakehouse.pipes import messages
from lakehouse.settings import ENGINE_VARIABLE, LakehouseSettings

STEP_JOB = "lakehouse_pipes_step"
TRANSPORTS = ("file", "dbfs", "volumes")
LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error",
          logging.CRITICAL: "critical"}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lakehouse.pipes",
                                     description="Run one Dagster step of the lakehouse where a Pipes engine launched it.")
    parser.add_argument("--transport", choices=TRANSPORTS, default="file",
                        help="file: launched by PipesSubprocessClient; dbfs: a Databricks task on a cluster "
                             "(PipesDatabricksClient); volumes: a serverless Databricks task (PipesDatabricksServerlessClient)")
    # On an existing cluster or serverless, Pipes passes its parameters as --dagster-pipes-* arguments.
    args, _ = parser.parse_known_args(argv)
    from lakehouse.definitions import quiet_warnings  # the definitions import Spark; the parser above need not

    quiet_warnings()
    with _pipes(args.transport) as pipes:
        extras = dict(pipes.extras)
        # The orchestrator's settings; what they leave out (secrets) comes from this process's environment.
        settings = LakehouseSettings.from_env({**os.environ, **extras["settings"], ENGINE_VARIABLE: "local"})
        if args.transport != "file":
            _adopt_cluster_session(settings)
        pipes.log.info(f"lakehouse.pipes: running {', '.join(extras['assets']) or 'checks'} in process {os.getpid()} "
                       f"on {socket.gethostname()} ({args.transport} transport)")
        for payload in run_step(settings, extras, pipes):
            pipes.report_custom_message(payload)


@contextmanager
def _pipes(transport: str) -> Iterator[PipesContext]:
    cli = DAGSTER_PIPES_CONTEXT_CLI_ARGUMENT in sys.argv
    params_loader = PipesCliArgsParamsLoader() if cli else PipesEnvVarParamsLoader()
    if transport == "dbfs":
        opened = open_dagster_pipes(params_loader=params_loader, context_loader=PipesDbfsContextLoader(),
                                    message_writer=PipesDbfsMessageWriter())
    elif transport == "volumes":
        opened = open_dagster_pipes(params_loader=params_loader, context_loader=PipesUnityCatalogVolumesContextLoader(),
                                    message_writer=PipesUnityCatalogVolumesMessageWriter())
    else:
        opened = open_dagster_pipes(params_loader=params_loader)
    with opened as pipes:
        yield pipes


def _adopt_cluster_session(settings: LakehouseSettings) -> None:
    from pyspark.sql import SparkSession

    from lakehouse.resources.spark import LAKEHOUSE_CONF

    # The cluster's session, classic or Spark Connect (serverless compute serves Python through Spark Connect, where
    # the builder alone would ask for a URL); SparkResource then finds it active.
    session = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    for key, value in {**LAKEHOUSE_CONF, **settings.spark_conf}.items():
        if session.conf.isModifiable(key):
            session.conf.set(key, value)


def run_step(settings: LakehouseSettings, extras: Mapping[str, Any], pipes: PipesContext | None = None) -> list[dict]:
    """Run the step the extras describe on ``settings``; the messages for the step asset (see the module docstring)."""
    from lakehouse.definitions import build_definitions  # the definitions import Spark; the parser above need not

    lakehouse = build_definitions(settings)
    assets = [dg.AssetKey.from_user_string(key) for key in extras["assets"]]
    checks = [dg.AssetCheckKey.from_user_string(key) for key in extras["checks"]]
    selection = dg.AssetSelection.assets(*assets).without_checks() | dg.AssetSelection.checks(*checks)
    job = dg.define_asset_job(STEP_JOB, selection=selection)
    step_defs = dg.Definitions(assets=lakehouse.assets, asset_checks=lakehouse.asset_checks, jobs=[job],
                               resources=lakehouse.resources, executor=dg.in_process_executor)
    tags: dict[str, str] = {}
    if extras.get("partitions"):
        start, end = extras["partitions"]
        tags = {ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end}
    # The orchestrator's run log gets the step's own lines (below); the inner run's events stay off the console.
    run_config = {**_run_config(lakehouse, assets, extras.get("op_config")),
                  "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        for serialized in extras.get("latest_materializations", []):
            instance.report_runless_asset_event(dg.deserialize_value(serialized, dg.AssetMaterialization))
        result = step_defs.resolve_job_def(STEP_JOB).execute_in_process(
            instance=instance, tags=tags, run_config=run_config, raise_on_error=False, run_id=extras.get("run_id"))
        run = instance.get_run_by_id(result.run_id)
        added = {k: v for k, v in (run.tags if run else {}).items() if k not in tags and not k.startswith(("dagster/", ".dagster"))}
        if pipes is not None:
            _forward_logs(instance, result.run_id, pipes)
    payloads = [messages.materialization(e.step_materialization_data.materialization)
                for e in result.get_asset_materialization_events()]
    payloads += [messages.check(evaluation) for evaluation in result.get_asset_check_evaluations()]
    if added:
        payloads.append(messages.run_tags(added))
    payloads += [messages.failure(event.step_key or STEP_JOB, _error_message(event)) for event in result.all_events
                 if event.is_step_failure]
    if not result.success and not any(event.is_step_failure for event in result.all_events):
        failed = [e for e in result.all_events if e.is_run_failure]
        payloads.append(messages.failure(STEP_JOB, failed[0].message if failed and failed[0].message else "the run failed"))
    return payloads


def _run_config(lakehouse: dg.Definitions, assets: list[dg.AssetKey], op_config: Any) -> dict:
    """The step's op config (e.g. gdpr_erasure's) for the op that computes ``assets``."""
    if op_config is None:
        return {}
    for definition in lakehouse.assets or []:
        if isinstance(definition, dg.AssetsDefinition) and set(assets) & set(definition.keys):
            return {"ops": {definition.node_def.name: {"config": op_config}}}
    return {}


def _error_message(event: dg.DagsterEvent) -> str:
    data = event.step_failure_data
    if data is None or data.error is None:
        return event.message or "failed"
    error = data.error
    while error.cause is not None and error.cls_name in ("DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"):
        error = error.cause
    return error.message.strip()


def _forward_logs(instance: dg.DagsterInstance, run_id: str, pipes: PipesContext) -> None:
    """The inner run's log lines (not its events), so the orchestrator's run log shows what the step said."""
    for entry in instance.all_logs(run_id):
        level = logging.getLevelName(entry.level) if isinstance(entry.level, str) else entry.level
        if entry.is_dagster_event or not isinstance(level, int) or level < logging.INFO or not entry.user_message:
            continue
        getattr(pipes.log, LEVELS.get(level, "info"))(f"[{entry.step_key or STEP_JOB}] {entry.user_message}")
