"""A catalog analysts can browse: a static site, like ``dbt docs``, from the definitions and the Delta logs.

``python -m lakehouse.catalog`` (``make catalog``) writes ``data/catalog/index.html`` and one page
per registered table, ``data/catalog/tables/<layer>.<table>.html``. The site needs no server and no
network: open ``index.html`` from the file system (``file://``); style, script and search index are
inlined in every page, and every link is a relative path to another page of the site.

A table's page shows its description, owner, columns (type, nullability, description, tags, with
``pii`` in red, and the upstream columns each derives from), partitions with their live row counts,
its latest Delta version and commit time, freshness policy, automation, its checks with their latest
status (*never run* without an instance or an execution), its upstream and downstream tables, and
its column lineage as SVG: its columns and every column they derive from, left to right by layer,
back to the landed files' fields. The index lists the tables by layer with the table-level lineage.

Where it comes from: :mod:`.model` gathers it (registry, asset graph, Delta logs through
:mod:`.delta_log`, check statuses through :mod:`.check_status`); :mod:`.render` and :mod:`.lineage`
write it. The same inputs give the same bytes (no generation time; everything sorted).

**Element ids** (stable; tests and the browser test rely on them):

* every page: ``#search`` (the search input), ``#results`` (the result list: ``li.result`` items with
  ``data-kind`` = ``table`` or ``column``, ``data-table`` = ``layer.table``, ``data-column``, and a link;
  a first ``li#results-summary`` says how many matched), ``#search-index`` (the inline JSON index: a
  list of ``{kind, table, key, column, type, description, tags, url}``). ``?q=email`` in a page's URL
  pre-fills the search; Enter opens the first result.
* the index: ``#overview`` with ``svg#table-graph``; ``section#layer-<layer>`` with ``tr[data-table="<layer>/<table>"]``.
* a table page: ``#table-name``, ``#description``, ``#owner``, ``#version`` (``data-version``,
  ``data-committed-at``; empty when not materialized), ``#row-count`` (``data-rows``), ``#freshness``,
  ``#automation``; ``#column-table`` rows ``tr#col-<column>`` (``data-column``, ``data-type``,
  ``data-tags``, class ``pii``); ``#partition-table`` rows ``tr[data-partition][data-rows]``;
  ``#check-table`` rows ``tr[data-check][data-status]`` (``passed``, ``warning``, ``failed``,
  ``execution failed``, ``in progress``, ``skipped``, ``never run``); ``ul#upstream`` and
  ``ul#downstream`` items ``li[data-table="<layer>/<table>"]``; ``svg#lineage-graph`` with
  ``g.node[data-ref="<layer>/<table>.<column>"]`` and ``path.edge[data-from][data-to]``.

Example::

    catalog = generate(Path("data/catalog"), build_definitions(settings), settings.warehouse, instance)
    catalog.table("gold/daily_sales").state.partitions     # (('2025-01-01', 20), ...)
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lakehouse.catalog.model import Catalog, gather
from lakehouse.catalog.render import render_site, write_site


def generate(out: Path, defs: dg.Definitions, warehouse: Path, instance: dg.DagsterInstance | None = None,
             checks_source: str = "") -> Catalog:
    """Gather the catalog of ``defs`` over the tables under ``warehouse`` (check statuses from ``instance``) and write
    the site into ``out``; returns what was written about."""
    catalog = gather(defs, warehouse, instance, checks_source)
    write_site(catalog, out)
    return catalog


__all__ = ["Catalog", "gather", "generate", "render_site", "write_site"]
