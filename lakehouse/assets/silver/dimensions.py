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

from lakehouse.assets.keys import BRONZE_CUSTOMERS_CDC, SILVER_DIM_CUSTOMER, SILVER_DIM_PRODUCT, SILVER_DIM_PRODUCT_REJECTS
from lakehouse.assets.policies import FILE_READ_RETRY, KINDS
from lakehouse.ingest.json_lines import iso_timestamp
from lakehouse.resources import LandingZone, SparkResource, Warehouse
from lakehouse.scd.scd1 import SnapshotSpec, merge_snapshots, read_csv_snapshots
from lakehouse.scd.scd2 import Scd2Spec, changed_keys, last_source_version, merge_scd2, rebuild_scd2

LAYER = "silver"
CDC_OPS = ("INSERT", "UPDATE", "DELETE")

CUSTOMER_SCD2 = Scd2Spec(
    keys=("customer_id",),
    sequence="seq",
    timestamp="event_ts",
    tracked=("name", "email", "phone", "city"),
    delete_when="op = 'DELETE'",
)
PRODUCTS_SCHEMA = "product_id BIGINT, product_name STRING, category STRING, list_price DOUBLE"
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
    @dg.asset(
        key=SILVER_DIM_CUSTOMER,
        deps=[BRONZE_CUSTOMERS_CDC],
        group_name=LAYER,
        kinds=KINDS,
        automation_condition=dg.AutomationCondition.eager(),
    )
    def dim_customer(config: DimensionRun, spark: SparkResource, warehouse: Warehouse) -> dg.MaterializeResult:
        """Customers as SCD type 2: one row per version, [valid_from, valid_to) in event time."""
        session = spark.get_session()
        before = warehouse.version(SILVER_DIM_CUSTOMER)
        events = applicable_events(warehouse.read(BRONZE_CUSTOMERS_CDC))  # fails naming bronze if it is missing
        source, target = str(warehouse.path(BRONZE_CUSTOMERS_CDC)), str(warehouse.path(SILVER_DIM_CUSTOMER))
        since = None if config.full_refresh else last_source_version(session, target)
        keys, version = changed_keys(session, source, since, CUSTOMER_SCD2.keys)
        if keys is None:
            result = rebuild_scd2(session, target, events, CUSTOMER_SCD2, source_version=version)
        else:
            history = events.join(keys, list(CUSTOMER_SCD2.keys), "left_semi")
            result = merge_scd2(session, target, history, CUSTOMER_SCD2, source_version=version)
        return dg.MaterializeResult(metadata={**result.metadata(), **warehouse.table_metadata(SILVER_DIM_CUSTOMER, before)})

    @dg.multi_asset(
        name="silver_dim_product",
        specs=[
            dg.AssetSpec(SILVER_DIM_PRODUCT, group_name=LAYER, kinds=KINDS,
                         description="Products as SCD type 1: the latest snapshot wins; products missing from it are flagged, not deleted."),
            dg.AssetSpec(SILVER_DIM_PRODUCT_REJECTS, group_name=LAYER, kinds=KINDS,
                         description="Snapshot lines that do not fit the product schema, with file, snapshot date and reason."),
        ],
        retry_policy=FILE_READ_RETRY,
    )
    def dim_product(spark: SparkResource, landing: LandingZone, warehouse: Warehouse):
        """Every product snapshot is read (the catalog is small); only new or changed products are written."""
        session = spark.get_session()
        before = {key: warehouse.version(key) for key in (SILVER_DIM_PRODUCT, SILVER_DIM_PRODUCT_REJECTS)}
        snapshots = read_csv_snapshots(session, landing.product_snapshot_files(), PRODUCTS_SCHEMA)
        result = merge_snapshots(session, str(warehouse.path(SILVER_DIM_PRODUCT)), snapshots.rows, PRODUCT_SCD1)
        yield dg.MaterializeResult(asset_key=SILVER_DIM_PRODUCT,
                                   metadata={**result.metadata(), **warehouse.table_metadata(SILVER_DIM_PRODUCT, before[SILVER_DIM_PRODUCT])})
        snapshots.rejects.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
            str(warehouse.path(SILVER_DIM_PRODUCT_REJECTS)))
        yield dg.MaterializeResult(asset_key=SILVER_DIM_PRODUCT_REJECTS, metadata=warehouse.table_metadata(SILVER_DIM_PRODUCT_REJECTS, before[SILVER_DIM_PRODUCT_REJECTS]))

    return [dim_customer, dim_product]
