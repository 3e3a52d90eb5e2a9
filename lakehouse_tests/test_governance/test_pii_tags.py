"""The registry tags personal data, derives the statistics exclusion from the tags, and ``tag:pii`` selects those tables."""

import dagster as dg
import pytest

from lakehouse import tables
from lakehouse.definitions import build_definitions
from lakehouse.settings import LakehouseSettings
from lakehouse.tables.registry import PII, STATS_COLUMNS, Column, Table

PERSONAL = {"name", "email", "phone"}


def test_name_email_and_phone_are_pii_wherever_they_appear():
    seen = [(t.name, c.name, c.is_pii) for t in tables.TABLES.values() for c in t.columns if c.name in PERSONAL]
    assert seen and all(is_pii for _, _, is_pii in seen), [s for s in seen if not s[2]]


def test_raw_text_of_the_customer_source_is_pii_and_of_the_sales_source_is_not():
    assert tables.BRONZE_CUSTOMERS_CDC_REJECTS.column("_raw_line").is_pii
    assert tables.BRONZE_CUSTOMERS_CDC.column("_rescued_data").is_pii
    # The sales source carries no personal data: its raw text is where a leak would show up (the pii_leak check).
    assert not tables.BRONZE_SALES.column("_rescued_data").is_pii
    assert not tables.BRONZE_SALES_REJECTS.column("_raw_line").is_pii


def test_the_masked_customers_hold_no_pii_column():
    masked = tables.GOLD_CUSTOMERS_MASKED
    assert not masked.has_pii and masked.key_columns == ["customer_token"] and masked.domain == "customers"
    assert masked.owner == "team:customer-data" and masked.partition_column is None


@pytest.mark.parametrize("table", [t for t in tables.TABLES.values() if t.has_pii], ids=lambda t: t.name)
def test_a_table_with_pii_keeps_statistics_on_every_other_column_only(table):
    stats = table.properties[STATS_COLUMNS].split(",")
    assert not set(stats) & {c.name for c in table.columns_tagged(PII)}
    assert set(table.cluster_by) | set(table.zorder) <= set(stats)
    assert table.partition_column not in stats
    unlisted = {c.name for c in table.columns if not c.is_pii} - set(stats) - {table.partition_column}
    assert all(table.column(name).type not in ("string", "bigint", "timestamp", "date") for name in unlisted), unlisted


def test_tables_without_pii_keep_delta_default_statistics():
    assert all(STATS_COLUMNS not in t.properties for t in tables.TABLES.values() if not t.has_pii)


def _table(**overrides) -> Table:
    args = {
        "key": dg.AssetKey(["silver", "people"]), "description": "People.", "domain": "customers",
        "columns": (Column("id", "bigint", "Id.", tags={"key"}), Column("email", "string", "Email.", tags={PII}),
                    Column("active", "boolean", "Active.")),
    }
    return Table(**{**args, **overrides})


def test_the_statistics_columns_are_derived_not_typed():
    assert _table().properties == {STATS_COLUMNS: "id"}  # boolean has no min/max statistics: Delta refuses it there
    assert _table(properties={STATS_COLUMNS: "id"}).properties == {STATS_COLUMNS: "id"}
    with pytest.raises(ValueError, match="derived from the pii tags"):
        _table(properties={STATS_COLUMNS: "id,email"})


def test_a_pii_column_cannot_be_a_clustering_column():
    with pytest.raises(ValueError, match="cannot be Z-order or clustering"):
        _table(cluster_by=("email",))


def test_tag_pii_selects_exactly_the_tables_with_pii_each_with_an_owner(tmp_path):
    graph = build_definitions(LakehouseSettings.for_root(tmp_path)).resolve_asset_graph()
    selected = dg.AssetSelection.tag("pii", "").resolve(graph)
    assert selected == {t.key for t in tables.TABLES.values() if t.has_pii}
    assert selected >= {tables.BRONZE_CUSTOMERS_CDC.key, tables.BRONZE_CUSTOMERS_CDC_REJECTS.key, tables.SILVER_DIM_CUSTOMER.key}
    assert tables.GOLD_CUSTOMERS_MASKED.key not in selected
    assert all(graph.get(key).owners == ["team:customer-data"] for key in selected)
