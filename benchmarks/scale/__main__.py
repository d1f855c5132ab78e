"""``python -m benchmarks.scale``: see benchmarks/scale/run.py."""

import sys

from .run import main

sys.exit(main())
