"""The catalog as static HTML: ``index.html`` and ``tables/<layer>.<table>.html``, self-contained and deterministic.

Every page inlines its style, its script and the search index (see :mod:`lakehouse.catalog` for
the element ids), links only to other pages of the site by relative path, and holds no time but
those read from the inputs, so the same catalog always renders to the same bytes.

Example::

    pages = render_site(catalog)          # {'index.html': '<!DOCTYPE html>...', 'tables/gold.daily_sales.html': ...}
    write_site(catalog, Path("data/catalog"))
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from lakehouse.catalog import lineage
from lakehouse.catalog.check_status import SEVERITY_ORDER, CheckStatus
from lakehouse.catalog.model import LAYERS, Catalog, ColumnDoc, TableDoc
from lakehouse.catalog.static import CSS, SCRIPT

NOT_MATERIALIZED = "not materialized yet"
SHOWN_PARTITIONS = 12  # a check's failing partitions listed by name; the rest counted


def search_index(catalog: Catalog) -> list[dict]:
    """One entry per table and per column: what ``#search`` matches (names, descriptions, tags) and where it links."""
    entries = []
    for doc in catalog.tables:
        table_tags = sorted({doc.layer, doc.domain, *(["pii"] if doc.pii_columns else [])})
        entries.append({"kind": "table", "table": doc.name, "key": doc.key, "column": "", "type": "",
                        "description": doc.description, "tags": table_tags, "url": doc.page})
        for c in doc.columns:
            entries.append({"kind": "column", "table": doc.name, "key": doc.key, "column": c.name, "type": c.type,
                            "description": c.description, "tags": list(c.tags), "url": f"{doc.page}#col-{c.name}"})
    return entries


def _json_script(data: object) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page(title: str, body: str, index_json: str, root: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{CSS}</style>
</head>
<body data-root="{escape(root)}">
<header>
<a class="home" href="{escape(root)}index.html">Lakehouse catalog</a>
<div class="search">
<input id="search" type="search" autocomplete="off" spellcheck="false" aria-label="Search tables and columns"
 placeholder="Search tables and columns: a name, words of a description, tag:pii">
<ol id="results" aria-live="polite"></ol>
</div>
</header>
<main>
{body}
</main>
<script type="application/json" id="search-index">{index_json}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""


def _tags(tags: tuple[str, ...] | list[str]) -> str:
    return "".join(f'<span class="tag{" tag-pii" if t == "pii" else ""}">{escape(t)}</span>' for t in tags)


def _slug(status: str) -> str:
    return status.replace(" ", "-")


def _rows(n: int | None) -> str:
    return "unknown (a file has no statistics)" if n is None else f"{n:,}"


def _ref_link(ref: str, docs: dict[str, TableDoc], root: str) -> str:
    table, _, column = ref.partition(".")
    doc = docs.get(table)
    if doc is None:
        return f'<code title="a field of the landing files">{escape(ref)}</code>'
    return f'<a href="{escape(root + doc.page)}#col-{escape(column)}"><code>{escape(ref)}</code></a>'


def _table_link(key: str, docs: dict[str, TableDoc], root: str) -> str:
    doc = docs.get(key)
    return f'<a href="{escape(root + doc.page)}">{escape(key)}</a>' if doc else escape(key)


def _column_row(c: ColumnDoc, docs: dict[str, TableDoc], root: str) -> str:
    derived = ", ".join(_ref_link(r, docs, root) for r in c.derived_from) or '<span class="missing">—</span>'
    pii = ' class="pii"' if c.pii else ""
    return (f'<tr id="col-{escape(c.name)}"{pii} data-column="{escape(c.name)}" '
            f'data-type="{escape(c.type)}" data-tags="{escape(" ".join(c.tags))}">'
            f'<td><code>{escape(c.name)}</code></td><td><code>{escape(c.type)}</code></td>'
            f'<td>{"yes" if c.nullable else "no"}</td><td class="column-description">{escape(c.description)}</td>'
            f"<td>{_tags(c.tags)}</td><td>{derived}</td></tr>")


def _check_summary(status: CheckStatus) -> str:
    if not status.partitions:
        return ""
    total = len(status.partitions)
    text = f"{status.partitions_passed} of {total} partitions passed"
    others = status.not_passed
    if others:
        shown = ", ".join(f"{p} ({s})" for p, s in list(others.items())[:SHOWN_PARTITIONS])
        more = f" and {len(others) - SHOWN_PARTITIONS} more" if len(others) > SHOWN_PARTITIONS else ""
        text += f"; not passed: {shown}{more}"
    return escape(text)


def table_page(doc: TableDoc, catalog: Catalog, index_json: str) -> str:
    """The page of one table (see :mod:`lakehouse.catalog` for its element ids)."""
    root, docs, state = "../", catalog.by_key(), doc.state
    if state is None:
        version = f'<dd id="version" class="missing" data-version="">{NOT_MATERIALIZED}</dd>'
        rows = f'<dd id="row-count" class="missing" data-rows="">{NOT_MATERIALIZED}</dd>'
    elif state.problem:
        version = f'<dd id="version" class="missing" data-version="">{escape(state.problem)}</dd>'
        rows = '<dd id="row-count" class="missing" data-rows="">unknown</dd>'
    else:
        version = (f'<dd id="version" data-version="{state.version}" data-committed-at="{escape(state.committed_at)}">'
                   f'{state.version} <span class="missing">({escape(state.operation or "commit")} at '
                   f"{escape(state.committed_at)})</span></dd>")
        rows = (f'<dd id="row-count" data-rows="{"" if state.rows is None else state.rows}">{_rows(state.rows)} '
                f'<span class="missing">in {state.files:,} files</span></dd>')
    facts = f"""<dl class="facts" id="facts">
<dt>Asset key</dt><dd><code>{escape(doc.key)}</code></dd>
<dt>Layer · domain</dt><dd>{escape(doc.layer)} · {escape(doc.domain)}</dd>
<dt>Owner</dt><dd id="owner">{escape(doc.owner)}</dd>
<dt>Location</dt><dd><code>{escape(doc.path)}</code></dd>
<dt>Layout</dt><dd>{escape(doc.layout)}</dd>
<dt>Latest version</dt>{version}
<dt>Rows</dt>{rows}
<dt>Freshness policy</dt><dd id="freshness">{escape(doc.freshness)}</dd>
<dt>Automation</dt><dd id="automation">{escape(doc.automation)}</dd>
</dl>"""

    columns = "\n".join(_column_row(c, docs, root) for c in doc.columns)
    pii = (f'<p>Personal data: {", ".join(f"<code>{escape(n)}</code>" for n in doc.pii_columns)} '
           f'{_tags(["pii"])}</p>') if doc.pii_columns else ""

    if state is None or state.problem:
        partitions = f'<p class="missing">{NOT_MATERIALIZED if state is None else "unknown: " + escape(state.problem)}</p>'
    elif doc.partition_column:
        body = "\n".join(f'<tr data-partition="{escape(value)}" data-rows="{"" if n is None else n}">'
                         f'<td><code>{escape(value)}</code></td><td class="num">{_rows(n)}</td></tr>' for value, n in state.partitions)
        partitions = (f'<p>{len(state.partitions):,} partitions of <code>{escape(doc.partition_column)}</code>, '
                      f"live rows from the Delta log (file statistics minus deletion vectors).</p>"
                      f'<table class="grid" id="partition-table"><thead><tr><th>{escape(doc.partition_column)}</th>'
                      f'<th class="num">rows</th></tr></thead><tbody>\n{body}\n</tbody></table>')
    else:
        partitions = f"<p>Not partitioned: {_rows(state.rows)} live rows in {state.files:,} files.</p>"

    blocking = ' <span class="tag">blocking</span>'
    check_rows = "\n".join(
        f'<tr data-check="{escape(c.name)}" data-status="{escape(c.status.status)}"><td><code>{escape(c.name)}</code>'
        f'{blocking if c.blocking else ""}</td>'
        f'<td class="status status-{_slug(c.status.status)}">{escape(c.status.status)}</td>'
        f"<td>{_check_summary(c.status)}</td>"
        f'<td class="mono">{escape(c.status.evaluated_at.strftime("%Y-%m-%d %H:%M:%S UTC")) if c.status.evaluated_at else ""}</td>'
        f"<td>{escape(c.description)}"
        + (f'<br><span class="missing">{escape(c.status.detail)}</span>' if c.status.detail else "") + "</td></tr>"
        for c in doc.checks
    )
    checks = (f'<table class="grid" id="check-table"><thead><tr><th>check</th><th>latest status</th><th>partitions</th>'
              f"<th>evaluated</th><th>what it checks</th></tr></thead><tbody>\n{check_rows}\n</tbody></table>"
              if doc.checks else '<p class="missing">No checks.</p>')

    def listing(element_id: str, keys: tuple[str, ...]) -> str:
        items = "".join(f'<li data-table="{escape(k)}">{_table_link(k, docs, root)}</li>' for k in keys)
        return f'<ul id="{element_id}">{items}</ul>' if keys else f'<ul id="{element_id}"><li class="missing">none</li></ul>'

    drawing = lineage.svg(lineage.column_graph(catalog, doc.key), prefix=root, element_id="lineage-graph",
                          label=f"column lineage of {doc.key}")
    properties = "".join(f"<tr><td><code>{escape(k)}</code></td><td><code>{escape(v)}</code></td></tr>" for k, v in doc.properties)
    constraints = "".join(f"<tr><td><code>{escape(k)}</code></td><td><code>{escape(v)}</code></td></tr>" for k, v in doc.constraints)
    body = f"""<p class="layer-nav"><a href="../index.html#layer-{escape(doc.layer)}">{escape(doc.layer)}</a></p>
<h1 id="table-name">{escape(doc.name)}</h1>
<p class="description" id="description">{escape(doc.description)}</p>
{facts}
<section id="columns"><h2>Columns</h2>{pii}
<table class="grid" id="column-table"><thead><tr><th>column</th><th>type</th><th>nullable</th><th>description</th><th>tags</th>
<th>derived from</th></tr></thead><tbody>
{columns}
</tbody></table></section>
<section id="partitions"><h2>Partitions</h2>{partitions}</section>
<section id="checks"><h2>Checks</h2><p>Latest status from {escape(catalog.checks_source)}.</p>{checks}</section>
<section id="lineage"><h2>Lineage</h2>
<h3>Upstream tables</h3>{listing("upstream", doc.upstream)}
<h3>Downstream tables</h3>{listing("downstream", doc.downstream)}
<h3>Column lineage</h3>
<p>Each column of this table and the columns it is derived from, back to the landed files' fields (yellow).
Hover a column to follow it.</p>
<div class="drawing">{drawing}</div></section>
<section id="properties"><h2>Table properties and constraints</h2>
<table class="grid"><tbody>{properties or '<tr><td class="missing">no table properties</td></tr>'}</tbody></table>
<h3>CHECK constraints</h3>
<table class="grid"><tbody>{constraints or '<tr><td class="missing">none</td></tr>'}</tbody></table></section>"""
    return _page(f"{doc.name} · lakehouse catalog", body, index_json, root)


def _checks_cell(doc: TableDoc) -> str:
    counts: dict[str, int] = {}
    for c in doc.checks:
        counts[c.status.status] = counts.get(c.status.status, 0) + 1
    return " · ".join(f'<span class="status status-{_slug(s)}">{n} {escape(s)}</span>'
                      for s, n in sorted(counts.items(), key=lambda item: SEVERITY_ORDER.index(item[0])))


def index_page(catalog: Catalog, index_json: str) -> str:
    """The index: every table by layer, the table-level lineage, and the search box."""
    columns = sum(len(doc.columns) for doc in catalog.tables)
    materialized = sum(doc.state is not None for doc in catalog.tables)
    layers = [layer for layer in LAYERS if any(doc.layer == layer for doc in catalog.tables)]
    layers += sorted({doc.layer for doc in catalog.tables} - set(layers))
    sections = []
    for layer in layers:
        rows = []
        for doc in (d for d in catalog.tables if d.layer == layer):
            state = doc.state
            status = (f'<span class="missing">{NOT_MATERIALIZED}</span>' if state is None else
                      f'<span class="missing">{escape(state.problem)}</span>' if state.problem else
                      f"version {state.version} · {escape(state.committed_at)}")
            rows.append(
                f'<tr data-table="{escape(doc.key)}"><td><a href="{escape(doc.page)}"><code>{escape(doc.key)}</code></a>'
                f'{_tags(["pii"]) if doc.pii_columns else ""}</td><td>{escape(doc.description)}</td>'
                f"<td>{escape(doc.owner)}</td><td>{escape(doc.layout)}</td>"
                f'<td class="num">{"" if state is None or state.problem else _rows(state.rows)}</td>'
                f"<td>{status}</td><td>{_checks_cell(doc)}</td></tr>")
        sections.append(
            f'<section class="layer" id="layer-{escape(layer)}"><h2>{escape(layer)}</h2>'
            f'<table class="grid tables"><thead><tr><th>table</th><th>what it holds</th><th>owner</th><th>layout</th>'
            f'<th class="num">rows</th><th>latest version</th><th>checks</th></tr></thead><tbody>\n'
            + "\n".join(rows) + "\n</tbody></table></section>")
    nav = " ".join(f'<a href="#layer-{escape(layer)}">{escape(layer)}</a>' for layer in layers)
    body = f"""<h1>Lakehouse catalog</h1>
<p class="description">{len(catalog.tables)} tables ({materialized} materialized), {columns} columns.
Tables from the registry (<code>lakehouse/tables</code>) and the Dagster definitions; versions, partitions and row counts from the
Delta logs under <code>{escape(catalog.warehouse)}</code>; check statuses from {escape(catalog.checks_source)}.
Search any table or column above: a name (<code>email</code>), words of a description, or a tag (<code>tag:pii</code>).</p>
<p class="layer-nav">{nav}</p>
<section id="overview"><h2>Tables by layer</h2>
<p>Each table and the tables it feeds (from the asset graph); <span class="tag tag-pii">pii</span> tables in red.</p>
<div class="drawing">{lineage.svg(lineage.table_graph(catalog), element_id="table-graph", label="tables by layer")}</div></section>
{chr(10).join(sections)}"""
    return _page("Lakehouse catalog", body, index_json, "")


def render_site(catalog: Catalog) -> dict[str, str]:
    """Every page of the site by its path relative to the site's root."""
    index_json = _json_script(search_index(catalog))
    pages = {"index.html": index_page(catalog, index_json)}
    for doc in catalog.tables:
        pages[doc.page] = table_page(doc, catalog, index_json)
    return pages


def write_site(catalog: Catalog, out: Path) -> list[Path]:
    """Write the site into ``out`` (created if missing); table pages of tables no longer registered are removed."""
    pages = render_site(catalog)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    for stale in sorted((out / "tables").glob("*.html")):
        if f"tables/{stale.name}" not in pages:
            stale.unlink()
    written = []
    for relative, html in pages.items():
        path = out / relative
        path.write_text(html, encoding="utf-8")
        written.append(path)
    return written


__all__ = ["NOT_MATERIALIZED", "index_page", "render_site", "search_index", "table_page", "write_site"]
