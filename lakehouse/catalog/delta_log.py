"""A Delta table's current snapshot read from its ``_delta_log`` files alone: version, commit time, rows per partition.

The catalog reads the log itself (JSON commits, and the Parquet checkpoint they follow, with
pyarrow) rather than starting Spark or depending on delta-rs: it needs only the newest version,
that commit's time and operation, and the files of the snapshot with their partition values and
row counts, which the log holds.

**Row counts** are the ``numRecords`` statistic Delta writes into each ``add`` action, minus the
``cardinality`` of the file's deletion vector (rows a MERGE or DELETE marked as deleted without
rewriting the file, as in ``silver/dim_customer``): exact, and no data file is opened. A file added
without statistics makes its partition's count (and the table's) unknown (``None``), never a guess.

**Reconciliation.** A file is identified by its path and deletion vector (as in the Delta
protocol): replacing a file's deletion vector is a ``remove`` of (path, old vector) and an ``add``
of (path, new vector) in one commit. Checkpoints: classic single-file and multi-part ones; a V2
checkpoint (``v2Checkpoint`` table feature, sidecar files) raises :class:`UnsupportedLog`.

Example::

    snapshot = read_snapshot(Path("data/warehouse/gold/daily_sales"))
    snapshot.version, snapshot.committed_at, snapshot.rows_by_partition("sale_date")
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?\.parquet$")
_V2_CHECKPOINT = re.compile(r"^\d{20}\.checkpoint\.[0-9a-f-]{36}\.(?:parquet|json)$")
NULL_PARTITION = "(null)"


class UnsupportedLog(ValueError):
    """The log uses a format this reader does not read (say which); the catalog shows it instead of a state."""


@dataclass(frozen=True)
class DataFile:
    """One file of the snapshot: its partition values (as the log writes them: strings) and live row count."""

    path: str
    partition_values: Mapping[str, str | None]
    rows: int | None  # numRecords minus deleted rows; None without statistics


@dataclass(frozen=True)
class Snapshot:
    """The newest version of a table, as its log describes it."""

    version: int
    committed_at: datetime  # UTC; the commit's in-commit timestamp, else commitInfo.timestamp, else the file's mtime
    operation: str  # WRITE, MERGE, OPTIMIZE, ... ('' when the commit has no commitInfo)
    partition_columns: tuple[str, ...]
    files: tuple[DataFile, ...]

    @property
    def rows(self) -> int | None:
        """Live rows of the table; None when a file has no statistics."""
        counts = [f.rows for f in self.files]
        return None if None in counts else sum(c for c in counts if c is not None)

    def rows_by_partition(self, column: str) -> dict[str, int | None]:
        """Live rows per value of the partition column ``column``, sorted by value (a null value as ``(null)``)."""
        return rows_by_partition(self.files, column)


def rows_by_partition(files: Iterable[DataFile], column: str) -> dict[str, int | None]:
    """Rows of ``files`` per value of the partition column ``column``, sorted by value (a null value as ``(null)``;
    None for a partition holding a file without statistics)."""
    totals: dict[str, int | None] = {}
    for file in files:
        value = file.partition_values.get(column)
        key = NULL_PARTITION if value is None else value
        before = totals.get(key, 0)
        totals[key] = None if before is None or file.rows is None else before + file.rows
    return dict(sorted(totals.items()))


def is_table(path: Path) -> bool:
    """Whether ``path`` holds a Delta table with at least one commit."""
    log = path / "_delta_log"
    return log.is_dir() and any(_COMMIT.match(p.name) for p in log.iterdir())


def read_snapshot(path: Path, version: int | None = None) -> Snapshot | None:
    """The newest snapshot of the table at ``path`` (or the one of ``version``); None when there is no table (no commit)
    there. A ``version`` the log no longer replays to (its commits cleaned up) raises :class:`UnsupportedLog`."""
    log = path / "_delta_log"
    if not log.is_dir():
        return None
    names = sorted(p.name for p in log.iterdir())
    if any(_V2_CHECKPOINT.match(n) for n in names):
        raise UnsupportedLog("a V2 checkpoint (v2Checkpoint table feature)")
    commits = {int(m.group(1)): log / n for n in names if (m := _COMMIT.match(n))}
    if not commits:
        return None
    if version is None:
        version = max(commits)
    elif version not in commits:
        raise UnsupportedLog(f"version {version} has no commit file (the log holds {min(commits)}..{max(commits)})")
    checkpoint_version, checkpoint_files = _latest_checkpoint(log, names, version)

    live: dict[tuple[str, str], dict] = {}
    partition_columns: tuple[str, ...] = ()
    for action in _checkpoint_actions(checkpoint_files):
        if action.get("metaData"):
            partition_columns = tuple(action["metaData"].get("partitionColumns") or ())
        elif action.get("add"):
            live[_file_id(action["add"])] = action["add"]
    missing = [v for v in range(checkpoint_version + 1, version + 1) if v not in commits]
    if missing:
        raise UnsupportedLog(f"commits {missing[:3]} are missing after checkpoint {checkpoint_version}")
    for v in range(checkpoint_version + 1, version + 1):
        for action in _json_actions(commits[v]):
            if "add" in action:
                live[_file_id(action["add"])] = action["add"]
            elif "remove" in action:
                live.pop(_file_id(action["remove"]), None)
            elif "metaData" in action:
                partition_columns = tuple(action["metaData"].get("partitionColumns") or ())
    # The newest commit's own file, also when a checkpoint of that version made replaying it unnecessary.
    commit_info = next((a["commitInfo"] for a in _json_actions(commits[version]) if "commitInfo" in a), {})
    millis = commit_info.get("inCommitTimestamp") or commit_info.get("timestamp")
    committed_at = (datetime.fromtimestamp(int(millis) / 1000, UTC) if millis is not None
                    else datetime.fromtimestamp(commits[version].stat().st_mtime, UTC))
    files = tuple(sorted((_data_file(add) for add in live.values()), key=lambda f: f.path))
    return Snapshot(version, committed_at, str(commit_info.get("operation") or ""), partition_columns, files)


def added_files(path: Path, version: int) -> tuple[DataFile, ...] | None:
    """The files commit ``version`` of the table at ``path`` added, with their rows; None when its commit file is gone.

    After a partition overwrite (``replaceWhere``), the files its commit added are all the overwritten partitions hold:
    :func:`rows_by_partition` of them is their row counts, read from one commit file.
    """
    try:
        return tuple(_data_file(action["add"]) for action in _json_actions(path / "_delta_log" / f"{version:020d}.json")
                     if "add" in action)
    except FileNotFoundError:
        return None


def _latest_checkpoint(log: Path, names: list[str], version: int) -> tuple[int, list[Path]]:
    """The newest complete checkpoint at or below ``version`` (-1 and no file when there is none)."""
    parts: dict[tuple[int, int], list[Path]] = {}
    for name in names:
        match = _CHECKPOINT.match(name)
        if match and int(match.group(1)) <= version:
            total = int(match.group(3) or 1)
            parts.setdefault((int(match.group(1)), total), []).append(log / name)
    complete = [(v, total) for (v, total), files in parts.items() if len(files) == total]
    if not complete:
        return -1, []
    best = max(complete)
    return best[0], sorted(parts[best])


def _checkpoint_actions(files: Iterable[Path]) -> Iterator[dict]:
    for file in files:
        columns = [c for c in ("add", "metaData") if c in pq.read_schema(file).names]
        for row in pq.read_table(file, columns=columns).to_pylist():
            yield {k: v for k, v in row.items() if v is not None}


def _json_actions(file: Path) -> Iterator[dict]:
    with file.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _file_id(action: Mapping) -> tuple[str, str]:
    """(path, deletion vector id): what identifies a file in the snapshot."""
    vector = action.get("deletionVector") or {}
    dv_id = f"{vector.get('storageType', '')}{vector.get('pathOrInlineDv', '')}@{vector.get('offset') or ''}" if vector else ""
    return action["path"], dv_id


def _data_file(add: Mapping) -> DataFile:
    stats = add.get("stats")
    records = None
    if stats:
        records = (json.loads(stats) if isinstance(stats, str) else stats).get("numRecords")
    deleted = int((add.get("deletionVector") or {}).get("cardinality") or 0)
    values = add.get("partitionValues") or {}
    if isinstance(values, list):  # a Parquet map read by pyarrow: [(key, value), ...]
        values = dict(values)
    return DataFile(str(add["path"]), {str(k): v for k, v in values.items()},
                    None if records is None else int(records) - deleted)


__all__ = ["NULL_PARTITION", "DataFile", "Snapshot", "UnsupportedLog", "added_files", "is_table", "read_snapshot",
           "rows_by_partition"]
