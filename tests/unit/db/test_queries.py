"""The named queries: the files parse, every name the code asks for exists, and no
query sits in a file unused."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mendb.db.queries import QueryFileError, all_queries, parse, query

ROOT = Path(__file__).resolve().parents[3]


def test_a_file_splits_into_named_statements_without_their_descriptions() -> None:
    found = parse(
        "-- name: one\n-- What it does.\nSELECT 1;\n\n-- name: two\nSELECT %(x)s\n  FROM t;\n",
        "f.sql",
    )
    assert found == {"one": "SELECT 1", "two": "SELECT %(x)s\n  FROM t"}


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("SELECT 1;\n-- name: one\nSELECT 1;", "before the first"),
        ("-- name: one\n-- only a comment\n", "no statement"),
        ("-- name: one\nSELECT 1;\n-- name: one\nSELECT 2;", "defined twice"),
    ],
)
def test_a_malformed_file_is_refused_by_name(text: str, complaint: str) -> None:
    with pytest.raises(QueryFileError, match=complaint):
        parse(text, "bad.sql")


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(QueryFileError, match="no query named nothing_here"):
        query("nothing_here")


def names_asked_for() -> set[str]:
    asked = set()
    for path in (ROOT / "db").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "query" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                asked.add(node.args[0].value)
    return asked


def test_every_query_asked_for_exists_and_every_query_is_asked_for() -> None:
    assert names_asked_for() - set(all_queries()) == set()
    assert set(all_queries()) - names_asked_for() == set()
