"""Alerts reach a real HTTP endpoint as Slack-compatible JSON, once per failure; a refused post is retried, never lost.

The sensors are evaluated as the daemon evaluates them: ``evaluate_tick`` on a fresh context that holds only the
cursor the last successful tick returned. A tick that raises is a failed tick, and the daemon keeps the cursor it had.
For ``alert_on_run_failure`` this runs Dagster's own run-status machinery, which reads RUN_FAILURE events from the
instance's event log and keeps its cursor, not just the decorated function.
"""

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._serdes import serialize_value
from dagster._utils.error import serializable_error_info_from_exc_info
from dagster_shared.error import SerializableErrorInfo

from lakehouse.sensors import AlertWebhook, alert_on_failed_error_checks, alert_on_run_failure
from lakehouse.sensors.alerts import AlertNotDelivered
from lakehouse.settings import WEBHOOK_VARIABLE


@dataclass
class Webhook:
    """A real HTTP endpoint on 127.0.0.1: answers the statuses queued in ``answers`` (then 200), records what came."""

    url: str
    secret: str  # the part of the URL that is a credential (Slack's token)
    received: list[dict] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    def texts(self) -> list[str]:
        return [message["text"] for message in self.received]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    secret = f"SECRET-TOKEN-{uuid.uuid4().hex}"
    hook = Webhook(url="", secret=secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            hook.paths.append(self.path)
            self.send_response(hook.answers.pop(0) if hook.answers else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_port}/hook/{secret}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()


@dg.asset
def flaky() -> None:
    raise RuntimeError("disk on fire")


@dg.asset
def fine() -> None:
    return None


@dg.asset_check(asset=fine)
def fine_has_rows() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description="0 rows")


@dg.asset_check(asset=fine)
def fine_is_small() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description="big")


def production_like_definitions(monkeypatch: pytest.MonkeyPatch, url: str) -> dg.Definitions:
    """The sensors with the webhook URL handed over as ``lakehouse/definitions.py`` does: by variable name."""
    monkeypatch.setenv(WEBHOOK_VARIABLE, url)
    return dg.Definitions(
        assets=[flaky, fine], asset_checks=[fine_has_rows, fine_is_small],
        jobs=[dg.define_asset_job("flaky_job", selection=[flaky]), dg.define_asset_job("fine_job", selection=[fine])],
        sensors=[alert_on_run_failure, alert_on_failed_error_checks],
        resources={"alerts": AlertWebhook(url=dg.EnvVar(WEBHOOK_VARIABLE))},
    )


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, defs: dg.Definitions, cursor: str | None) -> SensorExecutionData:
    """One tick as the daemon runs it: a fresh context with only the cursor the last successful tick returned, and the
    code location's resources (the daemon's code server hands them over as well)."""
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=dict(defs.resources or {})
    ) as context:  # tears the resources down after the tick
        return sensor.evaluate_tick(context)


def reaction_errors(data: SensorExecutionData) -> list[SerializableErrorInfo | None]:
    """The error a run-status sensor's tick reports per run it reacted to (None: its function succeeded)."""
    return [reaction.error for reaction in data.dagster_run_reactions or []]


def fail_runs(defs: dg.Definitions, instance: dg.DagsterInstance, count: int = 1) -> list[str]:
    job = defs.resolve_job_def("flaky_job")
    return [job.execute_in_process(instance=instance, raise_on_error=False).run_id for _ in range(count)]


def test_send_posts_slack_json_and_logs_without_url(webhook):
    assert AlertWebhook(url=webhook.url).send("hello")
    assert webhook.received == [{"text": "hello"}]
    assert AlertWebhook(url="").send("nobody listens") is False


def test_a_webhook_answering_500_makes_send_raise_without_naming_the_url(webhook):
    webhook.answers = [500]
    with pytest.raises(AlertNotDelivered, match="500") as raised:
        AlertWebhook(url=webhook.url).send("hello")
    assert webhook.secret not in str(raised.value) and webhook.received == [{"text": "hello"}]


def test_failed_error_checks_are_posted_once_from_the_first_tick_on_and_warnings_are_not(webhook):
    defs = dg.Definitions(assets=[fine], asset_checks=[fine_has_rows, fine_is_small])
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        job.execute_in_process(instance=instance, raise_on_error=False)  # history before the sensor started
        context = dg.build_sensor_context(instance=instance, resources={"alerts": AlertWebhook(url=webhook.url)}, definitions=defs)
        alert_on_failed_error_checks(context)
        assert webhook.received == [] and context.cursor is not None

        job.execute_in_process(instance=instance, raise_on_error=False)
        alert_on_failed_error_checks(context)
        assert [text.split(" failed")[0] for text in webhook.texts()] == [":warning: Check fine:fine_has_rows"]
        alert_on_failed_error_checks(context)  # nothing new since the cursor
        assert len(webhook.received) == 1


def test_failed_runs_are_posted_with_the_error(webhook):
    defs = dg.Definitions(assets=[flaky])
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        failure = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0].dagster_event
        assert run is not None and failure is not None
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure", dagster_instance=instance, dagster_run=run, dagster_event=failure,
            resources={"alerts": AlertWebhook(url=webhook.url)},
        ).for_run_failure()
        alert_on_run_failure(context)
    assert len(webhook.received) == 1 and result.run_id[:8] in webhook.texts()[0] and "failed" in webhook.texts()[0]


def test_the_run_failure_alert_fires_once_per_failed_run_across_ticks(webhook, monkeypatch):
    defs = production_like_definitions(monkeypatch, webhook.url)
    with dg.instance_for_test() as instance:
        fail_runs(defs, instance)  # before the sensor started: not alerted
        started = tick(alert_on_run_failure, instance, defs, None)
        assert started.cursor is not None and webhook.received == []

        first, second = fail_runs(defs, instance, 2)
        defs.resolve_job_def("fine_job").execute_in_process(instance=instance)  # a successful run is no alert
        data = tick(alert_on_run_failure, instance, defs, started.cursor)
        assert [text.split()[2] for text in webhook.texts()] == [first[:8], second[:8]]
        assert all("flaky_job failed" in text for text in webhook.texts()), webhook.texts()
        assert reaction_errors(data) == [None, None]

        quiet = tick(alert_on_run_failure, instance, defs, data.cursor)
        assert len(webhook.received) == 2, "a tick with no new failed run posts nothing"

        (third,) = fail_runs(defs, instance)
        later = tick(alert_on_run_failure, instance, defs, quiet.cursor)
        assert len(webhook.received) == 3 and third[:8] in webhook.texts()[2]
        tick(alert_on_run_failure, instance, defs, later.cursor)
        assert len(webhook.received) == 3


@dg.run_failure_sensor(name="raises_a_plain_error")
def raises_a_plain_error(context: dg.RunFailureSensorContext):
    raise ConnectionError("webhook down")


def test_dagster_moves_a_run_failure_sensors_cursor_past_a_run_its_function_failed_on_with_a_plain_error(webhook, monkeypatch):
    """Why ``AlertNotDelivered`` is a ``DagsterError``: with any other exception the tick only reports the error
    and its cursor moves on (the daemon persists it), so a failed post would be a lost alert."""
    defs = production_like_definitions(monkeypatch, webhook.url)
    with dg.instance_for_test() as instance:
        cursor = tick(raises_a_plain_error, instance, defs, None).cursor
        fail_runs(defs, instance)
        data = tick(raises_a_plain_error, instance, defs, cursor)
        assert data.cursor != cursor
        assert [error.message.strip() if error else None for error in reaction_errors(data)] == ["ConnectionError: webhook down"]


def test_a_webhook_answering_500_fails_the_run_failure_tick_and_the_alert_is_sent_on_the_next(webhook, monkeypatch):
    defs = production_like_definitions(monkeypatch, webhook.url)
    with dg.instance_for_test() as instance:
        cursor = tick(alert_on_run_failure, instance, defs, None).cursor
        (run_id,) = fail_runs(defs, instance)

        webhook.answers = [500]
        # Dagster's run-status sensors move their cursor past a run whose sensor function raised (the tick reports the
        # error, the daemon persists the cursor anyway): the alert would be lost. The tick must fail as a whole instead.
        with pytest.raises(AlertNotDelivered, match="500"):
            tick(alert_on_run_failure, instance, defs, cursor)
        assert len(webhook.received) == 1, "the post was tried"

        retried = tick(alert_on_run_failure, instance, defs, cursor)  # the daemon kept the cursor of the failed tick
        assert len(webhook.received) == 2 and webhook.received[1] == webhook.received[0] and run_id[:8] in webhook.texts()[1]
        assert retried.cursor != cursor and reaction_errors(retried) == [None]

        tick(alert_on_run_failure, instance, defs, retried.cursor)
        assert len(webhook.received) == 2, "delivered once, not again"


def test_a_webhook_answering_500_fails_the_check_alert_tick_and_the_alert_is_sent_on_the_next(webhook, monkeypatch):
    defs = production_like_definitions(monkeypatch, webhook.url)
    job = defs.resolve_job_def("fine_job")
    with dg.instance_for_test() as instance:
        cursor = tick(alert_on_failed_error_checks, instance, defs, None).cursor
        run_id = job.execute_in_process(instance=instance, raise_on_error=False).run_id

        webhook.answers = [500]
        with pytest.raises(AlertNotDelivered, match="500"):
            tick(alert_on_failed_error_checks, instance, defs, cursor)
        assert len(webhook.received) == 1, "the post was tried"

        retried = tick(alert_on_failed_error_checks, instance, defs, cursor)
        assert len(webhook.received) == 2 and webhook.received[1] == webhook.received[0]
        assert webhook.texts()[1].startswith(":warning: Check fine:fine_has_rows failed (ERROR): 0 rows") and run_id in webhook.texts()[1]
        assert retried.cursor is not None and int(retried.cursor) > int(cursor or 0)

        tick(alert_on_failed_error_checks, instance, defs, retried.cursor)
        assert len(webhook.received) == 2, "delivered once, not again"


def stored_text(instance: dg.DagsterInstance, root: Path) -> str:
    """Everything the instance stored, as text: every event, run (config, tags), job snapshot and file on disk."""
    parts: list[str] = []
    for run in instance.get_runs():
        parts.append(serialize_value(run))
        parts.extend(serialize_value(entry) for entry in instance.all_logs(run.run_id))
        if run.job_snapshot_id:
            parts.append(serialize_value(instance.get_job_snapshot(run.job_snapshot_id)))
        if run.execution_plan_snapshot_id:
            parts.append(serialize_value(instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)))
    parts.extend(path.read_bytes().decode("utf-8", errors="replace") for path in root.rglob("*") if path.is_file())
    return "\n".join(parts)


def test_the_webhook_url_is_in_no_event_run_or_tick_log_after_alerts_and_a_failed_post(webhook, monkeypatch, tmp_path, caplog):
    defs = production_like_definitions(monkeypatch, webhook.url)
    errors = []
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        run_cursor = tick(alert_on_run_failure, instance, defs, None).cursor
        check_cursor = tick(alert_on_failed_error_checks, instance, defs, None).cursor
        fail_runs(defs, instance)
        defs.resolve_job_def("fine_job").execute_in_process(instance=instance, raise_on_error=False)
        for sensor, cursor in ((alert_on_run_failure, run_cursor), (alert_on_failed_error_checks, check_cursor)):
            webhook.answers = [500]
            with pytest.raises(AlertNotDelivered) as raised:
                tick(sensor, instance, defs, cursor)
            errors.append(serialize_value(serializable_error_info_from_exc_info((raised.type, raised.value, raised.tb))))  # a failed tick's error
            tick(sensor, instance, defs, cursor)
        assert len(webhook.received) == 4 and webhook.paths == [f"/hook/{webhook.secret}"] * 4, "the secret was in use"

        stored = stored_text(instance, tmp_path)
        assert "disk on fire" in stored and "0 rows" in stored, "the search reads what the runs stored"
        assert webhook.secret not in stored
    assert all(webhook.secret not in text for text in webhook.texts()), "the alert text holds no webhook URL"
    assert all(webhook.secret not in error and "500" in error for error in errors)
    assert webhook.secret not in caplog.text
