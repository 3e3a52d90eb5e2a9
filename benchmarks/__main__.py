import sys

from benchmarks.backfill import main

sys.exit(main())
