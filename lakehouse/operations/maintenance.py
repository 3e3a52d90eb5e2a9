"""The ``table_maintenance`` job: OPTIMIZE (compaction, Z-order or re-clustering as the registry declares), then VACUUM.

One step, ``maintain_tables``, takes the tables one after another:

* **OPTIMIZE** compacts small files into files of at most ``optimize_max_file_bytes`` (Delta's
  1 GiB when unset); a table declaring ``zorder`` is Z-ordered by those columns; a table
  declaring ``cluster_by`` (liquid clustering) is re-clustered by OPTIMIZE itself, never
  Z-ordered.
* **VACUUM** deletes the files no version within ``retention_hours`` still reads. Below Delta's
  7 days it is refused, before any table is touched, unless ``force_retention`` is set with a
  ``reason``; the reason is logged, tagged on the run (``lakehouse/reason``), written into the
  Delta commits and kept in the observations.
* **Dry run** lists the files and bytes VACUUM would delete and estimates what OPTIMIZE would
  rewrite (:mod:`lakehouse.operations.preview`); nothing is deleted, rewritten or committed.

Each operation records an AssetObservation on the table's asset (:mod:`lakehouse.operations.observe`).

Example (run config, as in the launchpad)::

    tables: [silver.sales]        # empty or absent: every registered table that exists
    dry_run: true
"""


import dagster as dg
from pydantic import Field

from lakehouse import delta
from lakehouse.operations.observe import TableState, observe
from lakehouse.operations.preview import preview_optimize, strategy
from lakehouse.operations.targets import REASON_TAG, SERIAL_TAGS, existing, require_existing, resolve, tag_run
from lakehouse.resources.warehouse import Warehouse
from lakehouse.tables.registry import Table

OPTIMIZE_ATTEMPTS = 3  # OPTIMIZE loses to a concurrent write of the same files; it is safe to run again
FILES_LOGGED, FILES_IN_METADATA = 50, 1000  # a dry run lists this many files in the log and in the metadata


class MaintenanceConfig(dg.Config):
    """What ``table_maintenance`` does; every field has a default, so the schedule passes none."""

    tables: list[str] = Field(
        default_factory=list,
        description="Tables as layer.table (e.g. silver.sales); empty: every table of the registry that exists.",
    )
    dry_run: bool = Field(default=False, description="List what VACUUM would delete and what OPTIMIZE would "
                                                     "rewrite; delete, rewrite and commit nothing.")
    retention_hours: float = Field(
        default=delta.DEFAULT_RETENTION_HOURS,
        description="VACUUM keeps every file a version of the last retention_hours reads (default 168 = 7 days).",
    )
    force_retention: bool = Field(default=False, description="Allow retention_hours below 168 (needs a reason).")
    reason: str = Field(default="", description="Why this run: required with force_retention; logged and recorded.")

    def refusal(self) -> str | None:
        """Why this configuration must not run, or None."""
        if not self.retention_hours >= 0:
            return f"retention_hours must be >= 0, not {self.retention_hours}"
        if self.retention_hours < delta.DEFAULT_RETENTION_HOURS:
            if not self.force_retention:
                return (f"retention_hours={self.retention_hours:g} is below Delta's 7-day default "
                        f"({delta.DEFAULT_RETENTION_HOURS} h): readers of older versions, time travel and RESTORE "
                        "to them would fail. Set force_retention: true with a reason to do it anyway.")
            if not self.reason.strip():
                return "force_retention needs a reason (what requires deleting history before 7 days)."
        return None


@dg.config_mapping
def _flat_config(config: MaintenanceConfig) -> dict:
    """The job's config is the op's, one level up: the launchpad shows five fields."""
    return {"ops": {"maintain_tables": {"config": config.model_dump()}}}


@dg.op
def maintain_tables(context: dg.OpExecutionContext, config: MaintenanceConfig, warehouse: Warehouse) -> None:
    """Check the request and every table name (touching nothing), then OPTIMIZE and VACUUM each table in turn.

    A table that fails does not stop the others; the step fails at the end, naming them.
    """
    refusal = config.refusal()
    if refusal:
        raise dg.Failure(description=f"table_maintenance refused, nothing was touched: {refusal}")
    chosen = resolve(config.tables) if config.tables else existing(warehouse)
    require_existing(warehouse, chosen)
    reason = config.reason.strip()
    if reason:
        context.log.warning(f"Reason given for this run: {reason}")
        tag_run(context, {REASON_TAG: reason})
    if config.force_retention and config.retention_hours < delta.DEFAULT_RETENTION_HOURS:
        context.log.warning(f"VACUUM retention forced to {config.retention_hours:g} h (below 7 days): versions older "
                            "than that can no longer be read, restored or streamed from.")
        tag_run(context, {"lakehouse/force_retention": f"{config.retention_hours:g}h"})
    context.log.info(f"{'Dry run over' if config.dry_run else 'Maintaining'} {len(chosen)} table(s): "
                     + ", ".join(f"{t.name} ({strategy(t)})" for t in chosen))
    failed: dict[str, str] = {}
    for table in chosen:
        try:
            if config.dry_run:
                _dry_run(context, config, warehouse, table)
            else:
                _maintain(context, config, warehouse, table)
        except Exception as error:
            failed[table.name] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            context.log.error(f"{table.name}: maintenance failed: {failed[table.name]}")
    if failed:
        raise dg.Failure(description=f"Maintenance failed for {sorted(failed)} (the other tables are done): "
                                     + "; ".join(f"{name}: {why}" for name, why in failed.items()))


def _maintain(context: dg.OpExecutionContext, config: MaintenanceConfig, warehouse: Warehouse, table: Table) -> None:
    spark, path = warehouse.spark.get_session(), str(warehouse.path(table.key))
    stamp = {"lakehouse_operation": "table_maintenance", "dagster_run_id": context.run.run_id}
    if config.reason.strip():
        stamp["reason"] = config.reason.strip()
    before = TableState.of(spark, path)
    with delta.tracked(spark, path, **stamp):  # OPTIMIZE's and VACUUM's commits carry the run and the reason
        metrics = _optimize(context, spark, table, path)
        optimized = TableState.of(spark, path)
        observe(
            context, table, "optimize", before, optimized, description=f"{strategy(table)} of {table.name}",
            strategy=strategy(table), partitions_touched=int(metrics.get("partitionsOptimized") or 0),
            files_removed=int(metrics.get("numFilesRemoved") or 0), files_added=int(metrics.get("numFilesAdded") or 0),
            zorder_by=list(table.zorder), cluster_by=list(table.cluster_by),
            max_file_bytes=table.optimize_max_file_bytes or 0, dagster_run_id=context.run.run_id,
        )
        vacuumed = delta.vacuum(spark, path, retention_hours=config.retention_hours,
                                allow_short_retention=config.force_retention)
    context.log.info(f"{table.name}: OPTIMIZE {before.files} → {optimized.files} files; VACUUM deleted "
                     f"{len(vacuumed.files)} files ({vacuumed.bytes:,} bytes) older than {config.retention_hours:g} h")
    observe(
        context, table, "vacuum", optimized, TableState.of(spark, path),
        description=f"VACUUM of {table.name} keeping {config.retention_hours:g} h",
        files_deleted=len(vacuumed.files), bytes_deleted=vacuumed.bytes,
        empty_directories_deleted=len(vacuumed.directories),
        partitions_touched=len({delta.partition_of(f) for f in vacuumed.files}),
        retention_hours=config.retention_hours, force_retention=config.force_retention,
        reason=config.reason.strip(), dagster_run_id=context.run.run_id,
    )


def _optimize(context: dg.OpExecutionContext, spark, table: Table, path: str) -> dict:
    def optimize_once() -> dict:
        row = delta.optimize(spark, path, zorder=table.zorder, max_file_bytes=table.optimize_max_file_bytes)
        return row.asDict(recursive=True) if row is not None else {}

    return delta.retrying_conflicts(optimize_once, f"{table.name}: OPTIMIZE", OPTIMIZE_ATTEMPTS, context.log)


def _dry_run(context: dg.OpExecutionContext, config: MaintenanceConfig, warehouse: Warehouse, table: Table) -> None:
    spark, path = warehouse.spark.get_session(), str(warehouse.path(table.key))
    state = TableState.of(spark, path)
    plan = preview_optimize(spark, table, path)
    listed = delta.vacuum(spark, path, retention_hours=config.retention_hours, dry_run=True,
                          allow_short_retention=config.force_retention)
    shown = "\n".join(f"  {f}" for f in listed.files[:FILES_LOGGED])
    more = f"\n  ... and {len(listed.files) - FILES_LOGGED} more" if len(listed.files) > FILES_LOGGED else ""
    context.log.info(
        f"{table.name} (dry run): OPTIMIZE, {plan.summary()}. VACUUM keeping {config.retention_hours:g} h would "
        f"delete {len(listed.files)} files ({listed.bytes:,} bytes) and {len(listed.directories)} empty directories"
        + (f":\n{shown}{more}" if listed.files else ".")
    )
    observe(
        context, table, "dry_run", state, state, description=f"Dry run of maintenance on {table.name}: nothing changed",
        **plan.metadata(), vacuum_files=len(listed.files), vacuum_bytes=listed.bytes,
        vacuum_empty_directories=len(listed.directories),
        vacuum_file_list=listed.files[:FILES_IN_METADATA],
        retention_hours=config.retention_hours, reason=config.reason.strip(), dagster_run_id=context.run.run_id,
    )


@dg.job(
    config=_flat_config,
    tags=SERIAL_TAGS,
    description="OPTIMIZE (compaction; Z-order or re-clustering as declared) and VACUUM of the Delta tables.",
)
def table_maintenance():
    maintain_tables()


maintenance_schedule = dg.ScheduleDefinition(
    name="weekly_table_maintenance",
    job=table_maintenance,
    cron_schedule="0 3 * * 0",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Sundays 03:00 UTC: every table that exists, 7-day VACUUM retention.",
)
