"""API tokens in `mendb.api_tokens`: only a SHA-256 hash of each token is stored,
and the token itself is shown once, when it is created.

Scopes are ordered: `read` < `review` < `admin`; a token may do what its scope and
every weaker scope allow. A token's name is the actor the audit trail records for
it, so no name is given twice, even after its token was revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from mendb.db.errors import Conflict, MendbError, NotFound
from mendb.db.queries import query

SCOPES = ("read", "review", "admin")
PREFIX = "mendb_"


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    scope: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Token:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(conn: psycopg.Connection[Any], name: str, scope: str) -> tuple[Token, str]:
    """A new token; returns it with its secret, which is not stored anywhere."""
    if scope not in SCOPES:
        raise MendbError(
            f"scope {scope!r} is not one of {SCOPES}", table="mendb.api_tokens", column="scope"
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                query("tokens_create"),
                {"name": name, "token_hash": digest(secret), "scope": scope},
            ).fetchone()
    except psycopg.errors.UniqueViolation as error:
        raise Conflict(
            f"a token named {name!r} exists or existed; names are never reused, so that"
            " the audit trail names one token: choose another name",
            table="mendb.api_tokens",
            column="name",
            row=name,
        ) from error
    except psycopg.errors.CheckViolation as error:
        raise MendbError(
            f"token name {name!r} must be letters, digits and _.@- (at most 63)",
            table="mendb.api_tokens",
            column="name",
        ) from error
    assert row is not None
    return Token.from_row(row), secret


def authenticate(conn: psycopg.Connection[Any], secret: str) -> Token | None:
    """The active token with this secret, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            query("tokens_authenticate"), {"token_hash": digest(secret)}
        ).fetchone()
    return Token.from_row(row) if row else None


def list_all(conn: psycopg.Connection[Any], include_revoked: bool = False) -> list[Token]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            query("tokens_list"), {"include_revoked": include_revoked}
        ).fetchall()
    return [Token.from_row(row) for row in rows]


def revoke(conn: psycopg.Connection[Any], name: str) -> Token:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query("tokens_revoke"), {"name": name}).fetchone()
    if row is None:
        raise NotFound(f"no active token named {name!r}", table="mendb.api_tokens", row=name)
    return Token.from_row(row)
