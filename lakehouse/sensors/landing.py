"""Landing-zone sensors: new files in ``sales/``, ``customers_cdc/``, ``clickstream/``, ``stores/`` and ``products/`` request runs that read them.

A tick lists folders with :func:`os.scandir` in plain Python (no Spark, no file is opened) and
compares each folder with the cursor; thousands of files take a few milliseconds. Only visible
``*.json`` files count (dot- and underscore-files are still being written), as for the assets.

**Cursor**: compact JSON, one entry per folder: how many files it holds and a 64-bit BLAKE2b
fingerprint of their sorted names::

    {"v":1,"folders":{"2025-01-01":[100,"5c1f0e2a9b3d7e41"],"2025-01-02":[98,"0a9d..."]}}

The runs do not need the names, only *which folders changed*: sales re-materializes the whole
day, the CDC ingestion reads the files its file log does not hold yet, the clickstream query
reads everything after its checkpoint. Dagster stores the cursor with every tick (each 30 s), so
it stays ~40 bytes a folder (2 KB for 50 days of 100 files, where the names would take ~86 KB and
grow with every file). A fingerprint sees any added file whatever its name or time, where a
high-water mark on names or mtimes misses a late file with an old name or a copied-in old mtime.
A folder that disappears keeps its entry, so a mount that briefly lists nothing replays nothing.

**Exactly once**: the cursor moves only past folders it requested, and a request's run key hashes
the folder states it covers (which files were there), so the same files give the same key and
Dagster launches one run per key: a tick retried after a crash asks for runs that exist already
and Dagster drops them. The tag ``lakehouse/new_files`` is how much a folder grew (the landing
contract never removes a file; should one be replaced, the folder still counts as changed).

Example::

    jobs = {job.name: job for job in build_jobs()}
    sensors = build_landing_sensors(
        daily_partitions("2025-01-01"), sales_job=jobs["sales_pipeline"],
        customer_job=jobs["customer_dimension"], clickstream_job="clickstream",
    )
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from lakehouse import tables
from lakehouse.partitions import partition_label
from lakehouse.resources.landing import LandingZone

SALES, CDC, CLICKSTREAM = "sales", "customers_cdc", "clickstream"
REFERENCE_FOLDERS = ("stores", "products")
NEW_FILES_TAG = "lakehouse/new_files"
CDC_BRONZE_ASSETS = (tables.BRONZE_CUSTOMERS_CDC.key, tables.BRONZE_CUSTOMERS_CDC_REJECTS.key, tables.BRONZE_CUSTOMERS_CDC_FILES.key)
CURSOR_VERSION = 1
RUNNING = dg.DefaultSensorStatus.RUNNING
INTERVAL_SECONDS = 30
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

FolderState = tuple[int, str]  # (number of landed files, fingerprint of their sorted names)
Cursor = dict[str, FolderState]
if TYPE_CHECKING:  # what define_asset_job returns; dagster does not export the class
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

    JobTarget = str | dg.JobDefinition | UnresolvedAssetJobDefinition


@dataclass(frozen=True)
class FolderChange:
    """A folder whose files differ from the cursor: its new state and how many files it gained."""

    state: FolderState
    new_files: int


def list_files(folder: str | os.PathLike) -> list[str]:
    """Sorted names of the landed ``*.json`` files of ``folder``; ``[]`` when it does not exist."""
    try:
        with os.scandir(folder) as entries:
            return sorted(e.name for e in entries if e.name.endswith(".json") and not _hidden(e.name) and e.is_file())
    except (FileNotFoundError, NotADirectoryError):
        return []


def list_versions(folder: str | os.PathLike, suffix: str = ".csv") -> list[str]:
    """``name:size:mtime_ns`` of the visible ``*<suffix>`` files of ``folder``: also changes when a file is replaced.

    Reference files (``stores/stores.csv``) may be delivered again under the same name, so for
    them a file's identity is its name, size and modification time, not its name alone.
    """
    try:
        with os.scandir(folder) as entries:
            found = [e for e in entries if e.name.endswith(suffix) and not _hidden(e.name) and e.is_file()]
            return sorted(f"{e.name}:{e.stat().st_size}:{e.stat().st_mtime_ns}" for e in found)
    except (FileNotFoundError, NotADirectoryError):
        return []


def list_day_folders(folder: str | os.PathLike) -> dict[str, list[str]]:
    """``{subfolder: list_files(subfolder)}`` for the visible subfolders of ``folder`` (e.g. ``sales/``)."""
    try:
        with os.scandir(folder) as entries:
            subfolders = [(e.name, e.path) for e in entries if not _hidden(e.name) and e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return {}
    return {name: list_files(path) for name, path in subfolders}


def folder_state(names: Iterable[str]) -> FolderState:
    """The cursor entry of a folder holding ``names``."""
    names = sorted(names)
    return len(names), _digest(names)


def new_files(
    listing: Mapping[str, Sequence[str]], cursor: Mapping[str, FolderState], accept: Callable[[str], bool] | None = None
) -> tuple[dict[str, FolderChange], Cursor]:
    """The folders of ``listing`` whose files changed since ``cursor``, and the cursor that records them.

    A folder without files is no change. ``accept`` (asked only about changed folders) can turn a
    folder away: it is left out of both, so it counts as new again on the next tick.

    Example::

        changes, cursor = new_files({"2025-01-01": ["a.json", "b.json"]}, {})
        changes["2025-01-01"].new_files                   # 2
        new_files({"2025-01-01": ["a.json", "b.json"]}, cursor)[0]  # {}: nothing new
    """
    changes = {}
    for folder, names in listing.items():
        if not names:
            continue
        state, seen = folder_state(names), cursor.get(folder)
        if state != seen and (accept is None or accept(folder)):
            changes[folder] = FolderChange(state, max(state[0] - (seen[0] if seen else 0), 0))
    return changes, {**cursor, **{folder: change.state for folder, change in changes.items()}}


def load_cursor(text: str | None) -> Cursor:
    """The cursor from its stored JSON (``None`` or empty: nothing seen yet)."""
    if not text:
        return {}
    try:
        data = json.loads(text)
        if data["v"] != CURSOR_VERSION:
            raise ValueError(f"version {data['v']}, expected {CURSOR_VERSION}")
        return {str(folder): (int(count), str(digest)) for folder, (count, digest) in data["folders"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(
            f"Unreadable landing sensor cursor {text[:80]!r} ({error}). Clear the cursor in the UI to list the landing "
            "zone afresh: folders whose files were requested before under the same run key are not run again."
        ) from None


def dump_cursor(cursor: Mapping[str, FolderState]) -> str:
    """The compact JSON Dagster stores: ``{"v":1,"folders":{folder:[count,fingerprint]}}``."""
    folders = {folder: list(state) for folder, state in sorted(cursor.items())}
    return json.dumps({"v": CURSOR_VERSION, "folders": folders}, separators=(",", ":"))


def is_date(folder: str) -> bool:
    """Whether a ``sales/`` subfolder is named after a calendar day (``2025-01-31``; not ``2025-13-45``)."""
    try:
        return bool(_DAY.match(folder)) and date.fromisoformat(folder).isoformat() == folder
    except ValueError:
        return False


def is_day_partition(folder: str, partitions_def: dg.PartitionsDefinition) -> bool:
    """Whether a ``sales/`` subfolder is named after a partition key (today's becomes one tomorrow)."""
    return bool(_DAY.match(folder)) and partitions_def.has_partition_key(folder)


def contiguous_ranges(keys: Iterable[str], partitions_def: dg.TimeWindowPartitionsDefinition) -> list[list[str]]:
    """``keys`` sorted and cut into runs of consecutive partitions.

    Example::

        contiguous_ranges(["2025-01-03", "2025-01-01", "2025-01-02", "2025-01-05"], daily)
        # [["2025-01-01", "2025-01-02", "2025-01-03"], ["2025-01-05"]]
    """
    ranges: list[list[str]] = []
    for key in sorted(keys):
        if ranges and partitions_def.get_next_partition_key(ranges[-1][-1]) == key:
            ranges[-1].append(key)
        else:
            ranges.append([key])
    return ranges


def run_key(prefix: str, states: Mapping[str, FolderState], label: str = "") -> str:
    """``<prefix>:<label>:<hash of the folder states>``: the same files always give the same key."""
    digest = _digest(f"{folder}={count}:{fingerprint}" for folder, (count, fingerprint) in sorted(states.items()))
    return f"{prefix}:{label}:{digest}" if label else f"{prefix}:{digest}"


def sales_run_requests(
    changes: Mapping[str, FolderChange], partitions_def: dg.TimeWindowPartitionsDefinition
) -> list[dg.RunRequest]:
    """One request per run of consecutive changed days: ``partition_key`` for one day, range tags for several."""
    requests = []
    for days in contiguous_ranges(changes, partitions_def):
        key = run_key(SALES, {day: changes[day].state for day in days}, partition_label(days))
        tags = {NEW_FILES_TAG: str(sum(changes[day].new_files for day in days))}
        if len(days) == 1:
            requests.append(dg.RunRequest(run_key=key, partition_key=days[0], tags=tags))
        else:
            range_tags = {ASSET_PARTITION_RANGE_START_TAG: days[0], ASSET_PARTITION_RANGE_END_TAG: days[-1]}
            requests.append(dg.RunRequest(run_key=key, tags={**tags, **range_tags}))
    return requests


def build_landing_sensors(
    partitions_def: dg.TimeWindowPartitionsDefinition,
    *,
    sales_job: JobTarget,
    customer_job: JobTarget,
    clickstream_job: JobTarget | dg.AssetSelection | None = None,
    reference_job: JobTarget | None = None,
    cdc_bronze_assets: Sequence[dg.AssetKey] = CDC_BRONZE_ASSETS,
    customer_dimension: dg.AssetKey = tables.SILVER_DIM_CUSTOMER.key,
    running: bool = True,
) -> list[dg.SensorDefinition]:
    """The landing sensors: sales days, the customer change feed and, if given their targets, reference data and the clickstream.

    ``running=False`` declares them stopped (env ``LAKEHOUSE_LANDING_SENSORS=off``): turn them on in the UI.

    Jobs are passed as objects (the same ones given to ``Definitions(jobs=...)``) or by name.
    Each sensor takes the landing root from the ``landing`` resource.
    """
    status = RUNNING if running else dg.DefaultSensorStatus.STOPPED

    @dg.sensor(
        name="sales_landing_sensor", minimum_interval_seconds=INTERVAL_SECONDS, default_status=status,
        description=f"Watches landing sales/<YYYY-MM-DD>/*.json: a new day, or late files into an earlier day, "
                    f"requests those days of {_name(sales_job)}; consecutive days run as one single-run backfill.",
        **_target(sales_job),
    )
    def sales_landing_sensor(context: dg.SensorEvaluationContext, landing: LandingZone) -> dg.SensorResult:
        listing = list_day_folders(Path(landing.root) / SALES)
        changes, cursor = new_files(
            listing, load_cursor(context.cursor), accept=lambda day: is_day_partition(day, partitions_def)
        )
        ignored = sorted(day for day, names in listing.items() if names and day not in cursor)
        misnamed = [folder for folder in ignored if not is_date(folder)]
        if misnamed:
            context.log.warning(
                f"sales/ folders that are not a day (YYYY-MM-DD), so their files are not read: {', '.join(misnamed[:20])} "
                f"under {Path(landing.root) / SALES}. Move their files into the folder of the business day they hold.")
        if not_yet := [folder for folder in ignored if is_date(folder)]:  # today's folder becomes a partition at midnight UTC
            context.log.info(f"ignored sales/ folders that are not partition days: {', '.join(not_yet[:20])}")
        return _result(context, sales_run_requests(changes, partitions_def), cursor, SALES, changes)

    @dg.sensor(
        name="customers_cdc_sensor", minimum_interval_seconds=INTERVAL_SECONDS, default_status=status,
        description=f"Watches landing customers_cdc/*.json: new change-feed files request {_name(customer_job)} "
                    f"(only its bronze CDC assets until {customer_dimension.to_user_string()} has been built once).",
        **_target(customer_job),
    )
    def customers_cdc_sensor(context: dg.SensorEvaluationContext, landing: LandingZone) -> dg.SensorResult:
        """New change-feed files: the whole job once the dimension exists, until then only the bronze CDC assets.

        The dimension's first build is the initial load, a full SCD2 rebuild over every event: it is
        left to whoever owns that load (an operator, or the automation sensor once bronze holds the
        backlog) instead of being started by whichever batch of files lands first. Until then new
        files still reach bronze, so nothing is lost. Once it exists, a batch is one cheap run:
        bronze reads only the new files and the dimension merges only the customers that changed.
        """
        changes, cursor = new_files({CDC: list_files(Path(landing.root) / CDC)}, load_cursor(context.cursor))
        requests = []
        if changes:
            built = context.instance.get_latest_materialization_event(customer_dimension) is not None
            selection = None if built else list(cdc_bronze_assets)
            requests.append(_folder_request(CDC, changes[CDC], asset_selection=selection))
        return _result(context, requests, cursor, CDC, changes)

    sensors = [sales_landing_sensor, customers_cdc_sensor]
    if reference_job is not None:

        @dg.sensor(
            name="reference_landing_sensor", minimum_interval_seconds=INTERVAL_SECONDS, default_status=status,
            description=f"Watches landing stores/*.csv and products/*.csv: a new or re-delivered file requests {_name(reference_job)}.",
            **_target(reference_job),
        )
        def reference_landing_sensor(context: dg.SensorEvaluationContext, landing: LandingZone) -> dg.SensorResult:
            listing = {folder: list_versions(Path(landing.root) / folder) for folder in REFERENCE_FOLDERS}
            changes, cursor = new_files(listing, load_cursor(context.cursor))
            requests = []
            if changes:  # one run reads every reference file, whichever changed
                key = run_key("reference", {folder: change.state for folder, change in changes.items()})
                requests.append(dg.RunRequest(run_key=key, tags={NEW_FILES_TAG: str(sum(c.new_files for c in changes.values()))}))
            return _result(context, requests, cursor, "stores/ and products", changes)

        sensors.append(reference_landing_sensor)
    if clickstream_job is None:
        return sensors

    @dg.sensor(
        name="clickstream_sensor", minimum_interval_seconds=INTERVAL_SECONDS, default_status=status,
        description=f"Watches landing clickstream/*.json: new files request one run of {_name(clickstream_job)} "
                    "per tick, which reads everything since its streaming checkpoint.",
        **_target(clickstream_job),
    )
    def clickstream_sensor(context: dg.SensorEvaluationContext, landing: LandingZone) -> dg.SensorResult:
        listing = {CLICKSTREAM: list_files(Path(landing.root) / CLICKSTREAM)}
        changes, cursor = new_files(listing, load_cursor(context.cursor))
        requests = [_folder_request(CLICKSTREAM, changes[CLICKSTREAM])] if changes else []
        return _result(context, requests, cursor, CLICKSTREAM, changes)

    return [*sensors, clickstream_sensor]


def _folder_request(folder: str, change: FolderChange, **request) -> dg.RunRequest:
    key = run_key(folder, {folder: change.state}, label=str(change.state[0]))
    return dg.RunRequest(run_key=key, tags={NEW_FILES_TAG: str(change.new_files)}, **request)


def _result(context, requests: list[dg.RunRequest], cursor: Cursor, folder: str, changes) -> dg.SensorResult:
    if not requests:
        return dg.SensorResult(skip_reason=f"no new files in {folder}/", cursor=dump_cursor(cursor))
    new = sum(change.new_files for change in changes.values())
    context.log.info(f"{new} new file(s) in {len(changes)} folder(s) of {folder}/: {len(requests)} run request(s)")
    return dg.SensorResult(run_requests=requests, cursor=dump_cursor(cursor))


def _target(job) -> dict:
    return {"job_name": job} if isinstance(job, str) else {"target": job}


def _name(job) -> str:
    return job if isinstance(job, str) else getattr(job, "name", "the selected assets")


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def _digest(parts: Iterable[str]) -> str:
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=8).hexdigest()
