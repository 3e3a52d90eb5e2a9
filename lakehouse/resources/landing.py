"""The landing zone: where sources drop raw files (read-only for the lakehouse).

Listing happens in plain Python (no Spark), so it is cheap enough for sensors too. A day whose
folder does not exist is an error naming the path; an existing empty folder is a day with no
sales. A missing delivery is not retried (``allow_retries=False``): the assets' retry policy is for
a file caught mid-write or a flaky mount, and waiting seconds does not make a day arrive (the
landing sensors launch the run when it does). Only ``*.json`` files count: temporary or hidden files a source is still writing
(``.part``, ``_tmp``, dot-files) are ignored.

Example::

    landing = LandingZone(root="data/landing")
    landing.sales_files(["2025-01-01"])   # ['/abs/data/landing/sales/2025-01-01/part-0000.json', ...]
    landing.vet(landing.sales_files(["2025-01-01"])).readable
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import dagster as dg
from pydantic import Field

from lakehouse.ingest.incremental import LandedFile, list_landed
from lakehouse.ingest.landing_files import Vetted, vet


class LandingZone(dg.ConfigurableResource):
    """Lists the raw files of the landing zone."""

    root: str = Field(description="Root folder of the landing zone (env LAKEHOUSE_LANDING).")

    def sales_folder(self, day: str) -> Path:
        return Path(self.root) / "sales" / day

    def sales_files(self, days: Sequence[str]) -> list[str]:
        """Every visible ``*.json`` entry of the folders of ``days``; fails naming every missing day folder."""
        missing = [self.sales_folder(day) for day in days if not self.sales_folder(day).is_dir()]
        if missing:
            raise dg.Failure(
                description=(
                    f"No landing folder for {len(missing)} sales day(s): "
                    + ", ".join(str(p) for p in missing)
                    + ". The source has not delivered these days yet: wait for the delivery, or "
                    "materialize only days that have a folder. An existing empty folder means "
                    "'no sales that day' and gives an empty partition."
                ),
                metadata={"missing_folders": [str(p) for p in missing]},
                allow_retries=False,
            )
        return [str(path) for day in days for path in sorted(self.sales_folder(day).glob("*.json")) if _visible(path)]

    def vet(self, paths: Sequence[str]) -> Vetted:
        """``paths`` split into readable, refused (with reasons) and vanished; see :mod:`lakehouse.ingest.landing_files`."""
        return vet(paths, self.root)

    def cdc_files(self) -> list[LandedFile]:
        """The customer change-feed files landed so far, by name, with size and modification time."""
        return list_landed(Path(self.root) / "customers_cdc", zone=Path(self.root))

    def product_snapshot_files(self) -> list[str]:
        """All daily product snapshots ``products/products_<day>.csv``, by day; fails naming a refused file."""
        files = list_landed(Path(self.root) / "products", "products_*.csv", zone=Path(self.root))
        _fail_on_refused(f.refused for f in files)
        return [f.path for f in files]

    def clickstream_folder(self) -> str:
        """The folder clickstream files land in; fails naming it when it does not exist."""
        folder = Path(self.root) / "clickstream"
        if not folder.is_dir():
            raise dg.Failure(description=f"Clickstream landing folder {folder} does not exist. Create it (the source drops "
                             "clickstream/*.json there) or point LAKEHOUSE_LANDING at the right landing zone.",
                             allow_retries=False)
        return str(folder)

    def stores_file(self) -> str:
        """The store reference file; fails naming the path when it has not landed."""
        path = Path(self.root) / "stores" / "stores.csv"
        if not path.is_file():
            raise dg.Failure(
                description=f"Store reference file {path} has not landed. Ask the source to deliver stores/stores.csv.",
                allow_retries=False,
            )
        _fail_on_refused(r.reason for r in vet([str(path)], self.root).refused)
        return str(path)


def _fail_on_refused(refusals: Iterable[str | None]) -> None:
    """A reference file is read whole or not at all: one the landing zone refuses fails the run, naming it."""
    reasons = [reason for reason in refusals if reason]
    if reasons:
        raise dg.Failure(description=" ".join(reasons) + " Replace the file with a plain UTF-8 CSV file.",
                         allow_retries=False)


def _visible(path: Path) -> bool:
    """Not a dot- or underscore-named (in-flight) entry; links, directories and FIFOs too, for :meth:`LandingZone.vet`."""
    return not path.name.startswith((".", "_"))
