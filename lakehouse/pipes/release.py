"""What a Databricks job runs: this repository as a wheel, and the one-line script that calls its entry point.

:func:`build` makes ``lakehouse-<version>-py3-none-any.whl`` from the working tree with ``uv build``
(into ``.cache/releases/<digest>/``) and writes ``lakehouse_pipes_entry.py`` beside it. The digest
covers every file the wheel is built from, so a changed line gives a new folder and an unchanged
tree reuses the last build. :func:`upload` puts both under ``<folder>/<digest>/`` in the workspace
(DBFS for clusters, a Unity Catalog volume for serverless) unless they are there already.

Example::

    release = build()                                         # Release(folder=.cache/releases/3f1c..., ...)
    remote = upload(release, workspace, "dbfs:/lakehouse/releases")   # RemoteRelease(wheel="dbfs:/...whl", ...)
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from databricks.sdk import WorkspaceClient

from lakehouse.settings import PROJECT_ROOT

ENTRY_SCRIPT = "lakehouse_pipes_entry.py"
ENTRY_SOURCE = '''"""Databricks spark_python_task of the lakehouse: runs one Dagster step (lakehouse.pipes.remote)."""
from lakehouse.pipes.remote import main

main()
'''
SOURCES = ("pyproject.toml", "setup.cfg", "lakehouse")


@dataclass(frozen=True)
class Release:
    digest: str
    wheel: Path
    entry: Path


@dataclass(frozen=True)
class RemoteRelease:
    wheel: str
    entry: str


def digest(root: Path = PROJECT_ROOT) -> str:
    """SHA-256 (first 16 hex digits) of every source file of the wheel, by path and content."""
    sha = hashlib.sha256()
    for name in SOURCES:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                sha.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def build(root: Path = PROJECT_ROOT) -> Release:
    """The wheel and entry script of the working tree, built once per content digest."""
    found = digest(root)
    folder = root / ".cache" / "releases" / found
    wheels = sorted(folder.glob("lakehouse-*.whl"))
    if not wheels:
        staging = folder.with_name(found + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        uv = Path(sys.executable).with_name("uv")
        command = [str(uv), "build", "--wheel", "--out-dir", str(staging), str(root)] if uv.exists() else \
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(staging), str(root)]
        built = subprocess.run(command, capture_output=True, text=True, check=False, cwd=root)
        if built.returncode != 0:
            raise RuntimeError(f"building the lakehouse wheel failed ({' '.join(command)}):\n{built.stderr[-3000:]}")
        (staging / ENTRY_SCRIPT).write_text(ENTRY_SOURCE)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        wheels = sorted(folder.glob("lakehouse-*.whl"))
    return Release(found, wheels[-1], folder / ENTRY_SCRIPT)


def upload(release: Release, workspace: WorkspaceClient, folder: str) -> RemoteRelease:
    """Both files under ``<folder>/<digest>/`` (``dbfs:/...`` or ``/Volumes/...``), uploaded only when absent."""
    base = f"{folder.rstrip('/')}/{release.digest}"
    remote = RemoteRelease(wheel=f"{base}/{release.wheel.name}", entry=f"{base}/{ENTRY_SCRIPT}")
    for local, target in ((release.wheel, remote.wheel), (release.entry, remote.entry)):
        if target.startswith("dbfs:"):
            path = target.removeprefix("dbfs:")
            if not _dbfs_exists(workspace, path):
                with local.open("rb") as contents:
                    workspace.dbfs.upload(path, contents, overwrite=True)
        else:
            with local.open("rb") as contents:
                workspace.files.upload(target, contents, overwrite=True)
    return remote


def _dbfs_exists(workspace: WorkspaceClient, path: str) -> bool:
    from databricks.sdk.errors import NotFound

    try:
        workspace.dbfs.get_status(path)
    except NotFound:
        return False
    return True
