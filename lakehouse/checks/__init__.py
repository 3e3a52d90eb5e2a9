"""Asset checks of the lakehouse: reconciliation, keys, volume, schema drift, schemas, freshness."""

from lakehouse.checks.definitions import build_checks

__all__ = ["build_checks"]
