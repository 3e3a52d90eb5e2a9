"""bronze/clickstream and gold/hourly_events as Dagster runs of the `clickstream` job, launched by its sensor."""

import shutil
from datetime import date

import dagster as dg

from lakehouse.generator import FaultRates, generate_landing_zone
from lakehouse.resources import LandingZone


def _materializations(result, key: str) -> dict:
    asset_key = dg.AssetKey.from_user_string(key)
    return next(m for m in result.get_asset_materialization_events()
                if m.event_specific_data.materialization.asset_key == asset_key).event_specific_data.materialization.metadata


def test_clickstream_files_over_two_sensor_launched_runs_land_exactly_once(lakehouse, tmp_path):
    source = tmp_path / "generated"
    faults = FaultRates(click_malformed=0.03, click_duplicate=0.05, click_late=0.05)
    manifest = generate_landing_zone(source, date(2025, 1, 1), days=2, rows_per_day=5, seed=4, faults=faults,
                                     clicks_per_day=300, click_files_per_day=3)
    files = sorted((source / "clickstream").glob("*.json"))
    landing = lakehouse.settings.landing / "clickstream"
    landing.mkdir(parents=True)
    sensor = lakehouse.defs.get_sensor_def("clickstream_sensor")
    cursor, reports = None, []
    for batch in (files[:3], files[3:]):
        for f in batch:
            shutil.copy(f, landing / f.name)
        context = dg.build_sensor_context(cursor=cursor, instance=lakehouse.instance,
                                          resources={"landing": LandingZone(root=str(lakehouse.settings.landing))})
        tick = sensor.evaluate_tick(context)
        requests, cursor = tick.run_requests, tick.cursor
        assert requests[0].tags["lakehouse/new_files"] == str(len(batch))
        assert len(requests) == 1 and sensor.job_name == "clickstream"
        reports.append(lakehouse.run("clickstream"))

    bronze = lakehouse.table("bronze/clickstream")
    assert bronze.count() == bronze.select("event_id").distinct().count() == manifest.clickstream.distinct_events
    assert lakehouse.table("bronze/clickstream_rejects").count() == manifest.clickstream.malformed
    bronze_meta = [_materializations(r, "bronze/clickstream") for r in reports]
    assert [m["stream/batches"].value > 0 for m in bronze_meta] == [True, True]
    assert sum(m["stream/records_new"].value for m in bronze_meta) == manifest.clickstream.distinct_events
    assert "stream/progress" in bronze_meta[0]

    gold_meta = [_materializations(r, "gold/hourly_events") for r in reports]
    dropped = sum(m["stream/late_events_dropped"].value for m in gold_meta)
    counted = lakehouse.table("gold/hourly_events").agg({"events": "sum"}).collect()[0][0]
    assert counted + dropped == bronze.where("event_time IS NOT NULL").count()
    assert gold_meta[-1]["stream/watermark"]

    # Nothing new: the sensor stays quiet and a run reads nothing.
    context = dg.build_sensor_context(cursor=cursor, instance=lakehouse.instance,
                                      resources={"landing": LandingZone(root=str(lakehouse.settings.landing))})
    assert not sensor.evaluate_tick(context).run_requests
    again = lakehouse.run("clickstream")
    assert _materializations(again, "bronze/clickstream")["stream/records_new"].value == 0
    assert lakehouse.table("bronze/clickstream").count() == bronze.count()
