"""A local Spark standalone cluster: one master and one worker, from the installed ``pyspark`` wheel.

The wheel has ``bin/spark-class`` but no ``sbin/start-*.sh``, so the master
(``org.apache.spark.deploy.master.Master``) and the worker (``org.apache.spark.deploy.worker.Worker``)
are started with it directly, on 127.0.0.1 only. Runs use the cluster with
``LAKEHOUSE_SPARK_MASTER=spark://127.0.0.1:7077``: the run's process is the driver, the worker
starts an executor JVM for it, and the executors get the Delta JARs through ``spark.jars``
(:class:`~lakehouse.resources.SparkResource`) and read and write the same local paths (one host).

Ready means the master lists the worker as ALIVE (its JSON page, ``http://127.0.0.1:8080/json/``).
``make cluster`` starts both in the background, writing their process ids and logs under
``data/cluster/``; ``make cluster-stop`` stops them (SIGTERM to each one's process group, then SIGKILL).
:class:`LocalCluster` does the same for the length of a ``with`` block (tests, benchmarks).

Example::

    with LocalCluster(port=7077, webui_port=8080) as cluster:
        subprocess.run([...], env={**os.environ, "LAKEHOUSE_SPARK_MASTER": cluster.url})

    python -m lakehouse.cluster start      # make cluster
    python -m lakehouse.cluster stop       # make cluster-stop
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

from lakehouse import jvm
from lakehouse.connect import spark_home
from lakehouse.servers import STOP_TIMEOUT, port_in_use, stop_process_group
from lakehouse.settings import PROJECT_ROOT

HOST = "127.0.0.1"
DEFAULT_PORT = 7077
DEFAULT_WEBUI_PORT = 8080
DEFAULT_DIR = PROJECT_ROOT / "data" / "cluster"
READY_TIMEOUT = 120.0  # seconds: both JVMs up and the worker registered (10-20 s here)
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class ClusterError(RuntimeError):
    """The cluster did not start or is not there (the message says which part and where its log is)."""


def cluster_env() -> dict[str, str]:
    """Master's and worker's environment: this Spark, loopback only, Python workers on this interpreter."""
    env = dict(os.environ)
    for variable in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE", "SPARK_LOCAL_REMOTE"):
        env.pop(variable, None)
    env.update(SPARK_HOME=str(spark_home()), SPARK_LOCAL_IP=HOST, PYSPARK_PYTHON=sys.executable)
    java_options = jvm.java_options(env.get("SPARK_DAEMON_JAVA_OPTS", ""))  # the class archive
    if java_options:
        env["SPARK_DAEMON_JAVA_OPTS"] = java_options
    return env


class LocalCluster:
    """A standalone master and one worker on 127.0.0.1 for the length of a ``with`` block (or start/stop)."""

    def __init__(self, port: int = DEFAULT_PORT, webui_port: int = DEFAULT_WEBUI_PORT, *, cores: int = 2,
                 memory: str = "4g", folder: Path = DEFAULT_DIR, timeout: float = READY_TIMEOUT) -> None:
        self.port, self.webui_port, self.cores, self.memory = port, webui_port, cores, memory
        self.folder = Path(folder)
        self.timeout = timeout
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: list[IO[bytes]] = []

    @property
    def url(self) -> str:
        """``spark://127.0.0.1:<port>``: what ``LAKEHOUSE_SPARK_MASTER`` is set to for runs on this cluster."""
        return f"spark://{HOST}:{self.port}"

    @property
    def webui_url(self) -> str:
        return f"http://{HOST}:{self.webui_port}"

    def commands(self) -> dict[str, list[str]]:
        spark_class = str(spark_home() / "bin" / "spark-class")
        return {
            "master": [spark_class, MASTER_CLASS, "--host", HOST, "--port", str(self.port),
                       "--webui-port", str(self.webui_port)],
            "worker": [spark_class, WORKER_CLASS, self.url, "--host", HOST, "--cores", str(self.cores),
                       "--memory", self.memory, "--work-dir", str(self.folder / "work"), "--webui-port", "0"],
        }

    def start(self) -> LocalCluster:
        """Start the master, then the worker; return once the worker is registered (raises :class:`ClusterError`)."""
        for port in (self.port, self.webui_port):
            if port_in_use(HOST, port):
                raise ClusterError(f"port {port} on {HOST} is taken (a cluster already running? `make cluster-stop`), "
                                   "or pick other ports")
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            for role, command in self.commands().items():
                log = (self.folder / f"{role}.log").open("ab")
                self._logs.append(log)
                self.processes[role] = subprocess.Popen(command, env=cluster_env(), stdin=subprocess.DEVNULL, stdout=log,
                                                        stderr=subprocess.STDOUT, start_new_session=True, cwd=PROJECT_ROOT)
                (self.folder / f"{role}.pid").write_text(str(self.processes[role].pid))
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until_ready(self) -> float:
        """Poll the master's JSON page until it lists an ALIVE worker; return the seconds waited."""
        start = time.monotonic()
        while True:
            for role, process in self.processes.items():
                if process.poll() is not None:
                    raise ClusterError(f"the Spark {role} exited with code {process.returncode}; "
                                       f"log: {self.folder / f'{role}.log'}")
            if alive_workers(self.webui_url):
                return time.monotonic() - start
            if time.monotonic() - start > self.timeout:
                raise ClusterError(f"no worker registered with {self.url} after {self.timeout:g} s; "
                                   f"logs: {self.folder / 'master.log'}, {self.folder / 'worker.log'}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Worker first, then master (SIGTERM to each process group, SIGKILL after ``STOP_TIMEOUT`` s); idempotent."""
        for role in ("worker", "master"):
            process = self.processes.pop(role, None)
            if process is not None:
                stop_process_group(process, STOP_TIMEOUT)
            (self.folder / f"{role}.pid").unlink(missing_ok=True)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def alive_workers(webui_url: str) -> int:
    """Workers the master at ``webui_url`` lists as ALIVE (0 when it does not answer yet)."""
    try:
        with urllib.request.urlopen(f"{webui_url}/json/", timeout=2) as response:
            state = json.load(response)
    except (OSError, ValueError):
        return 0
    return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")


def stop_from_pid_files(folder: Path = DEFAULT_DIR) -> list[str]:
    """Stop what ``python -m lakehouse.cluster start`` left running (its pid files); returns the roles stopped."""
    stopped = []
    for role in ("worker", "master"):
        pid_file = folder / f"{role}.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
            if _gone_within(pid, STOP_TIMEOUT):
                break
        pid_file.unlink(missing_ok=True)
        stopped.append(role)
    return stopped


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakehouse.cluster",
                                     description="Start or stop a local Spark standalone cluster (a master and a worker).")
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"master port (default {DEFAULT_PORT})")
    parser.add_argument("--webui-port", type=int, default=DEFAULT_WEBUI_PORT,
                        help=f"master web UI port (default {DEFAULT_WEBUI_PORT})")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2, help="cores the worker offers")
    parser.add_argument("--memory", default="4g", help="memory the worker offers to executors (default 4g)")
    parser.add_argument("--folder", type=Path, default=DEFAULT_DIR, help="logs, pid files and the worker's work folder")
    args = parser.parse_args(argv)
    if args.action == "stop":
        stopped = stop_from_pid_files(args.folder)
        print(f"stopped: {', '.join(stopped)}" if stopped else f"no cluster running (no pid files in {args.folder})")
        return 0
    cluster = LocalCluster(args.port, args.webui_port, cores=args.cores, memory=args.memory, folder=args.folder)
    try:
        cluster.start()
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    # Left running in the background (own process groups); `python -m lakehouse.cluster stop` ends them.
    print(f"Spark standalone cluster up: {cluster.url} (master UI {cluster.webui_url}); logs and pids in {cluster.folder}.\n"
          f"Runs use it with LAKEHOUSE_SPARK_MASTER={cluster.url}; `make cluster-stop` stops it.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
