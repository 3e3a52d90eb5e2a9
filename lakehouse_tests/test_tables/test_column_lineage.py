"""Column lineage: every gold column traces back through the registry's ``derived_from`` to bronze or landing
columns, and assets record it as ``dagster/column_lineage`` on their definitions and on every materialization."""

from pathlib import Path

import dagster as dg
import pytest

from lakehouse import tables
from lakehouse.definitions import build_definitions
from lakehouse.resources import SparkResource, Warehouse
from lakehouse.settings import LakehouseSettings

DERIVED = [t for t in tables.TABLES.values() if t.layer in ("silver", "gold")]


def origins(reference: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The bronze or landing columns a ``layer/table.column`` reference is computed from, following derived_from."""
    assert reference not in seen, f"column lineage cycle through {reference}"
    table_ref, column_name = reference.split(".", 1)
    layer = table_ref.split("/", 1)[0]
    if layer in ("landing", "bronze"):
        return {reference}
    table = tables.table(dg.AssetKey(table_ref.split("/")))
    column = table.column(column_name)  # fails naming the column when the reference points at nothing
    assert column.derived_from, f"{reference} derives from nothing, so it traces back to no bronze or landing column"
    return set().union(*(origins(upstream, seen | {reference}) for upstream in column.derived_from))


@pytest.mark.parametrize("table", [t for t in DERIVED if t.layer == "gold"], ids=lambda t: t.name)
def test_every_gold_column_traces_back_to_bronze_or_landing_columns(table):
    for column in table.columns:
        assert column.derived_from, f"{table.name}.{column.name} declares no derived_from"
        found = set().union(*(origins(ref) for ref in column.derived_from))
        assert found and all(ref.startswith(("bronze/", "landing/")) for ref in found), (column.name, found)


def test_every_reference_names_a_declared_column_of_an_upstream_table():
    for table in tables.TABLES.values():
        for column in table.columns:
            for ref in column.derived_from:
                table_ref, name = ref.split(".", 1)
                if table_ref.startswith("landing/"):
                    continue
                upstream = tables.table(dg.AssetKey(table_ref.split("/")))
                assert name in upstream.column_names, f"{table.name}.{column.name} derives from undeclared {ref}"


def test_assets_record_the_registrys_lineage_on_definition_and_materializations(tmp_path: Path):
    assert all(t.column_lineage() is not None for t in DERIVED if t.layer == "gold")
    graph = build_definitions(LakehouseSettings.for_root(tmp_path)).get_repository_def().asset_graph
    warehouse = Warehouse(spark=SparkResource(), root=str(tmp_path / "warehouse"))
    for table in DERIVED:
        lineage = table.column_lineage()
        if lineage is None:  # read straight from landing files (silver/stores, silver/dim_product and its rejects): no upstream asset
            assert all(ref.startswith("landing/") for c in table.columns for ref in c.derived_from), table.name
            assert "dagster/column_lineage" not in warehouse.location_metadata(table.key), table.name
            continue
        assert graph.get(table.key).metadata["dagster/column_lineage"] == lineage, table.name
        # The metadata every materialization of the table carries (IO manager and self-writing assets alike).
        assert warehouse.location_metadata(table.key)["dagster/column_lineage"] == lineage, table.name
