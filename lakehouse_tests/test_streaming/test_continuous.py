"""Continuous mode as a user runs it: ``python -m lakehouse.streaming.cli --continuous`` in its own process.

Files land while both queries run on a processing-time trigger; the process is stopped with
SIGINT (Ctrl-C) and prints its reports. With ``LAKEHOUSE_CLICKSTREAM_WATERMARK=10 minutes`` a
click 50 minutes late (its hour closed by that watermark, open under the default 1 hour) is
dropped and counted as dropped: the setting reaches the continuous queries.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lakehouse.settings import PROJECT_ROOT
from lakehouse_tests.conftest import RUN_PROCESS_CONF
from lakehouse_tests.test_streaming.test_clickstream import click


def wait_for(condition, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


def latest_version(table: Path) -> int:
    """The newest version of a local Delta table, from its log's file names (-1 before its first commit)."""
    log = table / "_delta_log"
    return max((int(p.stem) for p in log.glob("*.json") if p.stem.isdigit()), default=-1) if log.is_dir() else -1


def read_through(checkpoint: Path) -> int:
    """The last version of its Delta source a query's committed batches have read in full (-1: none).

    The offset of a batch names the source version the next batch starts at (``reservoirVersion``; ``index`` -1 is
    its beginning, else a file within it), so every version before it has been read.
    """
    commits = checkpoint / "commits"
    batches = [int(p.name) for p in commits.iterdir() if p.name.isdigit()] if commits.is_dir() else []
    if not batches:
        return -1
    offset = json.loads((checkpoint / "offsets" / str(max(batches))).read_text().splitlines()[-1])
    return offset["reservoirVersion"] - 1


def delta_rows(table: Path) -> int:
    """Rows of a local Delta table from its log's add actions (no Spark in the test process)."""
    log = table / "_delta_log"
    if not log.is_dir():
        return 0
    added: dict[str, int] = {}
    for commit in sorted(log.glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                added[action["add"]["path"]] = json.loads(action["add"].get("stats") or "{}").get("numRecords", 0)
            elif "remove" in action:
                added.pop(action["remove"]["path"], None)
    return sum(added.values())


def test_continuous_mode_honours_the_watermark_setting(tmp_path):
    landing, warehouse, checkpoints = tmp_path / "landing", tmp_path / "warehouse", tmp_path / "checkpoints"
    clicks = landing / "clickstream"
    clicks.mkdir(parents=True)
    env = {**os.environ, "LAKEHOUSE_LANDING": str(landing), "LAKEHOUSE_WAREHOUSE": str(warehouse),
           "LAKEHOUSE_CHECKPOINTS": str(checkpoints), "LAKEHOUSE_START_DATE": "2025-01-01",
           "LAKEHOUSE_SPARK_MASTER": "local[2]", "LAKEHOUSE_SPARK_CONF": json.dumps(RUN_PROCESS_CONF),
           "LAKEHOUSE_CLICKSTREAM_WATERMARK": "10 minutes"}
    env.pop("LAKEHOUSE_SPARK_REMOTE", None)
    gold_checkpoint = checkpoints / "gold" / "hourly_events"
    process = subprocess.Popen(
        [sys.executable, "-m", "lakehouse.streaming.cli", "--continuous", "--interval", "1 second"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        (clicks / "clicks-1.json").write_text("\n".join([
            click("A1", "2025-01-01T10:05:00Z"), click("A2", "2025-01-01T11:05:00Z"),
            click("A3", "2025-01-01T12:30:00Z"),  # watermark after this batch: 12:20 (1 hour would give 11:30)
        ]) + "\n")
        # Gold's first batch may be an empty one (bronze had nothing yet): wait for the clicks' windows in gold.
        wait_for(lambda: delta_rows(warehouse / "gold" / "hourly_events") >= 3, "the first clicks in gold")
        (clicks / "clicks-2.json").write_text(click("B1", "2025-01-01T11:40:00Z") + "\n")  # hour 11-12: closed at 12:20
        wait_for(lambda: delta_rows(warehouse / "bronze" / "clickstream") == 4, "the late click in bronze")
        # Gold may have read that version already (it polls every second, as this test does): wait for gold's
        # checkpoint to have read through it, not for a batch after now, which may never come.
        late = latest_version(warehouse / "bronze" / "clickstream")
        wait_for(lambda: read_through(gold_checkpoint) >= late, f"gold's batch reading bronze version {late}, the late click")
        time.sleep(3)  # the batch's progress report follows its commit
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output[-3000:]
    reports = {r["query"]: r for r in (json.loads(line) for line in output.splitlines() if line.startswith("{"))}
    gold = next(r for name, r in reports.items() if "hourly" in name)
    assert gold["watermark"] == "2025-01-01T12:20:00.000Z", gold
    assert gold["late_events_dropped"] == 1, json.dumps(reports, indent=1)
    assert (gold["input_rows"], gold["records_new"], gold["records_updated"]) == (4, 3, 0), gold


def test_the_cli_refuses_a_watermark_or_interval_spark_cannot_read_before_starting_spark(capsys):
    from lakehouse.streaming.cli import main

    for argv, says in ((["--watermark", "1h"], "--watermark='1h' is not an interval"),
                       (["--continuous", "--interval", "30s"], "--interval='30s' is not an interval"),
                       (["--continuous", "--interval", "1 month"], "months and years have not")):
        try:
            main(argv)
        except SystemExit as exited:
            assert exited.code == 2
        else:
            raise AssertionError(f"{argv} was accepted")
        assert says in capsys.readouterr().err
