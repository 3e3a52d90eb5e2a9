"""Silver: one row per valid, distinct business entity; sales facts (:mod:`.sales`) and dimensions (:mod:`.dimensions`)."""

import dagster as dg

from lakehouse.assets.silver import dimensions, sales


def build(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [*sales.build(partitions), *dimensions.build()]
