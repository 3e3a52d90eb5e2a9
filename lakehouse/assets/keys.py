"""Asset keys of the lakehouse, named once; assets, checks, sensors and jobs import them."""

import dagster as dg

BRONZE_SALES = dg.AssetKey(["bronze", "sales"])
BRONZE_SALES_REJECTS = dg.AssetKey(["bronze", "sales_rejects"])
SILVER_SALES = dg.AssetKey(["silver", "sales"])
SILVER_SALES_QUARANTINE = dg.AssetKey(["silver", "sales_quarantine"])
SILVER_STORES = dg.AssetKey(["silver", "stores"])
GOLD_DAILY_SALES = dg.AssetKey(["gold", "daily_sales"])
