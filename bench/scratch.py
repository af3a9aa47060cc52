"""A throwaway mendb home for one benchmark run."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_home(prefix: str, embedded_server: bool = True) -> Iterator[Path]:
    """A temporary folder for `Settings.home`; afterwards the embedded PostgreSQL
    started in it (unless `embedded_server` is false: the run used another
    database) is stopped and the folder removed, whatever happened."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield home
    finally:
        if embedded_server:
            from mendb.db import embedded

            embedded.stop(home)
        shutil.rmtree(home, ignore_errors=True)
