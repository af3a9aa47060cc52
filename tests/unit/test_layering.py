"""Imports point down the layers: numeric code never reaches the database or the
web, and the database layer never reaches the server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "valuation": {"db", "server", "repair", "psycopg", "sqlalchemy", "fastapi", "pgvector"},
    "repair": {"db", "server", "psycopg", "sqlalchemy", "fastapi", "pgvector"},
    "db": {"server", "fastapi"},
}


def top_level(module: str) -> str:
    """`mendb.db.apply` is layer `db`; `psycopg.sql` is `psycopg`."""
    parts = module.split(".")
    return parts[1] if parts[0] == "mendb" and len(parts) > 1 else parts[0]


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(top_level(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(top_level(node.module))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_the_wrong_way(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    wrong = {
        f"{path.relative_to(ROOT)} imports {module}"
        for path in files
        for module in imported_modules(path) & FORBIDDEN[package]
    }
    assert not wrong, sorted(wrong)


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom psycopg import sql\nfrom mendb.server import app\n")
    assert {"psycopg", "server"} <= imported_modules(bad)


# The server runs no SQL of its own: every statement is a named query in db/.
# These calls are how psycopg runs a statement. `.copy()` without arguments is a
# numpy array's or a dict's copy, never a COPY statement, which always takes one.
SQL_CALLS = {"execute", "executemany", "cursor"}
# The server may import psycopg for connections, their type, and the errors it
# catches (OperationalError, InterfaceError, DataError: a lost connection or bad
# input, mapped to exit codes and HTTP statuses), and sqlalchemy.exc for DBAPIError,
# which the pool raises when a checkout finds the server gone. Not the means to
# compose statements: psycopg.sql, or the rest of sqlalchemy.
ALLOWED_SQLALCHEMY = "sqlalchemy.exc"


def _forbidden_module(module: str) -> bool:
    if module == "psycopg.sql" or module.startswith("psycopg.sql."):
        return True
    if module == "sqlalchemy" or module.startswith("sqlalchemy."):
        return not (module == ALLOWED_SQLALCHEMY or module.startswith(ALLOWED_SQLALCHEMY + "."))
    return False


def sql_uses(path: Path) -> set[str]:
    """Where a module runs SQL or imports the means to build it, as 'line: what'."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name in SQL_CALLS or (name == "copy" and (node.args or node.keywords)):
                found.add(f"{line}: calls .{name}()")
        elif isinstance(node, ast.Import):
            found.update(
                f"{line}: imports {alias.name}"
                for alias in node.names
                if _forbidden_module(alias.name)
            )
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            found.update(f"{line}: imports {m}" for m in modules if _forbidden_module(m))
        elif (
            isinstance(node, ast.Attribute) and node.attr == "sql"
            and isinstance(node.value, ast.Name) and node.value.id == "psycopg"
        ):
            found.add(f"{line}: uses psycopg.sql")
    return found


def test_the_server_runs_no_sql() -> None:
    files = sorted((ROOT / "server").rglob("*.py"))
    assert files
    found = {
        f"{path.relative_to(ROOT)}:{use}" for path in files for use in sql_uses(path)
    }
    assert not found, sorted(found)


def test_the_checker_sees_sql_run_or_built(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import psycopg\n"
        "import sqlalchemy.exc\n"
        "from psycopg import sql\n"
        "from sqlalchemy import select\n"
        "def f(conn, app, rows):\n"
        "    conn.execute('DELETE FROM t')\n"
        "    with app.connection() as c, c.cursor() as cur:\n"
        "        cur.executemany('INSERT INTO t VALUES (%s)', rows)\n"
        "        cur.copy('COPY t FROM STDIN')\n"
        "    psycopg.sql.SQL('x')\n"
        "    return rows.copy()\n"
    )
    assert sql_uses(bad) == {
        "3: imports psycopg.sql",
        "4: imports sqlalchemy",
        "4: imports sqlalchemy.select",
        "6: calls .execute()",
        "7: calls .cursor()",
        "8: calls .executemany()",
        "9: calls .copy()",
        "10: uses psycopg.sql",
    }
