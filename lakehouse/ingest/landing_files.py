"""Which landed files are read: every visible entry a reader lists is read or refused, never skipped in silence.

Decided in plain Python before Spark opens anything (one ``lstat``, one ``stat`` and the first
8 KiB of each file), so a refused file is never read:

* a path that resolves outside the landing zone (a symbolic link to ``/etc/passwd``, a day folder
  linked elsewhere) is refused; a link that stays inside the zone is read like its target;
* anything that is not a regular file (a directory, a FIFO, a socket, a broken link) is refused;
* compressed data under a ``.json`` name (gzip, zip, bzip2, xz, zstd) is refused, naming the format;
* UTF-16 or UTF-32 text (its byte-order mark) and binary data (a NUL byte in the first 8 KiB) are
  refused: the landing contract is JSON Lines in UTF-8. A UTF-8 byte-order mark is allowed (the
  line reader drops it).

A refused file is **one reject** of its table: ``_source_line`` 0 (the whole file), ``_raw_line``
NULL and the reason, so the nothing-lost equations count it as one landed unit
(:func:`landed_units`). A file that is gone by the time it is examined is ``vanished``: it is no
longer in the landing zone, so it is neither read nor counted. A file that disappears after this
and before Spark reads it fails the read naming it; the assets' retry policy then lists again.

A file that cannot be opened for lack of permission is not refused: the ``PermissionError``
(naming the file) fails the run, since the file may become readable and must not be counted as
delivered.

Example::

    vetted = vet(["/landing/sales/2025-01-01/part-0.json", "/landing/sales/2025-01-01/link.json"], "/landing")
    vetted.readable   # ['/landing/sales/2025-01-01/part-0.json']
    vetted.refused    # [Refused(path='/landing/sales/2025-01-01/link.json', reason='refused: ... outside the landing zone ...')]
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

SNIFF_BYTES = 8192
UTF8_BOM = b"\xef\xbb\xbf"
# What Java's regex \s matches: Spark drops lines made only of these (see json_lines.split_lines).
JAVA_WHITESPACE = b" \t\n\r\x0b\x0c"

_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_WIDE_TEXT = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}


@dataclass(frozen=True)
class Refused:
    """A landed entry that is not read: its path in the landing zone, why, and when it landed (its own mtime)."""

    path: str
    reason: str
    modified: datetime


@dataclass(frozen=True)
class Vetted:
    """Listed paths split into those Spark may read, those refused and those already gone."""

    readable: list[str] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)


def vet(paths: Iterable[str], root: str | os.PathLike) -> Vetted:
    """Split ``paths`` (entries listed under the landing zone ``root``) as the module docstring says."""
    vetted = Vetted()
    zone = Path(root).resolve()
    for path in paths:
        try:
            reason = refusal(path, zone)
            if reason is None:
                vetted.readable.append(path)
            else:
                modified = datetime.fromtimestamp(os.lstat(path).st_mtime, UTC)
                vetted.refused.append(Refused(path, reason, modified))
        except FileNotFoundError:
            vetted.vanished.append(path)
    return vetted


def refusal(path: str | os.PathLike, zone: Path) -> str | None:
    """Why the entry ``path`` must not be read (None when it may be); ``zone`` is the resolved landing root.

    Raises FileNotFoundError when the entry itself is gone.
    """
    os.lstat(path)  # FileNotFoundError when the entry itself is gone
    target = Path(path).resolve()
    if not target.is_relative_to(zone):
        return (f"refused: {path} resolves to {target}, outside the landing zone {zone}; the lakehouse reads only "
                "files inside it. Deliver the file itself, not a link to it.")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"refused: {path} is a broken symbolic link (its target {target} does not exist)."
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        return f"refused: {path} is {kind}, not a regular file. Deliver JSON Lines files only."
    with open(path, "rb") as file:
        head = file.read(SNIFF_BYTES)
    return _content_refusal(path, head)


def _content_refusal(path: str | os.PathLike, head: bytes) -> str | None:
    for magic, kind in _COMPRESSED:
        if head.startswith(magic):
            return (f"refused: {path} holds {kind}-compressed data under a .json name; deliver it decompressed, as "
                    "JSON Lines in UTF-8.")
    for mark, kind in _WIDE_TEXT:
        if head.startswith(mark):
            return f"refused: {path} is {kind} text (byte-order mark {mark.hex(' ').upper()}); the landing contract is UTF-8."
    nul = head.find(b"\x00")
    if nul >= 0:
        return f"refused: {path} is binary data (a NUL byte at offset {nul}), not JSON Lines text."
    return None


def landed_units(path: str, root: str | os.PathLike) -> int:
    """What one landed file must account for in bronze: its non-blank lines, 1 when it is refused, 0 when gone.

    Counted from the raw bytes in plain Python, independently of Spark: lines end at ``\\n``, a
    leading UTF-8 byte-order mark is not part of the first line, and a line of only whitespace
    (as Java's ``\\s``) is blank.
    """
    try:
        if refusal(path, Path(root).resolve()) is not None:
            return 1
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return 0
    data = data.removeprefix(UTF8_BOM)
    return sum(1 for line in data.split(b"\n") if line.strip(JAVA_WHITESPACE))


def local_path(uri: str) -> str | None:
    """The local path of a file URI as Spark reports it (``file:/a/b%20c.json`` -> ``/a/b c.json``); None if not local."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("", "file") else None


def source_uri(path: str) -> str:
    """``path`` as Spark names a local file in ``_metadata.file_path`` (``file:/a/b%20c.json``); see :func:`local_path`."""
    quoted = "".join(_URI_ESCAPES.get(char, char) for char in os.path.abspath(path))
    return f"file:{quoted}"


# Characters java.net.URI escapes in a path (Hadoop's Path.toUri), as Spark writes them.
_URI_ESCAPES = {char: f"%{ord(char):02X}" for char in '% "<>\\^`{|}#?[]'} | {chr(c): f"%{c:02X}" for c in range(0x20)}
