"""Bronze: what landed, as landed, plus where it came from; nothing dropped."""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.assets.keys import (
    BRONZE_CLICKSTREAM,
    BRONZE_CLICKSTREAM_REJECTS,
    BRONZE_CUSTOMERS_CDC,
    BRONZE_CUSTOMERS_CDC_FILES,
    BRONZE_CUSTOMERS_CDC_REJECTS,
    BRONZE_SALES,
    BRONZE_SALES_REJECTS,
)
from lakehouse.assets.policies import FILE_READ_RETRY, KINDS, daily_table_out
from lakehouse.ingest import read_json_lines
from lakehouse.ingest.incremental import ingest_new_files
from lakehouse.partitions import SINGLE_RUN
from lakehouse.resources import LandingZone, SparkResource, Streams, Warehouse
from lakehouse.streaming import run_bronze_clickstream
from lakehouse.streaming.metadata import stream_metadata

LAYER = "bronze"
SALES_SCHEMA = T.StructType(
    [
        T.StructField("sale_id", T.StringType()),
        T.StructField("customer_id", T.LongType()),
        T.StructField("product_id", T.LongType()),
        T.StructField("store_id", T.LongType()),
        T.StructField("quantity", T.LongType()),
        T.StructField("amount", T.DoubleType()),
        T.StructField("discount", T.DoubleType()),
        T.StructField("sale_ts", T.StringType()),
    ]
)
CDC_SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.LongType()),
        T.StructField("op", T.StringType()),
        T.StructField("seq", T.LongType()),
        T.StructField("event_ts", T.StringType()),
        T.StructField("name", T.StringType()),
        T.StructField("email", T.StringType()),
        T.StructField("phone", T.StringType()),
        T.StructField("city", T.StringType()),
    ]
)
CDC_EVENT_KEY = ("customer_id", "seq")
_DAY_FOLDER = r"/sales/([0-9]{4}-[0-9]{2}-[0-9]{2})/[^/]+$"


def build(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        name="bronze_sales",
        outs={
            "sales": daily_table_out(
                BRONZE_SALES,
                "Landed sales lines that parsed, columns as landed, with _rescued_data and source lineage.",
                follows_upstream=False,
            ),
            "sales_rejects": daily_table_out(
                BRONZE_SALES_REJECTS,
                "Landed sales lines that are not JSON objects, with the raw line and the reason.",
                follows_upstream=False,
            ),
        },
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        group_name=LAYER,
        retry_policy=FILE_READ_RETRY,
    )
    def sales(context: dg.AssetExecutionContext, spark: SparkResource, landing: LandingZone):
        files = landing.sales_files(context.partition_keys)
        batch = read_json_lines(spark.get_session(), files, SALES_SCHEMA)
        yield dg.Output(_with_sale_date(batch.records), output_name="sales", metadata={"files_read": len(files)})
        yield dg.Output(_with_sale_date(batch.rejects), output_name="sales_rejects")

    @dg.multi_asset(
        name="bronze_customers_cdc",
        specs=[
            dg.AssetSpec(BRONZE_CUSTOMERS_CDC, description="Customer change events, one row per distinct (customer_id, seq), as landed.",
                         group_name=LAYER, kinds=KINDS),
            dg.AssetSpec(BRONZE_CUSTOMERS_CDC_REJECTS, description="Change-feed lines that are not JSON objects, with the reason.",
                         group_name=LAYER, kinds=KINDS),
            dg.AssetSpec(BRONZE_CUSTOMERS_CDC_FILES, description="The change-feed files ingested so far, with their counts (the file log).",
                         group_name=LAYER, kinds=KINDS),
        ],
        retry_policy=FILE_READ_RETRY,
    )
    def customers_cdc(context: dg.AssetExecutionContext, spark: SparkResource, landing: LandingZone, warehouse: Warehouse):
        """Reads only change-feed files not ingested yet; a re-delivered event is stored once."""
        tables = (BRONZE_CUSTOMERS_CDC, BRONZE_CUSTOMERS_CDC_REJECTS, BRONZE_CUSTOMERS_CDC_FILES)
        before = {key: warehouse.version(key) for key in tables}
        report = ingest_new_files(
            spark.get_session(), landing.cdc_files(), CDC_SCHEMA, keys=CDC_EVENT_KEY,
            table=str(warehouse.path(BRONZE_CUSTOMERS_CDC)), rejects=str(warehouse.path(BRONZE_CUSTOMERS_CDC_REJECTS)),
            log=str(warehouse.path(BRONZE_CUSTOMERS_CDC_FILES)), run_id=context.run.run_id,
        )
        context.log.info(f"customers_cdc: {report}")
        for key, extra in ((BRONZE_CUSTOMERS_CDC, report.metadata()), (BRONZE_CUSTOMERS_CDC_REJECTS, {}), (BRONZE_CUSTOMERS_CDC_FILES, {})):
            yield dg.MaterializeResult(asset_key=key, metadata={**extra, **warehouse.table_metadata(key, before[key])})

    @dg.multi_asset(
        name="bronze_clickstream",
        specs=[
            dg.AssetSpec(BRONZE_CLICKSTREAM, description="Click events, one row per distinct event_id, streamed from clickstream/ exactly once.",
                         group_name=LAYER, kinds={"spark", "delta", "streaming"}),
            dg.AssetSpec(BRONZE_CLICKSTREAM_REJECTS, description="Clickstream lines that are not JSON objects, with the reason.",
                         group_name=LAYER, kinds=KINDS),
        ],
    )
    def clickstream(spark: SparkResource, landing: LandingZone, warehouse: Warehouse, streams: Streams):
        """Structured Streaming, availableNow: each run takes exactly the files landed since the last one (checkpointed)."""
        before = {key: warehouse.version(key) for key in (BRONZE_CLICKSTREAM, BRONZE_CLICKSTREAM_REJECTS)}
        report = run_bronze_clickstream(
            spark.get_session(), landing.clickstream_folder(), str(warehouse.path(BRONZE_CLICKSTREAM)),
            str(warehouse.path(BRONZE_CLICKSTREAM_REJECTS)), streams.checkpoint(BRONZE_CLICKSTREAM),
            max_files_per_trigger=streams.max_files_per_trigger,
        )
        yield dg.MaterializeResult(asset_key=BRONZE_CLICKSTREAM,
                                   metadata={**stream_metadata(report), **warehouse.table_metadata(BRONZE_CLICKSTREAM, before[BRONZE_CLICKSTREAM])})
        yield dg.MaterializeResult(asset_key=BRONZE_CLICKSTREAM_REJECTS,
                                   metadata={"rejects_read": report.rejects, **warehouse.table_metadata(BRONZE_CLICKSTREAM_REJECTS, before[BRONZE_CLICKSTREAM_REJECTS])})

    return [sales, customers_cdc, clickstream]


def _with_sale_date(frame: DataFrame) -> DataFrame:
    """The business day is the landing folder's day (a row's own sale_ts may be wrong)."""
    return frame.withColumn("sale_date", F.to_date(F.regexp_extract("_source_file", _DAY_FOLDER, 1)))
