"""A local Spark Connect server: one warm, Delta-enabled Spark that every Dagster run talks to over gRPC.

Embedded Spark starts a JVM per run (5-15 s before the first query on a laptop). A Spark Connect
server is that JVM started once: runs connect with ``LAKEHOUSE_SPARK_REMOTE=sc://127.0.0.1:15002``
(:class:`~lakehouse.resources.SparkResource` then builds ``SparkSession.builder.remote(url)``) and
each gets a session of its own on the shared server. ``make dev`` starts one (see
:mod:`lakehouse.dev`); :class:`ConnectServer` starts one for tests and benchmarks.

The server is the ``pyspark`` wheel's own ``bin/spark-submit`` running
``org.apache.spark.sql.connect.service.SparkConnectServer`` (the wheel has no ``sbin/start-*.sh``),
with the cached Delta JARs and the session settings of :mod:`lakehouse.resources.spark`
(small-machine defaults, UTC, the Delta extension and catalog), bound to 127.0.0.1 only.
``PYSPARK_PYTHON`` is this interpreter, so the Python UDFs the lakehouse sends
(:mod:`lakehouse.governance.tokens`, :mod:`lakehouse.governance.suppression`) run in workers that
can import ``lakehouse``.

Ready means answering a query: :func:`wait_until_ready` sends ``SELECT 1`` as a gRPC
``ExecutePlan`` in a throw-away server session until it returns rows. It does not build a
``SparkSession``: a process that creates a Connect session turns ``pyspark.sql.functions`` into
Connect columns for good (``SPARK_CONNECT_MODE_ENABLED``), and the supervisor of ``make dev`` and
the test process (which holds a classic session) must stay out of that mode.

Example::

    with ConnectServer(port=15002, log_file=Path("data/logs/spark-connect.log")) as server:
        run_something(env={"LAKEHOUSE_SPARK_REMOTE": server.url})

    python -m lakehouse.connect --port 15002       # in the foreground, until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import grpc
import pyspark
from pyspark.sql.connect.client.core import DefaultChannelBuilder
from pyspark.sql.connect.proto import base_pb2, base_pb2_grpc, relations_pb2

from lakehouse import jvm
from lakehouse.jars import delta_jars
from lakehouse.resources.spark import DELTA_CONF, LAKEHOUSE_CONF, PYTHON_DAEMON_CONF, SMALL_MACHINE_CONF
from lakehouse.servers import ServerProcess, interrupt_on_signals
from lakehouse.settings import PROJECT_ROOT, spark_conf_from

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 15002
DEFAULT_JARS_DIR = PROJECT_ROOT / ".cache" / "jars"
DEFAULT_LOG_FILE = PROJECT_ROOT / "data" / "logs" / "spark-connect.log"
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
READY_TIMEOUT = 180.0  # seconds; it took 20-75 s here, on 2 cores shared with other Spark JVMs
HOW_TO_START = ("`make dev` starts one at sc://127.0.0.1:15002; `python -m lakehouse.connect` starts one on its own; "
                "or unset LAKEHOUSE_SPARK_REMOTE to run embedded Spark in each run's process")
_TOKEN = re.compile(r"(token=)[^;]*", re.IGNORECASE)
TOKEN_VARIABLE = "SPARK_CONNECT_AUTHENTICATE_TOKEN"  # the server's pre-shared token (spark.connect.authenticate.token)


class ConnectError(RuntimeError):
    """The Spark Connect server cannot be reached or did not start (the message names the URL and the fix)."""


def redact(url: str) -> str:
    """``url`` with the value of its ``token`` parameter hidden, for messages and logs.

    Example::

        redact("sc://host:443/;token=abc;use_ssl=true")   # 'sc://host:443/;token=***;use_ssl=true'
    """
    return _TOKEN.sub(r"\1***", url)


def server_conf(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, conf: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Spark settings the server starts with: the lakehouse's session settings, the gRPC binding, then ``conf``."""
    settings = {**SMALL_MACHINE_CONF, **LAKEHOUSE_CONF, **DELTA_CONF, **PYTHON_DAEMON_CONF,  # its workers: this Python
                "spark.connect.grpc.binding.address": host, "spark.connect.grpc.binding.port": str(port), **(conf or {})}
    return jvm.with_archive(settings)  # the class archive (lakehouse.jvm)


def server_command(port: int = DEFAULT_PORT, jars_dir: Path = DEFAULT_JARS_DIR, *, host: str = DEFAULT_HOST,
                   master: str = "local[*]", conf: Mapping[str, str] | None = None) -> list[str]:
    """The command that runs a Spark Connect server in the foreground (run it with :func:`server_env`).

    Example::

        subprocess.Popen(server_command(15002, Path(".cache/jars")), env=server_env())
    """
    jars = ",".join(str(path) for path in delta_jars(Path(jars_dir)))
    settings = [arg for key, value in server_conf(port, host, conf).items() for arg in ("--conf", f"{key}={value}")]
    return [str(spark_home() / "bin" / "spark-submit"), "--class", SERVER_CLASS, "--name", "lakehouse-connect",
            "--master", master, "--jars", jars, *settings]


def server_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's environment: ``base`` (default ours) with Python workers on this interpreter, never in Connect mode."""
    env = dict(os.environ if base is None else base)
    for variable in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE", "SPARK_LOCAL_REMOTE", TOKEN_VARIABLE):
        env.pop(variable, None)
    env.update(SPARK_HOME=str(spark_home()), PYSPARK_PYTHON=sys.executable)
    return env


def spark_home() -> Path:
    """The installed ``pyspark`` wheel, which holds ``bin/spark-submit`` and Spark's JARs."""
    return Path(pyspark.__file__).resolve().parent


def probe(url: str, timeout: float = 10.0) -> None:
    """Run ``SELECT 1`` on the Spark Connect server at ``url``; raises :class:`ConnectError` naming the URL and the fix.

    Uses gRPC directly, in a server session it releases afterwards, so the calling process stays
    out of Connect mode (see the module docstring).

    Example::

        probe("sc://127.0.0.1:15002")      # returns, or raises ConnectError
    """
    try:
        builder = DefaultChannelBuilder(url)
    except Exception as error:  # PySparkValueError: not an sc:// URL
        raise ConnectError(f"{redact(url)} is not a Spark Connect URL (sc://host:port[/;token=...]): {error}") from None
    session_id = str(uuid.uuid4())
    user = base_pb2.UserContext(user_id=builder.userId or "lakehouse")
    metadata = list(builder.metadata())
    try:
        with builder.toChannel() as channel:
            stub = base_pb2_grpc.SparkConnectServiceStub(channel)
            plan = base_pb2.Plan(root=relations_pb2.Relation(sql=relations_pb2.SQL(query="SELECT 1")))
            request = base_pb2.ExecutePlanRequest(session_id=session_id, user_context=user, plan=plan)
            rows = sum(response.arrow_batch.row_count for response in
                       stub.ExecutePlan(request, timeout=timeout, metadata=metadata))
            with contextlib.suppress(grpc.RpcError):
                stub.ReleaseSession(base_pb2.ReleaseSessionRequest(session_id=session_id, user_context=user),
                                    timeout=timeout, metadata=metadata)
    except grpc.RpcError as error:
        code = error.code() if isinstance(error, grpc.Call) else None
        details = error.details() if isinstance(error, grpc.Call) else str(error)
        unreachable = code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise ConnectError(
                f"the Spark Connect server at {redact(url)} refused this client's token "
                f"({'wrong token' if builder.token else 'no token given'}: {redact(details or '')}). Put the server's "
                "token in LAKEHOUSE_SPARK_REMOTE as sc://host:port/;token=<token> (over TLS with use_ssl=true, or "
                "sc://localhost:port/;token=<token> on this machine).") from None
        what = "no Spark Connect server answers at" if unreachable else "the Spark Connect server refused a query at"
        raise ConnectError(f"{what} {redact(url)} ({code.name if code else 'error'}: {redact(details or '')}). "
                           f"{HOW_TO_START}.") from None
    if rows != 1:
        raise ConnectError(f"the Spark Connect server at {redact(url)} answered SELECT 1 with {rows} rows")


def wait_until_ready(url: str, timeout: float = READY_TIMEOUT, alive: Callable[[], bool] = lambda: True) -> float:
    """Poll :func:`probe` until the server answers; return the seconds waited.

    Raises :class:`ConnectError` after ``timeout`` seconds, or as soon as ``alive()`` is false
    (the server process ended, or the user gave up).

    Example::

        wait_until_ready("sc://127.0.0.1:15002", timeout=120, alive=lambda: server.poll() is None)
    """
    start = time.monotonic()
    while True:
        try:
            probe(url, timeout=10)
            return time.monotonic() - start
        except ConnectError as error:
            last = error
        if not alive():
            raise ConnectError(f"stopped waiting for the Spark Connect server at {redact(url)}: it is no longer running "
                               f"(last attempt: {last})")
        if time.monotonic() - start > timeout:
            raise ConnectError(f"the Spark Connect server at {redact(url)} was not ready after {timeout:g} s ({last})")
        time.sleep(0.5)


class ConnectServer(ServerProcess):
    """A local Spark Connect server for the duration of a ``with`` block: started, ready, then stopped.

    The server runs in a session of its own, its output goes to ``log_file`` (default
    ``data/logs/spark-connect.log``); leaving the block stops it with SIGTERM (Spark's shutdown
    hooks), then SIGKILL after ``STOP_TIMEOUT`` seconds, also when the block raised
    (:class:`lakehouse.servers.ServerProcess`).

    Example::

        with ConnectServer(port=15002) as server:
            subprocess.run(["dagster", "job", "execute", ...], env={**os.environ, "LAKEHOUSE_SPARK_REMOTE": server.url})
    """

    error = ConnectError
    what = "Spark Connect server"

    def __init__(self, port: int = DEFAULT_PORT, jars_dir: Path = DEFAULT_JARS_DIR, log_file: Path | None = None, *,
                 host: str = DEFAULT_HOST, conf: Mapping[str, str] | None = None, timeout: float = READY_TIMEOUT,
                 token: str | None = None) -> None:
        env = server_env()
        if token is not None:  # in the environment, not on the command line other users can read (ps)
            env[TOKEN_VARIABLE] = token
        super().__init__(server_command(port, Path(jars_dir), host=host, conf=conf),
                         Path(log_file) if log_file is not None else DEFAULT_LOG_FILE,
                         host=host, port=port, timeout=timeout, cwd=PROJECT_ROOT, env=env)
        self.token = token

    @property
    def url(self) -> str:
        """``sc://host:port``: what ``LAKEHOUSE_SPARK_REMOTE`` is set to for runs that use this server.

        With a ``token`` the server refuses clients without it: ``sc://localhost:port/;token=...``. The client
        sends a token only over a secure channel, which for ``localhost`` (and only that name) is gRPC's local
        credentials on the loopback; any other host needs TLS (``use_ssl=true``) in front of the server.
        """
        if self.token is None:
            return f"sc://{self.host}:{self.port}"
        return f"sc://localhost:{self.port}/;token={self.token}"

    def taken(self) -> str:
        return f"Use it with LAKEHOUSE_SPARK_REMOTE={redact(self.url)}, stop it, or pick another port"

    def wait_for_answer(self, timeout: float, alive: Callable[[], bool]) -> None:
        wait_until_ready(self.url, timeout, alive)


def server_from(args: argparse.Namespace, env: Mapping[str, str]) -> ConnectServer:
    """The server ``python -m lakehouse.connect`` (and so ``make dev``) starts for its arguments and environment.

    ``LAKEHOUSE_SPARK_CONF`` starts it with the Spark settings runs would set: over Connect the static
    ones (driver memory, JVM options) are the server's alone, which a run cannot set per session.
    A token in the environment makes it refuse clients without it (see :attr:`ConnectServer.url`).
    """
    return ConnectServer(port=args.port, jars_dir=args.jars_dir, log_file=args.log_file, host=args.host,
                         conf=spark_conf_from(env), token=env.get(TOKEN_VARIABLE) or None)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    server = server_from(args, os.environ)
    interrupt_on_signals()
    say = (lambda _message: None) if args.quiet else (lambda message: print(message, flush=True))
    say(f"Spark Connect server starting on {redact(server.url)} (log: {server.log_file})")
    try:
        server.start()
        say(f"Spark Connect server ready on {redact(server.url)} after {server.ready_seconds:.0f} s; "
            f"runs use it with LAKEHOUSE_SPARK_REMOTE={redact(server.url)}. Ctrl-C stops it.")
        assert server.process is not None
        code = server.process.wait()
        print(f"Spark Connect server exited with code {code} (log: {server.log_file})", file=sys.stderr, flush=True)
        return code or 1
    except KeyboardInterrupt:
        return 0
    except ConnectError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        server.stop()


def parser() -> argparse.ArgumentParser:
    arguments = argparse.ArgumentParser(
        prog="python -m lakehouse.connect",
        description="Run a local Delta-enabled Spark Connect server in the foreground until Ctrl-C.")
    arguments.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    arguments.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"gRPC port (default {DEFAULT_PORT})")
    arguments.add_argument("--jars-dir", type=Path, default=DEFAULT_JARS_DIR, help="folder of the Delta JARs (.cache/jars)")
    arguments.add_argument("--log-file", type=Path, default=DEFAULT_LOG_FILE,
                           help="where the server's output goes (default data/logs/spark-connect.log)")
    arguments.add_argument("--quiet", action="store_true", help="print only errors (make dev prints its own lines)")
    return arguments


if __name__ == "__main__":
    sys.exit(main())
