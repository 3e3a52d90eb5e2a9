"""Lineage drawn as SVG, left to right by layer: one table's columns and every column they derive from, or all tables.

A drawing is :class:`Box` es (a table with the rows it shows, or a layer with its tables) placed in
one column per layer (``landing`` → ``bronze`` → ``silver`` → ``gold`` → ``governance``, layers
without a box left out) and :attr:`Graph.edges` between rows. :func:`column_graph` keeps a drawing
readable at any lakehouse size: only the chosen table's columns and their direct and transitive
upstream columns, not every column of every table. Boxes and rows of upstream layers are ordered
by where the rows they feed sit (the barycenter heuristic), which removes most crossings.

Every row is ``<g class="node" data-ref="layer/table.column">`` and every edge
``<path class="edge" data-from="..." data-to="...">``, so the page's script highlights a column's
whole lineage on hover and tests read the drawing from the file.

Example::

    svg(column_graph(catalog, "gold/daily_sales"), prefix="../", element_id="lineage-graph")
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from html import escape

from lakehouse.catalog.model import LANDING, Catalog, layer_rank

CHAR_WIDTH, ROW_HEIGHT, TITLE_HEIGHT, BOX_GAP, LAYER_GAP, TOP = 7.2, 18, 22, 14, 90, 26


@dataclass(frozen=True)
class Row:
    ref: str  # 'silver/sales.net_amount', or a table key in the table graph
    label: str
    href: str | None = None
    classes: tuple[str, ...] = ()
    hint: str = ""  # tooltip


@dataclass(frozen=True)
class Box:
    key: str
    layer: str
    title: str
    rows: tuple[Row, ...]
    href: str | None = None
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Graph:
    boxes: tuple[Box, ...]
    edges: tuple[tuple[str, str], ...]  # (from row ref, to row ref), sorted


def _split(ref: str) -> tuple[str, str]:
    table, _, column = ref.partition(".")
    return table, column


def column_graph(catalog: Catalog, key: str) -> Graph:
    """The columns of table ``key`` and the upstream columns each derives from, transitively, to landed fields."""
    docs = catalog.by_key()
    focus = docs[key]
    seen: dict[str, int] = {}  # ref -> order of discovery (orders landed fields, which have no declaration)
    edges: set[tuple[str, str]] = set()
    queue = deque(f"{key}.{c.name}" for c in focus.columns)
    while queue:
        ref = queue.popleft()
        if ref in seen:
            continue
        seen[ref] = len(seen)
        table, name = _split(ref)
        doc = docs.get(table)
        column = next((c for c in doc.columns if c.name == name), None) if doc else None
        for source in column.derived_from if column else ():
            edges.add((source, ref))
            queue.append(source)

    boxes = []
    for table in sorted({_split(ref)[0] for ref in seen}):
        doc = docs.get(table)
        refs = [ref for ref in seen if _split(ref)[0] == table]
        if doc is not None:
            declared = [c.name for c in doc.columns]
            refs.sort(key=lambda r: declared.index(_split(r)[1]) if _split(r)[1] in declared else len(declared))
            rows = tuple(
                Row(ref, c.name, f"{doc.page}#col-{c.name}", ("pii",) if c.pii else (), f"{ref}: {c.type}")
                for ref in refs for c in doc.columns if c.name == _split(ref)[1]
            )
            boxes.append(Box(table, doc.layer, doc.key, rows, doc.page, ("focus",) if table == key else ()))
        else:
            refs.sort(key=seen.__getitem__)
            rows = tuple(Row(ref, _split(ref)[1], None, (), f"{ref}: a field of the landing files") for ref in refs)
            boxes.append(Box(table, table.split("/")[0] if "/" in table else LANDING, table, rows, None, ("source",)))
    return Graph(tuple(boxes), tuple(sorted(edges)))


def table_graph(catalog: Catalog) -> Graph:
    """Every table, one box per layer, with an edge from each table to each of its downstream tables."""
    boxes = []
    for layer in sorted({doc.layer for doc in catalog.tables}, key=layer_rank):
        rows = tuple(Row(doc.key, doc.key.split("/", 1)[1], doc.page, ("pii",) if doc.pii_columns else (), doc.description)
                     for doc in catalog.tables if doc.layer == layer)
        boxes.append(Box(layer, layer, f"{len(rows)} table{'s' if len(rows) > 1 else ''}", rows))
    edges = sorted({(up, doc.key) for doc in catalog.tables for up in doc.upstream})
    return Graph(tuple(boxes), tuple(edges))


@dataclass(frozen=True)
class _Placed:
    box: Box
    rows: tuple[Row, ...]  # in drawing order
    x: float
    y: float
    width: float


def _layout(graph: Graph) -> tuple[list[_Placed], dict[str, tuple[float, float, float]]]:
    """Boxes placed column by column from the right; each row's (left x, right x, centre y)."""
    layers = sorted({b.layer for b in graph.boxes}, key=layer_rank)
    widths = {layer: max(CHAR_WIDTH * max([len(b.title) + 2, *(len(r.label) + 2 for r in b.rows)]) + 12
                         for b in graph.boxes if b.layer == layer) for layer in layers}
    xs, x = {}, 0.0
    for layer in layers:
        xs[layer] = x
        x += widths[layer] + LAYER_GAP
    feeds: dict[str, list[str]] = {}
    for source, target in graph.edges:
        feeds.setdefault(source, []).append(target)

    placed: list[_Placed] = []
    centre: dict[str, tuple[float, float, float]] = {}

    def barycenter(refs: list[str]) -> float:
        ys = [centre[t][2] for r in refs for t in feeds.get(r, []) if t in centre]
        return sum(ys) / len(ys) if ys else float("inf")

    for layer in reversed(layers):
        boxes = [b for b in graph.boxes if b.layer == layer]
        ordered_rows = {}
        for b in boxes:
            keep = "focus" in b.classes or not any(r.ref in feeds for r in b.rows)
            ordered_rows[b.key] = b.rows if keep else tuple(sorted(b.rows, key=lambda r: barycenter([r.ref])))
        boxes.sort(key=lambda b: (barycenter([r.ref for r in b.rows]), b.key))
        y = float(TOP)
        for b in boxes:
            rows = ordered_rows[b.key]
            placed.append(_Placed(b, rows, xs[layer], y, widths[layer]))
            for i, r in enumerate(rows):
                centre[r.ref] = (xs[layer], xs[layer] + widths[layer], y + TITLE_HEIGHT + ROW_HEIGHT * i + ROW_HEIGHT / 2)
            y += TITLE_HEIGHT + ROW_HEIGHT * len(rows) + 6 + BOX_GAP
    return placed, centre


def _classes(base: str, extra: tuple[str, ...]) -> str:
    return " ".join((base, *extra))


def svg(graph: Graph, prefix: str = "", element_id: str = "lineage-graph", label: str = "lineage") -> str:
    """The drawing as inline SVG (no external reference); ``prefix`` is prepended to every link (``../`` from a table page)."""
    placed, centre = _layout(graph)
    width = max((p.x + p.width for p in placed), default=0) + 2
    height = max((p.y + TITLE_HEIGHT + ROW_HEIGHT * len(p.rows) + 6 for p in placed), default=TOP) + 4
    out = [f'<svg id="{escape(element_id)}" class="lineage" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(label)}">']
    for layer in sorted({p.box.layer for p in placed}, key=layer_rank):
        x = min(p.x for p in placed if p.box.layer == layer)
        out.append(f'<text class="layer-label" x="{x:.1f}" y="14">{escape(layer)}</text>')
    for source, target in graph.edges:
        if source in centre and target in centre:
            x1, y1, x2, y2 = centre[source][1], centre[source][2], centre[target][0], centre[target][2]
            bend = max((x2 - x1) / 2, 20)
            out.append(f'<path class="edge" data-from="{escape(source)}" data-to="{escape(target)}" '
                       f'd="M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"/>')
    for p in placed:
        box_height = TITLE_HEIGHT + ROW_HEIGHT * len(p.rows) + 6
        out.append(f'<g class="{_classes("box", p.box.classes)}" data-table="{escape(p.box.key)}">')
        out.append(f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="{p.width:.1f}" height="{box_height}" rx="4"/>')
        title = f'<text class="box-title" x="{p.x + 6:.1f}" y="{p.y + 15:.1f}">{escape(p.box.title)}</text>'
        out.append(f'<a href="{escape(prefix + p.box.href)}">{title}</a>' if p.box.href else title)
        for i, r in enumerate(p.rows):
            y = p.y + TITLE_HEIGHT + ROW_HEIGHT * i
            node = (f'<rect x="{p.x + 2:.1f}" y="{y:.1f}" width="{p.width - 4:.1f}" height="{ROW_HEIGHT}"/>'
                    f'<text x="{p.x + 8:.1f}" y="{y + 13:.1f}">{escape(r.label)}</text>'
                    + (f"<title>{escape(r.hint)}</title>" if r.hint else ""))
            if r.href:
                node = f'<a href="{escape(prefix + r.href)}">{node}</a>'
            out.append(f'<g class="{_classes("node", r.classes)}" data-ref="{escape(r.ref)}">{node}</g>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


__all__ = ["Box", "Graph", "Row", "column_graph", "svg", "table_graph"]
