"""The ``erasure_requests`` sensor: each new request file in ``erasure_requests/`` launches ``gdpr_erasure`` once.

A tick lists the folder in plain Python (:func:`lakehouse.sensors.landing.list_versions`, no
file is opened): a file is identified by its name, size and modification time, so a file
delivered again under the same name is a new delivery (the job rejects its requests as repeated,
by ``request_id``). The cursor keeps a 64-bit fingerprint of every identity already requested
(~20 bytes a file); the new files of a tick go into one run, whose config lists their paths and
whose run key hashes their identities, so Dagster never launches the same batch twice, even
when a tick is retried after a crash.

Example::

    sensor = build_erasure_sensor(gdpr_erasure_job)
    # a tick with erasure_requests/2025-01-07.json new:
    #   RunRequest(run_key="erasure_requests:<hash>", run_config={"files": ["/landing/erasure_requests/2025-01-07.json"]})
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from lakehouse.governance.requests import FOLDER
from lakehouse.resources.landing import LandingZone
from lakehouse.sensors.landing import INTERVAL_SECONDS, NEW_FILES_TAG, _name, _target, list_versions

if TYPE_CHECKING:
    from lakehouse.sensors.landing import JobTarget

CURSOR_VERSION = 1


def load_seen(text: str | None) -> set[str]:
    """The fingerprints of the files already requested, from the stored cursor (empty: none yet)."""
    if not text:
        return set()
    try:
        data = json.loads(text)
        if data["v"] != CURSOR_VERSION:
            raise ValueError(f"version {data['v']}, expected {CURSOR_VERSION}")
        return {str(s) for s in data["seen"]}
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"Unreadable erasure_requests cursor {text[:80]!r} ({error}). Clear the cursor in the UI: "
                         "files requested before under the same run key are not run again.") from None


def dump_seen(seen: set[str]) -> str:
    return json.dumps({"v": CURSOR_VERSION, "seen": sorted(seen)}, separators=(",", ":"))


def fingerprint(identity: str) -> str:
    """16 hex digits of a file's ``name:size:mtime_ns``."""
    return hashlib.blake2b(identity.encode(), digest_size=8).hexdigest()


def build_erasure_sensor(job: JobTarget, running: bool = True) -> dg.SensorDefinition:
    """The sensor launching ``job`` (``gdpr_erasure``) for new files of ``<landing>/erasure_requests/``."""

    @dg.sensor(
        name="erasure_requests", minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        description=f"Watches landing {FOLDER}/*.json (GDPR article 17): new or re-delivered request files launch "
                    f"{_name(job)} once, with their paths in the run config.",
        **_target(job),
    )
    def erasure_requests(context: dg.SensorEvaluationContext, landing: LandingZone) -> dg.SensorResult:
        folder = Path(landing.root) / FOLDER
        seen = load_seen(context.cursor)
        new = [(identity, fingerprint(identity)) for identity in list_versions(folder, ".json")]
        new = [(identity, digest) for identity, digest in new if digest not in seen]
        if not new:
            return dg.SensorResult(skip_reason=f"no new files in {FOLDER}/", cursor=dump_seen(seen))
        files = [str(folder / identity.rsplit(":", 2)[0]) for identity, _ in new]
        key = "erasure_requests:" + hashlib.blake2b("\0".join(d for _, d in new).encode(), digest_size=8).hexdigest()
        context.log.info(f"{len(files)} new request file(s) in {FOLDER}/: one {_name(job)} run")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=key, run_config={"files": files}, tags={NEW_FILES_TAG: str(len(files))})],
            cursor=dump_seen(seen | {d for _, d in new}),
        )

    return erasure_requests
