"""One handle on the database for a command or a process: URL, migrations, pool."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy.engine import Engine

from db import embedded
from db.engine import connection, create_engine, libpq_url
from db.migrate import migrate
from server.settings import Settings


@dataclass
class Mendb:
    settings: Settings
    url: str
    engine: Engine

    @classmethod
    def open(cls, settings: Settings | None = None) -> Mendb:
        """Start the embedded server if no DATABASE_URL is set, bring the schema up
        to date, and open the pool."""
        settings = settings or Settings()
        url = settings.database_url or embedded.start(settings.home)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            migrate(conn)
        return cls(settings, libpq_url(url), create_engine(url, pool_size=settings.pool_size))

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with connection(self.engine) as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()
