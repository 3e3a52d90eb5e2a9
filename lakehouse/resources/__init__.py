"""Dagster resources of the lakehouse."""

from lakehouse.resources.landing import LandingZone
from lakehouse.resources.spark import SparkResource

__all__ = ["LandingZone", "SparkResource"]
