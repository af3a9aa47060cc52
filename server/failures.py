"""Where a run's failure is recorded: one guard, put around a run by whoever owns it
(the command that created it, the worker that claimed it, the loop that carries it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from mendb.db import jobs, runs
from mendb.db.errors import Cancelled, LeaseLost


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


@contextmanager
def failure_recorded(
    conn: psycopg.Connection[Any], run_id: int, worker_id: str | None = None
) -> Iterator[None]:
    """Run the body; if it raises, record the run's end and raise again.

    A worker (`worker_id`) ends only a job it still holds: a cancelled one as
    cancelled, a failed one as failed, and one whose lease it lost not at all, since
    another worker carries it on. The command line, which holds no lease, records
    any error as the run's failure."""
    try:
        yield
    except BaseException as error:
        if worker_id is None:
            runs.fail(conn, run_id, describe(error))
        elif isinstance(error, LeaseLost):
            pass
        elif isinstance(error, Cancelled):
            jobs.end(conn, run_id, worker_id, "cancelled", None)
        elif isinstance(error, Exception):
            jobs.end(conn, run_id, worker_id, "failed", describe(error))
        raise
