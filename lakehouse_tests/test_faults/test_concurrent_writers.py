"""Concurrent writers, as real processes: two `dagster asset materialize` runs of the sales chain at the same time.

Each run is its own process with its own Spark JVM, writing the same Delta tables through the IO
manager (``replaceWhere`` of its days, retried on a Delta conflict). First two runs of disjoint day
ranges, then two runs whose ranges share a day. Afterwards every day's tables equal the
generator's ground truth, and every materialization's ``delta_version`` is a commit stamped with
its own run's id.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from lakehouse.generator import generate_landing_zone
from lakehouse.settings import PROJECT_ROOT
from lakehouse_tests.conftest import RUN_PROCESS_CONF

pytestmark = pytest.mark.faults

ASSETS = "bronze/sales,bronze/sales_rejects,silver/sales,silver/sales_quarantine,gold/daily_sales"
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]
CONFLICT = "conflicted with another writer"


def launch(env: dict[str, str], first: str, last: str) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "lakehouse.definitions",
               "--select", ASSETS, "--partition-range", f"{first}...{last}"]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=900)
    return process.returncode, output


@pytest.fixture(scope="module")
def concurrent(tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrent")
    manifest = generate_landing_zone(root / "landing", date(2025, 1, 1), days=len(DAYS), rows_per_day=100, seed=3,
                                     files_per_day=2)
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "LAKEHOUSE_LANDING": str(root / "landing"),
           "LAKEHOUSE_WAREHOUSE": str(root / "warehouse"), "LAKEHOUSE_CHECKPOINTS": str(root / "checkpoints"),
           "LAKEHOUSE_START_DATE": DAYS[0], "LAKEHOUSE_LANDING_SENSORS": "off",
           "LAKEHOUSE_SPARK_CONF": json.dumps(RUN_PROCESS_CONF)}
    # The instance's storage exists before the runs start, as under `make dev`: two processes creating a fresh
    # SQLite instance at once would both stamp its schema version.
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    phases = {}
    for phase, ranges in (("disjoint", [(DAYS[0], DAYS[1]), (DAYS[2], DAYS[3])]),
                          ("overlapping", [(DAYS[1], DAYS[2]), (DAYS[2], DAYS[3])])):
        processes = [launch(env, first, last) for first, last in ranges]
        phases[phase] = [(rng, *finish(p)) for rng, p in zip(ranges, processes, strict=True)]
    # A run that lost to the other writer is run again, as the failure tells the user to.
    phases["reruns"] = [(rng, *finish(launch(env, *rng))) for rng, code, _ in phases["overlapping"] if code != 0]
    with instance:
        yield root / "warehouse", manifest, phases, instance


def test_two_runs_of_disjoint_days_both_commit_without_retrying_a_step(concurrent):
    # Both create the tables at once: the loser of each CREATE waits for the winner's table instead of failing
    # the step (whose retry policy would then run it again from the start).
    _, _, phases, _ = concurrent
    for rng, code, output in phases["disjoint"]:
        assert code == 0, (rng, output[-3000:])
        assert "STEP_UP_FOR_RETRY" not in output, (rng, output[output.find("STEP_UP_FOR_RETRY"):][:3000])


def test_two_runs_sharing_a_day_each_commit_or_name_the_conflict_and_a_rerun_converges(concurrent):
    _, _, phases, _ = concurrent
    for rng, code, output in phases["overlapping"]:
        assert code == 0 or CONFLICT in output, (rng, output[-3000:])
    for rng, code, output in phases["reruns"]:
        assert code == 0, (rng, output[-3000:])


def test_a_conflict_is_retried_as_a_conflict_never_reported_as_another_failure(concurrent):
    # In CI a ConcurrentAppendException (as py4j's plain Py4JJavaError) was once taken for some other error: no
    # retry within the write, and a message about CHECK constraints.
    _, _, phases, _ = concurrent
    for phase, runs in phases.items():
        for rng, _, output in runs:
            misread = re.search(r"failed: An error occurred while calling \S+\n: io\.delta\.exceptions\.\w+", output)
            assert misread is None, (phase, rng, misread and misread.group(0))


def test_every_day_equals_the_ground_truth_and_no_partition_is_half_written(concurrent, spark):
    warehouse, manifest, _, _ = concurrent

    def by_day(table: str) -> dict[str, int]:
        frame = spark.read.format("delta").load(str(warehouse / table))
        return {str(r["sale_date"]): r["count"] for r in frame.groupBy("sale_date").count().collect()}

    bronze, rejects = by_day("bronze/sales"), by_day("bronze/sales_rejects")
    silver, quarantine, gold = by_day("silver/sales"), by_day("silver/sales_quarantine"), by_day("gold/daily_sales")
    for day in DAYS:
        expected = manifest.sales_days[day]
        assert (bronze[day], rejects.get(day, 0)) == (expected.parsed, expected.malformed), day
        assert (silver[day], quarantine.get(day, 0)) == (expected.valid, expected.invalid), day
        assert gold[day] > 0, day


def test_each_materialization_records_its_own_runs_commit(concurrent):
    warehouse, _, _, instance = concurrent
    checked = 0
    for key in ("bronze/sales", "silver/sales", "gold/daily_sales"):
        commits = _commits(warehouse / key)
        records = instance.fetch_materializations(dg.AssetKey.from_user_string(key), limit=100).records
        for record in records:
            materialization = record.asset_materialization
            assert materialization is not None
            version = materialization.metadata["delta_version"].value
            assert commits[version].get("dagster_run_id") == record.run_id, (key, version)
            checked += 1
    assert checked >= 3 * len(DAYS)


def _commits(table: Path) -> dict[int, dict]:
    """``{version: userMetadata}`` of a table's commits, read from its ``_delta_log``."""
    found = {}
    for path in (table / "_delta_log").glob("*.json"):
        for line in path.read_text().splitlines():
            info = json.loads(line).get("commitInfo")
            if info is not None:
                found[int(path.stem)] = json.loads(info.get("userMetadata") or "{}")
    return found
