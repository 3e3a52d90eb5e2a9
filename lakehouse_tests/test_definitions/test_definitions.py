"""The definitions load as `dagster dev` loads them, and the asset graph matches its snapshot.

A change to keys, dependencies, groups, partitions or backfill policies shows up here in review.
Regenerate the snapshot deliberately with ``UPDATE_SNAPSHOTS=1 make test``.
"""

import json
import os
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from lakehouse import tables
from lakehouse.definitions import build_definitions, deliberate_features
from lakehouse.generator.cli import main as generate
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings, interval

SILVER_SALES = tables.SILVER_SALES.key

SNAPSHOT = Path(__file__).parent / "asset_graph.json"


def test_dagster_definitions_validate_loads_the_workspace(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "LAKEHOUSE_WAREHOUSE": str(tmp_path / "warehouse")}
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_loading_the_definitions_leaves_out_the_libraries_only_some_steps_use():
    """Every run process, code server and Pipes step loads the definitions: dagster-databricks with the Databricks
    SDK and pandera with pandas took 3 s of the 5 s that took; they are imported by the steps that use them."""
    code = ("import sys, lakehouse.definitions as d; d.defs(); "
            "print(' '.join(m for m in ('dagster_databricks', 'databricks.sdk', 'pandera', 'pandas') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == []


def test_a_bad_start_date_fails_at_load_naming_the_value():
    with pytest.raises(ValueError, match="LAKEHOUSE_START_DATE"):
        LakehouseSettings.from_env({"LAKEHOUSE_START_DATE": "2025-02-30"})


def graph_snapshot(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    snapshot = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        snapshot[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": None if partitions is None else {
                "type": type(partitions).__name__,
                "start": partitions.start.date().isoformat() if isinstance(partitions, dg.TimeWindowPartitionsDefinition) else None,
                "cron": getattr(partitions, "cron_schedule", None),
                "timezone": getattr(partitions, "timezone", None),
            },
            "backfill_policy": None if node.backfill_policy is None else node.backfill_policy.policy_type.value,
            "kinds": sorted(node.kinds),
            "partition_expr": (node.metadata or {}).get("partition_expr"),
            "automation": node.automation_condition.get_label() if node.automation_condition else None,
            "freshness": type(node.freshness_policy).__name__ if node.freshness_policy else None,
            "checks": sorted(k.name for k in graph.asset_check_keys if k.asset_key == key),
        }
    return snapshot


def test_asset_graph_matches_snapshot(tmp_path):
    actual = graph_snapshot(build_definitions(LakehouseSettings.for_root(tmp_path)))
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
    assert actual == json.loads(SNAPSHOT.read_text()), "asset graph changed: review it, then UPDATE_SNAPSHOTS=1"


def test_every_asset_is_layer_keyed_grouped_by_layer_and_described(tmp_path):
    graph = build_definitions(LakehouseSettings.for_root(tmp_path)).resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert len(key.path) == 2 and node.group_name == key.path[0], key
        assert node.description and "\n" not in node.description.strip(), key
        assert {"spark", "delta"} <= set(node.kinds), key


def test_spark_settings_come_from_the_environment():
    settings = LakehouseSettings.from_env(
        {"LAKEHOUSE_SPARK_MASTER": "spark://127.0.0.1:7077", "LAKEHOUSE_SPARK_CONF": '{"spark.driver.memory": "8g"}',
         "LAKEHOUSE_WAREHOUSE": "/srv/warehouse"}
    )
    resources = build_definitions(settings).resources
    assert resources is not None
    spark = resources["spark"]
    assert spark.master == "spark://127.0.0.1:7077" and spark.conf == {"spark.driver.memory": "8g"}
    assert str(settings.warehouse) == "/srv/warehouse"


def test_a_spark_connect_url_comes_from_the_environment_and_its_token_stays_out_of_the_config():
    plain = build_definitions(LakehouseSettings.from_env({"LAKEHOUSE_SPARK_REMOTE": "sc://127.0.0.1:15002"})).resources
    with_token = build_definitions(LakehouseSettings.from_env(
        {"LAKEHOUSE_SPARK_REMOTE": "sc://spark.example:443/;token=secret;use_ssl=true"})).resources
    assert plain is not None and with_token is not None
    assert plain["spark"].remote == "sc://127.0.0.1:15002"
    assert isinstance(with_token["spark"].remote, dg.EnvVar) and with_token["spark"].remote.env_var_name == "LAKEHOUSE_SPARK_REMOTE"
    assert LakehouseSettings.from_env({}).spark_remote == ""


def test_secrets_stay_out_of_what_the_ui_is_sent(monkeypatch):
    """The repository snapshot (what dagster dev sends the UI) names the variables of the webhook URL and a Connect token."""
    webhook, remote = "https://hooks.example/T000/B000/webhook-secret", "sc://spark.example:443/;token=connect-secret"
    for name, value in (("LAKEHOUSE_ALERT_WEBHOOK_URL", webhook), ("LAKEHOUSE_SPARK_REMOTE", remote),
                        ("LAKEHOUSE_PII_KEY", "pii-key-secret")):
        monkeypatch.setenv(name, value)
    defs = build_definitions(LakehouseSettings.from_env(dict(os.environ)))
    snapshot = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert "LAKEHOUSE_ALERT_WEBHOOK_URL" in snapshot and "LAKEHOUSE_SPARK_REMOTE" in snapshot
    for secret in ("webhook-secret", "connect-secret", "pii-key-secret"):
        assert secret not in snapshot, secret
    resources = defs.resources or {}
    assert resources["alerts"].url.env_var_name == "LAKEHOUSE_ALERT_WEBHOOK_URL"


def test_malformed_spark_conf_fails_at_load_naming_the_variable():
    with pytest.raises(ValueError, match="LAKEHOUSE_SPARK_CONF"):
        LakehouseSettings.from_env({"LAKEHOUSE_SPARK_CONF": "spark.driver.memory=8g"})


@pytest.mark.parametrize(("value", "on"), [("on", True), ("OFF", False), ("no", False), ("1", True), ("", True)])
def test_landing_sensors_take_on_or_off_and_refuse_anything_else_naming_the_variable(value, on):
    env = {"LAKEHOUSE_START_DATE": "2025-01-01"}
    assert LakehouseSettings.from_env({**env, "LAKEHOUSE_LANDING_SENSORS": value}).landing_sensors is on
    with pytest.raises(ValueError, match="LAKEHOUSE_LANDING_SENSORS='stopped' is neither on nor off"):
        LakehouseSettings.from_env({**env, "LAKEHOUSE_LANDING_SENSORS": "stopped"})


@pytest.mark.parametrize("value", ["1 hour", "10 minutes", "1 hour 30 minutes", "interval 2 HOURS", "1.5 seconds"])
def test_a_watermark_spark_reads_is_kept(value):
    assert LakehouseSettings.from_env({"LAKEHOUSE_CLICKSTREAM_WATERMARK": value}).clickstream_watermark == value
    assert LakehouseSettings.from_env({"LAKEHOUSE_CLICKSTREAM_WATERMARK": " "}).clickstream_watermark == "1 hour"


@pytest.mark.parametrize("value", ["1h", "1 hr", "1.5 hours", "-1 hour", "an hour"])
def test_a_watermark_spark_cannot_read_fails_at_load_naming_the_variable(value):
    # Spark refuses each of these (checked against withWatermark, 2026-12-07), but only when a run starts the query.
    with pytest.raises(ValueError, match=f"LAKEHOUSE_CLICKSTREAM_WATERMARK='{value}' is not an interval Spark reads"):
        LakehouseSettings.from_env({"LAKEHOUSE_CLICKSTREAM_WATERMARK": value})


def test_a_trigger_interval_refuses_months_and_years_a_watermark_takes():
    # Spark 4.1 (checked 2026-12-07): trigger(processingTime="1 month") fails "Doesn't support month or year interval"
    # once the query starts; "0 months 1 hour" and "30 days" run; withWatermark takes "1 month" and "1 year".
    for value in ("1 month", "2 years", "1 hour 1 month"):
        assert interval(value, "LAKEHOUSE_CLICKSTREAM_WATERMARK") == value
        with pytest.raises(ValueError, match=f"--interval='{value}': a trigger interval has a fixed length"):
            interval(value, "--interval", calendar=False)
    for value in ("30 days", "0 months 1 hour", "10 minutes"):
        assert interval(value, "--interval", calendar=False) == value


def test_building_the_definitions_shows_no_notice_of_the_dagster_features_used_on_purpose(tmp_path):
    notices = (dg.BetaWarning, dg.PreviewWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # over the suite's own filters (setup.cfg), for this block
        build_definitions(LakehouseSettings.for_root(tmp_path))
        with deliberate_features():
            warnings.warn("Parameter `backfill_policy` of function `asset` is currently in beta", dg.BetaWarning, stacklevel=1)
            warnings.warn("Parameter `something_else` of function `asset` is currently in beta", dg.BetaWarning, stacklevel=1)
    assert [str(w.message) for w in caught if issubclass(w.category, notices)] == [
        "Parameter `something_else` of function `asset` is currently in beta"]  # any other notice still shows


def test_file_reading_assets_retry_with_exponential_backoff(tmp_path):
    graph = build_definitions(LakehouseSettings.for_root(tmp_path)).resolve_implicit_global_asset_job_def().graph
    for node in ("bronze_sales", "silver__stores"):
        op = graph.node_named(node).definition
        assert isinstance(op, dg.OpDefinition), node
        policy = op.retry_policy
        assert policy is not None and policy.max_retries == 3 and policy.backoff == dg.Backoff.EXPONENTIAL, node


def test_the_sample_setup_generates_ends_yesterday_and_its_days_are_the_partitions(tmp_path):
    assert "lakehouse-generate --out data/landing --sample" in (PROJECT_ROOT / "scripts" / "setup.sh").read_text()
    assert generate(["--out", str(tmp_path / "landing"), "--sample", "--quiet"]) == 0
    settings = LakehouseSettings.from_env({"LAKEHOUSE_LANDING": str(tmp_path / "landing"),
                                           "LAKEHOUSE_WAREHOUSE": str(tmp_path / "warehouse")})
    partitions = build_definitions(settings).resolve_asset_graph().get(SILVER_SALES).partitions_def
    assert partitions is not None
    keys = partitions.get_partition_keys()
    yesterday = str(datetime.now(UTC).date() - timedelta(days=1))
    landed = sorted(p.name for p in (tmp_path / "landing" / "sales").iterdir())
    assert keys == landed and len(keys) == 7 and keys[-1] == yesterday
    # nothing about empty years, and the Materialize dialog's default window (the last 90 days) holds the sample
    assert keys == keys[-90:]


def test_the_first_partition_follows_the_landing_zone_unless_set():
    empty = LakehouseSettings.from_env({"LAKEHOUSE_LANDING": "/nonexistent/landing"})
    assert empty.start_date == str(datetime.now(UTC).date() - timedelta(days=1))
    fixed = LakehouseSettings.from_env({"LAKEHOUSE_LANDING": "/nonexistent/landing", "LAKEHOUSE_START_DATE": "2025-01-01"})
    assert fixed.start_date == "2025-01-01"
