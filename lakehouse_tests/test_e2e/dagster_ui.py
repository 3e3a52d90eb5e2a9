"""A running ``dagster dev`` as the UI sees it: GraphQL over HTTP, and waiting until the code location loaded."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

LOCATION = "lakehouse"

WORKSPACE_QUERY = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } }
    }
    ... on PythonError { message }
  }
}
"""
RUNS_QUERY = """
query Runs($filter: RunsFilter!) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { results { runId status assetSelection { path } tags { key value } } }
    ... on Error { message }
  }
}
"""
BACKFILL_QUERY = """
query Backfill($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill { status partitionNames error { message } }
    ... on Error { message }
  }
}
"""
# Tags Dagster puts on backfill runs (shown on the run page of the UI).
BACKFILL_TAG = "dagster/backfill"
RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
# BulkActionStatus: asset backfills end COMPLETED_SUCCESS or COMPLETED_FAILED, job backfills COMPLETED (or FAILED).
BACKFILL_SUCCEEDED = {"COMPLETED_SUCCESS", "COMPLETED"}
BACKFILL_FAILED = {"COMPLETED_FAILED", "FAILED", "FAILING", "CANCELED", "CANCELING"}

# Straight to 127.0.0.1, whatever *_proxy variables say.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class GraphQLError(Exception):
    """The webserver answered, but not with data (HTTP error or GraphQL ``errors``)."""


@dataclass
class DagsterUI:
    """A ``dagster dev`` started by a test: its GraphQL URL, the file its output goes to, and its process."""

    url: str
    log: Path
    process: subprocess.Popen

    def graphql(self, query: str, **variables) -> dict:
        """The ``data`` of the answer to ``query``; raises :class:`GraphQLError` otherwise."""
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with _LOCAL.open(request, timeout=60) as response:
                payload = json.load(response)
        except urllib.error.HTTPError as error:
            raise GraphQLError(f"HTTP {error.code}: {error.read().decode(errors='replace')[:2000]}") from error
        if payload.get("errors"):
            raise GraphQLError(json.dumps(payload["errors"], indent=1)[:2000])
        return payload["data"]

    def log_tail(self, lines: int = 60) -> str:
        """The end of the ``dagster dev`` output, for assertion messages."""
        text = self.log.read_bytes().decode(errors="replace").splitlines()[-lines:]
        return "\n--- dagster dev log (tail) ---\n" + "\n".join(text)

    def wait_until_loaded(self, timeout: float) -> None:
        """Until GraphQL answers and the code location is loaded; fails on a load error or after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        last: object = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"dagster dev exited with code {self.process.returncode}{self.log_tail()}")
            try:
                workspace = self.graphql(WORKSPACE_QUERY)["workspaceOrError"]
            except (OSError, GraphQLError) as error:  # not listening yet, or still starting
                last = error
            else:
                entry = next((e for e in workspace.get("locationEntries", []) if e["name"] == LOCATION), None)
                last = entry or workspace
                if entry and entry["loadStatus"] == "LOADED":
                    loaded = entry["locationOrLoadError"]
                    if loaded and loaded["__typename"] == "RepositoryLocation":
                        return
                    pytest.fail(f"code location {LOCATION!r} did not load: {loaded}{self.log_tail()}")
            time.sleep(1)
        pytest.fail(f"code location {LOCATION!r} not loaded after {timeout} s: {last}{self.log_tail()}")

    def wait_for_backfill(self, backfill_id: str, timeout: float) -> None:
        """Until the backfill daemon marks the backfill done; fails fast if it fails or is canceled."""
        deadline = time.monotonic() + timeout
        backfill: dict = {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"dagster dev exited with code {self.process.returncode}{self.log_tail()}")
            backfill = self.graphql(BACKFILL_QUERY, backfillId=backfill_id)["partitionBackfillOrError"]
            assert backfill["__typename"] == "PartitionBackfill", backfill
            if backfill["status"] in BACKFILL_SUCCEEDED:
                return
            if backfill["status"] in BACKFILL_FAILED:
                pytest.fail(f"backfill {backfill_id} ended {backfill['status']}: {backfill['error']}{self.log_tail()}")
            time.sleep(2)
        pytest.fail(f"backfill {backfill_id} not done after {timeout} s: {backfill}{self.log_tail()}")

    def backfill_runs(self, backfill_id: str) -> list[dict]:
        """The runs the backfill launched (``runId``, ``status``, ``assetSelection``, ``tags``), newest first."""
        runs = self.graphql(RUNS_QUERY, filter={"tags": [{"key": BACKFILL_TAG, "value": backfill_id}]})["runsOrError"]
        assert runs["__typename"] == "Runs", runs
        return runs["results"]


