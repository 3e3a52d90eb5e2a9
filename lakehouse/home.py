"""Prepare a Dagster home for the lakehouse: ``dagster.yaml`` from ``config/`` and automation shown as on.

The lakehouse's automation runs as sensors (``lakehouse_automation``, declared running). Dagster
still keeps an older, instance-wide "auto-materialize paused" flag that only the pre-sensor daemon
obeys; it starts out *paused*, so every job header in the UI would say "Auto-materialize off"
while automation runs. A new home gets the flag set to match reality (the header links to the
toggle, which can still change it); an existing home is left as its owner set it.

Example::

    python -m lakehouse.home data/dagster_home      # what scripts/setup.sh runs
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from lakehouse.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "config" / "dagster.yaml"


def prepare_home(home: Path) -> bool:
    """Create ``home`` with the project's ``dagster.yaml`` unless it has one; True when it was new."""
    import dagster as dg
    from dagster._daemon.asset_daemon import set_auto_materialize_paused

    home.mkdir(parents=True, exist_ok=True)
    if (home / "dagster.yaml").is_file():
        return False
    shutil.copy(CONFIG, home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        set_auto_materialize_paused(instance, False)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakehouse.home", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("home", type=Path, help="the DAGSTER_HOME folder")
    args = parser.parse_args(argv)
    if prepare_home(args.home):
        print(f"created the Dagster home {args.home}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
