"""``python -m lakehouse.catalog [--out data/catalog]``: write the catalog site (``make catalog``).

Settings come from the ``LAKEHOUSE_*`` variables (the warehouse read), check statuses from the
Dagster instance in ``DAGSTER_HOME`` when that folder exists (``--no-instance``: every check *never
run*). Prints the ``file://`` address of the index.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from pathlib import Path

import dagster as dg

from lakehouse.catalog import generate
from lakehouse.definitions import build_definitions, quiet_warnings
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakehouse.catalog", description="Write the lakehouse catalog, a static site.")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "data" / "catalog", help="folder of the site (default: data/catalog)")
    parser.add_argument("--no-instance", action="store_true", help="do not read check statuses from DAGSTER_HOME")
    args = parser.parse_args(argv)
    quiet_warnings()

    settings = LakehouseSettings.from_env()
    home = os.environ.get("DAGSTER_HOME", "")
    with ExitStack() as stack:
        instance, source = None, "no Dagster instance (DAGSTER_HOME unset or missing): every check never run"
        if args.no_instance:
            source = "no Dagster instance (--no-instance): every check never run"
        elif home and Path(home).is_dir():
            instance = stack.enter_context(dg.DagsterInstance.get())
            source = f"the Dagster instance in {home}"
        catalog = generate(args.out, build_definitions(settings), settings.warehouse, instance, source)
    out = args.out.resolve()
    materialized = sum(doc.state is not None for doc in catalog.tables)
    print(f"catalog of {len(catalog.tables)} tables ({materialized} materialized, {len(catalog.tables) - materialized} "
          f"not materialized yet) from {settings.warehouse}; check statuses from {source}")
    print(f"open {(out / 'index.html').as_uri()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
