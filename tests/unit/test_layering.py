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
