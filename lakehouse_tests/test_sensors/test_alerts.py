"""Alerts reach a real HTTP endpoint as Slack-compatible JSON, once per failure."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from lakehouse.sensors import AlertWebhook, alert_on_failed_error_checks, alert_on_run_failure


@pytest.fixture
def webhook():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


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


def test_send_posts_slack_json_and_logs_without_url(webhook):
    url, received = webhook
    assert AlertWebhook(url=url).send("hello")
    assert received == [{"text": "hello"}]
    assert AlertWebhook(url="").send("nobody listens") is False


def test_failed_error_checks_are_posted_once_from_the_first_tick_on_and_warnings_are_not(webhook):
    url, received = webhook
    defs = dg.Definitions(assets=[fine], asset_checks=[fine_has_rows, fine_is_small])
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        job.execute_in_process(instance=instance, raise_on_error=False)  # history before the sensor started
        context = dg.build_sensor_context(instance=instance, resources={"alerts": AlertWebhook(url=url)}, definitions=defs)
        alert_on_failed_error_checks(context)
        assert received == [] and context.cursor is not None

        job.execute_in_process(instance=instance, raise_on_error=False)
        alert_on_failed_error_checks(context)
        assert [m["text"].split(" failed")[0] for m in received] == [":warning: Check fine:fine_has_rows"]
        alert_on_failed_error_checks(context)  # nothing new since the cursor
        assert len(received) == 1


def test_failed_runs_are_posted_with_the_error(webhook):
    url, received = webhook
    defs = dg.Definitions(assets=[flaky])
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        failure = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0].dagster_event
        assert run is not None and failure is not None
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure", dagster_instance=instance, dagster_run=run, dagster_event=failure,
            resources={"alerts": AlertWebhook(url=url)},
        ).for_run_failure()
        alert_on_run_failure(context)
    assert len(received) == 1 and result.run_id[:8] in received[0]["text"] and "failed" in received[0]["text"]
