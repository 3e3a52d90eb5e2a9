"""What the Pipes entry point hands back to the step asset, as Pipes custom messages.

Pipes' own ``report_asset_materialization`` and ``report_asset_check`` carry one result per asset
and no partition, but a single-run backfill materializes each day with its own row count and the
partitioned checks evaluate each day separately (:mod:`lakehouse.checks.partitioned`). So the
entry point sends Dagster's own events, serialized with Dagster's serdes, one custom message each:

- ``{"kind": "materialization", "event": <AssetMaterialization>}`` per asset and partition;
- ``{"kind": "check", "event": <AssetCheckEvaluation>}`` per check and partition;
- ``{"kind": "run_tags", "tags": {...}}``: tags the step added to its run (e.g. an erasure's reason);
- ``{"kind": "failure", "step": ..., "message": ...}`` per failed step of the inner run.

Example::

    payload = materialization(dg.AssetMaterialization(["bronze", "sales"], partition="2025-01-01"))
    Outcome.of([payload]).materializations   # {AssetKey(['bronze', 'sales']): {'2025-01-01': ...}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from dagster_shared.record import copy

MATERIALIZATION, CHECK, RUN_TAGS, FAILURE = "materialization", "check", "run_tags", "failure"


def materialization(event: dg.AssetMaterialization) -> dict[str, Any]:
    return {"kind": MATERIALIZATION, "event": dg.serialize_value(event)}


def check(evaluation: AssetCheckEvaluation) -> dict[str, Any]:
    # The inner run's materialization ids mean nothing to the orchestrator's instance: the step asset re-targets.
    return {"kind": CHECK, "event": dg.serialize_value(copy(evaluation, target_materialization_data=None))}


def run_tags(tags: Mapping[str, str]) -> dict[str, Any]:
    return {"kind": RUN_TAGS, "tags": dict(tags)}


def failure(step: str, message: str) -> dict[str, Any]:
    return {"kind": FAILURE, "step": step, "message": message}


@dataclass
class Outcome:
    """Everything one remote step reported, in order."""

    materializations: dict[dg.AssetKey, dict[str | None, dg.AssetMaterialization]] = field(default_factory=dict)
    checks: list[AssetCheckEvaluation] = field(default_factory=list)
    run_tags: dict[str, str] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, payloads: Iterable[Any]) -> Outcome:
        outcome = cls()
        for payload in payloads:
            kind = payload.get("kind") if isinstance(payload, dict) else None
            if kind == MATERIALIZATION:
                event = dg.deserialize_value(payload["event"], dg.AssetMaterialization)
                outcome.materializations.setdefault(event.asset_key, {})[event.partition] = event
            elif kind == CHECK:
                outcome.checks.append(dg.deserialize_value(payload["event"], AssetCheckEvaluation))
            elif kind == RUN_TAGS:
                outcome.run_tags.update(payload["tags"])
            elif kind == FAILURE:
                outcome.failures.append((payload["step"], payload["message"]))
            else:
                raise ValueError(f"unknown message from the Pipes entry point: {payload!r}")
        return outcome
