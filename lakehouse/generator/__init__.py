"""Deterministic landing-zone generator: sales, customer CDC, products, stores and clicks,
with realistic faults at configurable rates and a manifest of the expected counts.

Example::

    from lakehouse.generator import FaultRates, generate_landing_zone
    manifest = generate_landing_zone(Path("data/landing"), date(2025, 1, 1), days=7,
                                     rows_per_day=2000, seed=42, faults=FaultRates())

or, from a shell: ``lakehouse-generate --out data/landing --days 7 --force``.
"""

from lakehouse.generator.faults import FaultRates
from lakehouse.generator.landing import generate_landing_zone
from lakehouse.generator.manifest import Manifest, SalesDay

__all__ = ["FaultRates", "Manifest", "SalesDay", "generate_landing_zone"]
