"""Run several jobs of ``lakehouse.definitions`` one after another in one process: one Spark application for them all.

``python -m lakehouse_tests.test_cluster.run_jobs '[["sales_pipeline", {tags}], ["customer_dimension", null]]'``
loads the definitions from the ``LAKEHOUSE_*`` variables, as ``dagster job execute -m lakehouse.definitions`` does,
runs each job on the ``DAGSTER_HOME`` instance with its tags, and prints one JSON line as its last:
``{job: {"success": bool, "failure": message or null}}``. Exit status 0 when every run succeeded, 1 otherwise.

The cluster test runs its three jobs this way instead of three ``dagster job execute`` processes: each of those is a
driver JVM and an executor JVM of its own on the worker, which on the suite's two cores cost more than the runs'
work (measured in the README's *How long the suite takes*). The runs, their settings and their instance are the same.
"""

from __future__ import annotations

import json
import sys

import dagster as dg

from lakehouse.definitions import build_definitions, quiet_warnings
from lakehouse.settings import LakehouseSettings


def main(argv: list[str]) -> int:
    quiet_warnings()
    plan: list[tuple[str, dict[str, str] | None]] = json.loads(argv[0])
    defs = build_definitions(LakehouseSettings.from_env())
    outcome = {}
    with dg.DagsterInstance.get() as instance:
        for job, tags in plan:
            result = defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags, raise_on_error=False)
            steps = [f"{e.step_key}: {e.step_failure_data.error.message if e.step_failure_data.error else e.message}"
                     for e in result.all_events if e.is_step_failure]
            failure = None if result.success else "; ".join(steps) or result.get_run_failure_event().message
            outcome[job] = {"success": result.success, "failure": failure}
    print(json.dumps(outcome))
    return 0 if all(run["success"] for run in outcome.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
