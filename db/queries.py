"""Every SQL statement mendb runs, by name, from the `.sql` files beside this module.

The files follow procrastinate's `queries.sql` pattern, which a person can read and
paste into psql:

    -- name: finish_run
    -- A run is done: its metrics, diagnostics and what it read.
    UPDATE mendb.runs SET status = 'done' ... WHERE id = %(run_id)s;

Values are `%(name)s` parameters. Names users give (a table, a column) are
`{placeholders}` that the caller fills with `psycopg.sql.Identifier` after checking
them against the catalog; a query with placeholders writes literal braces as `{{ }}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources

from psycopg import sql

_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


class QueryFileError(ValueError):
    """A `.sql` file of this package is malformed: a developer's error, not a user's."""


def parse(text: str, source: str) -> dict[str, str]:
    """Split one file into its named statements; the comment lines after a name are
    its description and are dropped from the statement."""
    headers = list(_HEADER.finditer(text))
    if text[: headers[0].start() if headers else len(text)].strip(" \n\t-"):
        raise QueryFileError(f"{source}: text before the first '-- name:' line")
    found: dict[str, str] = {}
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        body = text[header.end() : following.start() if following else len(text)]
        statement = "\n".join(
            line for line in body.strip().splitlines() if not line.lstrip().startswith("--")
        ).strip().rstrip(";")
        name = header.group(1)
        if not statement:
            raise QueryFileError(f"{source}: query {name} has no statement")
        if name in found:
            raise QueryFileError(f"{source}: query {name} is defined twice")
        found[name] = statement
    return found


@cache
def all_queries() -> Mapping[str, str]:
    """The statements of every `sql/*.sql` file, loaded once."""
    found: dict[str, str] = {}
    for path in sorted(resources.files(__package__).joinpath("sql").iterdir(),
                       key=lambda p: p.name):
        if not path.name.endswith(".sql"):
            continue
        for name, statement in parse(path.read_text(), path.name).items():
            if name in found:
                raise QueryFileError(f"{path.name}: query {name} is also defined elsewhere")
            found[name] = statement
    return found


def query(name: str) -> sql.SQL:
    """The statement called `name`, ready for `conn.execute(query(name), params)` or,
    with user-given names, `query(name).format(table=sql.Identifier(...))`."""
    try:
        return sql.SQL(all_queries()[name])
    except KeyError:
        raise QueryFileError(f"no query named {name} in {__package__}/sql") from None
