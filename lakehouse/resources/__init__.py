"""Dagster resources of the lakehouse."""

from lakehouse.resources.landing import LandingZone
from lakehouse.resources.spark import SparkResource
from lakehouse.resources.streams import Streams
from lakehouse.resources.warehouse import Warehouse, table_name

__all__ = ["LandingZone", "SparkResource", "Streams", "Warehouse", "table_name"]
