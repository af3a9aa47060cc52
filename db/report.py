"""What the HTML report reads besides the values themselves and the loop's rounds."""

from __future__ import annotations

from typing import Any

import psycopg

from mendb.db.queries import query


def methods_with_values(conn: psycopg.Connection[Any], dataset: str) -> list[str]:
    """The methods the dataset has finished values of, by name."""
    return [row[0] for row in conn.execute(query("report_methods"), {"dataset": dataset})]


def repair_counts(conn: psycopg.Connection[Any], dataset: str) -> list[tuple[str, str, int]]:
    """(kind, status, how many) of the dataset's repairs."""
    return conn.execute(query("report_repair_counts"), {"dataset": dataset}).fetchall()
