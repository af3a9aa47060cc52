"""`python -m bench.regression`: regression valuation and the loop on numeric targets
with planted target noise. See `bench/regression/__init__.py`."""

from __future__ import annotations

import sys

from bench.regression.cli import main

if __name__ == "__main__":
    sys.exit(main())
