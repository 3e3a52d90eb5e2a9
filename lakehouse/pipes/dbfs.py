"""Reading a Databricks step's Pipes messages from DBFS, whole (the Databricks engine's message reader).

Its own module because ``dagster_databricks`` takes over a second to import: only a run on the
Databricks engine (:class:`lakehouse.pipes.engines.DatabricksEngine`) imports it.

Example::

    PipesDatabricksClient(client=workspace, message_reader=WholeChunkDbfsMessageReader(client=workspace))
"""

from __future__ import annotations

import base64
import os

from dagster_databricks.pipes import PipesDbfsMessageReader
from dagster_pipes import PipesParams

DBFS_READ_LIMIT = 1024 * 1024  # the most one DBFS API read returns


class WholeChunkDbfsMessageReader(PipesDbfsMessageReader):
    """``PipesDbfsMessageReader`` that reads each message chunk to its end.

    dagster-databricks reads a chunk file with one DBFS ``read`` without a length, which returns at
    most 0.5 MB, and skips a line it cannot parse: the messages of a long backfill (one per
    partition and check) would be cut off and silently lost. This reads the file in 1 MB pieces.
    """

    def download_messages_chunk(self, index: int, params: PipesParams) -> str | None:
        path = os.path.join(params["path"], f"{index}.json")
        pieces: list[bytes] = []
        offset = 0
        while True:
            try:
                read = self.dbfs_client.read(path, offset=offset, length=DBFS_READ_LIMIT)
            except OSError:  # not written yet (the first read), as in PipesDbfsMessageReader
                if not pieces:
                    return None
                raise
            piece = base64.b64decode(read.data or "")
            pieces.append(piece)
            offset += len(piece)
            if len(piece) < DBFS_READ_LIMIT:
                return b"".join(pieces).decode("utf-8")
