"""The customer domain: the change feed of the customer master, the SCD type 2 dimension built from it, and its masked view."""

from __future__ import annotations

import dagster as dg

from lakehouse.tables.common import landing_lineage, reject_columns, rescued_data
from lakehouse.tables.registry import KEY, PII, Column, Table

DOMAIN = "customers"
OWNER = "team:customer-data"


def _landed(field: str, type_: str, description: str, **kwargs) -> Column:
    return Column(field, type_, description, derived_from=(f"landing/customers_cdc.{field}",), **kwargs)


BRONZE_CUSTOMERS_CDC = Table(
    key=dg.AssetKey(["bronze", "customers_cdc"]),
    description="Customer change events, one row per distinct (customer_id, seq), as landed.",
    domain=DOMAIN,
    owner=OWNER,
    columns=(
        _landed("customer_id", "bigint", "Business key of the customer (pseudonymous on its own).", tags={KEY}),
        _landed("op", "string", "INSERT, UPDATE or DELETE."),
        _landed("seq", "bigint", "Source commit sequence: the total order of changes.", tags={KEY}),
        _landed("event_ts", "string", "When the change happened at the source, as landed (ISO-8601)."),
        _landed("name", "string", "Customer's name; absent on DELETE.", tags={PII}),
        _landed("email", "string", "Customer's email address; absent on DELETE.", tags={PII}),
        _landed("phone", "string", "Customer's phone number; absent on DELETE.", tags={PII}),
        _landed("city", "string", "Customer's city; absent on DELETE."),
        rescued_data("customers_cdc", pii=True),
        *landing_lineage("customers_cdc"),
    ),
    # Downstream reads only what was added (the dimension's incremental run reads this feed).
    properties={"delta.enableChangeDataFeed": "true"},
)

BRONZE_CUSTOMERS_CDC_REJECTS = Table(
    key=dg.AssetKey(["bronze", "customers_cdc_rejects"]),
    description="Change-feed lines that are not JSON objects, with the reason.",
    domain=DOMAIN,
    owner=OWNER,
    columns=reject_columns("customers_cdc", pii=True),
)

BRONZE_CUSTOMERS_CDC_FILES = Table(
    key=dg.AssetKey(["bronze", "customers_cdc_files"]),
    description="The change-feed files ingested so far, with their counts (the file log).",
    domain=DOMAIN,
    owner=OWNER,
    columns=(
        Column("file", "string", "Absolute path of the landed file; a file is ingested once.", nullable=False, tags={KEY}),
        Column("size", "bigint", "File size in bytes when it was ingested."),
        Column("modified", "timestamp", "File modification time (when it landed)."),
        Column("lines", "bigint", "Non-blank lines in the file."),
        Column("records", "bigint", "Lines that were JSON objects."),
        Column("rejects", "bigint", "Lines that were not (see bronze/customers_cdc_rejects)."),
        Column("new_rows", "bigint", "Events of the file that were new to bronze/customers_cdc."),
        Column("duplicate_rows", "bigint", "Events of the file already stored (re-deliveries)."),
        Column("run_id", "string", "The Dagster run that ingested the file."),
        Column("logged_at", "timestamp", "When the run logged the file."),
    ),
)

SILVER_DIM_CUSTOMER = Table(
    key=dg.AssetKey(["silver", "dim_customer"]),
    description="Customers as SCD type 2: one row per version, [valid_from, valid_to) in event time.",
    domain=DOMAIN,
    owner=OWNER,
    columns=(
        Column("customer_id", "bigint", "Business key of the customer.", nullable=False, tags={KEY},
               derived_from=("bronze/customers_cdc.customer_id",)),
        Column("name", "string", "Name in this version.", tags={PII}, derived_from=("bronze/customers_cdc.name",)),
        Column("email", "string", "Email address in this version.", tags={PII}, derived_from=("bronze/customers_cdc.email",)),
        Column("phone", "string", "Phone number in this version.", tags={PII}, derived_from=("bronze/customers_cdc.phone",)),
        Column("city", "string", "City in this version.", derived_from=("bronze/customers_cdc.city",)),
        Column("valid_from", "timestamp", "Event time of the change that opened this version (inclusive).", nullable=False,
               derived_from=("bronze/customers_cdc.event_ts",)),
        Column("valid_to", "timestamp", "Event time of the next change or delete (exclusive); NULL while current.",
               derived_from=("bronze/customers_cdc.event_ts",)),
        Column("is_current", "boolean", "True for the open version of a customer that is not deleted.", nullable=False,
               derived_from=("bronze/customers_cdc.op", "bronze/customers_cdc.seq")),
        Column("_valid_from_seq", "bigint", "seq of the event that opened the version: the version's identity.",
               nullable=False, tags={KEY}, derived_from=("bronze/customers_cdc.seq",)),
    ),
    # Clustered by customer, so a MERGE of the customers that changed rewrites only their files.
    cluster_by=("customer_id",),
    properties={"delta.enableChangeDataFeed": "true", "delta.enableDeletionVectors": "true"},
    constraints={"valid_interval": "valid_to IS NULL OR valid_to >= valid_from",
                 "current_is_open": "is_current = (valid_to IS NULL)"},
)

GOLD_CUSTOMERS_MASKED = Table(
    key=dg.AssetKey(["gold", "customers_masked"]),
    description="Current customers for analysts: a keyed token instead of the id, email and phone masked, city; no PII.",
    domain=DOMAIN,
    owner=OWNER,
    columns=(
        Column("customer_token", "string", "HMAC-SHA256 (lowercase hex) of the decimal customer_id under LAKEHOUSE_PII_KEY: "
               "stable, joinable, not reversible without the key.", nullable=False, tags={KEY},
               derived_from=("silver/dim_customer.customer_id",)),
        Column("email_masked", "string", "First two characters, ***, then the domain from the last @ (sa***@email.com).",
               derived_from=("silver/dim_customer.email",)),
        Column("phone_masked", "string", "Every digit but the last 4 replaced by *, other characters kept.",
               derived_from=("silver/dim_customer.phone",)),
        Column("city", "string", "City in the customer's current version.", derived_from=("silver/dim_customer.city",)),
    ),
)

TABLES = (BRONZE_CUSTOMERS_CDC, BRONZE_CUSTOMERS_CDC_REJECTS, BRONZE_CUSTOMERS_CDC_FILES, SILVER_DIM_CUSTOMER,
          GOLD_CUSTOMERS_MASKED)
