"""IO managers of the lakehouse."""

from lakehouse.io.delta_io_manager import DeltaIOManager, table_path

__all__ = ["DeltaIOManager", "table_path"]
