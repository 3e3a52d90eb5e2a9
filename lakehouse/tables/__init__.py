"""Every table of the lakehouse, declared once: :data:`TABLES` by asset key, and each by name.

Assets, the IO manager, checks, jobs, maintenance, governance and the catalog read these
declarations (:mod:`lakehouse.tables.registry` explains what a declaration holds); nothing else
spells a table's key, schema or layout.

Example::

    from lakehouse import tables
    tables.SILVER_SALES.schema                 # StructType of the declared columns
    tables.by_name("silver.sales")             # the same Table, as a user names it
    [t.name for t in tables.TABLES.values() if t.has_pii]
"""

from __future__ import annotations

import dagster as dg

from lakehouse.tables import clickstream, customers, governance, reference, sales
from lakehouse.tables.clickstream import BRONZE_CLICKSTREAM, BRONZE_CLICKSTREAM_REJECTS, GOLD_HOURLY_EVENTS
from lakehouse.tables.customers import (
    BRONZE_CUSTOMERS_CDC,
    BRONZE_CUSTOMERS_CDC_FILES,
    BRONZE_CUSTOMERS_CDC_REJECTS,
    GOLD_CUSTOMERS_MASKED,
    SILVER_DIM_CUSTOMER,
)
from lakehouse.tables.governance import GOVERNANCE_ERASURE_LOG, GOVERNANCE_ERASURE_REQUEST_REJECTS
from lakehouse.tables.reference import SILVER_DIM_PRODUCT, SILVER_DIM_PRODUCT_REJECTS, SILVER_STORES
from lakehouse.tables.registry import KEY, LINEAGE, PARTITION, PII, Column, Table
from lakehouse.tables.sales import (
    BRONZE_SALES,
    BRONZE_SALES_REJECTS,
    GOLD_DAILY_SALES,
    GOLD_REVENUE_BY_CITY,
    SILVER_SALES,
    SILVER_SALES_QUARANTINE,
)

TABLES: dict[dg.AssetKey, Table] = {
    table.key: table for module in (sales, customers, reference, clickstream, governance) for table in module.TABLES
}


class UnknownTableError(KeyError):
    """A table name that is not in the registry (the message lists the known ones)."""

    def __str__(self) -> str:
        return str(self.args[0])


def table(key: dg.AssetKey) -> Table:
    """The declaration of the table with asset key ``key``."""
    try:
        return TABLES[key]
    except KeyError:
        raise UnknownTableError(f"no table {key.to_user_string()} in the registry (lakehouse/tables)") from None


def by_name(name: str) -> Table:
    """The table a user names ``layer.table`` (or ``layer/table``); :class:`UnknownTableError` lists the known names."""
    for candidate in TABLES.values():
        if name in (candidate.name, candidate.key.to_user_string()):
            return candidate
    known = ", ".join(sorted(t.name for t in TABLES.values()))
    raise UnknownTableError(f"unknown table {name!r}; the registry's tables are: {known}")


__all__ = [
    "BRONZE_CLICKSTREAM", "BRONZE_CLICKSTREAM_REJECTS", "BRONZE_CUSTOMERS_CDC", "BRONZE_CUSTOMERS_CDC_FILES",
    "BRONZE_CUSTOMERS_CDC_REJECTS", "BRONZE_SALES", "BRONZE_SALES_REJECTS", "GOLD_CUSTOMERS_MASKED", "GOLD_DAILY_SALES",
    "GOLD_HOURLY_EVENTS", "GOLD_REVENUE_BY_CITY", "GOVERNANCE_ERASURE_LOG", "GOVERNANCE_ERASURE_REQUEST_REJECTS", "KEY",
    "LINEAGE", "PARTITION", "PII", "SILVER_DIM_CUSTOMER", "SILVER_DIM_PRODUCT",
    "SILVER_DIM_PRODUCT_REJECTS", "SILVER_SALES", "SILVER_SALES_QUARANTINE", "SILVER_STORES", "TABLES", "Column",
    "Table", "UnknownTableError", "by_name", "table",
]
