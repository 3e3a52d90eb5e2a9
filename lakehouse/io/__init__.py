"""IO managers of the lakehouse."""

from lakehouse.io.delta_io_manager import DeltaIOManager

__all__ = ["DeltaIOManager"]
