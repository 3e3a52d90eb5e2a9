"""Reading the landing zone: JSON Lines with rejects and rescued data."""

from lakehouse.ingest.json_lines import JsonLinesBatch, read_json_lines

__all__ = ["JsonLinesBatch", "read_json_lines"]
