"""Alerts: failed runs and failed ERROR-severity asset checks, posted to a webhook.

The payload is Slack-compatible JSON (``{"text": ...}``), so a Slack incoming webhook, a
Mattermost/Teams-compatible relay or any HTTP endpoint works. The URL comes from
``LAKEHOUSE_ALERT_WEBHOOK_URL``; without it the alert is written to the sensor's log instead.
A webhook that does not answer 2xx fails the sensor tick, and its cursor does not move, so the
alert is sent again on the next tick (at least once, never silently dropped). A tick that posted
some alerts before one failed sends those again too.

The check sensor starts from the newest evaluation when it first runs (no flood of historic
failures after a deployment) and then reports each failed ERROR evaluation once.

Example::

    AlertWebhook(url="https://hooks.slack.com/services/...").send("gold/daily_sales failed")
"""

import http.client
import json
import urllib.request

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from pydantic import Field

RUNNING = dg.DefaultSensorStatus.RUNNING
FAILED = AssetCheckExecutionRecordStatus.FAILED
RECENT = 50  # failed executions looked at per check and tick


class AlertNotDelivered(dg.DagsterError):
    """The webhook did not take an alert (no answer, or not 2xx); the message never holds the URL (a credential).

    A ``DagsterError`` on purpose: Dagster's run-status sensors catch any other exception of the sensor function,
    record it on the tick and still move their cursor past the run (they assume side effects must not repeat), so
    the alert would be lost. A ``DagsterError`` passes their error boundary: the whole tick fails and the cursor
    stays on the failed run (``test_alerts.py`` pins this).
    """


class AlertWebhook(dg.ConfigurableResource):
    """Posts alerts as Slack-compatible JSON; logs them when no URL is configured."""

    url: str = Field(default="", description="Webhook URL (env LAKEHOUSE_ALERT_WEBHOOK_URL); empty logs alerts instead.")
    ui_url: str = Field(default="http://127.0.0.1:3000", description="Base URL of the Dagster UI, for links in alerts.")
    timeout_seconds: float = Field(default=10.0, description="HTTP timeout of one post.")

    def send(self, text: str, log=None) -> bool:
        """Post ``text``; return False (after logging it) when no URL is set."""
        if not self.url:
            (log or dg.get_dagster_logger()).warning(f"ALERT (LAKEHOUSE_ALERT_WEBHOOK_URL not set): {text}")
            return False
        request = urllib.request.Request(
            self.url, data=json.dumps({"text": text}).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                status = response.status
        except (OSError, http.client.HTTPException) as error:  # HTTPError (4xx/5xx) and timeouts are OSErrors
            # str() of these names the status or the socket error, never the URL
            raise AlertNotDelivered(f"alert webhook did not take the alert: {error}") from error
        if not 200 <= status < 300:
            raise AlertNotDelivered(f"alert webhook answered {status}")
        return True


@dg.run_failure_sensor(name="alert_on_run_failure", default_status=RUNNING, description="Posts every failed run to the alert webhook.")
def alert_on_run_failure(context: dg.RunFailureSensorContext, alerts: AlertWebhook):
    run = context.dagster_run
    message = context.failure_event.message or "no message"
    alerts.send(
        f":red_circle: Run {run.run_id[:8]} of {run.job_name} failed: {message[:500]} {alerts.ui_url}/runs/{run.run_id}",
        context.log,
    )


@dg.sensor(
    name="alert_on_failed_error_checks",
    default_status=RUNNING,
    minimum_interval_seconds=30,
    description="Posts every failed ERROR-severity asset check evaluation to the alert webhook.",
)
def alert_on_failed_error_checks(context: dg.SensorEvaluationContext, alerts: AlertWebhook):
    assert context.repository_def is not None, "a sensor is evaluated within its code location"
    check_keys = list(context.repository_def.asset_graph.asset_check_keys)
    storage = context.instance.event_log_storage
    failed = [
        record
        for key in check_keys
        for record in storage.get_asset_check_execution_history(key, limit=RECENT, status={FAILED})
    ]
    latest = max([r.id for r in failed], default=0)
    if context.cursor is None:
        context.update_cursor(str(latest))
        return dg.SkipReason("started: alerting on check failures from now on")
    seen = int(context.cursor)
    sent = 0
    for record in sorted((r for r in failed if r.id > seen), key=lambda r: r.id):
        evaluation = record.evaluation
        assert evaluation is not None, "a FAILED record holds its evaluation (dagster checks it)"
        if evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        partition = f" partition {record.partition}" if record.partition else ""
        alerts.send(
            f":warning: Check {evaluation.asset_key.to_user_string()}:{evaluation.check_name}{partition} failed (ERROR): "
            f"{(evaluation.description or '')[:500]} {alerts.ui_url}/runs/{record.run_id}",
            context.log,
        )
        sent += 1
        context.update_cursor(str(record.id))
    context.update_cursor(str(max(seen, latest)))
    return dg.SkipReason(f"{sent} alert(s) sent")
