"""The supervisor stops a service and everything it started: what obeys, what ignores signals, what ran away."""

import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from lakehouse.dev.__main__ import CONNECT, services
from lakehouse.dev.supervisor import Service, Supervisor

SLEEP = "import time; time.sleep(60)"
# Ignores SIGINT as a Spark JVM does (children inherit it) and leaves behind, in a file, the pids of:
# a child in its session, a child that left the session, and an orphan that left it too (re-parented
# to init, reachable only through the environment marker).
STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
stays = subprocess.Popen(sleep)
leaves = subprocess.Popen(sleep, start_new_session=True)
detach = ("import subprocess, sys; print(subprocess.Popen(sys.argv[1:], start_new_session=True, "
          "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)")
middle = subprocess.run([sys.executable, "-c", detach, *sleep], capture_output=True, text=True)
orphan = int(middle.stdout)
open(sys.argv[1] + ".tmp", "w").write(f"{stays.pid} {leaves.pid} {orphan}")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(60)
"""


@pytest.fixture
def supervisors():
    """Supervisors to start; whatever a failed test leaves running is killed."""
    started = []
    yield started.append
    for supervisor in started:
        for pid in supervisor.processes():
            os.kill(pid, signal.SIGKILL)


def test_a_service_that_stops_on_sigint_is_not_killed(supervisors):
    supervisor = Supervisor([Service("sleeper", [sys.executable, "-c", SLEEP])], grace=5)
    supervisors(supervisor)
    supervisor.start()
    _wait_for(lambda: supervisor.processes())

    report = supervisor.stop()

    assert report.killed == {} and report.left == {}
    assert report.seconds < 2
    exited = supervisor.exited()
    assert exited is not None and exited[1] != 0  # ended by KeyboardInterrupt
    assert supervisor.processes() == {}


def test_what_ignores_the_signal_or_left_the_session_is_killed_after_the_grace_period(supervisors, tmp_path):
    pids_file = tmp_path / "pids"
    supervisor = Supervisor([Service("stubborn", [sys.executable, "-c", STUBBORN, str(pids_file)])], grace=1)
    supervisors(supervisor)
    supervisor.start()
    _wait_for(pids_file.exists)
    descendants = {int(pid) for pid in pids_file.read_text().split()}
    assert descendants <= set(supervisor.processes())

    report = supervisor.stop()

    assert {supervisor.pid("stubborn"), *descendants} <= set(report.killed)
    assert report.left == {} and 1 <= report.seconds < 4
    assert not any(_alive(pid) for pid in descendants)


def test_each_service_gets_its_own_stop_signal(supervisors):
    # A JVM server (Spark Connect, say) ignores SIGINT here and stops on SIGTERM.
    jvm_like = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)"
    supervisor = Supervisor([Service("python server", [sys.executable, "-c", SLEEP]),
                             Service("jvm server", [sys.executable, "-c", jvm_like], stop_signal=signal.SIGTERM)],
                            grace=5)
    supervisors(supervisor)
    supervisor.start()
    _wait_for(lambda: len(supervisor.processes()) == 2)

    report = supervisor.stop()

    assert len(report.stopped) == 2 and report.killed == {} and report.seconds < 2


def test_hurry_skips_the_rest_of_the_grace_period(supervisors):
    ignores = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)"
    supervisor = Supervisor([Service("stubborn", [sys.executable, "-c", ignores])], grace=30)
    supervisors(supervisor)
    supervisor.start()
    _wait_for(lambda: supervisor.processes())
    supervisor.hurry()  # a second Ctrl-C

    report = supervisor.stop()

    assert len(report.killed) == 1 and report.hurried and report.seconds < 2


def _wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_spark_connect_server_of_make_dev_stops_with_its_jvm(supervisors, tmp_path):
    # The real service of `make dev`; stopped as soon as its JVM runs (no need to wait until it is ready).
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    connect = next(s for s in services("127.0.0.1", 3000, port, tmp_path / "connect.log") if s.name == CONNECT)
    supervisor = Supervisor([connect], grace=5)
    supervisors(supervisor)
    supervisor.start()
    _wait_for(lambda: _jvms(supervisor.processes()), timeout=60)

    report = supervisor.stop()

    assert connect.stop_signal == signal.SIGTERM
    jvms = _jvms(report.stopped)
    assert jvms and report.left == {}
    assert not any(_alive(pid) for pid in jvms)


def _jvms(processes) -> list[int]:
    return [pid for pid, proc in processes.items() if "SparkConnectServer" in proc.command and "java" in proc.argv[0]]
