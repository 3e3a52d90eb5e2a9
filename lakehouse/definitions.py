"""The one assembly point: settings → resources, assets, checks, jobs, sensors → ``Definitions``.

:func:`build_definitions` is the factory (tests and CLIs call it with their own settings);
``defs`` is what ``dagster dev`` and the ``dagster`` CLI load. It is built lazily, when Dagster
loads it, so importing this module reads no environment.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dagster as dg

from lakehouse import tables
from lakehouse.assets import build_assets
from lakehouse.assets.governance import erasure_config
from lakehouse.checks import build_checks
from lakehouse.governance.tokens import PiiKey
from lakehouse.io import DeltaIOManager
from lakehouse.operations import maintenance_schedule, restore_table, table_maintenance
from lakehouse.partitions import daily_partitions
from lakehouse.pipes import DatabricksEngine, SubprocessEngine, pipes_assets
from lakehouse.pipes.steps import ENGINE_KEY
from lakehouse.resources import LandingZone, SparkResource, Streams, Warehouse
from lakehouse.sensors import AlertWebhook, alert_on_failed_error_checks, alert_on_run_failure
from lakehouse.sensors.erasure import build_erasure_sensor
from lakehouse.sensors.landing import build_landing_sensors
from lakehouse.settings import REMOTE_VARIABLE, WEBHOOK_VARIABLE, LakehouseSettings


def serial_tags(name: str) -> dict[str, str]:
    """Tags that keep runs of one job one at a time (dagster.yaml limits each ``lakehouse/serial`` value to 1 run)."""
    return {"lakehouse/serial": name}


@dataclass(frozen=True)
class DomainJob:
    """The job that materializes every table of one domain of the registry."""

    name: str
    description: str
    tags: dict[str, str] = field(default_factory=dict)


# One job per domain of lakehouse/tables; daily-partitioned and unpartitioned tables run in separate jobs.
DOMAIN_JOBS = {
    "sales": DomainJob("sales_pipeline", "Sales from landing to gold: bronze → silver → gold for the chosen days."),
    "customers": DomainJob(
        "customer_dimension", "New change-feed files into bronze, then the customer SCD2 dimension, for the customers that changed.",
        serial_tags("customer_dimension"),
    ),
    # Small, and what the sales checks look stores up in: queued runs of it start first.
    "reference": DomainJob("reference_data", "Stores and the product dimension (SCD1) from their files.",
                           {"dagster/priority": "10"}),
    "clickstream": DomainJob(
        "clickstream", "Newly landed clickstream files into bronze (Structured Streaming, availableNow), then gold/hourly_events.",
        serial_tags("clickstream"),
    ),
    "revenue": DomainJob("customer_revenue", "Revenue by customer city for the chosen days, point-in-time against silver/dim_customer."),
}
# The governance tables are written by the erasure job, not by a domain job: it changes the customer
# tables too, so it shares customer_dimension's serial tag and never interleaves with CDC ingestion or SCD2.
GOVERNANCE = "governance"
ERASURE_JOB = DomainJob(
    "gdpr_erasure",
    "Erase customers (GDPR art. 17) from every table with personal data, purge those tables' history, prove it "
    "(check erasure_complete). Time travel to versions before an erasure is impossible afterwards.",
    serial_tags("customer_dimension"),
)


def domain_selection(domain: str) -> dg.AssetSelection:
    """Every registered table of ``domain``."""
    return dg.AssetSelection.assets(*[t.key for t in tables.TABLES.values() if t.domain == domain])


def build_jobs() -> list[dg.UnresolvedAssetJobDefinition]:
    """One job per domain of the registry (see :data:`DOMAIN_JOBS`), and ``gdpr_erasure`` for the governance tables."""
    unknown = {t.domain for t in tables.TABLES.values()} - set(DOMAIN_JOBS) - {GOVERNANCE}
    if unknown:
        raise ValueError(f"domains without a job in DOMAIN_JOBS: {sorted(unknown)}")
    return [
        *(dg.define_asset_job(job.name, selection=domain_selection(domain), description=job.description,
                              tags=job.tags or None)
          for domain, job in DOMAIN_JOBS.items()),
        dg.define_asset_job(ERASURE_JOB.name, selection=domain_selection(GOVERNANCE), description=ERASURE_JOB.description,
                            tags=ERASURE_JOB.tags, config=erasure_config),
    ]


def spark_remote(settings: LakehouseSettings) -> str:
    """The Spark Connect URL for the resource; one carrying a token is handed over as ``dg.EnvVar`` so that the
    UI's resource page shows the variable's name, not the token."""
    if "token=" in settings.spark_remote.lower():
        return dg.EnvVar(REMOTE_VARIABLE)
    return settings.spark_remote


# Dagster features the lakehouse uses on purpose, whose notices would otherwise be printed every time a process builds
# the definitions (48 notices, 96 of the 171 lines of a one-job `dagster job execute`): single-run backfills
# (`backfill_policy`, beta) and per-day check results (`partitions_def` on an AssetCheckSpec, preview). Any other
# Beta/Preview notice still shows.
DELIBERATE_FEATURES = (
    (dg.BetaWarning, r"Parameter `backfill_policy` of function `asset` is currently in beta"),
    (dg.PreviewWarning, r"Specifying a partitions_def on an AssetCheckSpec is currently in preview"),
)


@contextmanager
def deliberate_features() -> Iterator[None]:
    """Within the block, the notices of :data:`DELIBERATE_FEATURES` are not shown (the others are)."""
    with warnings.catch_warnings():
        for category, message in DELIBERATE_FEATURES:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


def quiet_warnings() -> None:
    """For the rest of the process, hide every Beta/Preview/Supersession notice of Dagster.

    For the commands whose output is a report on the data (``lakehouse-checks``, the catalog, a Pipes
    step): those notices concern the project's code, not the data. :func:`deliberate_features` is the
    narrow filter every process gets.
    """
    for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
        warnings.filterwarnings("ignore", category=category)


def build_definitions(settings: LakehouseSettings) -> dg.Definitions:
    """The whole lakehouse for ``settings``; tests call this with a ``tmp_path`` root."""
    with deliberate_features():
        return _definitions(settings)


def _definitions(settings: LakehouseSettings) -> dg.Definitions:
    partitions = daily_partitions(settings.start_date)
    spark = SparkResource(master=settings.spark_master, remote=spark_remote(settings), jars_dir=str(settings.jars_dir),
                          conf=dict(settings.spark_conf))
    warehouse = Warehouse(spark=spark, root=str(settings.warehouse))
    jobs = build_jobs()
    job = {j.name: j for j in jobs}
    assets, checks = build_assets(partitions), build_checks(partitions)
    engine = {}
    if settings.engine != "local":
        # Each asset's work (and its tables' checks) runs where the engine puts it: lakehouse.pipes.
        assets, checks = pipes_assets(assets, checks, settings), []
        engine = {ENGINE_KEY: SubprocessEngine() if settings.engine == "pipes-subprocess" else DatabricksEngine.from_env()}
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[*jobs, table_maintenance, restore_table],
        schedules=[maintenance_schedule],
        sensors=[
            dg.AutomationConditionSensorDefinition(
                "lakehouse_automation",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                description="Materializes silver and gold partitions whose upstream partitions are new or updated.",
            ),
            alert_on_run_failure,
            alert_on_failed_error_checks,
            *build_landing_sensors(
                partitions, sales_job=job["sales_pipeline"], customer_job=job["customer_dimension"],
                clickstream_job=job["clickstream"], reference_job=job["reference_data"], running=settings.landing_sensors,
            ),
            build_erasure_sensor(job[ERASURE_JOB.name], running=settings.landing_sensors),
        ],
        resources={
            # A webhook URL is a credential (Slack's carries its token): the UI's resource page shows the variable's name.
            "alerts": AlertWebhook(url=dg.EnvVar(WEBHOOK_VARIABLE) if settings.alert_webhook_url else "",
                                   ui_url=settings.ui_url),
            "spark": spark,
            "landing": LandingZone(root=str(settings.landing)),
            "streams": Streams(checkpoints=str(settings.checkpoints), watermark=settings.clickstream_watermark),
            "warehouse": warehouse,
            "pii_key": PiiKey(),  # the secret itself is read from LAKEHOUSE_PII_KEY by the steps that need it
            "io_manager": DeltaIOManager(warehouse=warehouse),
            **engine,
        },
        # One process and one Spark JVM per run; steps of a run share the session.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The lakehouse as ``dagster dev`` runs it: settings from ``LAKEHOUSE_*`` variables."""
    return build_definitions(LakehouseSettings.from_env())
