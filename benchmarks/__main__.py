"""``python -m benchmarks [backfill|scd2|sensors|layout|compare|history|jvm] [options]``: the backfill benchmark unless another is named.

The process ends with ``os._exit`` once the benchmark has returned and its output is flushed: the benchmarks
that read tables with delta-rs (``compare``, ``backfill``) could otherwise abort in the interpreter's shutdown
("terminate called without an active exception", exit 134, after the results were printed; delta-io/delta-rs#2184),
which hid the benchmark's own exit code. Nothing is left to clean up by then: servers and sessions are closed by the
benchmark, and a Spark JVM started by this process exits when its parent's pipe closes.
"""

import os
import sys
from importlib import import_module

BENCHMARKS = ("backfill", "scd2", "sensors", "layout", "compare", "history", "jvm")

args = sys.argv[1:]
name = args.pop(0) if args and args[0] in BENCHMARKS else "backfill"
code = import_module(f"benchmarks.{name}").main(args)
sys.stdout.flush()
sys.stderr.flush()
os._exit(code or 0)
