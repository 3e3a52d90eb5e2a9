"""A bronze stream killed (SIGKILL, driver and JVM) between a batch's write and its checkpoint commit loses nothing.

The killed run is a separate process, so the kill is real; the rerun uses the test's session.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lakehouse.settings import PROJECT_ROOT
from lakehouse.streaming import run_bronze_clickstream
from lakehouse_tests.conftest import RUN_PROCESS_CONF

FILES = 20
KILLED_RUN = """
import json
import sys
from lakehouse.resources import SparkResource
from lakehouse.streaming import run_bronze_clickstream

source, table, rejects, checkpoint, jars, conf = sys.argv[1:]
conf = {**json.loads(conf), "spark.sql.shuffle.partitions": "1", "spark.default.parallelism": "1"}
spark = SparkResource(master="local[1]", jars_dir=jars, conf=conf).get_session()
run_bronze_clickstream(spark, source, table, rejects, checkpoint, max_files_per_trigger=1)
"""


def land_files(folder: Path) -> set[str]:
    """FILES files of 4 events, a malformed line and a copy of an event of the previous file; the distinct ids."""
    folder.mkdir(parents=True)
    ids, previous = set(), None
    for n in range(FILES):
        events = [
            json.dumps({"event_id": f"E{n:02d}-{i}", "session_id": f"S{n}", "customer_id": n, "event_type": "view",
                        "product_id": i, "event_ts": f"2025-01-01T{n:02d}:{i:02d}:00Z"})
            for i in range(4)
        ]
        ids.update(json.loads(e)["event_id"] for e in events)
        lines = [*events, '{"event_id": "broken', *([previous] if previous else [])]
        path = folder / f"clicks-2025-01-01-{n:02d}.json"
        path.write_text("".join(line + "\n" for line in lines))
        os.utime(path, (1_700_000_000 + n, 1_700_000_000 + n))
        previous = events[-1]
    return ids


def committed(checkpoint: Path) -> int:
    folder = checkpoint / "commits"
    return len([p for p in folder.iterdir() if p.name.isdigit()]) if folder.is_dir() else 0


def table_writes(table: Path) -> int:
    """MERGE commits of the events table (version 0 creates it)."""
    log = table / "_delta_log"
    return len(list(log.glob("*.json"))) - 1 if log.is_dir() else 0


def test_kill_between_write_and_checkpoint_commit_then_rerun_stores_every_event_once(spark, tmp_path):
    source, table, rejects, checkpoint = (tmp_path / name for name in ("landing", "bronze", "rejects", "cp"))
    ids = land_files(source)
    args = [str(p) for p in (source, table, rejects, checkpoint)] + [str(PROJECT_ROOT / ".cache" / "jars"),
                                                                     json.dumps(RUN_PROCESS_CONF)]
    with open(tmp_path / "killed_run.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-c", KILLED_RUN, *args], cwd=PROJECT_ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # generous: the machine may be shared
        # Wait for a batch whose events are written but whose checkpoint commit is not (after one full batch).
        while time.monotonic() < deadline and process.poll() is None:
            done = committed(checkpoint)
            if done >= 1 and table_writes(table) > done:
                break
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the Python driver and its JVM
        process.wait()
    in_flight = committed(checkpoint)
    assert process.returncode == -signal.SIGKILL, (tmp_path / "killed_run.log").read_text()[-3000:]
    assert 1 <= in_flight < FILES and table_writes(table) == in_flight + 1  # killed after the write, before the commit

    report = run_bronze_clickstream(spark, str(source), str(table), str(rejects), str(checkpoint))

    replayed = report.progress[0]
    assert replayed["batchId"] == in_flight and replayed["records_new"] == 0  # the replay wrote nothing twice
    events = spark.read.format("delta").load(str(table))
    stored = [r.event_id for r in events.select("event_id").collect()]
    assert sorted(stored) == sorted(ids)  # every event, once
    lines = spark.read.format("delta").load(str(rejects)).select("_source_file", "_source_line")
    assert lines.count() == lines.distinct().count() == FILES
    assert committed(checkpoint) == report.progress[-1]["batchId"] + 1
