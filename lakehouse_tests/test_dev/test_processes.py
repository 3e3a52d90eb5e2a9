"""Which processes count as a session's: by session or group, by parent chain, by marker; never by a reused pid."""

import os
import subprocess
import sys
import time

from lakehouse.dev.processes import Proc, family, process_table


def proc(pid, ppid, sid, state="S", marked=False, pgid=None):
    return Proc(pid, ppid, sid if pgid is None else pgid, sid, state, ("cmd", str(pid)), marked)


def test_family_follows_session_parents_and_marker_and_leaves_out_zombies_and_strangers():
    table = {p.pid: p for p in [
        proc(10, 1, 10),                   # the service, leader of session 10
        proc(11, 10, 10),                  # its child
        proc(12, 1, 10),                   # orphan that kept the session
        proc(20, 11, 20),                  # child that left the session (setsid): found by parent
        proc(21, 20, 21, pgid=21),         # and its child, in yet another group
        proc(30, 1, 30, marked=True),      # orphan that left the session: found by marker only
        proc(13, 10, 10, state="Z"),       # zombie: nothing left to stop
        proc(40, 1, 40),                   # a stranger
    ]}
    assert sorted(family(table, roots=[10])) == [10, 11, 12, 20, 21, 30]


def test_a_reused_root_pid_in_another_session_is_not_ours():
    table = {p.pid: p for p in [proc(10, 1, 7), proc(11, 10, 7)]}  # pid 10 now belongs to session 7
    assert family(table, roots=[10]) == {}


def test_process_table_reads_ids_and_the_environment_a_process_was_started_with():
    env = {**os.environ, "LAKEHOUSE_DEV_TEST": "marker-123"}
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env, start_new_session=True)
    try:
        # Popen returns once the child's exec has closed its descriptors; the kernel sets the new program's argument and
        # environment pointers a moment later, and /proc shows them empty until then (seen once in CI under load).
        deadline = time.monotonic() + 10
        table = process_table(b"LAKEHOUSE_DEV_TEST=marker-123")
        while not table[child.pid].argv and time.monotonic() < deadline:
            time.sleep(0.01)
            table = process_table(b"LAKEHOUSE_DEV_TEST=marker-123")
        assert table[child.pid].marked and table[child.pid].ppid == os.getpid()
        assert table[child.pid].pgid == table[child.pid].sid == child.pid  # setsid: leader of its own session
        assert not table[os.getpid()].marked
    finally:
        child.kill()
        child.wait()
