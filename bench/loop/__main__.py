"""`python -m bench.loop`: the self-improving loop on real tables with realistic
label noise, against cleanlab, random and ActiveClean-style repairs at the same
budget. See `bench/loop/__init__.py`."""

from __future__ import annotations

import sys

from bench.loop.cli import main

if __name__ == "__main__":
    sys.exit(main())
