"""A SQL endpoint over the lakehouse's tables, as on a Databricks SQL warehouse: Spark's Thrift server.

``make sql`` (``python -m lakehouse.sql``) starts Spark's Thrift server with Delta on 127.0.0.1
(HiveServer2's protocol: JDBC ``jdbc:hive2://127.0.0.1:10000/default`` with ``org.apache.hive.jdbc.HiveDriver``,
ODBC, the wheel's ``beeline``) and its metastore in ``data/metastore/``, then registers every table of
:data:`lakehouse.tables.TABLES` that exists in the warehouse as ``layer.table`` (``gold.daily_sales``) with its
comments, again every 30 s so new tables follow. Analysts query the tables by name, time-travel them
(``VERSION AS OF``) and read each column's meaning and ``pii`` tag in ``DESCRIBE TABLE EXTENDED``.

* :mod:`lakehouse.sql.server`: :class:`ThriftServer` (start, ready, stop), the impyla client (:func:`connect`,
  :func:`run`, :func:`execute`); authentication ``NONE`` on the loopback.
* :mod:`lakehouse.sql.registration`: :class:`Registrar`, and why the comments are written to the Delta log.
* :mod:`lakehouse.sql.__main__`: the command ``make sql`` runs.

Example::

    with ThriftServer(port=10000) as server, server.connect() as connection, connection.cursor() as cursor:
        Registrar(cursor, LakehouseSettings.from_env().warehouse).refresh()
        run(cursor, "SELECT * FROM gold.daily_sales VERSION AS OF 3")

    python -m lakehouse.sql --port 10000 --refresh 30      # in the foreground, until Ctrl-C (make sql)
"""

from lakehouse.sql.registration import Pass, Registrar, column_comment, described
from lakehouse.sql.server import JDBC_DRIVER, SqlEndpointError, ThriftServer, connect, execute, jdbc_url, probe, run

__all__ = ["JDBC_DRIVER", "Pass", "Registrar", "SqlEndpointError", "ThriftServer", "column_comment", "connect",
           "described", "execute", "jdbc_url", "probe", "run"]
