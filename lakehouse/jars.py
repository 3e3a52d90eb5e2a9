"""Delta Lake JARs: resolved once at setup into a cache folder, handed to Spark as ``spark.jars``.

Spark's own ``spark.jars.packages`` resolves the whole Maven tree of ``delta-spark``, which
drags in older Jackson, RoaringBitmap and Hadoop JARs that clash with the ones the ``pyspark``
wheel ships. Spark only needs ``delta-spark`` and ``delta-storage`` (everything else they
use is already on Spark's classpath), so we fetch exactly those two from Maven Central,
verify their SHA-1 and keep them in ``.cache/jars``. A run never downloads anything.

Example::

    python -m lakehouse.jars            # resolve into .cache/jars (idempotent)
    jars = delta_jars(Path(".cache/jars"))  # -> [Path(.../delta-spark_4.1_2.13-4.4.0.jar), ...]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import urllib.request
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
SCALA_VERSION = "2.13"


@dataclass(frozen=True)
class MavenArtifact:
    group: str
    name: str
    version: str

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.version}.jar"

    def url(self, repository: str) -> str:
        return f"{repository}/{self.group.replace('.', '/')}/{self.name}/{self.version}/{self.file_name}"


def delta_artifacts() -> list[MavenArtifact]:
    """The Delta JARs matching the installed ``delta-spark`` and ``pyspark`` wheels."""
    delta_version = version("delta-spark")
    spark_minor = ".".join(version("pyspark").split(".")[:2])
    return [
        MavenArtifact("io.delta", f"delta-spark_{spark_minor}_{SCALA_VERSION}", delta_version),
        MavenArtifact("io.delta", "delta-storage", delta_version),
    ]


def delta_jars(cache_dir: Path) -> list[Path]:
    """Paths of the cached Delta JARs; raises with the fix if they were never resolved."""
    paths = [cache_dir / artifact.file_name for artifact in delta_artifacts()]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Delta JARs not found: {', '.join(str(p) for p in missing)}. "
            f"Resolve them once with `python -m lakehouse.jars --cache-dir {cache_dir}` "
            "(the README's `make dev` and `make test` do this)."
        )
    return paths


def resolve_delta_jars(cache_dir: Path, repository: str = MAVEN_CENTRAL) -> list[Path]:
    """Download the Delta JARs into ``cache_dir`` unless already there; verify SHA-1."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for artifact in delta_artifacts():
        target = cache_dir / artifact.file_name
        if not target.is_file():
            _download_verified(artifact.url(repository), target)
        paths.append(target)
    return paths


def _download_verified(url: str, target: Path) -> None:
    with urllib.request.urlopen(url, timeout=120) as response:
        payload = response.read()
    with urllib.request.urlopen(url + ".sha1", timeout=60) as response:
        expected = response.read().decode().split()[0].strip()
    actual = hashlib.sha1(payload).hexdigest()
    if actual != expected:
        raise RuntimeError(f"checksum mismatch for {url}: expected {expected}, got {actual}")
    partial = target.with_suffix(".part")
    partial.write_bytes(payload)
    partial.replace(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Resolve the Delta Lake JARs into a local cache.")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/jars"))
    parser.add_argument(
        "--repository",
        default=os.environ.get("LAKEHOUSE_MAVEN_REPOSITORY", MAVEN_CENTRAL),
        help="Maven repository base URL (default Maven Central; env LAKEHOUSE_MAVEN_REPOSITORY).",
    )
    args = parser.parse_args(argv)
    for path in resolve_delta_jars(args.cache_dir, args.repository):
        print(f"delta jar: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
