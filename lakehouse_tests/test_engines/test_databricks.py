"""``LAKEHOUSE_ENGINE=databricks`` up to the boundary: the job submission, and whole runs against a stand-in.

No Databricks workspace is reachable from here. So the tasks :class:`DatabricksEngine` builds (new
cluster, existing cluster, serverless) are checked against databricks-sdk's own types and serialized
by the SDK's own ``JobsAPI.submit``; then the ``reference_data`` job runs with the databricks engine
against :mod:`lakehouse_tests.test_engines.databricks_standin`, a local HTTP stand-in for the Jobs
and DBFS APIs (not Databricks: each step's task runs in a subprocess here, on a session of the suite's Spark
Connect server, as on serverless compute). The
release is built and uploaded through DBFS, each step is one ``runs/submit``, its task installs the
uploaded wheel and runs the entry script, and Pipes carries context and results through DBFS. The
same job in local mode on the same landing zone gives the reference: row counts, check results and
tables must be equal. A secret the cluster cannot resolve fails the step saying which.
"""

import base64
import io
import json
import secrets
import time
import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster_databricks.pipes import PipesDbfsMessageReader
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, Unauthenticated
from databricks.sdk.service import compute, jobs

from lakehouse.connect import ConnectServer
from lakehouse.definitions import build_definitions
from lakehouse.generator import generate_landing_zone
from lakehouse.pipes import DatabricksEngine
from lakehouse.pipes.dbfs import WholeChunkDbfsMessageReader
from lakehouse.pipes.engines import SERVERLESS_ENVIRONMENT
from lakehouse.pipes.release import ENTRY_SCRIPT, ENTRY_SOURCE
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings
from lakehouse_tests.conftest import TEST_PII_KEY, TEST_SPARK_CONF
from lakehouse_tests.test_cluster.test_standalone import assert_same_tables, delta_tables
from lakehouse_tests.test_engines.databricks_standin import (
    DatabricksStandIn,
    MountUnavailable,
    StandInRun,
    submit_problems,
    unknown_to_sdk,
)

FIRST = "2025-01-01"
JOB = "reference_data"
PII_SECRET = "lakehouse/pii_key"
DIGEST = "0123456789abcdef"
WHEEL = f"dbfs:/lakehouse/releases/{DIGEST}/lakehouse-0.1.0-py3-none-any.whl"
ENTRY = f"dbfs:/lakehouse/releases/{DIGEST}/{ENTRY_SCRIPT}"
VOLUME = "/Volumes/main/lakehouse/pipes"


def workspace_engine(**fields: Any) -> DatabricksEngine:
    return DatabricksEngine(host="https://adb-1234567890123456.7.azuredatabricks.net", token="not-a-token", **fields)


class Recorder:
    """An api_client for ``jobs.JobsAPI`` that keeps the request instead of sending it: the SDK's own serialization."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def do(self, method: str, path: str, query: Any = None, headers: Any = None, body: Any = None, **_: Any) -> dict:
        self.requests.append((method, path, body))
        return {"run_id": 1}


def round_trips(value: Any) -> bool:
    """Whether an SDK object's JSON reads back into the same JSON. (The objects themselves differ where a list was
    never set: ``from_dict`` gives ``[]`` for an absent list, e.g. ``depends_on``.)"""
    return type(value).from_dict(value.as_dict()).as_dict() == value.as_dict()


def submitted(engine: DatabricksEngine, task: jobs.SubmitTask, wheel: str) -> tuple[str, str, dict[str, Any]]:
    """The request ``WorkspaceClient.jobs.submit`` sends for ``task`` and the engine's submit arguments, as Pipes calls it."""
    recorder = Recorder()
    jobs.JobsAPI(recorder).submit(tasks=[task], **engine.submit_args("lakehouse silver__stores (Dagster run 1a2b3c4d)", wheel))
    (request,) = recorder.requests
    return request


def test_a_new_cluster_task_runs_the_entry_script_with_the_wheel_and_the_pii_secret():
    engine = workspace_engine(node_type_id="i3.xlarge", num_workers=2)
    task = engine.task("silver__stores", WHEEL, ENTRY)
    assert round_trips(task)
    assert task.spark_python_task == jobs.SparkPythonTask(python_file=ENTRY, parameters=["--transport", "dbfs"])
    assert task.libraries == [compute.Library(whl=WHEEL)]
    assert task.existing_cluster_id is None and task.environment_key is None
    cluster = task.new_cluster
    assert cluster is not None and (cluster.node_type_id, cluster.num_workers) == ("i3.xlarge", 2)
    assert cluster.spark_env_vars == {"LAKEHOUSE_PII_KEY": "{{secrets/lakehouse/pii_key}}"}
    method, path, body = submitted(engine, task, WHEEL)
    assert (method, path) == ("POST", "/api/2.2/jobs/runs/submit")
    assert body["tasks"] == [task.as_dict()] and body["timeout_seconds"] == engine.timeout_seconds
    assert unknown_to_sdk(body) == []
    assert submit_problems(body) == []  # what the stand-in runs: one spark_python_task, a new cluster, a dbfs:/ wheel


def test_an_existing_cluster_task_names_the_cluster_and_installs_the_wheel_on_it():
    engine = workspace_engine(cluster_id="0101-123456-abcdefgh")
    task = engine.task("silver__stores", WHEEL, ENTRY)
    assert round_trips(task)
    assert task.existing_cluster_id == "0101-123456-abcdefgh" and task.new_cluster is None
    assert task.libraries == [compute.Library(whl=WHEEL)]
    assert task.spark_python_task is not None and task.spark_python_task.parameters == ["--transport", "dbfs"]
    body = submitted(engine, task, WHEEL)[2]
    assert body["tasks"] == [task.as_dict()] and unknown_to_sdk(body) == []


def test_a_serverless_task_takes_the_wheel_from_its_job_environment():
    engine = workspace_engine(serverless=True, volume=VOLUME)
    wheel = f"{VOLUME}/releases/{DIGEST}/lakehouse-0.1.0-py3-none-any.whl"
    task = engine.task("silver__stores", wheel, f"{VOLUME}/releases/{DIGEST}/{ENTRY_SCRIPT}")
    assert round_trips(task)
    assert task.spark_python_task is not None and task.spark_python_task.parameters == ["--transport", "volumes"]
    assert task.new_cluster is None and task.existing_cluster_id is None and not task.libraries  # serverless takes none
    (environment,) = engine.submit_args("run", wheel)["environments"]
    assert isinstance(environment, jobs.JobEnvironment) and round_trips(environment)
    assert environment.environment_key == task.environment_key == SERVERLESS_ENVIRONMENT
    assert environment.spec is not None and environment.spec.dependencies == [wheel]
    body = submitted(engine, task, wheel)[2]
    assert body["environments"] == [environment.as_dict()] and unknown_to_sdk(body) == []


def test_a_task_key_is_what_the_jobs_api_accepts_whatever_the_op_is_called():
    task = workspace_engine(node_type_id="i3.xlarge").task("gold.daily sales/" + "x" * 200, WHEEL, ENTRY)
    assert task.task_key is not None and len(task.task_key) == 100
    assert task.task_key.replace("_", "").replace("-", "").isalnum()


@pytest.mark.parametrize(("fields", "variable"), [
    ({}, "LAKEHOUSE_DATABRICKS_NODE_TYPE"),
    ({"serverless": True}, "LAKEHOUSE_DATABRICKS_VOLUME"),
    ({"serverless": True, "volume": "dbfs:/lakehouse/pipes"}, "LAKEHOUSE_DATABRICKS_VOLUME"),
])
def test_missing_compute_settings_fail_naming_the_variable_to_set(fields, variable):
    with pytest.raises(ValueError, match=variable):
        workspace_engine(**fields).task("silver__stores", WHEEL, ENTRY)


def test_from_env_reads_the_lakehouse_databricks_variables_and_keeps_host_and_token_as_variables():
    engine = DatabricksEngine.from_env({
        "LAKEHOUSE_DATABRICKS_CLUSTER_ID": "0101-123456-abcdefgh", "LAKEHOUSE_DATABRICKS_SPARK_VERSION": "16.4.x-scala2.13",
        "LAKEHOUSE_DATABRICKS_NODE_TYPE": "m5d.large", "LAKEHOUSE_DATABRICKS_WORKERS": "3",
        "LAKEHOUSE_DATABRICKS_RELEASES": "dbfs:/team/releases", "LAKEHOUSE_DATABRICKS_PII_KEY_SECRET": "team/token_key",
        "LAKEHOUSE_DATABRICKS_POLL_SECONDS": "2.5", "DATABRICKS_TOKEN": "dapi-must-not-be-read"})
    assert (engine.cluster_id, engine.spark_version, engine.node_type_id, engine.num_workers, engine.release_folder,
            engine.pii_key_secret, engine.serverless, engine.poll_interval_seconds) == (
        "0101-123456-abcdefgh", "16.4.x-scala2.13", "m5d.large", 3, "dbfs:/team/releases", "team/token_key", False, 2.5)
    assert DatabricksEngine.from_env({}).poll_interval_seconds == 5
    # The UI's resource page shows the variables' names; the values are read when a run starts.
    assert isinstance(engine.host, dg.EnvVar) and isinstance(engine.token, dg.EnvVar)
    assert (engine.host, engine.token) == ("DATABRICKS_HOST", "DATABRICKS_TOKEN")


@pytest.mark.parametrize(("value", "serverless"), [("on", True), ("TRUE", True), ("1", True), ("off", False), ("", False)])
def test_from_env_serverless_releases_go_under_the_volume(value, serverless):
    engine = DatabricksEngine.from_env({"LAKEHOUSE_DATABRICKS_SERVERLESS": value, "LAKEHOUSE_DATABRICKS_VOLUME": VOLUME + "/"})
    assert engine.serverless is serverless and engine.volume == VOLUME + "/"
    assert engine.release_folder == (f"{VOLUME}/releases" if serverless else "dbfs:/lakehouse/releases")


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("LAKEHOUSE_DATABRICKS_POLL_SECONDS", "5s", "not a number"),
    ("LAKEHOUSE_DATABRICKS_POLL_SECONDS", "0", "below its minimum 0.1"),
    ("LAKEHOUSE_DATABRICKS_POLL_SECONDS", "nan", "below its minimum"),
    ("LAKEHOUSE_DATABRICKS_WORKERS", "2.5", "not a whole number"),
    ("LAKEHOUSE_DATABRICKS_WORKERS", "0", "below its minimum 1"),
    ("LAKEHOUSE_DATABRICKS_SERVERLESS", "ture", "neither on nor off"),
])
def test_a_malformed_databricks_setting_fails_naming_the_variable_and_its_value(variable, value, says):
    with pytest.raises(ValueError, match=f"{variable}='{value}' is {says}"):
        DatabricksEngine.from_env({variable: value})


def test_the_standin_refuses_a_wrong_token_and_a_task_it_cannot_run(tmp_path):
    with DatabricksStandIn(tmp_path / "standin", token="right-token", mount=tmp_path / "dbfs") as standin:
        with pytest.raises(Unauthenticated):
            WorkspaceClient(host=standin.host, token="wrong-token").dbfs.get_status("/")
        client = WorkspaceClient(host=standin.host, token="right-token")
        task = workspace_engine(cluster_id="0101-123456-abcdefgh").task("silver__stores", WHEEL, ENTRY)
        with pytest.raises(InvalidParameterValue, match="new_cluster only"):
            client.jobs.submit(run_name="existing cluster", tasks=[task])
        assert [c.authorization for c in standin.calls] == ["Bearer wrong-token", "Bearer right-token"]
        assert standin.runs == {} and standin.unhandled == []


def test_the_standin_cancels_a_run_by_ending_its_process(tmp_path):
    # What PipesDatabricksClient does when the Dagster run is terminated (forward_termination).
    with DatabricksStandIn(tmp_path / "standin", token="token", mount=tmp_path / "dbfs",
                           spark_conf={"spark.master": "local[1]", "spark.ui.enabled": "false"}) as standin:
        client = WorkspaceClient(host=standin.host, token="token")
        client.dbfs.upload("/scripts/wait.py", io.BytesIO(b"import time\ntime.sleep(600)\n"), overwrite=True)
        task = jobs.SubmitTask(task_key="wait", spark_python_task=jobs.SparkPythonTask(python_file="dbfs:/scripts/wait.py"),
                               new_cluster=compute.ClusterSpec(spark_version="standin", node_type_id="standin", num_workers=0))
        run_id = client.jobs.submit(run_name="wait", tasks=[task]).bind()["run_id"]
        states = [life_cycle(client, run_id, until=jobs.RunLifeCycleState.RUNNING)]
        client.jobs.cancel_run(run_id)
        states.append(life_cycle(client, run_id, until=jobs.RunLifeCycleState.TERMINATED))
        state = client.jobs.get_run(run_id).state
        process = standin.runs[run_id].process
    assert states == [jobs.RunLifeCycleState.RUNNING, jobs.RunLifeCycleState.TERMINATED]
    assert state is not None and state.result_state == jobs.RunResultState.CANCELED and state.user_cancelled_or_timedout
    assert process is not None and process.returncode is not None and process.returncode != 0


def test_a_message_chunk_over_one_dbfs_read_arrives_whole(tmp_path):
    # A long backfill sends one message per partition and check: a chunk file can pass the 0.5 MB that one DBFS
    # read returns by default, where dagster-databricks' own reader cuts it (and skips the cut line).
    lines = [json.dumps({"__dagster_pipes_version": "0.1", "method": "report_custom_message",
                         "params": {"payload": {"n": n, "filler": "x" * 900}}}) for n in range(2500)]
    chunk = ("\n".join(lines) + "\n").encode()
    assert len(chunk) > 2 * 1024 * 1024
    with DatabricksStandIn(tmp_path / "standin", token="token", mount=tmp_path / "dbfs") as standin:
        client = WorkspaceClient(host=standin.host, token="token")
        client.dbfs.upload("/tmp/pipes-messages/0.json", io.BytesIO(chunk), overwrite=True)
        params = {"path": "/tmp/pipes-messages"}
        whole = WholeChunkDbfsMessageReader(client=client).download_messages_chunk(0, params)
        stock = PipesDbfsMessageReader(client=client).download_messages_chunk(0, params)
        missing = WholeChunkDbfsMessageReader(client=client).download_messages_chunk(1, params)
    assert whole is not None and whole == chunk.decode() and missing is None
    assert stock is not None and len(stock) < len(whole)  # what the stock reader would have lost


def life_cycle(client: WorkspaceClient, run_id: int, until: jobs.RunLifeCycleState) -> jobs.RunLifeCycleState | None:
    """The run's life-cycle state once it is ``until``, or the last one seen after 60 s."""
    deadline, state = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        run_state = client.jobs.get_run(run_id).state
        state = run_state.life_cycle_state if run_state else None
        if state == until:
            break
        time.sleep(0.2)
    return state


# End to end against the stand-in. Its "cluster" is the suite's Spark Connect server (Delta built in, as a Databricks
# Runtime has it; the suite's small-data settings), already warm, as serverless and standard-access compute serve
# Python through Spark Connect: a task then costs its Python process, not a cold JVM (two of them took about 60 s).
# The entry point sets the lakehouse's own settings on the session; embedded task Spark is tested by the cancel test.
CLUSTER_CONF = {"spark.sql.shuffle.partitions": "2"}


@pytest.fixture(scope="module")
def standin(tmp_path_factory, connect_server: ConnectServer):
    server = DatabricksStandIn(tmp_path_factory.mktemp("standin"), token=secrets.token_urlsafe(24),
                               secrets={PII_SECRET: TEST_PII_KEY}, spark_conf=CLUSTER_CONF, spark_remote=connect_server.url)
    try:
        server.start()
    except MountUnavailable as reason:
        server.stop()
        pytest.skip(f"the Databricks stand-in needs /dbfs: {reason}")
    try:
        yield server
    finally:
        server.stop()


def workspace_env(patch: pytest.MonkeyPatch, standin: DatabricksStandIn) -> None:
    patch.setenv("DATABRICKS_HOST", standin.host)
    patch.setenv("DATABRICKS_TOKEN", standin.token)
    patch.setenv("LAKEHOUSE_DATABRICKS_NODE_TYPE", "standin")
    patch.setenv("LAKEHOUSE_DATABRICKS_POLL_SECONDS", "0.5")  # the stand-in's runs take seconds, not minutes


@dataclass
class Ran:
    settings: LakehouseSettings
    result: dg.ExecuteInProcessResult
    runs: list[StandInRun]  # the stand-in's runs of this job (none for the local engine)


@pytest.fixture(scope="module")
def both(standin, spark, tmp_path_factory) -> dict[str, Ran]:
    root = tmp_path_factory.mktemp("databricks")
    landing = root / "landing"
    generate_landing_zone(landing, date(2025, 1, 1), days=2, rows_per_day=150, seed=21, customers=80, products=20,
                          clicks_per_day=60)
    ran = {}
    with pytest.MonkeyPatch.context() as patch:
        workspace_env(patch, standin)
        for engine in ("databricks", "local"):
            before = set(standin.runs)
            settings = LakehouseSettings.for_root(root / engine, landing=landing, start_date=FIRST, landing_sensors=False,
                                                  engine=engine, spark_conf=TEST_SPARK_CONF)
            with dg.DagsterInstance.ephemeral() as instance:
                result = build_definitions(settings).resolve_job_def(JOB).execute_in_process(
                    instance=instance, raise_on_error=False)
            ran[engine] = Ran(settings, result, [run for run_id, run in standin.runs.items() if run_id not in before])
    return ran


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Every step failure's message and the messages of its causes."""
    texts = []
    for event in result.all_events:
        error = event.step_failure_data.error if event.is_step_failure and event.step_failure_data else None
        while error is not None:
            texts.append(error.message)
            error = error.cause
    return "\n".join(texts)


def row_counts(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str | None], int]:
    counts = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        counts[materialization.asset_key.to_user_string(), materialization.partition] = \
            materialization.metadata["dagster/row_count"].value
    return counts


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str, str | None], bool]:
    return {(e.asset_key.to_user_string(), e.check_name, e.partition): e.passed for e in result.get_asset_check_evaluations()}


def test_the_job_succeeds_on_the_standin_as_in_local_mode(both):
    for engine, ran in both.items():
        assert ran.result.success, (engine, failure_text(ran.result))
    assert [run.result_state for run in both["databricks"].runs] == ["SUCCESS"] * len(both["databricks"].runs)


def test_each_step_is_one_run_of_the_entry_script_with_the_wheel_pipes_bootstrap_and_pii_secret(both, standin):
    ran = both["databricks"]
    steps = {node.name for node in ran.result.job_def.graph.nodes}
    tasks = [run.task for run in ran.runs]
    assert len(steps) >= 2 and sorted(task["task_key"] for task in tasks) == sorted(steps)
    assert all([task] in [body["tasks"] for body in standin.submissions] for task in tasks)  # as submitted, unchanged
    for task, run in zip(tasks, ran.runs, strict=True):
        (library,) = task["libraries"]
        assert library["whl"].startswith("dbfs:/lakehouse/releases/") and library["whl"].endswith(".whl")
        python = task["spark_python_task"]
        assert python["parameters"][:2] == ["--transport", "dbfs"]
        assert python["python_file"] == library["whl"].rsplit("/", 1)[0] + "/" + ENTRY_SCRIPT  # the same release
        cluster = task["new_cluster"]
        assert cluster["node_type_id"] == "standin"
        env = cluster["spark_env_vars"]
        assert env["LAKEHOUSE_PII_KEY"] == "{{secrets/lakehouse/pii_key}}"
        assert run.secrets == {"LAKEHOUSE_PII_KEY": PII_SECRET}  # the stand-in resolved it for the task
        context = json.loads(zlib.decompress(base64.b64decode(env["DAGSTER_PIPES_CONTEXT"])))
        messages = json.loads(zlib.decompress(base64.b64decode(env["DAGSTER_PIPES_MESSAGES"])))
        assert context["path"].startswith("/tmp/") and messages["path"].startswith("/tmp/")
    # Pipes removed its DBFS temp folders (context, messages) after each run; the credentials were in no job spec.
    assert list((standin.dbfs / "tmp").iterdir()) == []
    assert standin.token not in json.dumps(standin.submissions)


def test_every_request_carried_the_token_and_was_one_the_standin_serves(both, standin):
    assert both["databricks"].runs and standin.calls
    assert {call.authorization for call in standin.calls} == {f"Bearer {standin.token}"}
    assert standin.unhandled == []


def test_each_release_is_uploaded_once_through_dbfs_and_is_the_built_wheel(both, standin):
    # One release for the run's steps, or one more if the working tree changed between two steps (a new digest).
    releases = {(run.task["libraries"][0]["whl"], run.task["spark_python_task"]["python_file"])
                for run in both["databricks"].runs}
    assert 1 <= len(releases) <= len(both["databricks"].runs)
    created = [call.params["path"] for call in standin.calls if call.path == "/api/2.0/dbfs/create"]
    assert sorted(created) == sorted(path.removeprefix("dbfs:") for release in releases for path in release)
    for wheel, entry in releases:
        digest, name = wheel.split("/")[-2:]
        built = PROJECT_ROOT / ".cache" / "releases" / digest / name
        assert (standin.dbfs / wheel.removeprefix("dbfs:/")).read_bytes() == built.read_bytes()
        assert (standin.dbfs / entry.removeprefix("dbfs:/")).read_text() == ENTRY_SOURCE


def test_the_task_imported_lakehouse_from_the_installed_wheel(both):
    for run in both["databricks"].runs:
        imported = json.loads((run.folder / "imports.json").read_text())
        assert Path(imported["lakehouse"]).is_relative_to(run.folder / "site"), imported
        assert (run.folder / "site" / "lakehouse" / "pipes" / "remote.py").is_file()


def test_row_counts_and_check_results_equal_the_local_runs(both):
    local, remote = both["local"].result, both["databricks"].result
    assert row_counts(remote) == row_counts(local)
    assert evaluations(remote) == evaluations(local)
    assert len(row_counts(local)) >= 2 and len(evaluations(local)) >= 2
    assert row_counts(local)["silver/stores", None] > 0 and row_counts(local)["silver/dim_product", None] > 0


def test_every_table_equals_the_local_runs(both, spark):
    local, remote = both["local"].settings.warehouse, both["databricks"].settings.warehouse
    tables = delta_tables(local)
    assert {"silver/stores", "silver/dim_product"} <= set(tables)
    assert delta_tables(remote) == tables
    assert_same_tables(spark, local, remote, tables)


def test_a_secret_the_cluster_cannot_resolve_fails_the_step_saying_which(standin, tmp_path, monkeypatch):
    workspace_env(monkeypatch, standin)
    monkeypatch.setenv("LAKEHOUSE_DATABRICKS_PII_KEY_SECRET", "lakehouse/rotated_key")
    settings = LakehouseSettings.for_root(tmp_path, start_date=FIRST, landing_sensors=False, engine="databricks")
    before, started = set(standin.runs), time.monotonic()
    with dg.DagsterInstance.ephemeral() as instance:
        result = build_definitions(settings).resolve_job_def(JOB).execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(["silver", "stores"])], raise_on_error=False)
    assert not result.success
    assert time.monotonic() - started < 120  # the step fails once the run does; it does not wait out a timeout
    assert "Secret does not exist with scope: lakehouse and key: rotated_key" in failure_text(result)
    (run,) = [run for run_id, run in standin.runs.items() if run_id not in before]
    assert (run.life_cycle_state, run.result_state) == ("INTERNAL_ERROR", "FAILED")
    assert not (run.folder / "stdout").exists()  # nothing ran: the cluster never started
