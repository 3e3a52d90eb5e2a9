"""``make dev`` under a supervisor, so that one Ctrl-C stops ``dagster dev`` and everything it started.

Why ``dagster dev`` run straight from make did not stop on Ctrl-C (measured with Dagster
1.13.27 and PySpark 4.1.1: ``make dev`` typed into an interactive shell on a pseudo-terminal,
Ctrl-C while the runs the landing sensors launch at start-up were in their first step):

1. The terminal sends SIGINT to its whole foreground process group: make, ``dagster dev``, the
   webserver, the daemon, the code servers, every run worker and every run's Spark JVM. The
   webserver and the daemon stop within 3-10 s, then ``dagster dev`` and make exit and the shell
   prompt comes back. What is still running is now in the background: a second Ctrl-C goes to
   the shell and reaches none of it.
2. **Runs go on.** Dagster turns an interrupt inside a step that has a ``RetryPolicy`` into a
   retry ("respect retry policy when interrupts occur", ``dagster/_core/execution/plan/utils.py``),
   and the sensor-launched runs start with exactly such steps (``bronze/sales`` and
   ``bronze/customers_cdc`` retry failed file reads, :data:`lakehouse.assets.policies.FILE_READ_RETRY`).
   Both interrupted runs re-ran bronze and then every other step: SUCCESS 41 s and 87 s after Ctrl-C.
3. **The code server waits for them**, with no time limit: on SIGINT, ``dagster api grpc`` shuts
   down "once executions finish" (its cleanup thread waits until no run is left) and the
   ``dagster code-server start`` proxy waits for it. Both lived until the last run ended, 90 s
   after Ctrl-C, each holding its Spark JVM.
4. **Spark JVMs ignore SIGINT**: PySpark starts the driver JVM with SIGINT ignored and lets it
   exit when its Python process closes the JVM's stdin. A Ctrl-C that lands while PySpark is still
   starting it (``launch_gateway`` waiting for the connection file) makes PySpark delete the folder
   that file goes in; the JVM fails to write it (``NoSuchFileException`` in ``PythonGatewayServer``)
   before it starts watching stdin, and its Py4J server thread keeps it alive forever, an orphan
   of init that only SIGTERM or SIGKILL ends (still there 90 s later).

SIGTERM to the group instead kills the JVMs at once, and the retried steps then fail against the
dead JVM with back-off (2 + 4 + 8 s): everything was gone after 24 s. With no run in progress
everything stopped within 2 s, with a UI tab's GraphQL subscriptions open too; the lakehouse's
own sensors start no thread or process. So the cause is Dagster's shutdown waiting for runs that
Dagster keeps running, plus a PySpark start-up race; ours is only the retry policy that meets it.

What the supervisor does (:mod:`lakehouse.dev.supervisor`): it starts ``dagster dev`` in a
session of its own, with a marker in its environment, so Ctrl-C reaches only the supervisor.
On SIGINT, SIGTERM or SIGHUP it sends SIGINT to that session (Dagster's own graceful path:
a run interrupted outside a retried step records its failure), waits up to 5 s (``--grace``)
for every process of the session, found by session, parent chain or marker
(:mod:`lakehouse.dev.processes`), SIGKILLs what is left (a second Ctrl-C skips the wait),
marks the runs it killed canceled (:mod:`lakehouse.dev.runs`), prints one line saying what
it stopped, and exits by the signal it got. Measured with runs in their first step: 5-6 s from
Ctrl-C to the last process gone and the port free; 2 s with a second Ctrl-C.
The Spark Connect server (:mod:`lakehouse.connect`) is one more :class:`~lakehouse.dev.supervisor.Service`, started
first and stopped with SIGTERM; dagster dev starts once it answers (:mod:`lakehouse.dev.__main__`).

Example::

    python -m lakehouse.dev --host 127.0.0.1 --port 3000     # what `make dev` runs
"""
