"""The sales domain: point-of-sale lines from landing/sales/<day>/ to the daily gold aggregate."""

from __future__ import annotations

from dataclasses import replace

import dagster as dg

from lakehouse.tables.common import landing_lineage, reject_columns, rescued_data
from lakehouse.tables.registry import KEY, PARTITION, REQUIRED, Column, Table

DOMAIN = "sales"
SALE_DATE = Column("sale_date", "date", "Business day of the sale: the landing folder's day (UTC); the partition.",
                   nullable=False, tags={PARTITION})


def _landed(field: str, type_: str, description: str, required: bool = True) -> Column:
    return Column(field, type_, description, tags={REQUIRED} if required else set(), derived_from=(f"landing/sales.{field}",))


LANDED_FIELDS = (
    _landed("sale_id", "string", "Sale identifier as landed (e.g. SALE-000000123); a re-sent sale repeats it."),
    _landed("customer_id", "bigint", "Customer who bought (pseudonymous key into silver/dim_customer)."),
    _landed("product_id", "bigint", "Product sold (key into silver/dim_product)."),
    _landed("store_id", "bigint", "Store of the sale (key into silver/stores)."),
    _landed("quantity", "bigint", "Units sold; > 0 for a valid sale."),
    _landed("amount", "double", "Unit price as landed; > 0 for a valid sale."),
    _landed("discount", "double", "Discount fraction 0 <= d < 1 as landed; NULL when absent.", required=False),
    _landed("sale_ts", "string", "Sale time as landed (ISO-8601 with Z or an offset, not yet parsed)."),
)

BRONZE_SALES = Table(
    key=dg.AssetKey(["bronze", "sales"]),
    description="Landed sales lines that parsed, columns as landed, with _rescued_data and source lineage.",
    domain=DOMAIN,
    columns=(*LANDED_FIELDS, rescued_data("sales"), *landing_lineage("sales"), SALE_DATE),
    partition_column="sale_date",
)

BRONZE_SALES_REJECTS = Table(
    key=dg.AssetKey(["bronze", "sales_rejects"]),
    description="Landed sales lines that are not JSON objects, with the raw line and the reason.",
    domain=DOMAIN,
    columns=(*reject_columns("sales"), SALE_DATE),
    partition_column="sale_date",
)

SILVER_SALES = Table(
    key=dg.AssetKey(["silver", "sales"]),
    description="Valid sales, one row per sale_id, with net_amount.",
    domain=DOMAIN,
    columns=(
        Column("sale_id", "string", "Sale identifier; unique in this table.", nullable=False, tags={KEY},
               derived_from=("bronze/sales.sale_id",)),
        Column("customer_id", "bigint", "Customer who bought (pseudonymous key into silver/dim_customer).", nullable=False,
               derived_from=("bronze/sales.customer_id",)),
        Column("product_id", "bigint", "Product sold.", nullable=False, derived_from=("bronze/sales.product_id",)),
        Column("store_id", "bigint", "Store of the sale.", nullable=False, derived_from=("bronze/sales.store_id",)),
        Column("quantity", "bigint", "Units sold (> 0).", nullable=False, derived_from=("bronze/sales.quantity",)),
        Column("amount", "double", "Unit price (> 0).", nullable=False, derived_from=("bronze/sales.amount",)),
        Column("discount", "double", "Discount fraction, 0 when none landed (0 <= d < 1).", nullable=False,
               derived_from=("bronze/sales.discount",)),
        Column("sale_ts", "timestamp", "Sale time in UTC; its date is sale_date.", nullable=False,
               derived_from=("bronze/sales.sale_ts",)),
        Column("net_amount", "double", "amount * quantity * (1 - discount): what the customer paid.", nullable=False,
               derived_from=("bronze/sales.amount", "bronze/sales.quantity", "bronze/sales.discount")),
        replace(SALE_DATE, derived_from=("bronze/sales.sale_date",)),
        Column("_source_file", "string", "URI of the landing file the sale was read from.",
               derived_from=("bronze/sales._source_file",)),
        Column("_ingested_at", "timestamp", "When that landing file landed (UTC).", derived_from=("bronze/sales._ingested_at",)),
    ),
    partition_column="sale_date",
    zorder=("customer_id",),
    # OPTIMIZE ZORDER cuts each day into floor(day's bytes / this) files with disjoint customer_id ranges, so a
    # one-customer query (no sale_date filter) reads ~1 file per day it bought on. make bench ARGS=layout (2M
    # sales, 30 days; ~1.3 MiB a day, written as 4 files): 96 KiB gives 13 files a day, and the query reads 31 of
    # 390 files, 3.4 of 39.1 MiB (8.7% of the bytes; all 120 files before). Delta's 1 GiB default leaves one file
    # a day: 30 files, 91% of the bytes; 128 KiB: 10 a day, 10.6%. The cost: a full scan opens 390 files, not 120
    # (1.04 -> 1.43 s warm), and the day, sorted by customer, compresses worse (+10%). The file count can't drop
    # below 30 (one per day) = 25% of 120. Sized for this volume: at 1 GB a day it would make ~10,000 files.
    optimize_max_file_bytes=96 * 1024,
    properties={"delta.enableChangeDataFeed": "true"},
    # The drop rules of silver, as the table's own promises: a writer that bypasses the pipeline cannot break them.
    constraints={
        "quantity_positive": "quantity > 0",
        "amount_positive": "amount > 0",
        "discount_in_range": "discount >= 0 AND discount < 1",
        "sale_ts_in_partition_day": "to_date(sale_ts) = sale_date",
    },
)

SILVER_SALES_QUARANTINE = Table(
    key=dg.AssetKey(["silver", "sales_quarantine"]),
    description="Bronze sales that broke a drop rule, with _failed_expectations naming each rule.",
    domain=DOMAIN,
    columns=(
        *(replace(c, derived_from=(f"bronze/sales.{c.name}",))
          for c in (*LANDED_FIELDS, rescued_data("sales"), *landing_lineage("sales"), SALE_DATE)),
        Column("_failed_expectations", "array<string>", "Names of every rule the row broke (drop and warn rules).",
               nullable=False),
    ),
    partition_column="sale_date",
)

GOLD_DAILY_SALES = Table(
    key=dg.AssetKey(["gold", "daily_sales"]),
    description="Revenue, transactions and units per store and day.",
    domain=DOMAIN,
    columns=(
        Column("sale_date", "date", "Business day (UTC); the partition.", nullable=False, tags={PARTITION, KEY},
               derived_from=("silver/sales.sale_date",)),
        Column("store_id", "bigint", "Store.", nullable=False, tags={KEY}, derived_from=("silver/sales.store_id",)),
        Column("revenue", "double", "Sum of net_amount of the day's valid sales.", nullable=False,
               derived_from=("silver/sales.net_amount",)),
        Column("transactions", "bigint", "Number of valid sales.", nullable=False, derived_from=("silver/sales.sale_id",)),
        Column("units", "bigint", "Units sold.", nullable=False, derived_from=("silver/sales.quantity",)),
    ),
    partition_column="sale_date",
)

GOLD_REVENUE_BY_CITY = Table(
    key=dg.AssetKey(["gold", "revenue_by_city"]),
    description="Revenue per day and customer city, each sale joined to the customer version valid at sale_ts.",
    domain="revenue",
    columns=(
        Column("sale_date", "date", "Business day (UTC); the partition.", nullable=False, tags={PARTITION, KEY},
               derived_from=("silver/sales.sale_date",)),
        Column("city", "string", "City of the customer version valid at the sale; NULL when the customer had none then.",
               tags={KEY}, derived_from=("silver/dim_customer.city",)),
        Column("revenue", "double", "Sum of net_amount.", nullable=False, derived_from=("silver/sales.net_amount",)),
        Column("transactions", "bigint", "Number of sales.", nullable=False, derived_from=("silver/sales.sale_id",)),
        Column("customers", "bigint", "Distinct customers who bought.", nullable=False, derived_from=("silver/sales.customer_id",)),
    ),
    partition_column="sale_date",
)

TABLES = (BRONZE_SALES, BRONZE_SALES_REJECTS, SILVER_SALES, SILVER_SALES_QUARANTINE, GOLD_DAILY_SALES, GOLD_REVENUE_BY_CITY)
