"""Dagster resources of the lakehouse."""

from lakehouse.resources.landing import LandingZone
from lakehouse.resources.spark import SparkResource
from lakehouse.resources.warehouse import Warehouse, table_name

__all__ = ["LandingZone", "SparkResource", "Warehouse", "table_name"]
