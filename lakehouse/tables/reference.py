"""Reference data: stores from one CSV, products as SCD type 1 from daily catalog snapshots."""

from __future__ import annotations

import dagster as dg

from lakehouse.tables.registry import KEY, LINEAGE, Column, Table

DOMAIN = "reference"


def _store(field: str, type_: str, description: str, **kwargs) -> Column:
    return Column(field, type_, description, derived_from=(f"landing/stores.{field}",), **kwargs)


def _product(field: str, type_: str, description: str, **kwargs) -> Column:
    return Column(field, type_, description, derived_from=(f"landing/products.{field}",), **kwargs)


SILVER_STORES = Table(
    key=dg.AssetKey(["silver", "stores"]),
    description="Store reference data from stores/stores.csv, one row per store.",
    domain=DOMAIN,
    columns=(
        _store("store_id", "bigint", "Store identifier.", nullable=False, tags={KEY}),
        _store("store_name", "string", "Store name."),
        _store("city", "string", "City the store is in."),
        _store("region", "string", "Sales region of the store."),
    ),
)

SILVER_DIM_PRODUCT = Table(
    key=dg.AssetKey(["silver", "dim_product"]),
    description="Products as SCD type 1: the latest snapshot wins; products missing from it are flagged, not deleted.",
    domain=DOMAIN,
    columns=(
        _product("product_id", "bigint", "Product identifier.", nullable=False, tags={KEY}),
        _product("product_name", "string", "Product name in the latest snapshot holding the product."),
        _product("category", "string", "Product category in that snapshot."),
        _product("list_price", "double", "List price in that snapshot."),
        Column("snapshot_date", "date", "Date of the snapshot whose values the row holds (= last_seen).",
               derived_from=("landing/products.file_name",)),
        Column("first_seen", "date", "Earliest snapshot holding the product.", derived_from=("landing/products.file_name",)),
        Column("last_seen", "date", "Latest snapshot holding the product.", derived_from=("landing/products.file_name",)),
        Column("in_latest_snapshot", "boolean", "Whether the latest snapshot known holds the product.",
               derived_from=("landing/products.file_name",)),
        Column("missing_since", "date", "First snapshot after last_seen (NULL while the product is in the latest one).",
               derived_from=("landing/products.file_name",)),
    ),
)

SILVER_DIM_PRODUCT_REJECTS = Table(
    key=dg.AssetKey(["silver", "dim_product_rejects"]),
    description="Snapshot lines that do not fit the product schema, with file, snapshot date and reason.",
    domain=DOMAIN,
    columns=(
        Column("_raw_line", "string", "The CSV line as it landed."),
        Column("_reject_reason", "string", "Why the line does not fit the schema."),
        Column("snapshot_date", "date", "Date of the snapshot file the line is from."),
        Column("_source_file", "string", "URI of the snapshot file.", tags={LINEAGE}),
    ),
)

TABLES = (SILVER_STORES, SILVER_DIM_PRODUCT, SILVER_DIM_PRODUCT_REJECTS)
