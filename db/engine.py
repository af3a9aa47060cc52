"""The one pool: a SQLAlchemy engine over psycopg 3.

SQLAlchemy has exactly one role in mendb: this engine and its pool (and reading
the database URLs users already have). No other module builds SQL with it or
inspects the catalog through it: statements are the named queries of `sql/`, and
catalog checks read `pg_catalog` on the caller's connection (`db.catalog`).
mendb's functions work on the pooled psycopg connection itself, in autocommit
mode with explicit `conn.transaction()` blocks, so COPY and nested savepoints are
plain psycopg. `Engine` is named here so that the server holds the pool without
importing SQLAlchemy.

A command of the command line works on one connection at a time and ends within
seconds: it takes `direct_connection`s instead, and never imports SQLAlchemy, whose
import alone would be a large part of the command's start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import psycopg
from pgvector.psycopg import register_vector

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as Engine


def sqlalchemy_url(url: str) -> str:
    """Use the psycopg 3 driver whatever scheme the user wrote."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def libpq_url(url: str) -> str:
    """The URL without SQLAlchemy's driver suffix, as psql and psycopg take it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_engine(url: str, **kwargs: Any) -> Engine:
    import sqlalchemy as sa

    engine = sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True, **kwargs)
    sa.event.listen(engine, "connect", _register_types)
    return engine


def _register_types(dbapi_connection: psycopg.Connection[Any], _record: object) -> None:
    dbapi_connection.autocommit = True
    try:
        _register_vector(dbapi_connection)
    finally:
        dbapi_connection.autocommit = False


def _register_vector(conn: psycopg.Connection[Any]) -> None:
    # pgvector's adapters on each new connection; skipped before the extension exists
    # (the migrations create it).
    with suppress(psycopg.ProgrammingError):
        register_vector(conn)


@contextmanager
def direct_connection(url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection of its own, in autocommit mode like a pooled one, closed after."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        _register_vector(conn)
        yield conn


@contextmanager
def connection(engine: Engine) -> Iterator[psycopg.Connection[Any]]:
    """A pooled psycopg connection in autocommit mode: work inside it is committed
    by the `conn.transaction()` blocks that wrap it, and nothing else."""
    raw = engine.raw_connection()
    conn: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
    try:
        conn.autocommit = True
        yield conn
    finally:
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            conn.autocommit = False
        raw.close()
