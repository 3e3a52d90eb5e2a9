"""``LAKEHOUSE_ENGINE`` alone picks the engine, and every engine declares the same lakehouse (no Spark here)."""

import dataclasses
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.definitions import build_definitions
from lakehouse.pipes import DatabricksEngine, SubprocessEngine
from lakehouse.settings import ENGINES, LakehouseSettings


def declared(defs: dg.Definitions) -> dict:
    """What a user sees of the definitions: assets with their specs, checks, jobs and what each job selects."""
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    assets = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assets[key.to_user_string()] = (
            node.group_name, node.partitions_def, sorted(k.to_user_string() for k in node.parent_keys),
            node.automation_condition is not None, sorted(node.owners), dict(node.tags),
            sorted(node.metadata), node.freshness_policy, node.legacy_freshness_policy, node.backfill_policy,
        )
    jobs = {job.name: sorted(key.to_user_string() for key in job.asset_layer.selected_asset_keys)
            for job in repository.get_all_jobs() if job.name != "__ASSET_JOB"}
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    return {"assets": assets, "jobs": jobs, "checks": checks}


def test_an_unknown_engine_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="LAKEHOUSE_ENGINE='spark-on-mars' is not an engine; choose one of local, "
                                         "pipes-subprocess, databricks"):
        LakehouseSettings.from_env({"LAKEHOUSE_ENGINE": "spark-on-mars", "LAKEHOUSE_START_DATE": "2025-01-01"})


def test_settings_travel_as_variables_without_secrets(tmp_path: Path):
    settings = LakehouseSettings.for_root(tmp_path, start_date="2025-01-02", spark_conf={"spark.driver.memory": "1g"},
                                          alert_webhook_url="https://hooks.example/T0/secret", engine="pipes-subprocess")
    env = settings.as_env()
    assert LakehouseSettings.from_env(env) == dataclasses.replace(settings, alert_webhook_url="")
    assert "secret" not in str(env)
    with_token = dataclasses.replace(settings, spark_remote="sc://localhost:15002/;token=abc123")
    assert "abc123" not in str(with_token.as_env())


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "local"])
def test_every_engine_declares_the_same_assets_checks_and_jobs(tmp_path: Path, engine: str):
    local = declared(build_definitions(LakehouseSettings.for_root(tmp_path, start_date="2025-01-01")))
    other_defs = build_definitions(LakehouseSettings.for_root(tmp_path, start_date="2025-01-01", engine=engine))
    assert declared(other_defs) == local
    assert len(local["assets"]) >= 19 and len(local["checks"]) >= 80
    engine_resource = (other_defs.resources or {})["engine"]
    assert isinstance(engine_resource, SubprocessEngine if engine == "pipes-subprocess" else DatabricksEngine)
