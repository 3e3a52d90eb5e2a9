"""Inputs from users never reach SQL unvalidated: partition keys and range tags that are not days."""

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from lakehouse.definitions import build_definitions
from lakehouse.settings import LakehouseSettings

pytestmark = pytest.mark.faults

INJECTED = "2025-01-02' OR '1'='1"


@pytest.mark.parametrize("how", ["partition_key", "range_end", "range_start"])
def test_a_partition_key_that_is_not_a_day_fails_the_run_before_any_step(tmp_path, how):
    settings = LakehouseSettings.for_root(tmp_path)
    job = build_definitions(settings).resolve_job_def("sales_pipeline")
    with dg.instance_for_test() as instance:
        with pytest.raises(Exception, match="2025-01-02' OR '1'='1") as raised:
            if how == "partition_key":
                job.execute_in_process(instance=instance, partition_key=INJECTED)
            else:
                first, last = ("2025-01-01", INJECTED) if how == "range_end" else (INJECTED, "2025-01-03")
                job.execute_in_process(instance=instance, tags={ASSET_PARTITION_RANGE_START_TAG: first,
                                                                ASSET_PARTITION_RANGE_END_TAG: last})
        started = [r for r in instance.get_runs() if r.status == dg.DagsterRunStatus.STARTED]
        assert not started and not settings.warehouse.exists(), raised.value
