"""``python -m lakehouse.generator``: same as the ``lakehouse-generate`` command."""

import sys

from lakehouse.generator.cli import main

sys.exit(main())
