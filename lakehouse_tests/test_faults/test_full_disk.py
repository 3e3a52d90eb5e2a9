"""A warehouse on a full disk: a small tmpfs, filled up between two runs of the sales chain.

The write that meets the full disk fails the run with a message that says what happened, which
version each table stays at and what to do; nothing of it is visible to readers; once space is
freed, the same run converges to the tables of an undisturbed run. Mounting a tmpfs needs root
(CAP_SYS_ADMIN), as on the CI machine; elsewhere the test is skipped, saying so.
"""

import errno
import subprocess
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from lakehouse import delta
from lakehouse.definitions import build_definitions
from lakehouse.generator import generate_landing_zone
from lakehouse.settings import LakehouseSettings
from lakehouse_tests.lakehouse_runner import LakehouseRunner

pytestmark = pytest.mark.faults

DAYS = ("2025-01-01", "2025-01-02")
TABLES = ("bronze/sales", "bronze/sales_rejects", "silver/sales", "silver/sales_quarantine", "gold/daily_sales")


@pytest.fixture
def small_disk(tmp_path: Path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(folder: Path) -> Path:
    """Write zeros into ``folder/filler`` until the disk has no byte left; returns the file."""
    filler = folder / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
        try:
            while True:  # the last partial chunk's worth, a byte at a time
                out.write(b"\0")
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    return filler


def test_a_write_on_a_full_disk_fails_clearly_keeps_the_last_version_and_a_rerun_converges(spark, tmp_path, small_disk):
    settings = LakehouseSettings.for_root(tmp_path, warehouse=small_disk / "warehouse", spark_master="local[2]")
    manifest = generate_landing_zone(settings.landing, date(2025, 1, 1), days=len(DAYS), rows_per_day=200, seed=11,
                                     files_per_day=2)
    with dg.DagsterInstance.ephemeral() as instance:
        runner = LakehouseRunner(build_definitions(settings), settings, instance, spark)
        runner.materialize(DAYS[0])
        versions = {key: delta.latest_version(spark, runner.path(key)) for key in TABLES}
        contents = {key: sorted(map(tuple, runner.table(key).collect())) for key in TABLES}

        filler = fill(small_disk)
        result = runner.materialize(DAYS[1], raise_on_error=False)

        assert not result.success
        failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
        assert [e.step_key for e in failures] == ["bronze_sales"], [e.step_key for e in failures]
        error = failures[0].step_failure_data.error
        assert error is not None
        message = error.message
        for words in ("bronze.sales", "No space left on device", "not committed", f"unchanged at version {versions['bronze/sales']}",
                      "Free space", "re-run"):
            assert words in message, (words, message)
        # Told once, not retried: the file-read retry policy does not apply to a full disk.
        assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
        for key in TABLES:
            assert delta.latest_version(spark, runner.path(key)) == versions[key], key
            assert sorted(map(tuple, runner.table(key).collect())) == contents[key], key

        filler.unlink()
        runner.materialize(DAYS[1])

    def by_day(key: str) -> dict[str, int]:
        return {str(r["sale_date"]): r["count"] for r in runner.table(key).groupBy("sale_date").count().collect()}

    bronze, rejects, silver, quarantine = (by_day(k) for k in TABLES[:4])
    for day in DAYS:
        expected = manifest.sales_days[day]
        assert (bronze[day], rejects.get(day, 0)) == (expected.parsed, expected.malformed), day
        assert (silver[day], quarantine.get(day, 0)) == (expected.valid, expected.invalid), day
    assert sorted(by_day("gold/daily_sales")) == list(DAYS)
