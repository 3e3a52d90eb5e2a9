"""``python -m lakehouse.sql`` (``make sql``): the SQL endpoint in the foreground, re-registering tables until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from lakehouse.connect import spark_home
from lakehouse.servers import interrupt_on_signals
from lakehouse.settings import LakehouseSettings
from lakehouse.sql.registration import Registrar
from lakehouse.sql.server import (
    DEFAULT_HOST,
    DEFAULT_JARS_DIR,
    DEFAULT_LOG_FILE,
    DEFAULT_METASTORE,
    DEFAULT_PORT,
    JDBC_DRIVER,
    SqlEndpointError,
    ThriftServer,
)

DEFAULT_REFRESH = 30.0  # seconds between registration passes


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    warehouse = LakehouseSettings.from_env().warehouse
    server = ThriftServer(port=args.port, jars_dir=args.jars_dir, log_file=args.log_file, host=args.host,
                          metastore=args.metastore)
    interrupt_on_signals()
    print(f"SQL endpoint starting on {server.url} (log: {server.log_file}; metastore: {server.metastore})", flush=True)
    try:
        server.start()
        beeline = os.path.relpath(spark_home() / "bin" / "beeline")
        print(f"SQL endpoint ready after {server.ready_seconds:.0f} s: {beeline} -u {server.url} (JDBC driver {JDBC_DRIVER}). "
              f"Tables of {warehouse} are registered every {args.refresh:g} s. Ctrl-C stops it.", flush=True)
        assert server.process is not None
        with server.connect() as connection, connection.cursor() as cursor:
            registrar = Registrar(cursor, warehouse)
            while True:
                try:
                    outcome = registrar.refresh()
                    if outcome.registered or outcome.commented or outcome.failed:
                        print(f"[{time.strftime('%H:%M:%S')}] {outcome}", flush=True)
                except Exception as error:  # the server did not answer this pass (busy, restarting): try the next
                    print(f"[{time.strftime('%H:%M:%S')}] registration pass failed, next in {args.refresh:g} s: {error}",
                          file=sys.stderr, flush=True)
                try:
                    code = server.process.wait(timeout=args.refresh)
                except subprocess.TimeoutExpired:
                    continue
                print(f"SQL endpoint exited with code {code} (log: {server.log_file})", file=sys.stderr, flush=True)
                return code or 1
    except KeyboardInterrupt:
        server.stop()
        print("SQL endpoint stopped.", flush=True)
        return 0
    except SqlEndpointError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        server.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lakehouse.sql",
        description="Run a SQL endpoint (Spark Thrift server, JDBC/ODBC) over the lakehouse's tables until Ctrl-C.")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"Thrift port (default {DEFAULT_PORT})")
    parser.add_argument("--refresh", type=float, default=DEFAULT_REFRESH,
                        help=f"seconds between registration passes (default {DEFAULT_REFRESH:g})")
    parser.add_argument("--metastore", type=Path, default=DEFAULT_METASTORE, help="the metastore's folder (data/metastore)")
    parser.add_argument("--jars-dir", type=Path, default=DEFAULT_JARS_DIR, help="folder of the Delta JARs (.cache/jars)")
    parser.add_argument("--log-file", type=Path, default=DEFAULT_LOG_FILE,
                        help="where the server's output goes (default data/logs/spark-thrift.log)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
