"""Who is looking at the page: the session cookie, its token, and CSRF.

`ui_user(scope)` is the one dependency every page of `/ui` takes. It finds the
session the cookie names (its token still active), redirects to the login page
when there is none, refuses with 403 when the token's scope is short, and, on a
POST, refuses with 403 unless the form (or the `X-CSRF-Token` header) carries the
session's CSRF secret. The form a POST carried is then in `posted(request)`.

The body is parsed here as a plain urlencoded form: the pages post nothing else, and
it spares a multipart parser as a dependency.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request, status

from mendb.db import ui
from mendb.db.tokens import Token
from mendb.server.deps import ConnDep

COOKIE = "mendb_ui"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
MAX_FORM_FIELDS = 2_000  # a bulk form names at most a page of ids


class LoginRequired(HTTPException):
    """No live session: the page answers with a redirect to the login page."""

    def __init__(self) -> None:
        super().__init__(status.HTTP_303_SEE_OTHER, headers={"Location": "/ui/login"})


async def read_form(request: Request) -> dict[str, list[str]]:
    """The urlencoded body of a POST (empty for other methods)."""
    if request.method != "POST":
        return {}
    if getattr(request.state, "form", None) is None:
        body = (await request.body()).decode("utf-8", errors="replace")
        try:
            request.state.form = parse_qs(
                body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
            )
        except ValueError as error:  # more fields than any page posts
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    form: dict[str, list[str]] = request.state.form
    return form


Form = Annotated[dict[str, list[str]], Depends(read_form)]


def posted(request: Request) -> dict[str, list[str]]:
    """The form the request posted, as `ui_user` read it: field -> values."""
    return getattr(request.state, "form", {})


def field(request: Request, name: str, default: str | None = None) -> str | None:
    """One field of the posted form (its first value)."""
    values = posted(request).get(name)
    return values[0] if values else default


def ui_user(scope: str) -> Callable[..., Token]:
    """A dependency: the session's token, which must allow `scope`; on a POST the
    CSRF secret must come back with it."""

    def check(request: Request, conn: ConnDep, form: Form) -> Token:
        session_id = request.cookies.get(COOKIE)
        session = ui.find_session(conn, session_id) if session_id else None
        if session is None:
            raise LoginRequired
        token = session.token
        request.state.ui_token = token
        request.state.csrf = session.csrf_secret
        if not token.allows(scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"token {token.name!r} has scope {token.scope!r}; this needs {scope!r}",
            )
        if request.method == "POST":
            sent = (form.get(CSRF_FIELD) or [request.headers.get(CSRF_HEADER, "")])[0]
            if not hmac.compare_digest(sent.encode(), session.csrf_secret.encode()):
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or wrong"
                )
        return token

    return check


UiReader = Annotated[Token, Depends(ui_user("read"))]
UiReviewer = Annotated[Token, Depends(ui_user("review"))]
UiAdmin = Annotated[Token, Depends(ui_user("admin"))]
