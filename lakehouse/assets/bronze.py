"""Bronze: what landed, as landed, plus where it came from; nothing dropped."""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.assets.declared import table_out, table_spec
from lakehouse.assets.policies import FILE_READ_RETRY
from lakehouse.governance.suppression import Suppression
from lakehouse.governance.tokens import PiiKey
from lakehouse.ingest import read_json_lines
from lakehouse.ingest.incremental import ingest_new_files
from lakehouse.ingest.json_lines import with_refused
from lakehouse.partitions import SINGLE_RUN
from lakehouse.resources import LandingZone, SparkResource, Streams, Warehouse
from lakehouse.streaming import run_bronze_clickstream
from lakehouse.streaming.metadata import stream_metadata

SALES_SCHEMA = tables.BRONZE_SALES.landed_schema("sales")
CDC_SCHEMA = tables.BRONZE_CUSTOMERS_CDC.landed_schema("customers_cdc")
CDC_EVENT_KEY = tuple(tables.BRONZE_CUSTOMERS_CDC.key_columns)
CDC_TABLES = (tables.BRONZE_CUSTOMERS_CDC, tables.BRONZE_CUSTOMERS_CDC_REJECTS, tables.BRONZE_CUSTOMERS_CDC_FILES)
CLICKSTREAM_TABLES = (tables.BRONZE_CLICKSTREAM, tables.BRONZE_CLICKSTREAM_REJECTS)
_DAY_FOLDER = r"/sales/([0-9]{4}-[0-9]{2}-[0-9]{2})/[^/]+$"


def build(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        name="bronze_sales",
        outs={"sales": table_out(tables.BRONZE_SALES), "sales_rejects": table_out(tables.BRONZE_SALES_REJECTS)},
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        retry_policy=FILE_READ_RETRY,
    )
    def sales(context: dg.AssetExecutionContext, spark: SparkResource, landing: LandingZone):
        """Reads the days' landed files; a refused file (a link out of the zone, compressed or binary) is one reject."""
        files = landing.vet(landing.sales_files(context.partition_keys))
        for refused in files.refused:
            context.log.warning(f"bronze/sales: {refused.reason} It is one row of bronze/sales_rejects.")
        for path in files.vanished:
            context.log.warning(f"bronze/sales: {path} was listed but is gone from the landing zone: not read.")
        batch = with_refused(spark.get_session(), read_json_lines(spark.get_session(), files.readable, SALES_SCHEMA),
                             files.refused)
        metadata: dict[str, dg.RawMetadataValue] = {"files_read": len(files.readable), "files_refused": len(files.refused)}
        if files.refused:
            metadata["refused"] = dg.MetadataValue.json({r.path: r.reason for r in files.refused[:50]})
        yield dg.Output(_with_sale_date(batch.records), output_name="sales", metadata=metadata)
        yield dg.Output(_with_sale_date(batch.rejects), output_name="sales_rejects")

    @dg.multi_asset(name="bronze_customers_cdc", specs=[table_spec(t) for t in CDC_TABLES], retry_policy=FILE_READ_RETRY)
    def customers_cdc(context: dg.AssetExecutionContext, spark: SparkResource, landing: LandingZone, warehouse: Warehouse,
                      pii_key: PiiKey):
        """Reads only change-feed files not ingested yet; a re-delivered event is stored once; erased customers are dropped."""
        keys = [t.key for t in CDC_TABLES]
        for key in keys:
            warehouse.ensure(key)
        events, rejects, log = (str(warehouse.path(key)) for key in keys)
        suppression = Suppression.load(spark.get_session(), warehouse.path(tables.GOVERNANCE_ERASURE_LOG.key), pii_key,
                                       "the change-feed ingestion")
        with warehouse.tracked(*keys) as write:
            report = ingest_new_files(spark.get_session(), landing.cdc_files(), CDC_SCHEMA, keys=CDC_EVENT_KEY,
                                      table=events, rejects=rejects, log=log, run_id=context.run.run_id,
                                      suppression=suppression)
        context.log.info(f"customers_cdc: {report}")
        if report.suppressed:
            context.log.info(f"customers_cdc: dropped {report.suppressed} landed line(s) of erased customers")
        for key, extra in zip(keys, (report.metadata(), {}, {})):
            yield dg.MaterializeResult(asset_key=key, metadata=warehouse.materialization(key, warehouse.result(write, key), **extra))

    @dg.multi_asset(
        name="bronze_clickstream",
        specs=[table_spec(tables.BRONZE_CLICKSTREAM, kinds={"streaming"}), table_spec(tables.BRONZE_CLICKSTREAM_REJECTS)],
    )
    def clickstream(spark: SparkResource, landing: LandingZone, warehouse: Warehouse, streams: Streams):
        """Structured Streaming, availableNow: each run takes exactly the files landed since the last one (checkpointed)."""
        session = spark.get_embedded_session()  # foreachBatch keeps counts in the driver: not over Spark Connect
        events, rejects = (t.key for t in CLICKSTREAM_TABLES)
        for key in (events, rejects):
            warehouse.ensure(key)
        with warehouse.tracked(events, rejects) as write:
            report = run_bronze_clickstream(
                session, landing.clickstream_folder(), str(warehouse.path(events)), str(warehouse.path(rejects)),
                streams.checkpoint(events), max_files_per_trigger=streams.max_files_per_trigger,
            )
        yield dg.MaterializeResult(
            asset_key=events, metadata=warehouse.materialization(events, warehouse.result(write, events), **stream_metadata(report)))
        yield dg.MaterializeResult(
            asset_key=rejects, metadata=warehouse.materialization(rejects, warehouse.result(write, rejects), rejects_read=report.rejects))

    return [sales, customers_cdc, clickstream]


def _with_sale_date(frame: DataFrame) -> DataFrame:
    """The business day is the landing folder's day (a row's own sale_ts may be wrong)."""
    return frame.withColumn("sale_date", F.to_date(F.regexp_extract("_source_file", _DAY_FOLDER, 1)))

