"""Proof of an erasure: open every file a table has on disk and look for the customer in it.

:func:`scan_table` reads, with pyarrow and without Delta, every Parquet file under a table's
folder, whatever version or purpose it served (data files, ``_change_data/``, checkpoints of
``_delta_log``), and every other file of ``_delta_log`` as text (commit JSON, ``.crc``,
``_last_checkpoint``, ``_last_vacuum_info``; Hadoop's hidden ``.*.crc`` checksums are skipped).
It reports a :class:`Finding` for each file that holds:

* the customer's id as the value of a ``customer_id`` column (at any nesting, so the
  ``stats_parsed`` min/max of a checkpoint count), as a ``customer_id`` map entry (partition
  values), or as the ``"customer_id"`` field of JSON text (raw lines, rescued data, statistics);
* in log files, the id as a literal in a predicate next to ``customer_id``
  (``customer_id = 42``, ``customer_id BETWEEN 40 AND 42``, ``customer_id IN (...)``);
* their email or phone as a substring of any string value.

A finding names the table, the file and what was found, never the value. :func:`landing_lines`
reports the landing files and line numbers that still hold the customer: the landing zone
belongs to the source and is not modified, so its owner is told what to purge.

Example::

    findings = scan_table("wh/silver/dim_customer", "silver.dim_customer", [trace])
    [f.describe() for f in findings]   # ['silver.dim_customer: part-0001.parquet holds request R-1's customer_id value']
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakehouse.governance.suppression import CLAIMED_ID

_INTEGER = re.compile(r"(?<![\w.#-])(\d+)(?![\w.#])")
_NEAR_CUSTOMER_ID = 80  # characters after "customer_id" in which a predicate's literals count
# Null counts are statistics about a column, not values of it: "nullCount":{"customer_id":3} says nothing of customer 3.
_NULL_COUNTS = r'"nullCount"\s*:\s*\{[^}]*\}'


@dataclass(frozen=True)
class Trace:
    """What to look for: one request's customer (in memory during the run only)."""

    request_id: str
    customer_id: int
    texts: frozenset[str]  # emails and phones

    def id_in_json(self) -> re.Pattern[str]:
        return re.compile(CLAIMED_ID.replace("([0-9]{1,18})", str(int(self.customer_id))))


@dataclass(frozen=True)
class Finding:
    """One file that still holds a trace of a customer."""

    table: str
    file: str  # relative to the table's folder
    request_id: str
    what: str  # e.g. "customer_id value in column add.stats_parsed.minValues.customer_id"

    def describe(self) -> str:
        return f"{self.table}: {self.file} holds request {self.request_id}'s {self.what}"


def scan_table(folder: str | Path, table: str, traces: Sequence[Trace]) -> list[Finding]:
    """Every file under ``folder`` holding one of ``traces`` (see the module docstring); [] when the folder is absent."""
    root = Path(str(folder).removeprefix("file:"))
    if not traces or not root.is_dir():
        return []
    findings: list[Finding] = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root).as_posix()
        if file.suffix == ".parquet":
            found = _scan_parquet(file, traces)
        elif "_delta_log" in file.relative_to(root).parts and not file.name.startswith("."):
            found = scan_log_text(file.read_text(errors="replace"), traces)
        else:
            continue  # deletion vectors (.bin) and Hadoop checksums hold no values
        findings += [Finding(table, relative, request, what) for request, what in found]
    return findings


def _scan_parquet(file: Path, traces: Sequence[Trace]) -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    data = pq.read_table(file)
    for name, array in _leaves(data):
        leaf = name.rsplit(".", 1)[-1]
        if ".nullCount." in name:
            continue
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            array = _compute("replace_substring_regex", array, options=pc.ReplaceSubstringOptions(_NULL_COUNTS, ""))
        for trace in traces:
            if leaf == "customer_id" and _holds_id(array, trace.customer_id):
                found.add((trace.request_id, f"customer_id value in column {name}"))
            if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
                for text in sorted(trace.texts):
                    if _any(_compute("match_substring", array, options=pc.MatchSubstringOptions(text))):
                        found.add((trace.request_id, f"email or phone in column {name}"))
                pattern = trace.id_in_json().pattern.replace("(?![0-9])", "([^0-9]|$)")  # RE2 has no lookahead
                if _any(_compute("match_substring_regex", array, options=pc.MatchSubstringOptions(pattern))):
                    found.add((trace.request_id, f"customer_id as a JSON field value in column {name}"))
    return sorted(found)


def _holds_id(array: pa.Array, customer_id: int) -> bool:
    if pa.types.is_integer(array.type):
        return _any(_compute("equal", array, pa.scalar(customer_id, array.type)))
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return _any(_compute("equal", array, pa.scalar(str(customer_id))))
    return False


def _compute(function: str, *args: object, options: object = None) -> pa.Array:
    """A pyarrow compute function by name (its module attributes are generated at import, unseen by type checkers)."""
    return pc.call_function(function, list(args), options)  # type: ignore[arg-type]


def _any(array: pa.Array) -> bool:
    return bool(pc.call_function("any", [array]).as_py())


def _leaves(data: pa.Table) -> Iterator[tuple[str, pa.Array]]:
    """Every leaf column of ``data`` by dotted name; a map's entries as ``<map>.<key>`` for each key."""
    for name, column in zip(data.column_names, data.columns, strict=True):
        for chunk in column.chunks:
            yield from _leaf_arrays(name, chunk)


def _leaf_arrays(name: str, array: pa.Array) -> Iterator[tuple[str, pa.Array]]:
    kind = array.type
    if pa.types.is_struct(kind):
        struct = array if isinstance(array, pa.StructArray) else pa.StructArray.from_arrays([], [])
        for index in range(kind.num_fields):
            yield from _leaf_arrays(f"{name}.{kind.field(index).name}", struct.field(index))
    elif pa.types.is_map(kind):
        keys, items = array.keys, array.items  # type: ignore[attr-defined]
        for key in set(keys.to_pylist()):
            yield from _leaf_arrays(f"{name}.{key}", items.filter(_compute("equal", keys, pa.scalar(key))))
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        yield from _leaf_arrays(name, array.flatten())  # type: ignore[attr-defined]
    else:
        yield name, array


def scan_log_text(text: str, traces: Sequence[Trace]) -> list[tuple[str, str]]:
    """``(request_id, what)`` for each trace found in the text of a log file (commit JSON, ``.crc``).

    Example::

        scan_log_text('{"add":{"stats":"{\\"minValues\\":{\\"customer_id\\":42}}"}}', [Trace("R", 42, frozenset())])
        # [("R", "customer_id as a statistics or partition value")]
    """
    found: set[tuple[str, str]] = set()
    text = re.sub(_NULL_COUNTS, "", text.replace('\\"', '"'))  # statistics are JSON inside JSON: unescape them first
    for trace in traces:
        if trace.id_in_json().search(text):
            found.add((trace.request_id, "customer_id as a statistics or partition value"))
        if _predicate_literal(text, trace.customer_id):
            found.add((trace.request_id, "customer_id as a predicate literal"))
        if any(t in text for t in trace.texts):
            found.add((trace.request_id, "email or phone"))
    return sorted(found)


def _predicate_literal(text: str, customer_id: int) -> bool:
    """Whether an integer literal equal to the id follows ``customer_id`` closely (a commit's predicate)."""
    for match in re.finditer(r"customer_id", text):
        window = text[match.end(): match.end() + _NEAR_CUSTOMER_ID]
        window = re.split(r'customer_id|"\s*[,}\]]+\s*"', window)[0]  # up to the next column or JSON field
        if any(int(n) == customer_id for n in _INTEGER.findall(window)):
            return True
    return False


def landing_lines(folder: str | Path, traces: Sequence[Trace]) -> dict[str, dict[str, list[int]]]:
    """``{request_id: {file: [line numbers]}}`` of the ``*.json`` files under ``folder`` holding each customer."""
    root = Path(folder)
    report: dict[str, dict[str, list[int]]] = {}
    if not root.is_dir():
        return report
    for file in sorted(p for p in root.rglob("*.json") if p.is_file()):
        with file.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                for trace in traces:
                    if trace.id_in_json().search(line) or any(t in line for t in trace.texts):
                        lines = report.setdefault(trace.request_id, {}).setdefault(file.relative_to(root).as_posix(), [])
                        lines.append(number)
    return report
