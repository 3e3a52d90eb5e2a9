"""A local stand-in for the Jobs API 2.x and DBFS API 2.0 subset that ``PipesDatabricksClient`` uses. Not Databricks.

It serves, on ``http://127.0.0.1:<free port>``, exactly the calls that databricks-sdk 0.60's
``WorkspaceClient`` makes for a Pipes step (read from ``databricks/sdk/service/jobs.py``, ``files.py``
and ``mixins/files.py``): ``WorkspaceClient(host=..., token=...)`` itself calls nothing.

- ``/api/2.0/dbfs/{mkdirs,put,create,add-block,close,get-status,read,list,delete}`` over a folder on disk:
  base64 contents, the 1 MB block and read limits (a read without ``length`` returns at most 0.5 MB),
  errors as ``{"error_code": ..., "message": ...}`` (404 ``RESOURCE_DOES_NOT_EXIST``, which the SDK
  raises as ``NotFound``).
- ``/api/2.2/jobs/runs/{submit,get,cancel}``: submit records the raw body (:attr:`DatabricksStandIn.submissions`)
  and refuses with 400 a body that ``JobsAPI.submit``'s own types (``SubmitTask``, ``JobEnvironment``, ...)
  do not carry unchanged, then runs its one ``spark_python_task`` on a ``new_cluster``.
- Every request must carry ``Authorization: Bearer <token>``; any other gets 401.

A run: PENDING while each ``whl`` library is installed into ``<run folder>/site`` (``uv pip install --no-deps
--target``); RUNNING while the task's script runs in a subprocess of this machine's Python, with ``site``
first on ``PYTHONPATH``, the task's parameters as its arguments and the cluster's ``spark_env_vars`` in its
environment (``{{secrets/<scope>/<key>}}`` resolved from the secrets given to the stand-in; a missing one
fails the run as a cluster launch does: INTERNAL_ERROR); then TERMINATED, SUCCESS or FAILED with the tail of
its stderr. The subprocess does not inherit this machine's ``LAKEHOUSE_*``, ``DATABRICKS_*`` or
``PYTHONPATH``: a cluster has only what the job gives it. As on a cluster, the script finds a SparkSession
already started, with the settings given to the stand-in and the ``spark.databricks.clusterUsageTags.*`` entries
``PipesDbfsMessageWriter`` reads: given ``spark_remote``, a session of that Spark Connect server, already warm, as
Databricks serverless and standard-access clusters serve Python through Spark Connect (the settings are set on it);
else embedded local Spark started in the task's process with the settings (e.g. Delta's), a cold JVM per task, as
a new job cluster starts cold. ``/dbfs`` is the DBFS folder (a symlink the stand-in makes and removes;
:class:`MountUnavailable` when it cannot).

Not emulated: Databricks itself. No cluster, no Databricks Runtime (its Spark version, Photon, Unity
Catalog, dbutils); the task runs with this machine's Python and Spark (a local Connect server or embedded). No dependency
resolution of libraries (a cluster installs a wheel's requirements from PyPI; here the venv has them).
No existing clusters, serverless, notebooks, multi-task runs, cluster log delivery, permissions or rate
limits, and no object-store semantics on ``/dbfs`` (a file written there is visible while being written).

Example::

    with DatabricksStandIn(tmp_path, token="t", secrets={"lakehouse/pii_key": "k"}, spark_remote="sc://...") as standin:
        WorkspaceClient(host=standin.host, token="t").jobs.submit(tasks=[task]).bind()["run_id"]
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from databricks.sdk.service import jobs

DBFS_MOUNT = Path("/dbfs")
MAX_BLOCK = 1024 * 1024
DEFAULT_READ = 512 * 1024
SECRET = re.compile(r"^\{\{secrets/([^/{}]+)/([^/{}]+)\}\}$")
NOT_ON_A_CLUSTER = ("LAKEHOUSE_", "DATABRICKS_", "DAGSTER_PIPES_", "PYTHONPATH")
SUBMIT_TYPES = {name: kind for name, kind in typing.get_type_hints(jobs.JobsAPI.submit).items() if name != "return"}
RUNTIME_SOURCE = '''"""The stand-in's cluster runtime: start the SparkSession a Databricks cluster provides, then run the task's script.

python runtime.py <cluster JSON file: {"remote": Spark Connect URL or null, "conf": settings}> <script> <parameters...>;
writes imports.json (the top-level modules the task imported from the run's installed libraries) into the working
directory.
"""
import json
import os
import runpy
import sys
from pathlib import Path

from pyspark.sql import SparkSession

settings, script, *parameters = sys.argv[1:]
cluster = json.loads(Path(settings).read_text())
if cluster["remote"]:  # the cluster serves Python through Spark Connect: its settings go on this client's session
    session = SparkSession.builder.remote(cluster["remote"]).getOrCreate()
    for key, value in cluster["conf"].items():
        session.conf.set(key, value)
else:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in cluster["conf"].items():
        builder = builder.config(key, value)
    builder.getOrCreate()
sys.argv, sys.path[0] = [script, *parameters], os.path.dirname(script)
site = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
try:
    runpy.run_path(script, run_name="__main__")
finally:
    files = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items()) if "." not in name}
    Path("imports.json").write_text(json.dumps(
        {name: file for name, file in files.items() if site and file and file.startswith(site + os.sep)}, sort_keys=True))
'''


class MountUnavailable(RuntimeError):
    """``/dbfs`` cannot be pointed at the stand-in's DBFS folder on this machine (tests skip, saying why)."""


class ApiError(Exception):
    """A Databricks REST error: HTTP status and the ``{"error_code", "message"}`` body the SDK parses."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class LaunchError(Exception):
    """The run could not start (missing secret or library): INTERNAL_ERROR, as a failed cluster launch."""


@dataclass(frozen=True)
class Call:
    """One request the stand-in received (``contents``/``data`` left out of ``params``)."""

    method: str
    path: str
    params: dict[str, Any]
    authorization: str


@dataclass
class StandInRun:
    """One submitted run and what became of it."""

    run_id: int
    task_run_id: int
    name: str
    task: dict[str, Any]
    folder: Path
    life_cycle_state: str = "PENDING"
    result_state: str | None = None
    state_message: str = ""
    secrets: dict[str, str] = field(default_factory=dict)  # environment variable -> scope/key it was given
    started: int = field(default_factory=lambda: int(time.time() * 1000))
    ended: int | None = None
    canceled: bool = False
    process: subprocess.Popen | None = None
    thread: threading.Thread | None = None

    def as_dict(self, host: str) -> dict[str, Any]:
        """The ``runs/get`` body: the fields ``PipesDatabricksClient`` reads (state, tasks, run page)."""
        state: dict[str, Any] = {"life_cycle_state": self.life_cycle_state, "state_message": self.state_message,
                                 "user_cancelled_or_timedout": self.canceled or self.result_state == "TIMEDOUT"}
        if self.result_state:
            state["result_state"] = self.result_state
        times = {"start_time": self.started, **({"end_time": self.ended} if self.ended else {})}
        task = {key: self.task[key] for key in ("task_key", "spark_python_task", "new_cluster", "libraries",
                                                "timeout_seconds") if key in self.task}
        return {"run_id": self.run_id, "run_name": self.name, "run_type": "SUBMIT_RUN", "state": copy.deepcopy(state),
                "run_page_url": f"{host}/#job/runs/{self.run_id}", **times,
                "tasks": [{**task, "run_id": self.task_run_id, "state": state, **times}]}


class DatabricksStandIn:
    """The HTTP stand-in (see the module docstring); a context manager that starts and stops it."""

    def __init__(self, root: Path, *, token: str, secrets: Mapping[str, str] | None = None,
                 spark_conf: Mapping[str, str] | None = None, spark_remote: str | None = None, mount: Path = DBFS_MOUNT):
        self.root, self.dbfs, self.mount = root, root / "dbfs", mount
        self.token = token
        self.secrets = dict(secrets or {})  # "scope/key" -> value
        self.spark_conf = dict(spark_conf or {})
        self.spark_remote = spark_remote
        self.calls: list[Call] = []
        self.unhandled: list[Call] = []
        self.submissions: list[dict[str, Any]] = []
        self.runs: dict[int, StandInRun] = {}
        self._handles: dict[int, tuple[Path, Path]] = {}
        self._ids = iter(range(1001, 10**9))
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._routes: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
            ("POST", "/api/2.0/dbfs/mkdirs"): self._mkdirs, ("POST", "/api/2.0/dbfs/put"): self._put,
            ("POST", "/api/2.0/dbfs/create"): self._create, ("POST", "/api/2.0/dbfs/add-block"): self._add_block,
            ("POST", "/api/2.0/dbfs/close"): self._close, ("GET", "/api/2.0/dbfs/get-status"): self._get_status,
            ("GET", "/api/2.0/dbfs/read"): self._read, ("GET", "/api/2.0/dbfs/list"): self._list,
            ("POST", "/api/2.0/dbfs/delete"): self._delete, ("POST", "/api/2.2/jobs/runs/submit"): self._submit,
            ("GET", "/api/2.2/jobs/runs/get"): self._get_run, ("POST", "/api/2.2/jobs/runs/cancel"): self._cancel,
        }

    @property
    def host(self) -> str:
        assert self._server is not None, "the stand-in is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> DatabricksStandIn:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Make ``/dbfs`` point at the DBFS folder, then serve on a free port of 127.0.0.1 in a thread."""
        self.dbfs.mkdir(parents=True, exist_ok=True)
        (self.root / "runtime.py").write_text(RUNTIME_SOURCE)
        self._mount()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="databricks-standin", daemon=True).start()

    def stop(self) -> None:
        """End every run still going, stop serving, remove the ``/dbfs`` link."""
        for run in list(self.runs.values()):
            self._terminate(run)
            if run.thread is not None:
                run.thread.join(timeout=60)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self.mount.is_symlink() and Path(os.readlink(self.mount)) == self.dbfs:
            self.mount.unlink()

    def _mount(self) -> None:
        marker = self.root / "standin.pid"  # beside the DBFS folder: tells a later stand-in whether this link is stale
        marker.write_text(str(os.getpid()))
        if self.mount.is_symlink() and _stale(Path(os.readlink(self.mount))):
            self.mount.unlink()  # left by a stand-in that was killed
        try:
            os.symlink(self.dbfs, self.mount, target_is_directory=True)
        except FileExistsError:
            raise MountUnavailable(f"{self.mount} exists and is not a link this stand-in made; the task's Pipes files "
                                   f"(PipesDbfsContextLoader/MessageWriter use /dbfs/<path>) need it") from None
        except PermissionError as error:
            raise MountUnavailable(f"cannot create the link {self.mount} (the DBFS mount the task uses): {error}") from None

    # The HTTP side: one JSON request, one JSON answer.
    def answer(self, method: str, url: str, authorization: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parsed = urlparse(url)
        params = {**{k: v[-1] for k, v in parse_qs(parsed.query).items()}, **body}
        call = Call(method, parsed.path, {k: v for k, v in params.items() if k not in ("contents", "data")}, authorization)
        with self._lock:
            self.calls.append(call)
        if authorization != f"Bearer {self.token}":
            return 401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."}
        route = self._routes.get((method, parsed.path))
        if route is None:
            with self._lock:
                self.unhandled.append(call)
            return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"the stand-in does not serve {method} {parsed.path}"}
        try:
            with self._lock:
                return 200, route(params)
        except ApiError as error:
            return error.status, {"error_code": error.code, "message": error.message}

    # DBFS API 2.0 over self.dbfs.
    def _local(self, path: Any) -> Path:
        if not isinstance(path, str) or not path.removeprefix("dbfs:").startswith("/"):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Path must be absolute: {path!r}")
        local = Path(os.path.normpath(self.dbfs / path.removeprefix("dbfs:").lstrip("/")))
        if local != self.dbfs and self.dbfs not in local.parents:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Path escapes DBFS: {path!r}")
        return local

    def _existing(self, path: Any) -> Path:
        local = self._local(path)
        if not local.exists():
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"No file or directory exists on path {path}.")
        return local

    def _info(self, local: Path) -> dict[str, Any]:
        stat = local.stat()
        relative = local.relative_to(self.dbfs).as_posix()
        info: dict[str, Any] = {"path": "/" if relative == "." else f"/{relative}", "is_dir": local.is_dir(),
                                "modification_time": int(stat.st_mtime * 1000)}
        if not local.is_dir():
            info["file_size"] = stat.st_size
        return info

    def _mkdirs(self, params: dict[str, Any]) -> dict[str, Any]:
        local = self._local(params.get("path"))
        if any(p.is_file() for p in (local, *local.parents)):
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"A file exists on a prefix of {params['path']}.")
        local.mkdir(parents=True, exist_ok=True)
        return {}

    def _writable(self, path: Any, overwrite: Any) -> Path:
        local = self._local(path)
        if local.is_dir() or (local.exists() and overwrite is not True):
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"A file or directory already exists at the input path {path}.")
        local.parent.mkdir(parents=True, exist_ok=True)
        return local

    def _put(self, params: dict[str, Any]) -> dict[str, Any]:
        local = self._writable(params.get("path"), params.get("overwrite"))
        contents = base64.b64decode(params.get("contents") or "")
        if len(contents) > MAX_BLOCK:
            raise ApiError(400, "MAX_BLOCK_SIZE_EXCEEDED", "The contents of a put exceed 1 MB; use create/add-block/close.")
        local.write_bytes(contents)
        return {}

    def _create(self, params: dict[str, Any]) -> dict[str, Any]:
        local = self._writable(params.get("path"), params.get("overwrite"))
        handle = next(self._ids)
        staging = self.root / "handles" / str(handle)  # the file appears at close, as on DBFS
        staging.parent.mkdir(exist_ok=True)
        staging.write_bytes(b"")
        self._handles[handle] = (local, staging)
        return {"handle": handle}

    def _handle(self, params: dict[str, Any]) -> tuple[Path, Path]:
        if params.get("handle") not in self._handles:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"No open stream with handle {params.get('handle')}.")
        return self._handles[params["handle"]]

    def _add_block(self, params: dict[str, Any]) -> dict[str, Any]:
        _, staging = self._handle(params)
        block = base64.b64decode(params.get("data") or "")
        if len(block) > MAX_BLOCK:
            raise ApiError(400, "MAX_BLOCK_SIZE_EXCEEDED", "A block exceeds 1 MB.")
        with staging.open("ab") as file:
            file.write(block)
        return {}

    def _close(self, params: dict[str, Any]) -> dict[str, Any]:
        local, staging = self._handle(params)
        staging.replace(local)
        del self._handles[params["handle"]]
        return {}

    def _get_status(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._info(self._existing(params.get("path")))

    def _read(self, params: dict[str, Any]) -> dict[str, Any]:
        local = self._existing(params.get("path"))
        offset, length = int(params.get("offset", 0)), int(params.get("length", DEFAULT_READ))
        if local.is_dir() or offset < 0 or length < 0:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Cannot read {params['path']} at {offset} for {length} bytes.")
        if length > MAX_BLOCK:
            raise ApiError(400, "MAX_READ_SIZE_EXCEEDED", "Cannot read more than 1 MB at once.")
        with local.open("rb") as file:
            file.seek(offset)
            data = file.read(length)
        return {"bytes_read": len(data), "data": base64.b64encode(data).decode()}

    def _list(self, params: dict[str, Any]) -> dict[str, Any]:
        local = self._existing(params.get("path"))
        entries = sorted(local.iterdir()) if local.is_dir() else [local]
        return {"files": [self._info(entry) for entry in entries]}

    def _delete(self, params: dict[str, Any]) -> dict[str, Any]:
        local = self._local(params.get("path"))
        if local.is_dir():
            if any(local.iterdir()) and params.get("recursive") is not True:
                raise ApiError(400, "IO_ERROR", f"{params['path']} is a non-empty directory; delete it recursively.")
            shutil.rmtree(local)
        elif local.exists():
            local.unlink()
        return {}

    # Jobs API 2.2: runs/submit, runs/get, runs/cancel.
    def _submit(self, body: dict[str, Any]) -> dict[str, Any]:
        self.submissions.append(copy.deepcopy(body))
        problems = submit_problems(body)
        if problems:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "; ".join(problems))
        run_id = next(self._ids)
        (task,) = body["tasks"]
        run = StandInRun(run_id, next(self._ids), body.get("run_name", ""), task, self.root / "runs" / str(run_id))
        run.folder.mkdir(parents=True)
        self.runs[run_id] = run
        run.thread = threading.Thread(target=self._execute, args=(run,), name=f"standin-run-{run_id}", daemon=True)
        run.thread.start()
        return {"run_id": run_id}

    def _run(self, params: dict[str, Any]) -> StandInRun:
        run = self.runs.get(int(params.get("run_id") or 0))
        if run is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {params.get('run_id')} does not exist.")
        return run

    def _get_run(self, params: dict[str, Any]) -> dict[str, Any]:
        body = self._run(params).as_dict(self.host)
        if jobs.Run.from_dict(body).as_dict() != body:  # the stand-in answers only what the SDK reads back unchanged
            raise ApiError(500, "INTERNAL_ERROR", f"the stand-in's runs/get body is no jobs.Run: {body}")
        return body

    def _cancel(self, params: dict[str, Any]) -> dict[str, Any]:
        run = self._run(params)
        run.canceled = True
        self._terminate(run)
        return {}

    def _terminate(self, run: StandInRun) -> None:
        if run.process is not None and run.process.poll() is None:
            run.process.terminate()

    def _set(self, run: StandInRun, life_cycle: str, result: str | None = None, message: str = "") -> None:
        with self._lock:
            run.life_cycle_state, run.result_state, run.state_message = life_cycle, result, message
            if life_cycle in ("TERMINATED", "INTERNAL_ERROR"):
                run.ended = int(time.time() * 1000)

    def _execute(self, run: StandInRun) -> None:
        """Install the libraries, then run the script: the run's states as a cluster would report them."""
        try:
            env = self._environment(run)
            for library in run.task.get("libraries", []):
                self._install(library["whl"], run.folder / "site")
            with self._lock:
                if run.canceled:
                    return self._set(run, "TERMINATED", "CANCELED", "Run canceled before it started.")
                python = run.task["spark_python_task"]
                (run.folder / "spark_conf.json").write_text(json.dumps({"remote": self.spark_remote,
                                                                         "conf": self._cluster_conf(run)}))
                command = [sys.executable, str(self.root / "runtime.py"), str(run.folder / "spark_conf.json"),
                           str(self._local(python["python_file"])), *python.get("parameters", [])]
                with (run.folder / "stdout").open("wb") as out, (run.folder / "stderr").open("wb") as err:
                    run.process = subprocess.Popen(command, cwd=run.folder, env=env, stdout=out, stderr=err)
                self._set(run, "RUNNING")
            try:
                code = run.process.wait(timeout=run.task.get("timeout_seconds") or None)
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait()
                return self._set(run, "TERMINATED", "TIMEDOUT", f"Task {run.task['task_key']} timed out.")
            if run.canceled:
                self._set(run, "TERMINATED", "CANCELED", "Run canceled.")
            elif code == 0:
                self._set(run, "TERMINATED", "SUCCESS")
            else:
                tail = (run.folder / "stderr").read_text(errors="replace")[-3000:]
                self._set(run, "TERMINATED", "FAILED", f"Task {run.task['task_key']} failed (exit code {code}):\n{tail}")
        except LaunchError as error:
            self._set(run, "INTERNAL_ERROR", "FAILED", str(error))
        except Exception as error:  # the stand-in's own fault: still end the run so the client stops polling
            self._set(run, "INTERNAL_ERROR", "FAILED", f"the stand-in failed to run the task: {error!r}")

    def _cluster_conf(self, run: StandInRun) -> dict[str, str]:
        """The session's settings: the stand-in's, and the cluster tags a Databricks session carries (no log delivery),
        which ``PipesDbfsMessageWriter`` reads when it opens (a missing one raises there)."""
        tags = "spark.databricks.clusterUsageTags."
        return {f"{tags}clusterId": f"standin-{run.run_id}", f"{tags}clusterLogDeliveryEnabled": "false",
                f"{tags}clusterLogDestination": "", **self.spark_conf}

    def _environment(self, run: StandInRun) -> dict[str, str]:
        """This machine's environment less what a cluster would not have, plus ``spark_env_vars`` with secrets resolved."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_ON_A_CLUSTER)}
        for name, value in run.task["new_cluster"].get("spark_env_vars", {}).items():
            reference = SECRET.match(value)
            if reference:
                scope, key = reference.groups()
                if f"{scope}/{key}" not in self.secrets:
                    raise LaunchError(f"Secret does not exist with scope: {scope} and key: {key} "
                                      f"(new_cluster.spark_env_vars.{name}); the cluster could not start.")
                run.secrets[name] = f"{scope}/{key}"
                value = self.secrets[f"{scope}/{key}"]
            env[name] = value
        env["PYTHONPATH"] = str(run.folder / "site")
        return env

    def _install(self, wheel: str, site: Path) -> None:
        local = self._local(wheel)
        if not local.is_file():
            raise LaunchError(f"Library installation failed: {wheel} does not exist.")
        uv = Path(sys.executable).with_name("uv")
        command = ([str(uv), "pip", "install", "--offline", "--python", sys.executable] if uv.exists()
                   else [sys.executable, "-m", "pip", "install", "--no-index"])
        done = subprocess.run([*command, "--no-deps", "--quiet", "--target", str(site), str(local)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LaunchError(f"Library installation failed for {wheel}:\n{done.stderr[-2000:]}")


def unknown_to_sdk(body: dict[str, Any]) -> list[str]:
    """The fields of a ``runs/submit`` body that ``JobsAPI.submit``'s parameter types would not carry unchanged."""
    problems = [f"unknown field {name!r}" for name in sorted(set(body) - set(SUBMIT_TYPES))]
    return problems + [f"{name} is not a {SUBMIT_TYPES[name]}: {value!r}" for name, value in body.items()
                       if name in SUBMIT_TYPES and not _carried(SUBMIT_TYPES[name], value)]


def submit_problems(body: dict[str, Any]) -> list[str]:
    """Why ``body`` is not a ``runs/submit`` this stand-in runs: :func:`unknown_to_sdk`, then what the stand-in does
    not emulate (see the module docstring)."""
    problems = unknown_to_sdk(body)
    if problems:
        return problems
    tasks = body.get("tasks") or []
    if len(tasks) != 1:
        return [f"the stand-in runs single-task runs; this one has {len(tasks)} tasks"]
    (task,) = tasks
    if not task.get("spark_python_task", {}).get("python_file", "").startswith("dbfs:/"):
        problems.append("the stand-in runs a spark_python_task whose python_file is on dbfs:/")
    if "new_cluster" not in task or "existing_cluster_id" in task or "environment_key" in task:
        problems.append("the stand-in runs tasks on a new_cluster only (no existing cluster, no serverless)")
    problems += [f"the stand-in installs whl libraries on dbfs:/ only, not {library}" for library in task.get("libraries", [])
                 if set(library) != {"whl"} or not library["whl"].startswith("dbfs:/")]
    return problems


def _carried(kind: Any, value: Any) -> bool:
    """Whether ``value`` (JSON) reads into the SDK type ``kind`` and serializes back the same."""
    if typing.get_origin(kind) is typing.Union:
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        return isinstance(value, list) and all(_carried(item, v) for v in value)
    if dataclasses.is_dataclass(kind):
        return isinstance(value, dict) and typing.cast(Any, kind).from_dict(value).as_dict() == value
    return isinstance(value, kind)


def _stale(target: Path) -> bool:
    """A ``/dbfs`` link of a stand-in whose process is gone (its folder deleted, or its pid file naming a dead process)."""
    marker = target.parent / "standin.pid"
    if not target.exists():
        return True
    if not marker.is_file():
        return False
    try:
        os.kill(int(marker.read_text()), 0)
    except (ProcessLookupError, ValueError):
        return True
    except PermissionError:
        return False
    return False


def _handler(standin: DatabricksStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's requests session expects

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except json.JSONDecodeError as error:
                status, answer = 400, {"error_code": "MALFORMED_REQUEST", "message": f"Invalid JSON: {error}"}
            else:
                status, answer = standin.answer(self.command, self.path, self.headers.get("Authorization", ""), body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # calls are kept in standin.calls, not printed
            pass

    return Handler
