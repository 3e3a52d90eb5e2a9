"""Silver dimensions: customers as SCD type 2 from the change feed, products as SCD type 1 from snapshots.

``silver/dim_customer`` is incremental: a run reads the bronze change feed since the bronze
version it last consumed (recorded in the dimension's own Delta commit), recomputes only the
customers with new events from their whole history, and MERGEs those customers' versions. An
event that arrives late (lower ``seq`` than history already written) is thus placed into
history, not appended as newest. Launch it with ``full_refresh: true`` to rebuild from all events.

Events the dimension cannot place (no ``customer_id`` or ``seq``, an ``event_ts`` that is not
ISO-8601, an unknown ``op``) stay in bronze; the check ``customers_cdc_applicable`` counts them.
"""

import dagster as dg
from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import delta, tables
from lakehouse.assets.declared import asset_args, table_spec
from lakehouse.assets.policies import FILE_READ_RETRY
from lakehouse.ingest.json_lines import iso_timestamp
from lakehouse.resources import LandingZone, SparkResource, Warehouse
from lakehouse.scd.scd1 import SnapshotSpec, merge_snapshots, read_csv_snapshots
from lakehouse.scd.scd2 import (
    Scd2Result,
    Scd2Spec,
    changed_keys,
    feed_gap,
    history_of,
    last_source_version,
    merge_scd2,
    rebuild_scd2,
)
from lakehouse.tables.registry import ddl

BRONZE_CUSTOMERS_CDC, SILVER_DIM_CUSTOMER = tables.BRONZE_CUSTOMERS_CDC.key, tables.SILVER_DIM_CUSTOMER.key
SILVER_DIM_PRODUCT, SILVER_DIM_PRODUCT_REJECTS = tables.SILVER_DIM_PRODUCT.key, tables.SILVER_DIM_PRODUCT_REJECTS.key
CDC_OPS = ("INSERT", "UPDATE", "DELETE")

CUSTOMER_SCD2 = Scd2Spec(
    keys=("customer_id",),
    sequence="seq",
    timestamp="event_ts",
    tracked=("name", "email", "phone", "city"),
    delete_when="op = 'DELETE'",
)
PRODUCTS_SCHEMA = ddl(tables.SILVER_DIM_PRODUCT.landed_schema("products"))
PRODUCT_SCD1 = SnapshotSpec(keys=("product_id",), attributes=("product_name", "category", "list_price"))


class DimensionRun(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Rebuild the whole dimension from every event instead of only the customers with new events.",
    )


def applicable_events(bronze: DataFrame) -> DataFrame:
    """Bronze change events the SCD2 merge can place, with ``event_ts`` as a timestamp."""
    return (
        bronze.withColumn("event_ts", iso_timestamp("event_ts"))
        .where(F.col("customer_id").isNotNull() & F.col("seq").isNotNull() & F.col("event_ts").isNotNull())
        .where(F.col("op").isin(*CDC_OPS))
    )


def build() -> list[dg.AssetsDefinition]:
    @dg.asset(**asset_args(tables.SILVER_DIM_CUSTOMER, automation_condition=dg.AutomationCondition.eager()),
              deps=[BRONZE_CUSTOMERS_CDC])
    def dim_customer(context: dg.AssetExecutionContext, config: DimensionRun, spark: SparkResource,
                     warehouse: Warehouse) -> dg.MaterializeResult:
        session = spark.get_session()
        existed = warehouse.exists(SILVER_DIM_CUSTOMER)
        warehouse.ensure(SILVER_DIM_CUSTOMER)
        events = applicable_events(warehouse.read(BRONZE_CUSTOMERS_CDC))  # fails naming bronze if it is missing
        source, target = str(warehouse.path(BRONZE_CUSTOMERS_CDC)), str(warehouse.path(SILVER_DIM_CUSTOMER))

        def update() -> Scd2Result:
            since = None if config.full_refresh else last_source_version(session, target)
            gap = feed_gap(session, source, since) if since is not None else None
            if gap:  # an erasure purged bronze's history: its Change Data Feed since then is gone
                context.log.warning(f"silver/dim_customer: full rebuild instead of an incremental run: {gap}")
                since = None
            elif since is None and existed and not config.full_refresh:
                context.log.warning("silver/dim_customer: full rebuild: its history records no bronze version consumed "
                                    "(an erasure purged the dimension's own history, or it was never recorded)")
            keys, version = changed_keys(session, source, since, CUSTOMER_SCD2.keys)
            if keys is None:
                return rebuild_scd2(session, target, events, CUSTOMER_SCD2, source_version=version)
            return merge_scd2(session, target, history_of(events, keys, CUSTOMER_SCD2), CUSTOMER_SCD2, source_version=version)

        # A maintenance OPTIMIZE (or another writer) committing meanwhile: recompute from the table it left.
        result = delta.retrying_conflicts(update, "silver/dim_customer", log=context.log)
        return dg.MaterializeResult(metadata=warehouse.materialization(SILVER_DIM_CUSTOMER, _written(result.write), **result.metadata()))

    @dg.multi_asset(
        name="silver_dim_product",
        specs=[table_spec(tables.SILVER_DIM_PRODUCT), table_spec(tables.SILVER_DIM_PRODUCT_REJECTS)],
        retry_policy=FILE_READ_RETRY,
    )
    def dim_product(spark: SparkResource, landing: LandingZone, warehouse: Warehouse):
        """Every product snapshot is read (the catalog is small); only new or changed products are written."""
        session = spark.get_session()
        for key in (SILVER_DIM_PRODUCT, SILVER_DIM_PRODUCT_REJECTS):
            warehouse.ensure(key)
        snapshots = read_csv_snapshots(session, landing.product_snapshot_files(), PRODUCTS_SCHEMA)
        result = merge_snapshots(session, str(warehouse.path(SILVER_DIM_PRODUCT)), snapshots.rows, PRODUCT_SCD1)
        yield dg.MaterializeResult(asset_key=SILVER_DIM_PRODUCT,
                                   metadata=warehouse.materialization(SILVER_DIM_PRODUCT, _written(result.write), **result.metadata()))
        with warehouse.tracked(SILVER_DIM_PRODUCT_REJECTS) as write:
            delta.overwrite(snapshots.rejects.select(*tables.SILVER_DIM_PRODUCT_REJECTS.column_names),
                            warehouse.path(SILVER_DIM_PRODUCT_REJECTS))
        yield dg.MaterializeResult(asset_key=SILVER_DIM_PRODUCT_REJECTS,
                                   metadata=warehouse.materialization(SILVER_DIM_PRODUCT_REJECTS, write.result))

    return [dim_customer, dim_product]


def _written(write: delta.WriteResult | None) -> delta.WriteResult:
    if write is None:  # the mechanisms always return their write; this keeps the type honest
        raise ValueError("the dimension write did not report its commits")
    return write
