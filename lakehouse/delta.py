"""Delta Lake mechanics of the lakehouse, in Spark SQL and DataFrame calls only.

Nothing here uses Delta's Python ``DeltaTable`` API: over Spark Connect it needs a server JAR
(``delta-connect-server``) that is not available, while SQL (``MERGE``, ``DESCRIBE HISTORY``,
``OPTIMIZE``, ``VACUUM``, ``RESTORE``, ``ALTER TABLE``) and the DataFrame reader/writer work the
same embedded and over Connect. Tables are addressed by path, ``delta.`<path>```.

**This write's own commits.** Every write runs inside :func:`tracked`, which stamps each commit the
session makes with a unique token in the commit's ``userMetadata``. Afterwards the write's commits
are found by that token, not assumed to be the latest, so a concurrent writer's commit is never
reported as ours, and a write that committed nothing (a MERGE with nothing to do) says so.

Example::

    create_table(spark, tables.SILVER_SALES, path)            # properties, constraints, layout
    with tracked(spark, path) as write:
        overwrite(frame, path, predicate="sale_date = DATE'2025-01-03'")
    write.result.metadata()                                  # version, operation, files, bytes
    insert_new(spark, path, events, on="t.id = s.id")        # insert-if-absent MERGE
    optimize(spark, path, zorder=("customer_id",)); vacuum(spark, path, dry_run=True)
    data_files(spark, path)                                  # current files: size, partition directory
    restore(spark, path, version=12)
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TypeVar
from urllib.parse import urlparse

from pyspark.errors import AnalysisException, PySparkException
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse.tables.registry import Table

USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
RETENTION_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"
RETENTION_IGNORE_CONF = "spark.databricks.delta.vacuum.retentionWindowIgnore.enabled"
WRITE_TOKEN = "lakehouse_write"
_COMMIT_FILE = re.compile(r"^[0-9]{20}[.]json$")
DEFAULT_RETENTION_HOURS = 168  # Delta's default: 7 days
T = TypeVar("T")


class DeltaTableMissing(LookupError):
    """There is no Delta table at the path (never written, or the path is wrong)."""


@dataclass(frozen=True)
class Commit:
    """One entry of a table's Delta history (``timestamp`` in UTC)."""

    version: int
    operation: str
    timestamp: datetime
    metrics: Mapping[str, int]
    parameters: Mapping[str, str]
    user_metadata: Mapping[str, object]

    @classmethod
    def from_row(cls, row: Row) -> Commit:
        """From a row of ``DESCRIBE HISTORY`` (with ``_millis``, the commit time in epoch milliseconds)."""
        return cls._parse(row["version"], row["operation"], row["_millis"], row["operationMetrics"],
                          row["operationParameters"], row["userMetadata"])

    @classmethod
    def from_commit_info(cls, version: int, info: Mapping[str, object], millis: int) -> Commit:
        """From the ``commitInfo`` action of a commit file (what ``DESCRIBE HISTORY`` reads), committed at ``millis``."""
        return cls._parse(version, info.get("operation"), millis, info.get("operationMetrics"),
                          info.get("operationParameters"), info.get("userMetadata"))

    @classmethod
    def _parse(cls, version, operation, millis, metrics, parameters, user_metadata) -> Commit:
        try:
            user = json.loads(user_metadata) if user_metadata else {}
        except ValueError:
            user = {"text": user_metadata}
        return cls(
            version=int(version),
            operation=str(operation or ""),
            timestamp=datetime.fromtimestamp(int(millis) / 1000, UTC),
            metrics={k: int(v) for k, v in (metrics or {}).items() if isinstance(v, str) and v.lstrip("-").isdigit()},
            # A commit file may hold a parameter as JSON (OPTIMIZE's "auto": false); the history shows its JSON text.
            parameters={k: v if isinstance(v, str) else json.dumps(v) for k, v in (parameters or {}).items()},
            user_metadata=user if isinstance(user, dict) else {"value": user},
        )

    @property
    def files_added(self) -> int:
        m = self.metrics
        return m.get("numFiles", m.get("numAddedFiles", m.get("numTargetFilesAdded", 0)))

    @property
    def bytes_added(self) -> int:
        m = self.metrics
        return m.get("numOutputBytes", m.get("numAddedBytes", m.get("numTargetBytesAdded", 0)))

    @property
    def files_removed(self) -> int:
        m = self.metrics
        return m.get("numRemovedFiles", m.get("numTargetFilesRemoved", 0))


@dataclass
class WriteResult:
    """What one :func:`tracked` write committed to one table (``commits`` empty: nothing changed)."""

    path: str
    version_before: int | None
    commits: list[Commit] = field(default_factory=list)

    @property
    def version(self) -> int | None:
        """The table's version after the write (the version before, when nothing was committed)."""
        return self.commits[-1].version if self.commits else self.version_before

    def metadata(self) -> dict[str, object]:
        """Dagster metadata: ``delta_version``, ``delta_operation``, files and bytes written and removed."""
        if not self.commits:
            return {
                "delta_version": -1 if self.version_before is None else self.version_before,
                "delta_operation": "none (nothing changed)",
                "files_written": 0, "bytes_written": 0, "files_removed": 0, "operation_metrics": {},
            }
        total: dict[str, int] = {}
        for commit in self.commits:
            for name, value in commit.metrics.items():
                total[name] = total.get(name, 0) + value
        return {
            "delta_version": self.commits[-1].version,
            "delta_operation": ", ".join(c.operation for c in self.commits),
            "files_written": sum(c.files_added for c in self.commits),
            "bytes_written": sum(c.bytes_added for c in self.commits),
            "files_removed": sum(c.files_removed for c in self.commits),
            "operation_metrics": total,
        }


class TrackedWrite:
    """The token of one write, and (after the ``with`` block) its commits per table path."""

    def __init__(self, spark: SparkSession, paths: Sequence[str], extra: Mapping[str, object]) -> None:
        self.spark = spark
        self.token = uuid.uuid4().hex
        self.user_metadata = json.dumps({WRITE_TOKEN: self.token, **extra}, sort_keys=True)
        self.before = {path: latest_version(spark, path) for path in paths}
        self.results: dict[str, WriteResult] = {}

    @property
    def result(self) -> WriteResult:
        """The result for the one path of a single-table write."""
        if len(self.results) != 1:
            raise ValueError(f"this write covered {len(self.results)} tables; use .results[path]")
        return next(iter(self.results.values()))

    def collect(self) -> None:
        for path, before in self.before.items():
            self.results[path] = WriteResult(path, before, commits_of(self.spark, path, self.token, since_version=before))


@contextmanager
def tracked(spark: SparkSession, *paths: str, **user_metadata: object) -> Iterator[TrackedWrite]:
    """Stamp every commit made in the block with a unique token (plus ``user_metadata``); find them after.

    The stamp is the session's ``spark.databricks.delta.commitInfo.userMetadata``, which Delta
    writes into each commit's ``userMetadata`` (DataFrame writes and SQL alike). One session runs
    one write at a time (a Dagster run's steps run one after another).

    Example::

        with tracked(spark, path, scd2_source_version=12) as write:
            spark.sql(f"MERGE INTO delta.`{path}` ...")
        write.result.commits          # [] when the MERGE had nothing to do
    """
    write = TrackedWrite(spark, paths, user_metadata)
    with _session_conf(spark, {USER_METADATA_CONF: write.user_metadata}):
        try:
            yield write
        except Exception as error:
            if DISK_FULL not in str(error):
                raise
            raise DiskFull(_disk_full_message(spark, write)) from error
    write.collect()


DISK_FULL = "No space left on device"  # ENOSPC, as the JVM words it (a task's data file, or the commit file)


class DiskFull(Exception):
    """A write ran out of space where its table lives; the table is at its last committed version."""


def _disk_full_message(spark: SparkSession, write: TrackedWrite) -> str:
    states = []
    for path, before in write.before.items():
        now = latest_version(spark, path)
        if now == before:
            states.append(f"{path} is unchanged at version {before}" if before is not None else f"{path} was not created")
        else:
            states.append(f"{path} went from version {before} to {now} before the disk filled")
    return (
        f"The disk ran out of space ({DISK_FULL}) during this write, so it was not committed: {'; '.join(states)}. "
        "Readers see the last committed version; the data files the failed write left behind belong to no version; "
        "VACUUM (job table_maintenance) removes them once past the retention. Free space, or move LAKEHOUSE_WAREHOUSE "
        "to a larger disk, then re-run the same partitions or job."
    )


@contextmanager
def stamped(spark: SparkSession, **user_metadata: object) -> Iterator[None]:
    """Write ``user_metadata`` into every commit made in the block, without looking the commits up afterwards.

    For commits nobody reports on but an operator may read in the history (table creation,
    constraints added by :func:`align_table`).

    Example::

        with stamped(spark, dagster_run_id=run_id):
            create_table(spark, table, path)
    """
    with _session_conf(spark, {USER_METADATA_CONF: json.dumps(user_metadata, sort_keys=True, default=str)}):
        yield


def sql_path(path: str | Path) -> str:
    """``delta.`<path>``` with backticks in the path escaped, for SQL statements."""
    return "delta.`" + str(path).replace("`", "``") + "`"


def local_path(path: str | Path) -> Path | None:
    """``path`` as a local file system path (a plain path or a ``file:`` URI); None for any other scheme (``s3://``, ...)."""
    parsed = urlparse(str(path))
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else str(path))
    return None


def exists(spark: SparkSession, path: str | Path) -> bool:
    """Whether a Delta table is at ``path`` (a local ``_delta_log`` check, else ``DESCRIBE DETAIL``)."""
    local = local_path(path)
    if local is not None:
        log = local / "_delta_log"
        return log.is_dir() and any(p.suffix in (".json", ".parquet") for p in log.iterdir())
    try:
        spark.sql(f"DESCRIBE DETAIL {sql_path(path)}").collect()
        return True
    except AnalysisException:
        return False


def latest_version(spark: SparkSession, path: str | Path) -> int | None:
    """The table's newest version, or None when there is no table.

    A local table's newest version is the highest commit file name in its ``_delta_log`` (a directory
    listing, no Spark job); elsewhere ``DESCRIBE HISTORY ... LIMIT 1``.
    """
    local = local_path(path)
    if local is not None:
        return _local_latest_version(local)
    if not exists(spark, path):
        return None
    return int(_first_row(spark, f"DESCRIBE HISTORY {sql_path(path)} LIMIT 1")["version"])


def _history_since(spark: SparkSession, path: str | Path, since_version: int | None, newest: int) -> list[Commit]:
    """The commits after ``since_version`` (all, when None) from ``DESCRIBE HISTORY``, newest first."""
    if since_version is None:
        return history(spark, path)
    # Other writers may commit between the listing (``newest``) and the history read: read further back until the
    # commit after since_version is among those read (with LIMIT newest - since_version alone, a concurrent
    # commit pushed this write's own commit out of the window; found by the concurrent-writers test).
    limit = newest - since_version
    while True:
        commits = history(spark, path, limit)
        if len(commits) < limit or commits[-1].version <= since_version + 1:
            return commits
        limit *= 2


def _local_commits(local: Path, since_version: int | None, newest: int) -> list[Commit] | None:
    """The commits after ``since_version`` up to ``newest``, newest first, from the table's commit files.

    What ``DESCRIBE HISTORY`` reads, read here without Spark: each file's ``commitInfo`` action, and as
    the commit's time the in-commit timestamp if the table has them, else the file's modification time,
    made to increase from one commit to the next (as Delta's history does). None when a commit file is
    missing (cleaned up after a checkpoint) or has no ``commitInfo``: the caller then asks Delta.
    """
    log = local / "_delta_log"
    first = 0 if since_version is None else since_version + 1
    before = log / f"{first - 1:020d}.json"
    previous = before.stat().st_mtime_ns // 1_000_000 if first > 0 and before.exists() else None
    commits = []
    for version in range(first, newest + 1):
        file = log / f"{version:020d}.json"
        try:
            lines, modified = file.read_text(encoding="utf-8").splitlines(), file.stat().st_mtime_ns // 1_000_000
        except FileNotFoundError:
            return None
        info = next((action["commitInfo"] for line in lines if '"commitInfo"' in line[:16]
                     if "commitInfo" in (action := json.loads(line))), None)
        if info is None:
            return None
        millis = info.get("inCommitTimestamp") or (modified if previous is None else max(modified, previous + 1))
        previous = int(millis)
        commits.append(Commit.from_commit_info(version, info, previous))
    return commits[::-1]


def _local_latest_version(local: Path) -> int | None:
    try:
        versions = [int(p.name[:-5]) for p in (local / "_delta_log").iterdir() if _COMMIT_FILE.match(p.name)]
    except FileNotFoundError:
        return None
    return max(versions) if versions else None


def history(spark: SparkSession, path: str | Path, limit: int | None = None) -> list[Commit]:
    """The table's commits, newest first (``limit`` of them)."""
    _require(spark, path)
    query = f"DESCRIBE HISTORY {sql_path(path)}" + (f" LIMIT {int(limit)}" if limit else "")
    # Commit times as epoch milliseconds: collected timestamps would be in the Python process's zone.
    rows = spark.sql(query).withColumn("_millis", F.unix_millis("timestamp")).collect()
    return [Commit.from_row(row) for row in rows]


def commits_of(spark: SparkSession, path: str | Path, token: str, since_version: int | None = None) -> list[Commit]:
    """The commits stamped with ``token`` after ``since_version``, oldest first (see :func:`tracked`).

    A local table's commits are read from its commit files (:func:`_local_commits`: no Spark query, where
    ``DESCRIBE HISTORY`` and its collect cost about 0.1 s after every write); elsewhere, or when a commit file
    is gone, from ``DESCRIBE HISTORY``.
    """
    newest = latest_version(spark, path)
    if newest is None or (since_version is not None and newest <= since_version):
        return []
    local = local_path(path)
    commits = _local_commits(local, since_version, newest) if local is not None else None
    if commits is None:
        commits = _history_since(spark, path, since_version, newest)
    stamped = [c for c in commits
               if c.user_metadata.get(WRITE_TOKEN) == token and (since_version is None or c.version > since_version)]
    return sorted(stamped, key=lambda c: c.version)


@dataclass(frozen=True)
class Detail:
    """A table's current version: its files, bytes, layout and properties (what ``DESCRIBE DETAIL`` says)."""

    version: int
    num_files: int
    size_bytes: int
    partition_columns: tuple[str, ...]
    clustering_columns: tuple[str, ...]
    properties: Mapping[str, str]
    schema: StructType | None = field(default=None, compare=False)  # the checksum's; DESCRIBE DETAIL has none

    @property
    def average_file_bytes(self) -> int:
        return self.size_bytes // self.num_files if self.num_files else 0


def detail(spark: SparkSession, path: str | Path) -> Detail:
    """The table's current files, size, layout and properties.

    For a local table they come from the checksum Delta writes with each commit
    (``_delta_log/<version>.crc``: file count, size, metadata and domain metadata of that version), so
    reading them runs no Spark job and does not grow with the table's files or history
    (``DESCRIBE DETAIL`` reconstructs the snapshot and sums every file: 0.6-1 s after each commit of a
    small table, 2026-12-05). Without a usable checksum for the newest version (a writer that writes
    none, such as delta-rs; one not written yet; column mapping, whose clustering columns are physical
    names) and for tables elsewhere: :func:`describe_detail` (which raises :class:`DeltaTableMissing` when
    there is no table).
    """
    local = local_path(path)
    found = checksum_detail(local) if local is not None else None
    return found if found is not None else describe_detail(spark, path)


def describe_detail(spark: SparkSession, path: str | Path) -> Detail:
    """:func:`detail` from ``DESCRIBE DETAIL`` (any storage, embedded or over Spark Connect)."""
    _require(spark, path)
    row = _first_row(spark, f"DESCRIBE DETAIL {sql_path(path)}")
    version = latest_version(spark, path)
    return Detail(
        version=version if version is not None else -1,
        num_files=int(row["numFiles"] or 0),
        size_bytes=int(row["sizeInBytes"] or 0),
        partition_columns=tuple(row["partitionColumns"] or ()),
        clustering_columns=tuple(row["clusteringColumns"] or ()),
        properties=dict(row["properties"] or {}),
    )


def checksum_detail(local: Path) -> Detail | None:
    """:func:`detail` of the local table at ``local`` from its newest version's checksum file, or None when
    there is none to trust."""
    version = _local_latest_version(local)
    if version is None:
        return None
    try:
        checksum = json.loads((local / "_delta_log" / f"{version:020d}.crc").read_text())
        metadata = checksum["metadata"]
        properties = dict(metadata.get("configuration") or {})
        if properties.get("delta.columnMapping.mode", "none") != "none":
            return None
        clustering: tuple[str, ...] = ()
        for domain in checksum.get("domainMetadata") or ():
            if domain.get("domain") == "delta.clustering" and not domain.get("removed"):
                clustering = tuple(".".join(c) for c in json.loads(domain["configuration"])["clusteringColumns"])
        return Detail(version=version, num_files=int(checksum["numFiles"]), size_bytes=int(checksum["tableSizeBytes"]),
                      partition_columns=tuple(metadata.get("partitionColumns") or ()), clustering_columns=clustering,
                      properties=properties, schema=StructType.fromJson(json.loads(metadata["schemaString"])))
    except (OSError, ValueError, KeyError, TypeError):  # no checksum (yet), or not one this reader knows
        return None


def create_table(spark: SparkSession, table: Table, path: str | Path) -> bool:
    """Create the Delta table ``table`` declares at ``path``, or align the existing one with the declaration.

    A new table gets the declared columns (types, NOT NULL, comments), partitioning or
    ``CLUSTER BY``, properties and CHECK constraints in its first commit. An existing table gets
    what was declared since: new columns (added, nullable), properties, constraints and clustering;
    a declared column that changed type or a constraint that changed its expression raises, naming
    them, since that needs a rewrite (see the README runbook). Returns True when it created the table.
    """
    if exists(spark, path):
        align_table(spark, table, path)
        return False
    columns = ", ".join(
        f"`{c.name}` {c.type.upper()}{'' if c.nullable else ' NOT NULL'} COMMENT '{_sql_string(c.description)}'"
        for c in table.columns
    )
    layout = ""
    if table.partition_column:
        layout = f" PARTITIONED BY (`{table.partition_column}`)"
    elif table.cluster_by:
        layout = f" CLUSTER BY ({', '.join(f'`{c}`' for c in table.cluster_by)})"
    # CHECK constraints go in with the first commit, as the ``delta.constraints.<name>`` properties ALTER TABLE ADD
    # CONSTRAINT would set: on an empty table there is nothing to validate, and each ALTER is a commit and a scan
    # of its own (about 0.6 s; 2.4 s for silver/sales' four). Delta enforces them on every later write.
    properties = _properties_sql(
        {**table.properties, **{f"delta.constraints.{name}": expr for name, expr in table.constraints.items()}})
    try:
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {sql_path(path)} ({columns}) USING DELTA{layout}"
            f" COMMENT '{_sql_string(table.description)}'" + (f" TBLPROPERTIES ({properties})" if properties else "")
        )
    except Exception as error:  # PySparkException, or py4j's Py4JJavaError for Delta's conflicts (see is_conflict)
        # Another process is creating the same table this moment: its _delta_log exists and its first commit is on
        # its way (DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION), or landed first (a ProtocolChangedException).
        meanwhile = error_condition(error) == "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION" or is_conflict(error)
        if not meanwhile or not _created_meanwhile(spark, path):
            raise
        return False
    # A writer that created it meanwhile (IF NOT EXISTS) did so from the same declaration: nothing to align.
    return True


def _created_meanwhile(spark: SparkSession, path: str | Path, seconds: float = 30) -> bool:
    """Whether a Delta table appears at ``path`` within ``seconds`` (a concurrent writer finishing its creation)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if exists(spark, path):
            return True
        time.sleep(0.5)
    return False


def align_table(spark: SparkSession, table: Table, path: str | Path) -> list[str]:
    """Bring an existing table's columns, properties, constraints and clustering to the declaration; list what changed.

    Every write calls this through ``Warehouse.ensure``. For a local table the schema, properties and clustering
    come from the newest version's checksum (:func:`checksum_detail`), so a table that matches its declaration
    costs no Spark query (a schema analysis and ``SHOW TBLPROPERTIES`` before: about 0.3 s per write on a warm
    JVM); without a usable checksum, from Spark as before.
    """
    target = sql_path(path)
    local = local_path(path)
    found = checksum_detail(local) if local is not None else None
    current = found.schema if found is not None and found.schema is not None else \
        spark.read.format("delta").load(str(path)).schema
    present = {f.name: f for f in current.fields}
    changes: list[str] = []
    retyped = [c.name for c in table.columns if c.name in present and present[c.name].dataType != c.data_type]
    if retyped:
        raise ValueError(
            f"{table.name} at {path}: column(s) {retyped} have another type than declared in lakehouse/tables; "
            "a type change needs a rewrite of the table (README runbook 'A write fails naming a column')."
        )
    missing = [c for c in table.columns if c.name not in present]
    if missing:
        added = ", ".join(f"`{c.name}` {c.type.upper()} COMMENT '{_sql_string(c.description)}'" for c in missing)
        spark.sql(f"ALTER TABLE {target} ADD COLUMNS ({added})")
        changes.append(f"added columns {[c.name for c in missing]}")
    present_properties = dict(found.properties) if found is not None else properties(spark, path)
    properties_to_set = {k: v for k, v in table.properties.items() if present_properties.get(k) != v}
    if properties_to_set:
        spark.sql(f"ALTER TABLE {target} SET TBLPROPERTIES ({_properties_sql(properties_to_set)})")
        changes.append(f"set properties {sorted(properties_to_set)}")
    existing = constraints(present_properties)
    for name, expression in table.constraints.items():
        if name not in existing:
            spark.sql(f"ALTER TABLE {target} ADD CONSTRAINT `{name}` CHECK ({expression})")
            changes.append(f"added constraint {name}")
        elif _normalize(existing[name]) != _normalize(expression):
            raise ValueError(
                f"{table.name}: constraint {name} is ({existing[name]}) in the table but ({expression}) in "
                f"lakehouse/tables; drop it (ALTER TABLE {target} DROP CONSTRAINT `{name}`) and run again."
            )
    if table.cluster_by and tuple((found or detail(spark, path)).clustering_columns) != table.cluster_by:
        spark.sql(f"ALTER TABLE {target} CLUSTER BY ({', '.join(f'`{c}`' for c in table.cluster_by)})")
        changes.append(f"clustered by {list(table.cluster_by)}")
    return changes


def properties(spark: SparkSession, path: str | Path) -> dict[str, str]:
    """The table's properties (``SHOW TBLPROPERTIES``: from the log's metadata, without summing file sizes as
    ``DESCRIBE DETAIL`` does); CHECK constraints are among them (:func:`constraints`)."""
    return {row["key"]: row["value"] for row in spark.sql(f"SHOW TBLPROPERTIES {sql_path(path)}").collect()}


def constraints(properties: Mapping[str, str]) -> dict[str, str]:
    """The CHECK constraints recorded in a table's properties (``delta.constraints.<name>``)."""
    prefix = "delta.constraints."
    return {k[len(prefix):]: v for k, v in properties.items() if k.startswith(prefix)}


def read(spark: SparkSession, path: str | Path, *, version: int | None = None, timestamp: str | None = None) -> DataFrame:
    """The table at its latest version, or as of ``version`` / ``timestamp`` (time travel)."""
    _require(spark, path)
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", int(version))
    elif timestamp is not None:
        reader = reader.option("timestampAsOf", timestamp)
    return reader.load(str(path))


def version_at(spark: SparkSession, path: str | Path, as_of: str | int) -> int:
    """The version a time-travel setting means: a version number, or the last version committed at an ISO timestamp."""
    text = str(as_of).strip()
    commits = history(spark, path)
    if text.isdigit():
        version = int(text)
        if not any(c.version == version for c in commits):
            raise ValueError(f"{path} has no version {version}; its history holds {commits[-1].version}..{commits[0].version}")
        return version
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{as_of!r} is neither a version number nor an ISO-8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a time without a zone is UTC, like the lakehouse's session
    before = [c for c in commits if c.timestamp <= moment]
    if not before:
        raise ValueError(f"{path} did not exist yet at {as_of} (its first commit is at {commits[-1].timestamp} UTC)")
    return max(c.version for c in before)


def missing_files(spark: SparkSession, path: str | Path, version: int) -> list[str]:
    """Data files of ``version`` that are gone from storage (removed by VACUUM); checked for local tables only."""
    if local_path(path) is None:
        return []
    files = spark.read.format("delta").option("versionAsOf", int(version)).load(str(path)).inputFiles()
    local = [(f, local_path(f)) for f in files]
    return [f for f, p in local if p is not None and not p.exists()]


def readable_versions(spark: SparkSession, path: str | Path) -> list[int]:
    """The newest versions whose data files are all still there, oldest first: from the newest back to VACUUM's cut.

    Checked one by one from the newest: readability is not monotone in the version (a version
    before the table's first rows has no files to lose, and one whose files all outlived the
    retention reads while its successors do not), so a binary search would misreport.

    Example::

        readable_versions(spark, path)      # [14, 15, 16]: versions up to 13 lost files to VACUUM
    """
    readable: list[int] = []
    for version in sorted((c.version for c in history(spark, path)), reverse=True):
        if missing_files(spark, path, version):
            break
        readable.append(version)
    return readable[::-1]


def overwrite(
    frame: DataFrame, path: str | Path, *, predicate: str | None = None, partition_by: str | None = None,
    properties: Mapping[str, str] | None = None,
) -> None:
    """Replace the rows matching ``predicate`` (``replaceWhere``), or all rows, with ``frame``.

    The whole-table case is a ``replaceWhere`` of ``true`` as well: a plain overwrite would reset
    a table's liquid clustering. Delta refuses rows of ``frame`` outside ``predicate``. A missing
    table is created by the write, with ``properties`` (tables of the registry are created from
    their declaration first, see :func:`create_table`).
    """
    writer = frame.write.format("delta").mode("overwrite")
    if predicate or exists(frame.sparkSession, path):
        writer = writer.option("replaceWhere", predicate or "true")
    else:
        for key, value in (properties or {}).items():
            writer = writer.option(key, value)
    if partition_by:
        writer = writer.partitionBy(partition_by)
    writer.save(str(path))


@dataclass(frozen=True)
class MergeCounts:
    """Rows a MERGE inserted, updated and deleted (from the statement's own result row)."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0


def merge(spark: SparkSession, path: str | Path, source: DataFrame, on: str, clauses: str) -> MergeCounts:
    """``MERGE INTO <table> t USING <source> s ON <on> <clauses>`` (the target is ``t``, the source ``s``).

    Example::

        merge(spark, path, changes, "t.id = s.id",
              "WHEN MATCHED AND s.op = 'delete' THEN DELETE WHEN NOT MATCHED THEN INSERT *")
    """
    view = f"_lakehouse_merge_source_{uuid.uuid4().hex}"
    source.createOrReplaceTempView(view)
    try:
        row = spark.sql(f"MERGE INTO {sql_path(path)} t USING {view} s ON {on} {clauses}").first()
    finally:
        spark.catalog.dropTempView(view)
    if row is None:
        return MergeCounts()
    values = row.asDict()
    return MergeCounts(
        inserted=int(values.get("num_inserted_rows") or 0),
        updated=int(values.get("num_updated_rows") or 0),
        deleted=int(values.get("num_deleted_rows") or 0),
    )


def insert_new(spark: SparkSession, path: str | Path, source: DataFrame, on: str) -> int:
    """Insert the rows of ``source`` that match no row of the table on ``on`` (insert-if-absent); return how many.

    Idempotent: running it again with the same source inserts nothing, so a write cut short is
    simply run again.

    Example::

        insert_new(spark, path, events, on="t.customer_id = s.customer_id AND t.seq = s.seq")
    """
    return merge(spark, path, source, on, "WHEN NOT MATCHED THEN INSERT *").inserted


def change_feed(spark: SparkSession, path: str | Path, starting_version: int, ending_version: int) -> DataFrame:
    """The Change Data Feed rows (``_change_type``, ``_commit_version``) between two versions, inclusive."""
    return (
        spark.read.format("delta").option("readChangeFeed", "true")
        .option("startingVersion", int(starting_version)).option("endingVersion", int(ending_version))
        .load(str(path))
    )


OPTIMIZE_MAX_FILE_CONF = "spark.databricks.delta.optimize.maxFileSize"


def optimize(spark: SparkSession, path: str | Path, *, where: str | None = None, zorder: Sequence[str] = (),
             max_file_bytes: int | None = None) -> Row:
    """``OPTIMIZE`` (compaction; Z-order by ``zorder``; a clustered table is re-clustered), returning its metrics.

    ``max_file_bytes`` bounds the files it writes (Delta's default is 1 GiB): smaller files let a
    Z-ordered table skip more of them on a selective query.
    """
    statement = f"OPTIMIZE {sql_path(path)}" + (f" WHERE {where}" if where else "")
    if zorder:
        statement += f" ZORDER BY ({', '.join(f'`{c}`' for c in zorder)})"
    previous = spark.conf.get(OPTIMIZE_MAX_FILE_CONF, None)
    if max_file_bytes:
        spark.conf.set(OPTIMIZE_MAX_FILE_CONF, str(int(max_file_bytes)))
    try:
        return _first_row(spark, statement)["metrics"]
    finally:
        if max_file_bytes:
            if previous is None:
                spark.conf.unset(OPTIMIZE_MAX_FILE_CONF)
            else:
                spark.conf.set(OPTIMIZE_MAX_FILE_CONF, previous)


@dataclass(frozen=True)
class VacuumResult:
    """Files (and their bytes) that VACUUM deleted, or would delete in a dry run; and the empty directories."""

    files: list[str]
    bytes: int
    dry_run: bool
    retention_hours: float
    directories: list[str] = field(default_factory=list)  # VACUUM removes empty directories whatever their age


def vacuum(spark: SparkSession, path: str | Path, *, retention_hours: float = DEFAULT_RETENTION_HOURS,
           dry_run: bool = False, allow_short_retention: bool = False) -> VacuumResult:
    """``VACUUM`` files no version within ``retention_hours`` needs; ``dry_run`` lists them and deletes nothing.

    A retention below Delta's 7 days is refused unless ``allow_short_retention`` (callers decide
    who may: the maintenance job with a logged reason, the erasure job). The files are listed
    first (a dry run), so the result names exactly what went.
    """
    _require(spark, path)
    hours = float(retention_hours)
    if not hours >= 0:
        raise ValueError(f"VACUUM of {path}: retention_hours must be a number of hours >= 0, not {retention_hours!r}")
    short = hours < DEFAULT_RETENTION_HOURS
    if short and not allow_short_retention:
        raise ValueError(
            f"VACUUM of {path} with {hours:g} h retention refused: below Delta's 7-day default, a reader or writer "
            "still using an older version could fail. Maintenance allows it with force_retention and a reason."
        )
    # Delta 4.x ignores RETAIN unless it is 0 (vacuum.retentionWindowIgnore, on by default) and keeps the
    # table's deletedFileRetentionDuration instead: asked for 14 days, it would delete after 7.
    conf = {RETENTION_IGNORE_CONF: "false", **({RETENTION_CHECK_CONF: "false"} if short else {})}
    retain = f"RETAIN {_decimal(hours)} HOURS"
    with _session_conf(spark, conf):
        listed = [row["path"] for row in spark.sql(f"VACUUM {sql_path(path)} {retain} DRY RUN").collect()]
        directories = [f for f in listed if _is_directory(f)]
        files = [f for f in listed if f not in directories]
        size = file_bytes(spark, files)
        if listed and not dry_run:
            spark.sql(f"VACUUM {sql_path(path)} {retain}")
    return VacuumResult(files=files, bytes=size, dry_run=dry_run, retention_hours=hours, directories=directories)


def file_bytes(spark: SparkSession, files: Sequence[str]) -> int:
    """Total size of ``files`` (local ones by ``stat``, others through Spark's binary file source)."""
    return sum(file_sizes(spark, files).values())


def file_sizes(spark: SparkSession, files: Sequence[str]) -> dict[str, int]:
    """The size of each of ``files`` that exists (local ones by ``stat``, others listed by Spark's binary file source).

    Example::

        file_sizes(spark, ["file:/data/warehouse/silver/sales/sale_date=2025-01-03/part-0.parquet"])
    """
    local = {f: local_path(f) for f in files}
    if all(p is not None for p in local.values()):
        return {f: p.stat().st_size for f, p in local.items() if p is not None and p.is_file()}
    # Only path and length are selected, so the binary file source lists the files without reading them.
    rows = spark.read.format("binaryFile").load(list(files)).select("path", "length").collect()
    by_location = {_location(row["path"]): int(row["length"]) for row in rows}
    return {f: by_location[_location(f)] for f in files if _location(f) in by_location}


@dataclass(frozen=True)
class DataFile:
    """One data file of a table's current version: URI, size, and partition directory (``''`` when unpartitioned)."""

    path: str
    bytes: int
    partition: str


def data_files(spark: SparkSession, path: str | Path) -> list[DataFile]:
    """The data files of the table's current version, with sizes and partition directories; no data is read.

    The list comes from the Delta log (``inputFiles``), so it holds exactly the files the current
    version reads (not the removed ones VACUUM has yet to delete).

    Example::

        files = data_files(spark, path)
        sum(f.bytes for f in files if f.partition == "sale_date=2025-01-03")
    """
    _require(spark, path)
    files = sorted(read(spark, path).inputFiles())
    sizes = file_sizes(spark, files)
    return [DataFile(f, sizes.get(f, 0), partition_of(f)) for f in files]


def partitions_with_files(spark: SparkSession, path: str | Path) -> int:
    """How many partitions hold at least one file of the table's current version (1 when it is unpartitioned).

    For a local table the files' partition values come from the Delta log through delta-rs (``deltalake``),
    which replays the log without a Spark job: about 20 ms for 1,500 files over 366 partitions, where
    Spark's file listing (``inputFiles``) took 0.2 s warm and several seconds in a fresh JVM, growing with
    the table's files (2026-12-05). Elsewhere, or when delta-rs cannot open the log (a table feature it
    does not read), from Spark's list of the table's files.

    Example::

        partitions_with_files(spark, "data/warehouse/silver/sales")   # 30 after 30 days
    """
    local = local_path(path)
    if local is not None:
        import deltalake  # imported here: most runs never need it, and it is a large native library
        import pyarrow as pa

        try:
            actions = deltalake.DeltaTable(str(local)).get_add_actions(flatten=True)
        except Exception as error:  # delta-rs is an optimization here: any failure falls back to Spark
            logging.getLogger(__name__).info("delta-rs could not read the log of %s (%s); listing its files with Spark",
                                             path, error)
        else:
            columns = [name for name in actions.schema.names if name.startswith("partition.")]
            if not actions.num_rows:
                return 0
            if not columns:
                return 1
            values = [pa.chunked_array(actions.column(name)).to_pylist() for name in columns]
            return len(set(zip(*values, strict=True)))
    return len({partition_of(f) for f in read(spark, path).inputFiles()})


def partition_of(file: str) -> str:
    """The partition directories of a data file (``sale_date=2025-01-03``), ``''`` for an unpartitioned table."""
    directories = PurePosixPath(urlparse(file).path).parent.parts
    trailing: list[str] = []
    for directory in reversed(directories):
        if "=" not in directory:
            break
        trailing.insert(0, directory)
    return "/".join(trailing)


def restore(spark: SparkSession, path: str | Path, *, version: int | None = None, timestamp: str | None = None) -> Row:
    """``RESTORE TABLE`` to ``version`` or ``timestamp``; returns the statement's metrics row."""
    if (version is None) == (timestamp is None):
        raise ValueError("restore needs exactly one of version and timestamp")
    target = f"VERSION AS OF {int(version)}" if version is not None else f"TIMESTAMP AS OF '{_sql_string(str(timestamp))}'"
    return _first_row(spark, f"RESTORE TABLE {sql_path(path)} TO {target}")


CONFLICTS = frozenset({
    "DELTA_CONCURRENT_APPEND", "DELTA_CONCURRENT_DELETE_READ", "DELTA_CONCURRENT_DELETE_DELETE",
    "DELTA_CONCURRENT_TRANSACTION", "DELTA_CONCURRENT_WRITE", "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED",
})


def retrying_conflicts(write: Callable[[], T], what: str, attempts: int = 3, log: logging.Logger | None = None) -> T:
    """Call ``write`` (an idempotent read-compute-commit) again when a concurrent writer's commit conflicts with it.

    For writes that are safe to repeat (a partition overwrite, OPTIMIZE, an SCD2 MERGE recomputed from
    the events): after a conflict nothing of the failed attempt is committed, so the next attempt
    starts from the table as the other writer left it. Other errors, and the last attempt's conflict,
    are raised (embedded Delta conflicts included: see :func:`is_conflict`).

    Example::

        retrying_conflicts(lambda: merge_scd2(spark, path, history, spec), "silver/dim_customer")
    """
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except Exception as error:  # py4j-wrapped (embedded) or PySparkException (Connect)
            if not is_conflict(error) or attempt == attempts:
                raise
            (log or logging.getLogger(__name__)).warning(
                "%s: %s: another writer committed first; retrying from the table it left (attempt %d of %d)",
                what, type(error).__name__, attempt + 1, attempts)
            time.sleep(attempt + random.random())
    raise AssertionError("unreachable")


# Delta's conflict exceptions, by class name (io.delta.exceptions in the JVM, delta.exceptions in Python).
CONFLICT_CLASSES = frozenset({
    "ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException", "ConcurrentWriteException", "MetadataChangedException",
    "ProtocolChangedException", "DeltaConcurrentModificationException",
})


def is_conflict(error: Exception) -> bool:
    """Whether ``error`` is a Delta write conflict with a concurrent writer (safe to retry an idempotent write).

    Over Spark Connect the error is a ``PySparkException`` carrying its condition. Embedded, Delta's conflicts
    (``io.delta.exceptions.ConcurrentAppendException`` and kin, all ``java.util.ConcurrentModificationException``s)
    are not among the JVM errors PySpark converts: they arrive as py4j's ``Py4JJavaError`` (or as
    ``delta.exceptions``' classes where that module was imported), with the Java exception attached.
    """
    condition = error_condition(error)
    if condition and condition.split(".")[0] in CONFLICTS:
        return True
    if type(error).__module__.startswith("delta.exceptions") and type(error).__name__ in CONFLICT_CLASSES:
        return True
    java = getattr(error, "java_exception", None)
    return java is not None and _java_subclass_of(java, "java.util.ConcurrentModificationException")


def error_condition(error: BaseException) -> str | None:
    """The Spark/Delta error condition of ``error`` (``DELTA_CONCURRENT_APPEND.WITH_PARTITION_HINT``), or None."""
    if isinstance(error, PySparkException) and error.getCondition():
        return error.getCondition()
    found = re.search(r"\[((?:DELTA|SPARK)_[A-Z0-9_]+(?:\.[A-Z0-9_]+)*)\]", str(error))
    return found.group(1) if found else None


def _java_subclass_of(java_object, class_name: str) -> bool:
    """Whether a py4j-proxied Java object's class is ``class_name`` or extends it."""
    try:
        cls = java_object.getClass()
        while cls is not None:
            if cls.getName() == class_name:
                return True
            cls = cls.getSuperclass()
    except Exception:  # not a Java object after all, or the gateway is gone
        return False
    return False


@contextmanager
def _session_conf(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """Set session settings for the block, then put back what was there (or unset them)."""
    previous = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _require(spark: SparkSession, path: str | Path) -> None:
    if not exists(spark, path):
        raise DeltaTableMissing(f"there is no Delta table at {path}")


def _first_row(spark: SparkSession, statement: str) -> Row:
    """The first row of ``statement``'s result; a ValueError when it returned no row."""
    row = spark.sql(statement).first()
    if row is None:
        raise ValueError(f"{statement} returned no row")
    return row


def _properties_sql(properties: Mapping[str, str]) -> str:
    return ", ".join(f"'{_sql_string(k)}' = '{_sql_string(v)}'" for k, v in properties.items())


def _sql_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _decimal(number: float) -> str:
    """A number as a SQL decimal literal: ``f"{x:g}"`` writes 1e-05, which SQL does not parse."""
    return f"{number:.6f}".rstrip("0").rstrip(".") or "0"


def _is_directory(path: str) -> bool:
    local = local_path(path)
    return local is not None and local.is_dir()


def _location(file: str) -> str:
    """A file URI without its scheme's spelling (``file:/x`` and ``file:///x`` alike), to match listings."""
    parsed = urlparse(file)
    return parsed.netloc + parsed.path


def _normalize(expression: str) -> str:
    return " ".join(expression.lower().replace("(", " ( ").replace(")", " ) ").split())
