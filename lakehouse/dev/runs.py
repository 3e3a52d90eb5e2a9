"""Runs a stopped dev session left *in progress* are marked canceled, as the UI's force termination does.

A run worker that ends on Ctrl-C writes its own end (``FAILURE``, "Execution was interrupted").
One that is killed after the grace period cannot, and nothing else will: Dagster's run monitoring
cannot check the health of a run worker started by the default run launcher, so the run would
show *Started* forever. :func:`cancel_runs` does what *Terminate → Force termination* does in
the UI (``DagsterInstance.report_run_canceled``), for the runs started through this session's
code servers only: the default run launcher tags each run with the address of the code server
that runs it, and another process using the same ``DAGSTER_HOME`` has other addresses.

Example::

    instance = instance_from_env()                               # when the session starts
    ...
    addresses = code_server_addresses(report.stopped.values())   # {"/tmp/tmpa4r7euv4", ...}
    cancel_runs(instance, addresses, "stopped with make dev")    # ["8c472bc1-...", ...]
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Set

import dagster as dg

from lakehouse.dev.processes import Proc

IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
# Set by DefaultRunLauncher on every run it starts: {"host": ..., "socket": ...} or {..., "port": ...}.
# dagster does not export the name (dagster._core.storage.tags.GRPC_INFO_TAG).
GRPC_INFO_TAG = ".dagster/grpc_info"
_ADDRESS_OPTIONS = ("--socket", "--port")


def code_server_addresses(processes: Iterable[Proc]) -> set[str]:
    """The ``--socket`` paths and ``--port`` numbers the code servers among ``processes`` listen on."""
    addresses = set()
    for proc in processes:
        if "code-server" in proc.argv or "grpc" in proc.argv:
            addresses |= {value for option, value in zip(proc.argv, proc.argv[1:]) if option in _ADDRESS_OPTIONS}
    return addresses


def instance_from_env() -> dg.DagsterInstance | None:
    """The instance of ``$DAGSTER_HOME``, or ``None`` (``dagster dev`` then keeps its runs in a temporary one).

    Open it when the session starts: loading it takes about a second, which Ctrl-C should not wait for.
    """
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None


def cancel_runs(instance: dg.DagsterInstance | None, addresses: Set[str], message: str) -> list[str]:
    """Mark canceled the in-progress runs of ``instance`` started through ``addresses``; their ids."""
    if instance is None or not addresses:
        return []
    canceled = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        if _address(run.tags.get(GRPC_INFO_TAG)) in addresses:
            instance.report_run_canceled(run, message=message)
            canceled.append(run.run_id)
    return canceled


def _address(grpc_info: str | None) -> str | None:
    try:
        info = json.loads(grpc_info or "{}")
    except json.JSONDecodeError:
        return None
    address = info.get("socket") or info.get("port")
    return None if address is None else str(address)
