"""The latest status of every asset check, from a Dagster instance's event log (or "never run" without one).

A partitioned check (the daily tables' checks) has a latest result per partition: its status is
the worst of them (failed > execution failed > warning > in progress > skipped > passed), with
how many partitions passed and which did not. An unpartitioned check has one latest result.
Statuses are those of Dagster's UI: an evaluation that did not pass is *failed* with severity
ERROR and *warning* with WARN; a planned check whose run ended without evaluating it is
*skipped*, or *execution failed* when that run failed; one whose run still goes is *in progress*.

Example::

    with dg.DagsterInstance.get() as instance:
        statuses = check_statuses(instance, asset_graph.asset_check_keys)
    statuses[key].status      # 'passed', or NEVER_RUN.status ('never run') for a check with no execution
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Recorded

PASSED, WARNING, FAILED = "passed", "warning", "failed"
EXECUTION_FAILED, IN_PROGRESS, SKIPPED, NEVER_RUN_STATUS = "execution failed", "in progress", "skipped", "never run"
# Worst first: a check's status is the worst of its partitions'.
SEVERITY_ORDER = (FAILED, EXECUTION_FAILED, WARNING, IN_PROGRESS, SKIPPED, PASSED, NEVER_RUN_STATUS)
FAILED_HISTORY = 200  # failed executions read per failing check, for each failing partition's severity and message


@dataclass(frozen=True)
class CheckStatus:
    """A check's latest status; for a partitioned check, folded over its partitions (``partitions``: each one's)."""

    status: str
    partitions: Mapping[str, str]  # partition key -> status; empty for an unpartitioned check
    evaluated_at: datetime | None = None  # UTC time of the latest evaluation (any partition)
    detail: str = ""  # the latest evaluation's description; for a failing check, its failing one's

    @property
    def partitions_passed(self) -> int:
        return sum(s == PASSED for s in self.partitions.values())

    @property
    def not_passed(self) -> dict[str, str]:
        """The partitions whose latest result is not *passed*, with their status."""
        return {p: s for p, s in self.partitions.items() if s != PASSED}


NEVER_RUN = CheckStatus(NEVER_RUN_STATUS, {})


def worst(statuses: Iterable[str]) -> str:
    """The worst of ``statuses`` (see :data:`SEVERITY_ORDER`); *never run* when there are none."""
    return min(statuses, key=SEVERITY_ORDER.index, default=NEVER_RUN_STATUS)


def check_statuses(instance: dg.DagsterInstance | None, keys: Iterable[dg.AssetCheckKey]) -> dict[dg.AssetCheckKey, CheckStatus]:
    """The latest status of each check of ``keys``; :data:`NEVER_RUN` for those without an execution (or no instance)."""
    keys = sorted(set(keys), key=lambda k: (k.asset_key.to_user_string(), k.name))
    if instance is None or not keys:
        return dict.fromkeys(keys, NEVER_RUN)
    storage = instance.event_log_storage
    infos = storage.get_asset_check_partition_info(list(keys))
    planned = sorted({i.latest_planned_run_id for i in infos if i.latest_execution_status == Recorded.PLANNED})
    runs = {run.run_id: run for run in instance.get_runs(dg.RunsFilter(run_ids=planned))} if planned else {}
    latest = storage.get_latest_asset_check_execution_by_key(list(keys))

    by_key: dict[dg.AssetCheckKey, dict[str | None, str]] = {}
    for info in infos:
        if info.latest_execution_status == Recorded.SUCCEEDED:
            status = PASSED
        elif info.latest_execution_status == Recorded.FAILED:
            status = FAILED  # WARN or ERROR: read below, for the failing checks only
        else:
            run = runs.get(info.latest_planned_run_id)
            status = (SKIPPED if run is None or (run.is_finished and run.status != dg.DagsterRunStatus.FAILURE)
                      else EXECUTION_FAILED if run.is_finished else IN_PROGRESS)
        by_key.setdefault(info.check_key, {})[info.partition_key] = status

    statuses = {}
    for key in keys:
        partitions = by_key.get(key)
        if not partitions:
            statuses[key] = NEVER_RUN
            continue
        record = latest.get(key)
        evaluation = record.evaluation if record else None
        # A check that was planned but not (yet) evaluated has an AssetCheckEvaluationPlanned here, without a description.
        detail = (getattr(evaluation, "description", None) or "") if evaluation else ""
        if FAILED in partitions.values():
            partitions, detail = _failures_by_severity(storage, key, partitions) or (partitions, detail)
        when = datetime.fromtimestamp(record.event.timestamp, UTC) if record and record.event else None
        statuses[key] = CheckStatus(
            worst(partitions.values()),
            {} if set(partitions) == {None} else {p: s for p, s in sorted(partitions.items()) if p is not None},
            when, detail,
        )
    return statuses


def _failures_by_severity(storage, key: dg.AssetCheckKey, partitions: Mapping[str | None, str]) -> tuple[dict[str | None, str], str] | None:
    """Each failed partition as *failed* (ERROR) or *warning* (WARN), from its latest failed evaluation, and that
    evaluation's message (an ERROR one first); a failure older than :data:`FAILED_HISTORY` executions stays *failed*."""
    history = storage.get_asset_check_execution_history(key, limit=FAILED_HISTORY, status={Recorded.FAILED})
    found: dict[str | None, dg.AssetCheckEvaluation] = {}
    for record in history:  # newest first
        if record.evaluation is not None and record.partition not in found:
            found[record.partition] = record.evaluation
    if not found:
        return None
    updated = dict(partitions)
    messages = []
    for partition, status in partitions.items():
        evaluation = found.get(partition)
        if status == FAILED and evaluation is not None:
            if evaluation.severity == dg.AssetCheckSeverity.WARN:
                updated[partition] = WARNING
            prefix = f"[{partition}] " if partition else ""
            messages.append((evaluation.severity != dg.AssetCheckSeverity.ERROR, partition or "", prefix + (evaluation.description or "")))
    return updated, min(messages)[2] if messages else ""


__all__ = ["EXECUTION_FAILED", "FAILED", "IN_PROGRESS", "NEVER_RUN", "NEVER_RUN_STATUS", "PASSED", "SEVERITY_ORDER",
           "SKIPPED", "WARNING", "CheckStatus", "check_statuses", "worst"]
