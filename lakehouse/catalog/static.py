"""The catalog's style sheet and script, inlined into every page (no file, font or script is fetched).

The script reads the page's search index (``<script type="application/json" id="search-index">``)
and lists matches in ``#results`` as the user types into ``#search`` (``?q=`` in the page's URL
pre-fills it); hovering a column of a lineage drawing highlights every column it derives from and
every column derived from it.
"""

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #f6f8fa; --accent: #0969da;
        --pii: #b42318; --pii-bg: #fee4e2; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
header { position: sticky; top: 0; z-index: 2; display: flex; gap: 24px; align-items: flex-start; padding: 10px 24px;
         background: #24292f; color: #fff; }
header .home { color: #fff; font-weight: 600; font-size: 16px; line-height: 32px; white-space: nowrap; }
.search { position: relative; flex: 1; max-width: 640px; }
#search { width: 100%; padding: 6px 10px; font-size: 14px; border-radius: 6px; border: 1px solid #57606a; }
#results { position: absolute; left: 0; right: 0; margin: 4px 0 0; padding: 0; list-style: none; background: #fff;
           color: var(--ink); border: 1px solid var(--line); border-radius: 6px; max-height: 70vh; overflow: auto;
           box-shadow: 0 8px 24px rgba(0,0,0,.2); }
#results:empty { display: none; }
#results li { padding: 6px 10px; border-bottom: 1px solid var(--bg); }
#results li.summary { color: var(--muted); font-size: 12px; }
#results .what { color: var(--muted); font-size: 12px; display: block; }
main { padding: 16px 24px 48px; max-width: 1400px; }
h1 { margin: 8px 0 4px; font-size: 24px; } h2 { margin-top: 32px; font-size: 18px; border-bottom: 1px solid var(--line); }
.description { font-size: 15px; color: var(--muted); margin-top: 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
table.grid { border-collapse: collapse; width: 100%; }
table.grid th, table.grid td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid var(--line); }
table.grid th { background: var(--bg); font-weight: 600; }
#partition-table { width: auto; min-width: 320px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.tag { display: inline-block; padding: 0 6px; margin: 0 2px 2px 0; border-radius: 10px; font-size: 12px;
       background: var(--bg); border: 1px solid var(--line); }
.tag-pii { background: var(--pii-bg); color: var(--pii); border-color: var(--pii); font-weight: 600; }
tr.pii td:first-child { border-left: 3px solid var(--pii); }
.status { font-weight: 600; white-space: nowrap; }
.status-passed { color: var(--ok); } .status-warning { color: var(--warn); }
.status-failed, .status-execution-failed { color: var(--bad); } .status-never-run, .status-skipped { color: var(--muted); }
.missing { color: var(--muted); font-style: italic; }
.layer-nav a { margin-right: 12px; }
.drawing { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: #fff; }
svg.lineage { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
svg.lineage .layer-label { font-weight: 600; fill: var(--muted); text-transform: uppercase; }
svg.lineage .box > rect { fill: var(--bg); stroke: var(--line); }
svg.lineage .box.focus > rect { fill: #ddf4ff; stroke: var(--accent); }
svg.lineage .box.source > rect { fill: #fff8c5; stroke: #d4a72c; }
svg.lineage .box-title { font-weight: 700; fill: var(--ink); }
svg.lineage .node rect { fill: #fff; stroke: none; }
svg.lineage .node text { fill: var(--ink); }
svg.lineage .node.pii text { fill: var(--pii); font-weight: 700; }
svg.lineage .edge { fill: none; stroke: #8c959f; stroke-width: 1.2; }
svg.lineage.dimmed .edge { stroke-opacity: .12; } svg.lineage.dimmed .node { opacity: .35; }
svg.lineage.dimmed .edge.hl { stroke: var(--accent); stroke-opacity: 1; stroke-width: 2; }
svg.lineage.dimmed .node.hl { opacity: 1; } svg.lineage .node.hl rect { fill: #ddf4ff; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var root = document.body.getAttribute("data-root") || "";
  var source = document.getElementById("search-index");
  var entries = source ? JSON.parse(source.textContent) : [];
  var input = document.getElementById("search");
  var results = document.getElementById("results");
  var LIMIT = 50;

  function rank(entry, terms) {
    var total = 0;
    var name = (entry.column || entry.table).toLowerCase();
    var table = entry.table.toLowerCase();
    var text = entry.description.toLowerCase();
    for (var i = 0; i < terms.length; i++) {
      var term = terms[i], best = -1;
      if (term.indexOf("tag:") === 0) { best = entry.tags.indexOf(term.slice(4)) >= 0 ? 3 : -1; }
      else if (name === term) { best = 0; }
      else if (name.indexOf(term) === 0) { best = 1; }
      else if (name.indexOf(term) >= 0) { best = 2; }
      else if (entry.tags.indexOf(term) >= 0 || table.indexOf(term) >= 0) { best = 3; }
      else if (text.indexOf(term) >= 0) { best = 5; }
      if (best < 0) { return -1; }
      total += best;
    }
    return total;
  }

  function item(entry) {
    var li = document.createElement("li");
    li.className = "result";
    li.setAttribute("data-kind", entry.kind);
    li.setAttribute("data-table", entry.table);
    if (entry.column) { li.setAttribute("data-column", entry.column); }
    var a = document.createElement("a");
    a.href = root + entry.url;
    a.textContent = entry.column ? entry.table + "." + entry.column : entry.table;
    li.appendChild(a);
    entry.tags.forEach(function (tag) {
      var span = document.createElement("span");
      span.className = "tag" + (tag === "pii" ? " tag-pii" : "");
      span.textContent = tag;
      li.appendChild(document.createTextNode(" "));
      li.appendChild(span);
    });
    var what = document.createElement("span");
    what.className = "what";
    what.textContent = (entry.column ? "column, " + entry.type + ": " : "table: ") + entry.description;
    li.appendChild(what);
    return li;
  }

  function search() {
    var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    results.textContent = "";
    if (!terms.length) { return; }
    var found = [];
    entries.forEach(function (entry) {
      var r = rank(entry, terms);
      if (r >= 0) { found.push([r, entry.kind === "table" ? 0 : 1, entry.table, entry.column, entry]); }
    });
    found.sort(function (a, b) {
      for (var i = 0; i < 4; i++) { if (a[i] < b[i]) { return -1; } if (a[i] > b[i]) { return 1; } }
      return 0;
    });
    var summary = document.createElement("li");
    summary.className = "summary";
    summary.id = "results-summary";
    summary.textContent = found.length === 0 ? "No table or column matches" :
      found.length + (found.length === 1 ? " match" : " matches") + (found.length > LIMIT ? ", the first " + LIMIT + " shown" : "");
    results.appendChild(summary);
    found.slice(0, LIMIT).forEach(function (f) { results.appendChild(item(f[4])); });
  }

  if (input && results) {
    input.addEventListener("input", search);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        var first = results.querySelector("li.result a");
        if (first) { window.location.href = first.href; }
      } else if (event.key === "Escape") { input.value = ""; search(); }
    });
    var q = new URLSearchParams(window.location.search).get("q");
    if (q) { input.value = q; search(); }
  }

  // Lineage: hovering a column highlights what it derives from and what derives from it.
  Array.prototype.forEach.call(document.querySelectorAll("svg.lineage"), function (svg) {
    var edges = Array.prototype.slice.call(svg.querySelectorAll(".edge"));
    function walk(start, from, to, marked) {
      var stack = [start];
      while (stack.length) {
        var ref = stack.pop();
        edges.forEach(function (edge) {
          if (edge.getAttribute(to) === ref && !marked.has(edge)) {
            marked.add(edge);
            stack.push(edge.getAttribute(from));
          }
        });
      }
    }
    Array.prototype.forEach.call(svg.querySelectorAll(".node"), function (node) {
      node.addEventListener("mouseenter", function () {
        var marked = new Set(), ref = node.getAttribute("data-ref"), refs = new Set([ref]);
        walk(ref, "data-from", "data-to", marked);
        walk(ref, "data-to", "data-from", marked);
        marked.forEach(function (edge) {
          edge.classList.add("hl");
          refs.add(edge.getAttribute("data-from"));
          refs.add(edge.getAttribute("data-to"));
        });
        Array.prototype.forEach.call(svg.querySelectorAll(".node"), function (other) {
          if (refs.has(other.getAttribute("data-ref"))) { other.classList.add("hl"); }
        });
        svg.classList.add("dimmed");
      });
      node.addEventListener("mouseleave", function () {
        svg.classList.remove("dimmed");
        Array.prototype.forEach.call(svg.querySelectorAll(".hl"), function (el) { el.classList.remove("hl"); });
      });
    });
  });
})();
"""
