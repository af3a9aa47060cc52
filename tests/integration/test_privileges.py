"""mendb on a database it does not own: other roles' writes go on, mendb runs as a
role that is not a superuser, a missing grant is named, and `mendb db uninstall`
leaves the tables as they were.

Roles are cluster-wide, so each test makes its own, with a unique name, and drops
them (and what they own in the test database) afterwards."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from sqlalchemy.engine import make_url

from mendb.db import changes
from mendb.db.errors import MissingExtension, MissingPrivilege
from mendb.db.migrate import migrate
from mendb.server.cli import cli
from tests.factories import make_table, table_md5

MakeRole = Callable[[str], tuple[str, str]]


def as_role(url: str, role: str) -> str:
    """The same database as another role (the test server trusts local logins)."""
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


@pytest.fixture
def make_role(dsn: str) -> Iterator[MakeRole]:
    yield from _roles(dsn)


@pytest.fixture
def make_bare_role(empty_dsn: str) -> Iterator[MakeRole]:
    yield from _roles(empty_dsn)


def _roles(url: str) -> Iterator[MakeRole]:
    """make(prefix) -> (role name, URL of the test database as that role)."""
    made: list[str] = []

    def make(prefix: str) -> tuple[str, str]:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        made.append(name)
        return name, as_role(url, name)

    yield make
    with psycopg.connect(url, autocommit=True) as admin:
        for name in reversed(made):
            role = sql.Identifier(name)
            admin.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(role))
            admin.execute(sql.SQL("DROP ROLE {}").format(role))


def cli_as(url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run `mendb ... --json` against `url`; returns the parsed output, or for
    ok=False asserts exit status 1 and returns the parsed error."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("MENDB_HOME", str(home))
    runner = CliRunner()

    def run(*args: str, ok: bool = True, stdin: str | None = None) -> Any:
        result = runner.invoke(cli, [*args, "--json"], input=stdin, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
            return json.loads(result.stdout)
        assert result.exit_code == 1, result.output
        return json.loads(result.stderr) if result.stderr.startswith("{") else result.output

    return run


def register_args(name: str = "demo", table: str = "public.train") -> list[str]:
    return ["register", name, "--table", table, "--key", "id", "--label", "label",
            "--features", "a,b,colour"]  # fmt: skip


def count(conn: psycopg.Connection[Any], query: str) -> int:
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def test_an_application_role_without_rights_on_mendb_writes_a_registered_table(
    dsn: str,
    conn: psycopg.Connection[Any],
    make_role: MakeRole,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_table(conn)
    mendb = cli_as(dsn, tmp_path, monkeypatch)
    mendb(*register_args())
    writer, writer_url = make_role("app_writer")
    conn.execute(sql.SQL("GRANT SELECT, UPDATE ON train TO {}").format(sql.Identifier(writer)))
    with psycopg.connect(writer_url, autocommit=True) as app:
        assert app.execute("SELECT has_schema_privilege('mendb', 'USAGE')").fetchone() == (False,)
        app.execute("UPDATE train SET a = a + 1 WHERE id = 3")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SELECT * FROM mendb.row_changes")
    conn.execute(sql.SQL("GRANT INSERT, DELETE ON train TO {}").format(sql.Identifier(writer)))
    with psycopg.connect(writer_url, autocommit=True) as app:
        app.execute(
            "INSERT INTO train (id, a, b, colour, note, label) VALUES (900, 0, 0, 'red', '', 1)"
        )
        app.execute("DELETE FROM train WHERE id = 5")
    changes = conn.execute(
        "SELECT row_key, operation FROM mendb.row_changes WHERE dataset = 'demo'"
        " ORDER BY row_key::int"
    ).fetchall()
    assert changes == [("3", "UPDATE"), ("5", "DELETE"), ("900", "INSERT")]


def test_the_change_function_is_mendb_s_to_attach_and_outlives_its_registration(
    dsn: str,
    conn: psycopg.Connection[Any],
    make_role: MakeRole,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_table(conn)
    mendb = cli_as(dsn, tmp_path, monkeypatch)
    mendb(*register_args())
    other, other_url = make_role("app_owner")
    conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(other)))
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA mendb TO {}").format(sql.Identifier(other)))
    conn.execute(sql.SQL("GRANT SELECT, UPDATE ON train TO {}").format(sql.Identifier(other)))
    with psycopg.connect(other_url, autocommit=True) as app:
        app.execute("CREATE TABLE mine (id integer PRIMARY KEY)")
        # Attached to its own table, it would let this role write row_changes for
        # any dataset with mendb's rights.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(
                "CREATE TRIGGER spoof AFTER INSERT ON mine FOR EACH ROW"
                " EXECUTE FUNCTION mendb.record_row_change('demo', 'id')"
            )
    # A registration removed without its trigger: the table's writers go on.
    conn.execute("DELETE FROM mendb.datasets")
    with psycopg.connect(other_url, autocommit=True) as app:
        app.execute("UPDATE train SET a = 0 WHERE id = 1")
    assert count(conn, "SELECT count(*) FROM mendb.row_changes") == 0


def _install_as_a_superuser(superuser_url: str, mendb_role: str, table_owner: str) -> None:
    """The operator's part: pgvector, and the table owned by an application role."""
    with psycopg.connect(superuser_url, autocommit=True) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS vector")
        make_table(admin, n=150, seed=4)
        admin.execute("UPDATE train SET label = 1 - label WHERE id IN (0, 1, 2, 3, 4, 5, 6, 7)")
        admin.execute(sql.SQL("ALTER TABLE train OWNER TO {}").format(sql.Identifier(table_owner)))


def test_the_main_path_as_a_role_that_is_not_a_superuser(
    empty_dsn: str,
    make_bare_role: MakeRole,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner, _ = make_bare_role("app_owner")
    role, role_url = make_bare_role("mendb_app")
    _install_as_a_superuser(empty_dsn, role, owner)
    admin = cli_as(empty_dsn, tmp_path, monkeypatch)
    grants = admin("db", "grants", role, "--table", "public.train")
    assert grants["tables"] == ["public.train"]
    with psycopg.connect(empty_dsn, autocommit=True) as superuser:
        superuser.execute(grants["sql"].encode())
        noisy = table_md5(superuser)
        assert superuser.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role]
        ).fetchone() == (False,)

    mendb = cli_as(role_url, tmp_path, monkeypatch)
    mendb(*register_args())
    assert mendb("value", "demo", "--method", "knn_shapley", "--k", "5")["rows"] > 0
    proposed = mendb("propose", "demo", "--max-rows", "30", "--k", "5")["proposed"]
    assert proposed
    accepted = mendb("accept", "--dataset", "demo", "--min-confidence", "0")["accepted"]
    assert accepted == sorted(proposed)
    applied = mendb("apply", "demo")["done"]
    assert applied == sorted(proposed)
    with psycopg.connect(empty_dsn, autocommit=True) as superuser:
        assert table_md5(superuser) != noisy
        assert superuser.execute(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'mendb'"
        ).fetchone() == (role,)
    assert mendb("revert", "demo", "--all")["done"] == sorted(applied, reverse=True)

    # The role removes what it installed, trigger included, from a table it does not own.
    removed = mendb("db", "uninstall", "--yes")
    assert removed["triggers_dropped"] == ["public.train.mendb_changes_demo"]
    with psycopg.connect(empty_dsn, autocommit=True) as superuser:
        assert table_md5(superuser) == noisy
        assert count(superuser, "SELECT count(*) FROM pg_namespace WHERE nspname = 'mendb'") == 0
        assert (
            count(superuser, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'train'::regclass")
            == 0
        )
        superuser.execute("UPDATE train SET a = 0 WHERE id = 1")


def test_a_database_without_create_for_mendb_is_named(
    empty_dsn: str, make_bare_role: MakeRole
) -> None:
    role, role_url = make_bare_role("mendb_app")
    with psycopg.connect(empty_dsn, autocommit=True) as admin:
        admin.execute("CREATE EXTENSION vector")
    with psycopg.connect(role_url, autocommit=True) as conn:
        with pytest.raises(MissingPrivilege) as raised:
            migrate(conn)
        database = conn.info.dbname
        assert count(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'mendb'") == 0
    assert f"lacks CREATE on database {database}" in str(raised.value)
    assert f'GRANT CREATE ON DATABASE "{database}" TO "{role}";' in str(raised.value)


def test_pgvector_missing_and_not_creatable_says_who_must_run_what(
    empty_dsn: str, make_bare_role: MakeRole
) -> None:
    role, role_url = make_bare_role("mendb_app")
    with psycopg.connect(empty_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(admin.info.dbname), sql.Identifier(role)
            )
        )
    with psycopg.connect(role_url, autocommit=True) as conn:
        with pytest.raises(MissingExtension) as raised:
            migrate(conn)
        assert count(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'mendb'") == 0
    message = str(raised.value)
    assert "vector extension" in message and f"role {role}" in message
    assert "a superuser runs `CREATE EXTENSION vector;" in message


def test_a_table_without_trigger_or_select_for_mendb_is_named(
    empty_dsn: str,
    make_bare_role: MakeRole,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner, _ = make_bare_role("app_owner")
    role, role_url = make_bare_role("mendb_app")
    _install_as_a_superuser(empty_dsn, role, owner)
    with psycopg.connect(empty_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(admin.info.dbname), sql.Identifier(role)
            )
        )
    mendb = cli_as(role_url, tmp_path, monkeypatch)
    error = mendb(*register_args(), ok=False)
    assert error["error"] == "MissingPrivilege" and error["table"] == "public.train"
    assert f"role {role} lacks SELECT on table public.train" in error["message"]
    assert f'GRANT SELECT ON "public"."train" TO "{role}";' in error["message"]

    with psycopg.connect(empty_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("GRANT SELECT ON train TO {}").format(sql.Identifier(role)))
    error = mendb(*register_args(), ok=False)
    assert error["error"] == "MissingPrivilege"
    assert "lacks TRIGGER on table public.train" in error["message"]
    assert f"{owner} (the table's owner)" in error["message"]
    assert f'GRANT TRIGGER ON "public"."train" TO "{role}";' in error["message"]
    with psycopg.connect(empty_dsn, autocommit=True) as admin:
        assert count(admin, "SELECT count(*) FROM mendb.datasets") == 0
        assert (
            count(admin, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'train'::regclass") == 0
        )


def test_uninstall_asks_first_and_leaves_the_tables(
    dsn: str, conn: psycopg.Connection[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_table(conn)
    before = table_md5(conn)
    mendb = cli_as(dsn, tmp_path, monkeypatch)
    mendb(*register_args())
    mendb("value", "demo", "--method", "knn_shapley", "--k", "3")
    refused = mendb("db", "uninstall", ok=False, stdin="n\n")
    assert "Aborted" in refused
    assert count(conn, "SELECT count(*) FROM mendb.datasets") == 1
    assert mendb("db", "uninstall", stdin="y\n")["triggers_dropped"] == [
        "public.train.mendb_changes_demo"
    ]
    assert count(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'mendb'") == 0
    assert count(conn, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'train'::regclass") == 0
    assert table_md5(conn) == before
    again = mendb("db", "uninstall", "--yes")
    assert again == {"database": conn.info.dbname, "triggers_dropped": [], "schema_dropped": False}


def test_the_change_function_runs_as_its_owner_on_a_fixed_search_path(
    conn: psycopg.Connection[Any],
) -> None:
    row = conn.execute(
        "SELECT prosecdef, proconfig, has_function_privilege('public', p.oid, 'EXECUTE')"
        " FROM pg_proc p WHERE p.oid = 'mendb.record_row_change()'::regprocedure"
    ).fetchone()
    assert row == (True, ["search_path=pg_catalog, pg_temp"], False)


def test_grants_cover_registered_tables_and_quote_the_role(
    dsn: str, conn: psycopg.Connection[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_table(conn)
    conn.execute("CREATE SCHEMA shop")
    make_table(conn, name="holdout", schema="shop", seed=1)
    mendb = cli_as(dsn, tmp_path, monkeypatch)
    mendb(*register_args(), "--validation-table", "shop.holdout")
    grants = mendb("db", "grants", "Mendb App", "--table", "shop.extra")
    assert grants["tables"] == ["shop.extra", "public.train", "shop.holdout"]
    lines = grants["sql"].splitlines()
    database = conn.info.dbname
    assert f'GRANT CONNECT, CREATE ON DATABASE "{database}" TO "Mendb App";' in lines
    assert 'GRANT USAGE ON SCHEMA "shop" TO "Mendb App";' in lines
    for table in ('"shop"."extra"', '"public"."train"', '"shop"."holdout"'):
        assert f'GRANT SELECT, UPDATE, TRIGGER ON {table} TO "Mendb App";' in lines


def test_pending_migrations_on_a_schema_of_another_role_name_its_owner(
    conn: psycopg.Connection[Any], make_role: MakeRole
) -> None:
    role, role_url = make_role("mendb_app")
    conn.execute(
        sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
            sql.Identifier(conn.info.dbname), sql.Identifier(role)
        )
    )
    latest = conn.execute("SELECT max(version) FROM mendb.schema_migrations").fetchone()
    assert latest is not None
    conn.execute("DELETE FROM mendb.schema_migrations WHERE version = %s", [latest[0]])
    with psycopg.connect(role_url, autocommit=True) as as_role_conn:
        with pytest.raises(MissingPrivilege) as unreadable:
            migrate(as_role_conn)
        assert f"may not read schema mendb, which belongs to role {conn.info.user}" in str(
            unreadable.value
        )
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA mendb TO {0};"
                    " GRANT SELECT ON mendb.schema_migrations TO {0}").format(sql.Identifier(role))
        )  # fmt: skip
        with pytest.raises(MissingPrivilege) as raised:
            migrate(as_role_conn)
    assert f"schema mendb belongs to role {conn.info.user}" in str(raised.value)
    assert latest[0] in str(raised.value)


def test_the_watcher_attaches_where_it_may_and_skips_the_rest(
    dsn: str,
    conn: psycopg.Connection[Any],
    make_role: MakeRole,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_table(conn, name="train")
    make_table(conn, name="other", seed=2)
    mendb = cli_as(dsn, tmp_path, monkeypatch)
    mendb(*register_args("first", "public.train"))
    mendb(*register_args("second", "public.other"))
    role, role_url = make_role("mendb_app")
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA mendb TO {}").format(sql.Identifier(role)))
    conn.execute(
        sql.SQL("GRANT SELECT ON mendb.datasets TO {0}; GRANT TRIGGER ON train TO {0};"
                " GRANT EXECUTE ON FUNCTION mendb.record_row_change() TO {0}").format(
            sql.Identifier(role)
        )
    )  # fmt: skip
    with psycopg.connect(role_url, autocommit=True) as as_role_conn:
        assert changes.attach_all(as_role_conn) == ["first"]
