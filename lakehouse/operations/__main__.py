"""A table's Delta history from a shell: the first step of the restore runbook (which version was good?).

Prints one line per commit, newest first: version, time (UTC), operation, rows written and
deleted, and who wrote it: the Dagster run and step (and the reason, for maintenance and restores), or
``not a Dagster run`` for a commit made outside the lakehouse's runs, such as a hand-typed
DELETE.

Example::

    python -m lakehouse.operations history silver.sales            # the last 20 commits
    python -m lakehouse.operations history silver.sales --limit 0  # all of them
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from lakehouse import delta, tables
from lakehouse.definitions import build_definitions
from lakehouse.operations.loss import LostCommit
from lakehouse.settings import LakehouseSettings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakehouse.operations", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    history = commands.add_parser("history", help="print a table's Delta history, newest first")
    history.add_argument("table", help="layer.table, e.g. silver.sales")
    history.add_argument("--limit", type=int, default=20, help="commits to print (0: all)")
    args = parser.parse_args(argv)

    try:
        table = tables.by_name(args.table)
    except tables.UnknownTableError as error:
        parser.error(str(error))
    resources = build_definitions(LakehouseSettings.from_env()).resources
    assert resources is not None  # build_definitions binds every resource
    warehouse = resources["warehouse"]
    if not warehouse.exists(table.key):
        parser.error(f"there is no Delta table for {table.name} at {warehouse.path(table.key)}: materialize it first")
    spark, path = warehouse.spark.get_session(), str(warehouse.path(table.key))
    print(f"{table.name} ({path}), newest first:")
    for commit in delta.history(spark, path, limit=args.limit or None):
        stamp = commit.user_metadata
        written_by = (f"run {stamp['dagster_run_id']}" + (f" step {stamp['dagster_step']}" if "dagster_step" in stamp else "")
                      if "dagster_run_id" in stamp else "not a Dagster run")
        reason = f"; reason: {stamp['reason']}" if stamp.get("reason") else ""
        print(f"  {LostCommit.of(commit).line()}   [{written_by}{reason}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
