"""One handle on the database for a command or a process: URL, migrations, pool,
and who is acting."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import psycopg

from mendb.db import embedded
from mendb.db.engine import connection, create_engine, direct_connection, libpq_url
from mendb.db.migrate import migrate
from mendb.db.session import session_user, set_actor
from mendb.server.settings import Settings

if TYPE_CHECKING:
    from mendb.db.engine import Engine


def os_user() -> str:
    """The account this process runs as, from the kernel: $USER and $LOGNAME are
    whatever the caller set."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid{os.geteuid()}"


def cli_identity(conn: psycopg.Connection[Any]) -> str:
    """cli:OS_USER@ROLE: the role the database authenticated, and the OS account
    that holds the credentials. Token names cannot contain ':', so no token can
    pass for the command line."""
    return f"cli:{os_user()}@{session_user(conn)}"


@dataclass
class Mendb:
    settings: Settings
    url: str
    engine: Engine | None  # None: every connection is a direct one (the command line)

    @classmethod
    def open(cls, settings: Settings | None = None, *, pooled: bool = True) -> Mendb:
        """Start the embedded server if no DATABASE_URL is set, bring the schema up
        to date, open the pool (unless `pooled` is false: a command of the command
        line), and name the actor (the command line's identity when the settings
        name none)."""
        settings = settings or Settings()
        url = settings.database_url or embedded.start(settings.home)
        with direct_connection(url) as conn:
            migrate(conn)
            if settings.actor is None:
                settings = replace(settings, actor=cli_identity(conn))
        engine = create_engine(url, pool_size=settings.pool_size) if pooled else None
        return cls(settings, libpq_url(url), engine)

    @property
    def actor(self) -> str:
        return self.settings.actor or "unknown"

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection that writes this handle's actor into whatever it
        records (runs, proposals, repair events) unless a transaction names
        another: handles that share a pool may act for different people."""
        with (
            connection(self.engine) if self.engine is not None else direct_connection(self.url)
        ) as conn:
            set_actor(conn, self.actor)
            yield conn

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
