"""``python -m benchmarks [backfill|scd2|sensors|layout|compare|history|jvm] [options]``: the backfill benchmark unless another is named."""

import sys
from importlib import import_module

BENCHMARKS = ("backfill", "scd2", "sensors", "layout", "compare", "history", "jvm")

args = sys.argv[1:]
name = args.pop(0) if args and args[0] in BENCHMARKS else "backfill"
sys.exit(import_module(f"benchmarks.{name}").main(args))
