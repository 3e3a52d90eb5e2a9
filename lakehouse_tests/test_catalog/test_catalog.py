"""The catalog site of a small lakehouse run in-process, read back from its files.

Once per module: two days of the sales chain (one single-run backfill) and the customer dimension
on an ephemeral instance, then the site generated twice from the same inputs. The pages are read
with the standard library's HTML parser, by the element ids :mod:`lakehouse.catalog` documents.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import functions as F

from lakehouse import delta, tables
from lakehouse.catalog import generate
from lakehouse.catalog.__main__ import main
from lakehouse.definitions import build_definitions
from lakehouse.generator import generate_landing_zone
from lakehouse.settings import LakehouseSettings
from lakehouse_tests.lakehouse_runner import LakehouseRunner

FIRST, LAST = "2025-01-01", "2025-01-02"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


class Page(HTMLParser):
    """Every element of a page with its attributes and its text (its children's included)."""

    def __init__(self, path: Path):
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[tuple[Element, list[str]]] = []
        self.feed(path.read_text(encoding="utf-8"))
        self.close()

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in VOID:
            self._open.append((element, []))

    def handle_startendtag(self, tag, attrs):
        self.elements.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag):
        while self._open:
            element, parts = self._open.pop()
            element.text = "".join(parts)
            if element.tag == tag:
                break

    def handle_data(self, data):
        for _, parts in self._open:
            parts.append(data)

    def find(self, tag: str | None = None, **attrs: str | bool) -> list[Element]:
        """Elements of ``tag`` whose attributes equal ``attrs`` (``True``: present; ``class_`` for a class)."""
        found = []
        for e in self.elements:
            if tag and e.tag != tag:
                continue
            ok = True
            for name, value in attrs.items():
                if name == "class_":
                    ok = ok and str(value) in e.attrs.get("class", "").split()
                else:
                    name = name.replace("_", "-")
                    ok = ok and (name in e.attrs if value is True else e.attrs.get(name) == value)
            if ok:
                found.append(e)
        return found

    def by_id(self, element_id: str) -> Element:
        (element,) = [e for e in self.elements if e.attrs.get("id") == element_id]
        return element

    def within(self, element_id: str, tag: str, **attrs: str | bool) -> list[Element]:
        """Elements of ``tag`` after the element ``element_id`` opened and before the next element with an id of its kind."""
        start = self.elements.index(self.by_id(element_id))
        container = self.elements[start].tag
        end = next((i for i in range(start + 1, len(self.elements))
                    if self.elements[i].tag == container and "id" in self.elements[i].attrs), len(self.elements))
        wanted = {id(e) for e in self.find(tag, **attrs)}
        return [e for e in self.elements[start + 1:end] if id(e) in wanted]


@dataclass
class Built:
    runner: LakehouseRunner
    results: list[dg.ExecuteInProcessResult]
    site: Path
    again: Path

    def page(self, key: str) -> Page:
        return Page(self.site / "tables" / f"{tables.table(dg.AssetKey.from_user_string(key)).name}.html")


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("catalog")
    settings = LakehouseSettings.for_root(root, spark_master="local[2]")
    generate_landing_zone(settings.landing, date(2025, 1, 1), days=2, rows_per_day=60, seed=21, customers=40, products=10,
                          clicks_per_day=20)
    with dg.DagsterInstance.ephemeral() as instance:
        defs = build_definitions(settings)
        runner = LakehouseRunner(defs, settings, instance, spark)
        results = [runner.materialize(FIRST, LAST), runner.run("customer_dimension")]
        generate(root / "site", defs, settings.warehouse, instance)
        generate(root / "again", defs, settings.warehouse, instance)
        yield Built(runner, results, root / "site", root / "again")


def test_every_registry_table_has_a_page_linked_from_the_index(built):
    pages = {p.stem for p in (built.site / "tables").glob("*.html")}
    assert pages == {t.name for t in tables.TABLES.values()}
    index = Page(built.site / "index.html")
    listed = {e.attrs["data-table"] for e in index.find("tr", data_table=True)}
    assert listed == {t.key.to_user_string() for t in tables.TABLES.values()}
    links = {e.attrs["href"] for e in index.find("a", href=True)}
    assert {f"tables/{t.name}.html" for t in tables.TABLES.values()} <= links
    for key in ("gold/daily_sales", "silver/dim_customer"):
        page = built.page(key)
        declared = tables.table(dg.AssetKey.from_user_string(key))
        assert page.by_id("description").text == declared.description
        assert page.by_id("owner").text == declared.owner


def test_daily_sales_lists_each_declared_column_with_its_type_and_description(built):
    page = built.page("gold/daily_sales")
    rows = {e.attrs["data-column"]: e for e in page.find("tr", data_column=True)}
    assert list(rows) == tables.GOLD_DAILY_SALES.column_names
    for column in tables.GOLD_DAILY_SALES.columns:
        row = rows[column.name]
        assert row.attrs["id"] == f"col-{column.name}" and row.attrs["data-type"] == column.type
        assert f"{column.name}{column.type}" in row.text and column.description in row.text
    shown = [e.text for e in page.find("td", class_="column-description")]
    assert shown == [c.description for c in tables.GOLD_DAILY_SALES.columns]


def test_daily_sales_partitions_and_version_are_the_delta_tables(built):
    path = built.runner.path("gold/daily_sales")
    expected = {r["day"]: r["count"] for r in built.runner.table("gold/daily_sales")
                .groupBy(F.date_format("sale_date", "yyyy-MM-dd").alias("day")).count().collect()}
    page = built.page("gold/daily_sales")
    shown = {e.attrs["data-partition"]: int(e.attrs["data-rows"]) for e in page.find("tr", data_partition=True)}
    assert shown == expected and set(shown) == {FIRST, LAST}
    assert int(page.by_id("row-count").attrs["data-rows"]) == sum(expected.values())

    newest = delta.history(built.runner.spark, path, limit=1)[0]
    version = page.by_id("version")
    assert int(version.attrs["data-version"]) == newest.version == delta.latest_version(built.runner.spark, path)
    assert version.attrs["data-committed-at"].endswith(" UTC")
    assert newest.timestamp.strftime("%Y-%m-%d %H:%M") in version.attrs["data-committed-at"]


def test_an_unpartitioned_tables_rows_are_sparks(built):
    # Rows come from the log's file statistics (deletion vectors: test_delta_log.py); Spark counts the rows it reads.
    page = built.page("silver/dim_customer")
    assert page.by_id("version").attrs["data-version"] == str(delta.latest_version(built.runner.spark, built.runner.path("silver/dim_customer")))
    assert int(page.by_id("row-count").attrs["data-rows"]) == built.runner.table("silver/dim_customer").count()


def _expected_statuses(results: list[dg.ExecuteInProcessResult]) -> dict[tuple[str, str], str]:
    """Each check's status from the runs' own evaluations: the latest per partition, the worst over partitions."""
    latest: dict[tuple[str, str], dict[str | None, dg.AssetCheckEvaluation]] = {}
    for result in results:
        for event in result.all_events:
            if event.event_type_value == "ASSET_CHECK_EVALUATION":
                e = event.event_specific_data
                assert isinstance(e, dg.AssetCheckEvaluation)
                latest.setdefault((e.asset_key.to_user_string(), e.check_name), {})[e.partition] = e
    statuses = {}
    for key, by_partition in latest.items():
        failed = [e for e in by_partition.values() if not e.passed]
        statuses[key] = ("passed" if not failed else
                         "failed" if any(e.severity == dg.AssetCheckSeverity.ERROR for e in failed) else "warning")
    return statuses


def test_every_check_shows_its_latest_status_from_the_runs(built):
    expected = _expected_statuses(built.results)
    graph = built.runner.defs.resolve_asset_graph()
    seen = 0
    for table in tables.TABLES.values():
        page = built.page(table.key.to_user_string())
        shown = {e.attrs["data-check"]: e.attrs["data-status"] for e in page.find("tr", data_check=True)}
        assert set(shown) == {k.name for k in graph.get(table.key).check_keys}
        for name, status in shown.items():
            assert status == expected.get((table.key.to_user_string(), name), "never run"), (table.name, name)
            seen += 1
    daily = {e.attrs["data-check"]: e for e in built.page("gold/daily_sales").find("tr", data_check=True)}
    assert daily and all(e.attrs["data-status"] == "passed" and "2 of 2 partitions passed" in e.text for e in daily.values())
    never = built.page("gold/revenue_by_city").find("tr", data_check=True)  # its job (customer_revenue) never ran
    assert never and all(e.attrs["data-status"] == "never run" and "never run" in e.text for e in never)
    assert seen == len(graph.asset_check_keys)


def test_dim_customer_marks_its_pii_columns(built):
    page = built.page("silver/dim_customer")
    rows = page.find("tr", data_column=True)
    marked = {e.attrs["data-column"] for e in rows if "pii" in e.attrs["data-tags"].split()}
    highlighted = {e.attrs["data-column"] for e in rows if "pii" in e.attrs.get("class", "").split()}
    declared = {c.name for c in tables.SILVER_DIM_CUSTOMER.columns_tagged(tables.PII)}
    assert marked == highlighted == declared == {"name", "email", "phone"}
    for e in rows:
        assert ("pii" in e.text) == (e.attrs["data-column"] in declared)


def test_upstream_and_downstream_tables_are_the_asset_graphs(built):
    graph = built.runner.defs.resolve_asset_graph()
    for table in tables.TABLES.values():
        page = built.page(table.key.to_user_string())
        node = graph.get(table.key)
        for element_id, keys in (("upstream", node.parent_keys), ("downstream", node.child_keys)):
            shown = {e.attrs["data-table"] for e in page.within(element_id, "li", data_table=True)}
            assert shown == {k.to_user_string() for k in keys}, (table.name, element_id)


def test_gold_lineage_reaches_back_to_bronze_and_landed_columns(built):
    page = built.page("gold/daily_sales")
    nodes = {e.attrs["data-ref"] for e in page.within("lineage-graph", "g", data_ref=True)}
    edges = {(e.attrs["data-from"], e.attrs["data-to"]) for e in page.within("lineage-graph", "path", class_="edge")}
    assert {ref for edge in edges for ref in edge} <= nodes
    upstream_of: dict[str, set[str]] = {}
    for source, target in edges:
        upstream_of.setdefault(target, set()).add(source)

    def closure(ref: str) -> set[str]:
        found, stack = set(), [ref]
        while stack:
            for source in upstream_of.get(stack.pop(), ()):
                if source not in found:
                    found.add(source)
                    stack.append(source)
        return found

    revenue = closure("gold/daily_sales.revenue")
    assert {"silver/sales.net_amount", "bronze/sales.amount", "bronze/sales.quantity", "landing/sales.amount"} <= revenue
    assert {f"gold/daily_sales.{c}" for c in tables.GOLD_DAILY_SALES.column_names} <= nodes
    # Only columns the table derives from are drawn, not every column of the tables upstream.
    assert "silver/sales._ingested_at" not in nodes
    # The index draws every table once, with the asset graph's edges.
    index = Page(built.site / "index.html")
    assert {e.attrs["data-ref"] for e in index.within("table-graph", "g", data_ref=True)} == {
        t.key.to_user_string() for t in tables.TABLES.values()}
    assert ("silver/sales", "gold/daily_sales") in {
        (e.attrs["data-from"], e.attrs["data-to"]) for e in index.within("table-graph", "path", class_="edge")}


def test_the_search_index_finds_email_in_the_tables_that_hold_it(built):
    index = Page(built.site / "index.html")
    entries = json.loads(index.by_id("search-index").text)
    email = [e for e in entries if e["column"] == "email"]
    holding = {t.name for t in tables.TABLES.values() if "email" in t.column_names}
    assert {e["table"] for e in email} == holding == {"bronze.customers_cdc", "silver.dim_customer"}
    for entry in email:
        assert "pii" in entry["tags"] and entry["description"]
        page, _, anchor = entry["url"].partition("#")
        assert Page(built.site / page).by_id(anchor).attrs["data-column"] == "email"
    assert {e["table"] for e in entries if e["kind"] == "table"} == {t.name for t in tables.TABLES.values()}
    assert len([e for e in entries if e["kind"] == "column"]) == sum(len(t.columns) for t in tables.TABLES.values())
    # Every page carries the same index and the search box the script fills.
    for path in (built.site / "tables").glob("*.html"):
        page = Page(path)
        assert json.loads(page.by_id("search-index").text) == entries
        assert page.by_id("search").tag == "input" and page.by_id("results").tag == "ol"


NETWORK = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


def test_no_page_needs_the_network(built):
    for path in [built.site / "index.html", *(built.site / "tables").glob("*.html")]:
        page = Page(path)
        for e in page.elements:
            for name, value in e.attrs.items():
                assert not NETWORK.match(value), (path.name, e.tag, name, value)
            assert not (e.tag in ("script", "img", "iframe") and "src" in e.attrs), (path.name, e.tag)
            assert not (e.tag == "link" and e.attrs.get("rel") == "stylesheet"), path.name
        for style in page.find("style"):
            assert "@import" not in style.text and not re.search(r"url\(", style.text), path.name
        for href in (e.attrs["href"] for e in page.find("a", href=True)):
            target = href.split("#")[0]
            assert target == "" or (path.parent / target).resolve().is_file(), (path.name, href)


def test_generation_is_deterministic(built):
    files = sorted(p.relative_to(built.site) for p in built.site.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(built.again) for p in built.again.rglob("*") if p.is_file())
    for relative in files:
        assert (built.site / relative).read_bytes() == (built.again / relative).read_bytes(), relative


def test_the_command_writes_the_site_of_an_empty_warehouse(built, tmp_path, monkeypatch, capsys):
    # `make catalog` before anything ran: every page says so, and no check has a status.
    monkeypatch.setenv("LAKEHOUSE_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("LAKEHOUSE_LANDING", str(built.runner.settings.landing))
    monkeypatch.setenv("LAKEHOUSE_START_DATE", FIRST)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["--out", str(tmp_path / "site")]) == 0
    assert f"open {(tmp_path / 'site' / 'index.html').as_uri()}" in capsys.readouterr().out
    for table in tables.TABLES.values():
        page = Page(tmp_path / "site" / "tables" / f"{table.name}.html")
        assert page.by_id("version").text == "not materialized yet"
        assert {e.attrs["data-status"] for e in page.find("tr", data_check=True)} <= {"never run"}
    # A table removed from the registry loses its page on the next run.
    stale = tmp_path / "site" / "tables" / "gold.retired.html"
    shutil.copy(tmp_path / "site" / "index.html", stale)
    assert main(["--out", str(tmp_path / "site"), "--no-instance"]) == 0
    assert not stale.exists()
