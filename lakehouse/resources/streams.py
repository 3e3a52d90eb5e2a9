"""Where streaming queries keep their checkpoints, and how they trigger.

A streaming table and its checkpoint belong together: the checkpoint records which input each
micro-batch covered, so deleting one without the other re-reads or skips input. Checkpoints live
at ``<checkpoints>/<layer>/<table>`` (env ``LAKEHOUSE_CHECKPOINTS``).

Example::

    streams = Streams(checkpoints="data/checkpoints")
    streams.checkpoint(dg.AssetKey(["bronze", "clickstream"]))   # 'data/checkpoints/bronze/clickstream'
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field


class Streams(dg.ConfigurableResource):
    """Checkpoint folder, watermark and batch size of the lakehouse's Structured Streaming queries."""

    checkpoints: str = Field(description="Root folder of streaming checkpoints (env LAKEHOUSE_CHECKPOINTS).")
    watermark: str = Field(
        default="1 hour",
        description="How late an event may arrive and still be counted in gold/hourly_events (env LAKEHOUSE_CLICKSTREAM_WATERMARK).",
    )
    max_files_per_trigger: int = Field(default=100, description="Landed files per micro-batch of bronze/clickstream.")

    def checkpoint(self, asset_key: dg.AssetKey) -> str:
        return str(Path(self.checkpoints).joinpath(*asset_key.path))
