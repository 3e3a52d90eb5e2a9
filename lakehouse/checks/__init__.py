"""Asset checks of the lakehouse: reconciliation, keys, volume, schema drift, schemas, declarations.

Example::

    dg.Definitions(asset_checks=build_checks(daily_partitions("2025-01-01")), ...)
"""

import dagster as dg

from lakehouse import tables
from lakehouse.checks.clickstream import build_clickstream_checks
from lakehouse.checks.declared import build_table_checks
from lakehouse.checks.dimensions import build_dimension_checks
from lakehouse.checks.sales import build_sales_checks


def build_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    """Every check: per-partition sales checks, dimension and clickstream checks, and each table's declared checks."""
    return [
        *build_sales_checks(partitions),
        *build_dimension_checks(),
        *build_clickstream_checks(),
        *build_table_checks(tables.TABLES.values(), partitions),
    ]


__all__ = ["build_checks"]
