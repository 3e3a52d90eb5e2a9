"""A lakehouse on Dagster software-defined assets, PySpark and Delta Lake."""
