"""`python -m bench.influence`: gradient influence beside the Shapley family. See
`bench/influence/__init__.py`."""

from __future__ import annotations

import sys

from bench.influence.cli import main

if __name__ == "__main__":
    sys.exit(main())
