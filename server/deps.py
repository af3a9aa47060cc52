"""Dependencies of the routes: the app handle, a pooled connection per request,
and the bearer token with the scope each route needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mendb.db import tokens
from mendb.db.tokens import Token
from mendb.server.context import Mendb

_bearer = HTTPBearer(auto_error=False, description="A token from `mendb token create`.")


def get_app(request: Request) -> Mendb:
    app: Mendb = request.app.state.mendb
    return app


AppDep = Annotated[Mendb, Depends(get_app)]


def get_conn(app: AppDep) -> Iterator[psycopg.Connection[Any]]:
    with app.connection() as conn:
        yield conn


ConnDep = Annotated[psycopg.Connection[Any], Depends(get_conn)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require(scope: str) -> Callable[[ConnDep, Credentials], Token]:
    """A dependency: the request's token, which must allow `scope`."""

    def check(conn: ConnDep, credentials: Credentials) -> Token:
        token = tokens.authenticate(conn, credentials.credentials) if credentials else None
        if token is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid bearer token is required (mendb token create)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not token.allows(scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"token {token.name!r} has scope {token.scope!r}; this needs {scope!r}",
            )
        return token

    return check


Reader = Annotated[Token, Depends(require("read"))]
Reviewer = Annotated[Token, Depends(require("review"))]
Admin = Annotated[Token, Depends(require("admin"))]
