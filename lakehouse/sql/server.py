"""Spark's Thrift server (HiveServer2's protocol) with Delta, on 127.0.0.1, and a Python client for it.

The server is the ``pyspark`` wheel's ``bin/spark-submit`` running
``org.apache.spark.sql.hive.thriftserver.HiveThriftServer2`` (the wheel has no ``sbin/start-thriftserver.sh``),
with the session settings of :mod:`lakehouse.resources.spark`, bound to 127.0.0.1. The Delta JARs go on the
driver's class path, not ``--jars``: each Thrift session builds its catalog with a class loader that does not
see ``--jars`` (``DeltaCatalog`` not found). Its metastore persists in ``data/metastore/``: Derby's
``metastore_db`` (embedded Derby: one server per metastore folder), ``derby.log``, and ``warehouse/``, the
``spark.sql.warehouse.dir``, which holds only the schemas' empty folders (every lakehouse table is external).

**Authentication** is HiveServer2's ``NONE`` (SASL PLAIN, any user name, no password checked), bound to the
loopback only, like the Spark Connect server of ``make dev`` without a token. The endpoint is not read-only:
a connected user can write to the tables as the lakehouse does.

Ready means answering ``SELECT 1`` over Thrift (:func:`probe`). The Python client is impyla's DB-API
(:func:`connect`); :func:`run` and :func:`execute` run a statement in a cursor (one HiveServer2 session).

Example::

    with ThriftServer(port=10000) as server, server.connect() as connection, connection.cursor() as cursor:
        run(cursor, "SELECT 1")      # [(1,)]
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from impala.dbapi import connect as hs2_connect
from impala.hiveserver2 import HiveServer2Connection, HiveServer2Cursor

from lakehouse.connect import server_env, spark_home
from lakehouse.jars import delta_jars
from lakehouse.resources.spark import DELTA_CONF, LAKEHOUSE_CONF, SMALL_MACHINE_CONF
from lakehouse.servers import ServerProcess
from lakehouse.settings import PROJECT_ROOT

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 10000
DEFAULT_JARS_DIR = PROJECT_ROOT / ".cache" / "jars"
DEFAULT_METASTORE = PROJECT_ROOT / "data" / "metastore"
DEFAULT_LOG_FILE = PROJECT_ROOT / "data" / "logs" / "spark-thrift.log"
SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
JDBC_DRIVER = "org.apache.hive.jdbc.HiveDriver"  # in the wheel's jars/hive-jdbc-2.3.10.jar
READY_TIMEOUT = 180.0  # seconds; 12-65 s measured here, on 2 cores shared with other Spark JVMs
CLIENT_USER = "lakehouse"  # authentication NONE: the name is recorded, never checked


class SqlEndpointError(RuntimeError):
    """The Thrift server did not start or does not answer (the message names the address and the log)."""


def jdbc_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    """``jdbc:hive2://host:port/default``: what beeline and JDBC tools connect to."""
    return f"jdbc:hive2://{host}:{port}/default"


def server_conf(metastore: Path, conf: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's Spark settings: the lakehouse's session settings, the metastore in ``metastore``, then ``conf``."""
    settings = {**SMALL_MACHINE_CONF, **LAKEHOUSE_CONF, **DELTA_CONF,
                "spark.sql.warehouse.dir": str(metastore / "warehouse"),
                "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore / 'metastore_db'};create=true",
                **(conf or {})}
    java_options = settings.get("spark.driver.extraJavaOptions", "")
    settings["spark.driver.extraJavaOptions"] = f"{java_options} -Dderby.system.home={metastore}".strip()  # derby.log there
    return settings


def server_command(port: int = DEFAULT_PORT, jars_dir: Path = DEFAULT_JARS_DIR, *, host: str = DEFAULT_HOST,
                   metastore: Path = DEFAULT_METASTORE, master: str = "local[*]",
                   conf: Mapping[str, str] | None = None) -> list[str]:
    """The command that runs the Thrift server in the foreground (run it with :func:`lakehouse.connect.server_env`).

    Example::

        subprocess.Popen(server_command(10000, Path(".cache/jars")), env=server_env())
    """
    class_path = os.pathsep.join(str(path) for path in delta_jars(Path(jars_dir)))
    settings = [arg for key, value in server_conf(Path(metastore), conf).items() for arg in ("--conf", f"{key}={value}")]
    hive = {"hive.server2.thrift.bind.host": host, "hive.server2.thrift.port": str(port),
            "hive.server2.transport.mode": "binary", "hive.server2.authentication": "NONE"}
    return [str(spark_home() / "bin" / "spark-submit"), "--class", SERVER_CLASS, "--name", "lakehouse-sql",
            "--master", master, "--driver-class-path", class_path, *settings,
            *(arg for key, value in hive.items() for arg in ("--hiveconf", f"{key}={value}"))]


def connect(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, timeout: float | None = 300) -> HiveServer2Connection:
    """A DB-API connection to the Thrift server (impyla; ``timeout`` seconds per network call).

    Example::

        with connect(port=10000) as connection:
            cursor = connection.cursor()
            cursor.execute("SELECT count(*) FROM gold.daily_sales")
            cursor.fetchall()
    """
    return hs2_connect(host=host, port=port, auth_mechanism="PLAIN", user=CLIENT_USER, timeout=timeout)


def run(cursor: HiveServer2Cursor, query: str) -> list[tuple[Any, ...]]:
    """The rows of ``query``, run in ``cursor`` (for a statement without rows, such as DDL, :func:`execute`).

    A cursor is a HiveServer2 session of its own (opening one costs a round trip and a Spark session on the
    server), so reuse one for many statements.
    """
    cursor.execute(query)
    return [tuple(row) for row in cursor.fetchall()]


def execute(cursor: HiveServer2Cursor, statement: str) -> None:
    """Run a statement that returns no rows (``CREATE``, ``ALTER``, ``COMMENT``) in ``cursor``.

    Its result is not fetched: Spark describes a one-column result for DDL but sends a row set without
    columns, which impyla's ``fetchall`` fails on (``IndexError``).
    """
    cursor.execute(statement)


def probe(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, timeout: float = 10.0) -> None:
    """Run ``SELECT 1`` on the server; raises :class:`SqlEndpointError` naming the address."""
    socket_log = logging.getLogger("thrift.transport.TSocket")  # logs an ERROR line for every refused connection
    level = socket_log.level
    socket_log.setLevel(logging.CRITICAL)
    try:
        with connect(host, port, timeout) as connection, connection.cursor() as cursor:
            rows = run(cursor, "SELECT 1")
    except Exception as error:  # thrift's TTransportException, impyla's errors, OSError: all mean "not ready"
        raise SqlEndpointError(f"no SQL endpoint answers at {jdbc_url(host, port)} ({type(error).__name__}: {error})") from None
    finally:
        socket_log.setLevel(level)
    if rows != [(1,)]:
        raise SqlEndpointError(f"the SQL endpoint at {jdbc_url(host, port)} answered SELECT 1 with {rows}")


def wait_until_ready(host: str, port: int, timeout: float = READY_TIMEOUT, alive: Callable[[], bool] = lambda: True) -> float:
    """Poll :func:`probe` until it passes; the seconds waited. Raises after ``timeout`` s or once ``alive()`` is false."""
    start = time.monotonic()
    while True:
        try:
            probe(host, port)
            return time.monotonic() - start
        except SqlEndpointError as error:
            last = error
        if not alive():
            raise SqlEndpointError(f"the SQL endpoint at {jdbc_url(host, port)} stopped before it answered (last attempt: {last})")
        if time.monotonic() - start > timeout:
            raise SqlEndpointError(f"the SQL endpoint at {jdbc_url(host, port)} was not ready after {timeout:g} s ({last})")
        time.sleep(1)


class ThriftServer(ServerProcess):
    """Spark's Thrift server for the duration of a ``with`` block: started, answering ``SELECT 1``, then stopped.

    It runs in a process group of its own, its output in ``log_file`` (default ``data/logs/spark-thrift.log``),
    its metastore in ``metastore`` (default ``data/metastore``). Leaving the block stops it: SIGTERM to the
    group, SIGKILL after ``STOP_TIMEOUT`` s, also when the block raised (:class:`lakehouse.servers.ServerProcess`).

    Example::

        with ThriftServer(port=10000, metastore=tmp_path / "metastore") as server:
            subprocess.run(["beeline", "-u", server.url, "-e", "SHOW SCHEMAS"])
    """

    error = SqlEndpointError
    what = "SQL endpoint"

    def __init__(self, port: int = DEFAULT_PORT, jars_dir: Path = DEFAULT_JARS_DIR, log_file: Path | None = None, *,
                 host: str = DEFAULT_HOST, metastore: Path | None = None, master: str = "local[*]",
                 conf: Mapping[str, str] | None = None, timeout: float = READY_TIMEOUT) -> None:
        self.metastore = (Path(metastore) if metastore is not None else DEFAULT_METASTORE).resolve()
        # The metastore folder is the working directory: Derby writes derby.log there from its first moment.
        super().__init__(server_command(port, Path(jars_dir), host=host, metastore=self.metastore, master=master, conf=conf),
                         Path(log_file) if log_file is not None else DEFAULT_LOG_FILE,
                         host=host, port=port, timeout=timeout, cwd=self.metastore, env=server_env())

    @property
    def url(self) -> str:
        """The JDBC URL of the endpoint (``jdbc:hive2://127.0.0.1:<port>/default``)."""
        return jdbc_url(self.host, self.port)

    def taken(self) -> str:
        return f"Connect to {self.url}, stop it, or pick another port (--port)"

    def wait_for_answer(self, timeout: float, alive: Callable[[], bool]) -> None:
        wait_until_ready(self.host, self.port, timeout, alive)

    def _hint(self) -> str:
        """The likely cause, from the end of the server's log, when it is one the message can name."""
        try:
            with self.log_file.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 1_000_000))
                tail = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        if "XSDB6" in tail:  # Derby: "Another instance of Derby may have already booted the database"
            return (f". Another SQL endpoint uses the metastore {self.metastore} (embedded Derby admits one server): "
                    "stop it, or give this one another --metastore")
        return ""

    def connect(self, timeout: float | None = 300) -> HiveServer2Connection:
        """A DB-API connection to this server (:func:`connect`)."""
        return connect(self.host, self.port, timeout)
