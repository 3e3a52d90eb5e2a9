"""The ``restore_table`` job: RESTORE one table to a version or a time, reporting what the restore loses.

Refused, with the table untouched: an unknown table, a table with no Delta table, a version or
timestamp outside the table's history (or that is the current version), a version whose files
VACUUM has removed (the message names the versions still restorable), a missing reason.

Before restoring it reports, in the log and as metadata, every commit after the target (what
was written since and is undone now) and the rows the restore removes and brings back, with
the partitions they fall in (:mod:`lakehouse.operations.loss`). ``dry_run: true`` stops there.
After restoring it records versions before and after, reason and run id as an AssetObservation
on the table's asset and tags the run; the RESTORE commit itself carries them in its
``userMetadata``. RESTORE also brings back the table's metadata of that version (constraints,
properties, columns), so the registry's declaration is applied again afterwards.

Example (run config, as in the launchpad)::

    table: silver.sales
    version: 11                 # or timestamp: "2025-01-05T10:00:00Z" (the last version committed by then)
    reason: "rows deleted by hand on 2025-01-05, ticket OPS-42"
"""

from datetime import datetime

import dagster as dg
from pydantic import Field
from pyspark.errors import PySparkException

from lakehouse import delta
from lakehouse.operations.loss import LostCommit, row_changes
from lakehouse.operations.observe import TableState, observe
from lakehouse.operations.targets import REASON_TAG, SERIAL_TAGS, require_existing, resolve, tag_run
from lakehouse.resources.warehouse import Warehouse
from lakehouse.tables.registry import Table


class RestoreConfig(dg.Config):
    """Which table to restore, to what, and why."""

    table: str = Field(description="The table as layer.table, e.g. silver.sales.")
    version: int | None = Field(default=None, description="Delta version to restore (DESCRIBE HISTORY lists them).")
    timestamp: str | None = Field(
        default=None,
        description="Or an ISO-8601 time (UTC when no zone is given): restores the last version committed by then.",
    )
    reason: str = Field(description="Why: logged, tagged on the run and written into the RESTORE commit.")
    dry_run: bool = Field(default=False,
                          description="Report what the restore would lose and bring back; restore nothing.")


@dg.config_mapping
def _flat_config(config: RestoreConfig) -> dict:
    return {"ops": {"restore_to_version": {"config": config.model_dump()}}}


@dg.op
def restore_to_version(context: dg.OpExecutionContext, config: RestoreConfig, warehouse: Warehouse) -> None:
    """Check the request, report the loss, then RESTORE (see the module docstring)."""
    if (config.version is None) == (config.timestamp is None):
        raise dg.Failure(description="restore_table needs exactly one of version and timestamp; nothing was touched.")
    if not config.reason.strip():
        raise dg.Failure(description="restore_table needs a reason (it is recorded with the restore); "
                                     "nothing was touched.")
    [table] = resolve([config.table])
    require_existing(warehouse, [table])
    spark, path = warehouse.spark.get_session(), str(warehouse.path(table.key))
    history = delta.history(spark, path)
    current = history[0].version
    target = _target_version(spark, path, table, config)
    if target == current:
        raise dg.Failure(description=f"{table.name} is at version {current} already (the version {_asked(config)} "
                                     "resolves to); nothing to restore.")
    missing = delta.missing_files(spark, path, target)
    if missing:
        readable = delta.readable_versions(spark, path)
        raise dg.Failure(description=(
            f"Version {target} of {table.name} cannot be restored: VACUUM has removed {len(missing)} of its files "
            f"(e.g. {missing[0]}); the table was left untouched. Versions still restorable: "
            f"{readable[0]}..{readable[-1]} (DESCRIBE HISTORY shows their times)."
        ))

    lost = [LostCommit.of(c) for c in reversed(history) if c.version > target]
    rows = row_changes(spark, path, table, current, target)
    context.log.warning(_report(table, config, current, target, lost, rows))
    figures = {
        "restored_to_version": target, "version_before": current, "reason": config.reason.strip(),
        "dagster_run_id": context.run_id, "rows_removed": rows.removed, "rows_brought_back": rows.brought_back,
        "partitions_changed": rows.partitions, "columns_removed": rows.columns_removed,
    }
    before = TableState.of(spark, path)
    if config.dry_run:
        observe(context, table, "restore_dry_run", before, before,
                description=f"Dry run: restoring {table.name} to version {target} (nothing changed)",
                **figures, **_lost_figures(lost))
        return

    stamp = {"lakehouse_operation": "restore_table", "dagster_run_id": context.run_id,
             "reason": config.reason.strip(), "restored_to_version": target}
    with delta.tracked(spark, path, **stamp) as write:
        delta.restore(spark, path, version=target)
    restored = write.result.version
    if restored is not None and restored > current + 1:  # someone committed between the report and the RESTORE
        later = [LostCommit.of(c) for c in reversed(delta.history(spark, path)) if current < c.version < restored]
        context.log.warning("Also lost, committed while this run prepared the restore (not in the row counts): "
                            + "; ".join(c.line() for c in later))
        lost = [*lost, *later]
    reapplied, failure = _reapply_declaration(spark, table, path, stamp)
    observe(context, table, "restore", before, TableState.of(spark, path),
            description=f"RESTORE of {table.name} to version {target}: {config.reason.strip()}",
            **figures, **_lost_figures(lost), version_after=restored, declaration_reapplied=reapplied)
    tag_run(context, {REASON_TAG: config.reason.strip(), "lakehouse/restored": f"{table.name}@{target}"})
    context.log.info(f"{table.name} restored to version {target}: version {current} → {restored}. "
                     + (f"Re-applied from the registry: {reapplied}. " if reapplied else "")
                     + _follow_up(rows.partitions))
    if failure:
        raise dg.Failure(description=f"{table.name} was restored to version {target} (now version {restored}), but its "
                                     f"declaration could not be applied again: {failure}")


def _target_version(spark, path: str, table: Table, config: RestoreConfig) -> int:
    """The version asked for, checked against the history (a timestamp: the last version committed by then)."""
    if config.version is not None:
        if config.version < 0:
            raise dg.Failure(description=f"version must be >= 0, not {config.version}; nothing was touched.")
        wanted = str(config.version)
    else:
        text = str(config.timestamp).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise dg.Failure(description=f"timestamp {text!r} is not ISO-8601 (e.g. 2025-01-05T10:00:00Z); "
                                         "nothing was touched.") from None
        wanted = moment.isoformat()
    try:
        return delta.version_at(spark, path, wanted)
    except ValueError as error:
        raise dg.Failure(description=f"Cannot restore {table.name} to {_asked(config)}: {error}. "
                                     "Nothing was touched.") from None


def _reapply_declaration(spark, table: Table, path: str, stamp: dict) -> tuple[list[str], str | None]:
    try:
        with delta.tracked(spark, path, **stamp):
            return delta.align_table(spark, table, path), None
    except (ValueError, PySparkException) as error:
        return [], str(error).splitlines()[0]


def _lost_figures(lost: list[LostCommit]) -> dict[str, object]:
    return {"commits_lost": [c.as_dict() for c in lost], "commits_with_data_lost": sum(c.changed_data for c in lost)}


def _asked(config: RestoreConfig) -> str:
    return f"version {config.version}" if config.version is not None else f"timestamp {config.timestamp}"


def _report(table: Table, config: RestoreConfig, current: int, target: int, lost: list[LostCommit], rows) -> str:
    changed = [c for c in lost if c.changed_data]
    lines = [
        f"{'Dry run: ' if config.dry_run else ''}Restoring {table.name} from version {current} to version {target} "
        f"({_asked(config)}; reason: {config.reason.strip()}).",
        f"Written after version {target} and undone by the restore: {len(lost)} commit(s), "
        f"{len(changed)} of them changed rows:",
        *(f"  {c.line()}" for c in lost),
        f"Rows the restore removes (current EXCEPT ALL target): {rows.removed}; rows it brings back: "
        f"{rows.brought_back}" + (f"; partitions changed: {rows.partitions}" if rows.partitions else "") + ".",
    ]
    if rows.columns_removed:
        lines.append(f"Columns missing at version {target}, their values are lost: {rows.columns_removed}.")
    return "\n".join(lines)


def _follow_up(partitions: list[str]) -> str:
    if not partitions:
        return "Downstream tables were not rebuilt: re-materialize them if they read this table."
    return (f"Downstream tables were not rebuilt: re-materialize partitions {partitions} of the tables that read this "
            "one (README: Runbooks).")


@dg.job(
    config=_flat_config,
    tags=SERIAL_TAGS,
    description="RESTORE one Delta table to a version or time, reporting the commits and rows the restore undoes.",
)
def restore_table():
    restore_to_version()
