"""The Pipes engines: where a step asset's work runs (the ``engine`` resource).

- :class:`SubprocessEngine` (``LAKEHOUSE_ENGINE=pipes-subprocess``): ``python -m lakehouse.pipes`` in a
  new process on this machine through ``dg.PipesSubprocessClient``; the settings travel in the extras.
- :class:`DatabricksEngine` (``LAKEHOUSE_ENGINE=databricks``): a one-time Databricks job run per step
  through ``PipesDatabricksClient`` (a cluster, new or existing) or ``PipesDatabricksServerlessClient``,
  running the wheel of this repository (:mod:`lakehouse.pipes.release`). Host and token are
  ``dg.EnvVar("DATABRICKS_HOST")`` and ``dg.EnvVar("DATABRICKS_TOKEN")``; the rest comes from
  ``LAKEHOUSE_DATABRICKS_*`` variables (:meth:`DatabricksEngine.from_env`).

Example::

    SubprocessEngine().run(context=context, extras=step_extras(context, settings)).get_custom_messages()
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_pipes import PipesDefaultMessageWriter, PipesParams
from pydantic import Field

from lakehouse.settings import PROJECT_ROOT, number_from, switch_from

if TYPE_CHECKING:  # dagster-databricks and the Databricks SDK take 1.7 s to import: only the Databricks engine does
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service import jobs

ENTRY_MODULE = "lakehouse.pipes"
SERVERLESS_ENVIRONMENT = "lakehouse"
SERVERLESS_ENVIRONMENT_VERSION = "2"
MESSAGES_FILE = "messages.jsonl"
POLL_SECONDS = 0.01


class PipesEngine(dg.ConfigurableResource):
    """Runs one step's Pipes entry point somewhere and returns the completed Pipes invocation."""

    @property
    def name(self) -> str:
        raise NotImplementedError

    def run(self, *, context: dg.AssetExecutionContext, extras: dict[str, Any]) -> dg.PipesClientCompletedInvocation:
        raise NotImplementedError


class SubprocessEngine(PipesEngine):
    """``python -m lakehouse.pipes`` in a subprocess of the run, with this interpreter (the project's venv)."""

    python: str = Field(default="", description="Interpreter that runs the entry point; empty for the run's own.")
    env: dict[str, str] = Field(default_factory=dict, description="Variables added to the subprocess's environment.")

    @property
    def name(self) -> str:
        return "pipes-subprocess"

    def run(self, *, context: dg.AssetExecutionContext, extras: dict[str, Any]) -> dg.PipesClientCompletedInvocation:
        command = [self.python or sys.executable, "-m", ENTRY_MODULE, "--transport", "file"]
        client = dg.PipesSubprocessClient(cwd=str(PROJECT_ROOT), message_reader=WholeLineFileMessageReader())
        return client.run(context=context, extras=extras, command=command, env=self.env)


class WholeLineFileMessageReader(dg.PipesMessageReader):
    """Reads the Pipes messages the subprocess appends to a temporary file, one whole line at a time.

    Dagster's own ``PipesTempFileMessageReader`` parses whatever ``readline()`` returns, and at the end of
    the file that can be the first part of a message still being written (a message larger than the
    writer's buffer reaches the file in pieces): ``json.loads`` fails with "Unterminated string", the reader
    thread dies, and the step reports "did not yield expected outputs" although its tables were written.
    This reader keeps an unterminated tail until its newline arrives; once the subprocess has exited, a
    tail that never got one is reported as a Pipes framework error naming the file, not dropped.
    """

    @contextmanager
    def read_messages(self, handler: dg.PipesMessageHandler) -> Iterator[PipesParams]:
        with tempfile.TemporaryDirectory(prefix="lakehouse-pipes-") as folder:
            path = os.path.join(folder, MESSAGES_FILE)
            open(path, "w", encoding="utf-8").close()
            closed = threading.Event()
            thread = threading.Thread(target=self._read, args=(path, handler, closed.is_set), daemon=True)
            thread.start()
            try:
                yield {PipesDefaultMessageWriter.FILE_PATH_KEY: path,
                       PipesDefaultMessageWriter.INCLUDE_STDIO_IN_MESSAGES_KEY: False}
            finally:
                closed.set()
                thread.join()

    def _read(self, path: str, handler: dg.PipesMessageHandler, closed: Callable[[], bool]) -> None:
        try:
            for line in whole_lines(path, closed):
                handler.handle_message(json.loads(line))
        except Exception:
            handler.report_pipes_framework_exception(f"{type(self).__name__} reader thread of {path}", sys.exc_info())

    def no_messages_debug_text(self) -> str:
        return "Attempted to read messages from a temporary file (lakehouse-pipes-*/messages.jsonl)."


def whole_lines(path: str, closed: Callable[[], bool]) -> Iterator[str]:
    """Yield each newline-terminated line appended to ``path`` until ``closed()`` and the file is drained.

    A last line without its newline once ``closed()`` raises ``ValueError`` naming the file and its size:
    the writer stopped mid-message.
    """
    pending = ""
    with open(path, encoding="utf-8") as stream:
        while True:
            finished = closed()  # asked before reading, so whatever was written before it is read below
            chunk = stream.read()
            if chunk:
                pending += chunk
                *lines, pending = pending.split("\n")
                yield from (line for line in lines if line.strip())
            elif finished:
                break
            else:
                time.sleep(POLL_SECONDS)
    if pending.strip():
        raise ValueError(f"{path}: the last Pipes message ({len(pending)} characters) has no end of line; "
                         "the entry point stopped while writing it (see the step's stderr)")


class DatabricksEngine(PipesEngine):
    """Each step as a one-time Databricks job run of the lakehouse wheel (Jobs API ``runs/submit``).

    Compute, in order of precedence: ``serverless`` (needs ``volume`` for Pipes' files and the
    release), ``cluster_id`` (an existing all-purpose cluster), else a new job cluster of
    ``spark_version``, ``node_type_id`` and ``num_workers``. On a new cluster the step's environment
    gets ``LAKEHOUSE_PII_KEY`` from the secret ``pii_key_secret`` (``scope/key``); an existing
    cluster must have it in its own environment.
    """

    host: str = Field(description="Workspace URL, e.g. https://adb-123.4.azuredatabricks.net")
    token: str = Field(description="Personal access token or service principal token (use dg.EnvVar).")
    cluster_id: str = Field(default="", description="Existing cluster to run on; empty for a new job cluster.")
    spark_version: str = Field(default="17.3.x-scala2.13", description="Runtime of a new job cluster (Spark 4).")
    node_type_id: str = Field(default="", description="Node type of a new job cluster, e.g. i3.xlarge.")
    num_workers: int = Field(default=1, description="Workers of a new job cluster.")
    serverless: bool = Field(default=False, description="Run on serverless jobs compute instead of a cluster.")
    volume: str = Field(default="", description="Unity Catalog volume path (/Volumes/...) for serverless runs.")
    release_folder: str = Field(default="dbfs:/lakehouse/releases",
                                description="Where the wheel and entry script are uploaded (serverless: under the volume).")
    pii_key_secret: str = Field(default="lakehouse/pii_key", description="Secret scope/key holding LAKEHOUSE_PII_KEY.")
    timeout_seconds: int = Field(default=3600, description="Longest a step's job run may take.")
    poll_interval_seconds: float = Field(default=5.0, description="How often the run's state is asked for.")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DatabricksEngine:
        """Host and token as ``dg.EnvVar`` (the UI shows the variables' names), the rest from ``LAKEHOUSE_DATABRICKS_*``."""
        env = os.environ if env is None else env
        serverless = switch_from(env, "LAKEHOUSE_DATABRICKS_SERVERLESS", default=False)
        volume = env.get("LAKEHOUSE_DATABRICKS_VOLUME", "")
        return cls(
            host=dg.EnvVar("DATABRICKS_HOST"),  # type: ignore[arg-type]  # resolved when the run starts
            token=dg.EnvVar("DATABRICKS_TOKEN"),  # type: ignore[arg-type]
            cluster_id=env.get("LAKEHOUSE_DATABRICKS_CLUSTER_ID", ""),
            spark_version=env.get("LAKEHOUSE_DATABRICKS_SPARK_VERSION", "17.3.x-scala2.13"),
            node_type_id=env.get("LAKEHOUSE_DATABRICKS_NODE_TYPE", ""),
            num_workers=number_from(env, "LAKEHOUSE_DATABRICKS_WORKERS", default=1, minimum=1),
            serverless=serverless,
            volume=volume,
            release_folder=env.get("LAKEHOUSE_DATABRICKS_RELEASES",
                                   f"{volume.rstrip('/')}/releases" if serverless else "dbfs:/lakehouse/releases"),
            pii_key_secret=env.get("LAKEHOUSE_DATABRICKS_PII_KEY_SECRET", "lakehouse/pii_key"),
            poll_interval_seconds=number_from(env, "LAKEHOUSE_DATABRICKS_POLL_SECONDS", default=5.0, minimum=0.1),
        )

    @property
    def name(self) -> str:
        return "databricks"

    def workspace(self) -> WorkspaceClient:
        from databricks.sdk import WorkspaceClient

        return WorkspaceClient(host=self.host, token=self.token)

    def task(self, step: str, wheel: str, entry: str) -> jobs.SubmitTask:
        """The job run's one task for ``step``: the entry script of the release, its wheel, and the compute."""
        from databricks.sdk.service import compute, jobs

        transport = "volumes" if self.serverless else "dbfs"
        python = jobs.SparkPythonTask(python_file=entry, parameters=["--transport", transport])
        key = re.sub(r"[^A-Za-z0-9_-]", "_", step)[:100]
        if self.serverless:
            if not self.volume.startswith("/Volumes/"):
                raise ValueError("serverless Databricks runs need LAKEHOUSE_DATABRICKS_VOLUME=/Volumes/<catalog>/<schema>/<volume>")
            return jobs.SubmitTask(task_key=key, spark_python_task=python, environment_key=SERVERLESS_ENVIRONMENT,
                                   timeout_seconds=self.timeout_seconds)
        library = [compute.Library(whl=wheel)]
        if self.cluster_id:
            return jobs.SubmitTask(task_key=key, spark_python_task=python, existing_cluster_id=self.cluster_id,
                                   libraries=library, timeout_seconds=self.timeout_seconds)
        if not self.node_type_id:
            raise ValueError("a new Databricks job cluster needs LAKEHOUSE_DATABRICKS_NODE_TYPE (e.g. i3.xlarge), or set "
                             "LAKEHOUSE_DATABRICKS_CLUSTER_ID or LAKEHOUSE_DATABRICKS_SERVERLESS=on")
        scope, _, key_name = self.pii_key_secret.partition("/")
        cluster = compute.ClusterSpec(
            spark_version=self.spark_version, node_type_id=self.node_type_id, num_workers=self.num_workers,
            spark_env_vars={"LAKEHOUSE_PII_KEY": f"{{{{secrets/{scope}/{key_name}}}}}"},
        )
        return jobs.SubmitTask(task_key=key, spark_python_task=python, new_cluster=cluster, libraries=library,
                               timeout_seconds=self.timeout_seconds)

    def submit_args(self, run_name: str, wheel: str) -> dict[str, Any]:
        """Arguments of ``WorkspaceClient.jobs.submit`` besides the task (serverless: the environment with the wheel)."""
        from databricks.sdk.service import compute, jobs

        args: dict[str, Any] = {"run_name": run_name, "timeout_seconds": self.timeout_seconds}
        if self.serverless:
            args["environments"] = [jobs.JobEnvironment(
                environment_key=SERVERLESS_ENVIRONMENT,
                spec=compute.Environment(environment_version=SERVERLESS_ENVIRONMENT_VERSION, dependencies=[wheel]))]
        return args

    def run(self, *, context: dg.AssetExecutionContext, extras: dict[str, Any]) -> dg.PipesClientCompletedInvocation:
        from dagster_databricks.pipes import PipesDatabricksClient, PipesDatabricksServerlessClient

        from lakehouse.pipes.dbfs import WholeChunkDbfsMessageReader
        from lakehouse.pipes.release import build, upload

        workspace = self.workspace()
        release = upload(build(), workspace, self.release_folder)
        step = context.op_execution_context.op.name
        task = self.task(step, release.wheel, release.entry)
        submit_args = self.submit_args(f"lakehouse {step} (Dagster run {context.run.run_id[:8]})", release.wheel)
        if self.serverless:
            client: Any = PipesDatabricksServerlessClient(client=workspace, volume_path=self.volume,
                                                          poll_interval_seconds=self.poll_interval_seconds)
        else:
            client = PipesDatabricksClient(client=workspace, poll_interval_seconds=self.poll_interval_seconds,
                                           message_reader=WholeChunkDbfsMessageReader(client=workspace))
        return client.run(context=context, extras=extras, task=task, submit_args=submit_args)
