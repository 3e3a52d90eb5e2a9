"""A streaming run's report as Dagster metadata: counts as ints, progress per batch as JSON."""

from __future__ import annotations

import dagster as dg

from lakehouse.streaming.clickstream import StreamReport


def stream_metadata(report: StreamReport) -> dict[str, object]:
    """Input rows, batches, processed rate, watermark, late drops and the per-batch progress of ``report``.

    Example::

        context.add_output_metadata(stream_metadata(run_hourly_events(spark, bronze, gold, checkpoint)))
    """
    metadata: dict[str, object] = {}
    for name, value in report.metadata().items():
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            metadata[f"stream/{name}"] = dg.MetadataValue.json(value)
        elif isinstance(value, float):
            metadata[f"stream/{name}"] = dg.MetadataValue.float(round(value, 2))
        elif isinstance(value, int):
            metadata[f"stream/{name}"] = dg.MetadataValue.int(value)
        else:
            metadata[f"stream/{name}"] = str(value)
    return metadata
