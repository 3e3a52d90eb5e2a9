"""PySpark's Python worker daemon without two fixed costs per task: Spark runs it for the lakehouse's Python UDFs.

Spark starts ``python -m <spark.python.daemon.module> pyspark.worker`` once per executor and forks a
worker from it per concurrent task; a worker is reused for the next task. Before every task
PySpark's worker calls ``importlib.invalidate_caches()``, and on Python 3.11 that makes each
``zipimport`` finder on ``sys.path`` read its archive's whole directory again: Spark puts
``spark-core_*.jar`` (15 MB, thousands of entries) and ``pyspark.zip`` on the workers' path. After
every task the daemon's worker loop calls ``gc.collect()``, which walks every object the worker
inherited from the daemon (all of PySpark's modules). Measured on a 50-row token UDF
(``lakehouse.governance.tokens.token_column``), 2 cores, 2026-12-07: about 90 ms of Python CPU per
task, 72 % of it re-reading the archives and 25 % collecting; the UDF's own work is microseconds.

This module, named in ``spark.python.daemon.module`` (:data:`lakehouse.resources.spark.PYTHON_DAEMON_CONF`),
runs PySpark's own daemon with two changes:

* a ``zipimport`` finder re-reads its archive only when the file's size or modification time
  changed since that finder last read it (a zip added or replaced by ``addPyFile`` is still seen);
* the objects the daemon holds before it forks (PySpark's modules, already imported) are frozen
  out of the collector (``gc.freeze()``, Python's advice for pre-fork servers), so a worker's
  collection walks only what its tasks created.

The lakehouse sets it only for Spark whose Python workers run this installation (embedded local
Spark, a cluster on this host, the Spark Connect server ``make dev`` starts): elsewhere the
workers may not have the ``lakehouse`` package, and PySpark's default daemon runs.
"""

from __future__ import annotations

import gc
import os
import zipimport

_reread = zipimport.zipimporter.invalidate_caches


def _invalidate_if_changed(self: zipimport.zipimporter) -> None:
    """zipimport's ``invalidate_caches``, skipped while the archive's size and modification time are unchanged."""
    try:
        stat = os.stat(self.archive)
        stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = None
    if stamp is not None and getattr(self, "_lakehouse_stamp", None) == stamp:
        return
    _reread(self)
    self._lakehouse_stamp = stamp  # type: ignore[attr-defined]  # zipimporter instances take attributes


def main() -> None:
    zipimport.zipimporter.invalidate_caches = _invalidate_if_changed  # type: ignore[method-assign]
    # Imported after the patch: importing pyspark.daemon imports the worker module named in sys.argv[1].
    from pyspark import daemon

    gc.collect()
    gc.freeze()
    daemon.manager()


if __name__ == "__main__":
    main()
