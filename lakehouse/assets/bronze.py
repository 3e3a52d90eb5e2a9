"""Bronze: what landed, as landed, plus where it came from; nothing dropped."""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.ingest import read_json_lines
from lakehouse.assets.keys import BRONZE_SALES, BRONZE_SALES_REJECTS
from lakehouse.assets.policies import FILE_READ_RETRY, daily_table_out
from lakehouse.partitions import SINGLE_RUN
from lakehouse.resources import LandingZone, SparkResource

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

    return [sales]


def _with_sale_date(frame: DataFrame) -> DataFrame:
    """The business day is the landing folder's day (a row's own sale_ts may be wrong)."""
    return frame.withColumn("sale_date", F.to_date(F.regexp_extract("_source_file", _DAY_FOLDER, 1)))
