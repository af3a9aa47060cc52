"""The one pool: a SQLAlchemy engine over psycopg 3.

SQLAlchemy has exactly one role in mendb: this engine and its pool (and reading
the database URLs users already have). No other module builds SQL with it or
inspects the catalog through it: statements are the named queries of `sql/`, and
catalog checks read `pg_catalog` on the caller's connection (`db.catalog`).
mendb's functions work on the pooled psycopg connection itself, in autocommit
mode with explicit `conn.transaction()` blocks, so COPY and nested savepoints are
plain psycopg. `Engine` is named here so that the server holds the pool without
importing SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa
from pgvector.psycopg import register_vector
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
    engine = sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True, **kwargs)
    sa.event.listen(engine, "connect", _register_types)
    return engine


def _register_types(dbapi_connection: psycopg.Connection[Any], _record: object) -> None:
    # pgvector's adapters on each new connection; skipped before the extension exists
    # (the migrations create it).
    dbapi_connection.autocommit = True
    try:
        register_vector(dbapi_connection)
    except psycopg.ProgrammingError:
        pass
    finally:
        dbapi_connection.autocommit = False


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
