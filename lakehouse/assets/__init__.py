"""The lakehouse's assets, one module per layer; key ``[layer, table]``, group = layer."""

from __future__ import annotations

import dagster as dg

from lakehouse.assets import bronze, gold, governance, silver


def build_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """All assets of the lakehouse over the given daily partitions."""
    return [*bronze.build(partitions), *silver.build(partitions), *gold.build(partitions), *governance.build()]
