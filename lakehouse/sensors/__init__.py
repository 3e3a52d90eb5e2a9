"""Sensors of the lakehouse."""

from lakehouse.sensors.alerts import AlertWebhook, alert_on_failed_error_checks, alert_on_run_failure

__all__ = ["AlertWebhook", "alert_on_failed_error_checks", "alert_on_run_failure"]
