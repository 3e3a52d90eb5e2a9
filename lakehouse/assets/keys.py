"""Asset keys of the lakehouse, named once; assets, checks, sensors and jobs import them."""

import dagster as dg

BRONZE_SALES = dg.AssetKey(["bronze", "sales"])
BRONZE_SALES_REJECTS = dg.AssetKey(["bronze", "sales_rejects"])
SILVER_SALES = dg.AssetKey(["silver", "sales"])
SILVER_SALES_QUARANTINE = dg.AssetKey(["silver", "sales_quarantine"])
SILVER_STORES = dg.AssetKey(["silver", "stores"])
BRONZE_CUSTOMERS_CDC = dg.AssetKey(["bronze", "customers_cdc"])
BRONZE_CUSTOMERS_CDC_REJECTS = dg.AssetKey(["bronze", "customers_cdc_rejects"])
BRONZE_CUSTOMERS_CDC_FILES = dg.AssetKey(["bronze", "customers_cdc_files"])
SILVER_DIM_CUSTOMER = dg.AssetKey(["silver", "dim_customer"])
SILVER_DIM_PRODUCT = dg.AssetKey(["silver", "dim_product"])
SILVER_DIM_PRODUCT_REJECTS = dg.AssetKey(["silver", "dim_product_rejects"])
GOLD_DAILY_SALES = dg.AssetKey(["gold", "daily_sales"])
GOLD_REVENUE_BY_CITY = dg.AssetKey(["gold", "revenue_by_city"])
BRONZE_CLICKSTREAM = dg.AssetKey(["bronze", "clickstream"])
BRONZE_CLICKSTREAM_REJECTS = dg.AssetKey(["bronze", "clickstream_rejects"])
GOLD_HOURLY_EVENTS = dg.AssetKey(["gold", "hourly_events"])
