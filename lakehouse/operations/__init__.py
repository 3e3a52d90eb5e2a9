"""Operating the Delta tables: weekly maintenance and restore, as op-based jobs over the table registry.

* :data:`table_maintenance` (:mod:`~lakehouse.operations.maintenance`): OPTIMIZE (compaction,
  Z-order or re-clustering as each table declares) and VACUUM, with a dry run and a forced
  short retention that needs a reason; :data:`maintenance_schedule` runs it weekly.
* :data:`restore_table` (:mod:`~lakehouse.operations.restore`): RESTORE one table to a version
  or time, refusing what cannot be restored and reporting what the restore loses.

Both record AssetObservations on the tables' assets (files, bytes, versions; see
:mod:`~lakehouse.operations.observe`) and never run at the same time. The README's "Operating the tables" is the
operator's guide.

Example::

    defs = dg.Definitions(jobs=[table_maintenance, restore_table], schedules=[maintenance_schedule], ...)
    table_maintenance.execute_in_process(run_config={"tables": ["silver.sales"], "dry_run": True}, ...)
"""

from lakehouse.operations.maintenance import MaintenanceConfig, maintenance_schedule, table_maintenance
from lakehouse.operations.restore import RestoreConfig, restore_table

__all__ = ["MaintenanceConfig", "RestoreConfig", "maintenance_schedule", "restore_table", "table_maintenance"]
