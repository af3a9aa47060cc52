"""Logging in and out, the landing redirect, and the vendored static files.

The token is pasted into a form and posted in the body, never put in a URL; the
answer is a session cookie (HttpOnly, SameSite=Strict, Path=/ui). A login posted
from another site is refused: a page elsewhere could otherwise log a person in
as someone else.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, RedirectResponse, Response

from mendb.db import tokens, ui
from mendb.server.deps import ConnDep
from mendb.server.ui.pages import STATIC, render
from mendb.server.ui.session import COOKIE, Form, UiReader

router = APIRouter()
TYPES = {".js": "text/javascript", ".css": "text/css"}


@router.get("/")
def home(_user: UiReader) -> RedirectResponse:
    return RedirectResponse("/ui/datasets", status.HTTP_303_SEE_OTHER)


@router.get("/login")
def login_page(request: Request) -> Response:
    return render(request, "login.html", title="Log in")


def _same_origin(request: Request) -> bool:
    """Browsers say where a form was posted from: `Sec-Fetch-Site`, or else `Origin`
    (which the pages' no-referrer policy turns into `null` for their own forms). A
    client that says neither (a script that holds the token already) forges nothing."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


@router.post("/login")
def login(request: Request, conn: ConnDep, form: Form) -> Response:
    if not _same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a login must come from this site")
    secret = (form.get("token") or [""])[0].strip()
    token = tokens.authenticate(conn, secret) if secret else None
    if token is None:
        return render(
            request, "login.html", status_code=status.HTTP_401_UNAUTHORIZED, title="Log in",
            error="That token is not valid, or it was revoked.",
        )  # fmt: skip
    session_id, _ = ui.open_session(conn, token)
    reply = RedirectResponse("/ui/datasets", status.HTTP_303_SEE_OTHER)
    reply.set_cookie(
        COOKIE, session_id, max_age=ui.SESSION_SECONDS, path="/ui", httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return reply


@router.post("/logout")
def logout(request: Request, conn: ConnDep, _user: UiReader) -> Response:
    ui.close_session(conn, request.cookies[COOKIE])
    reply = RedirectResponse("/ui/login", status.HTTP_303_SEE_OTHER)
    reply.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return reply


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """A script or style sheet of the package's `static/` folder (a plain file name:
    the path parameter cannot climb out of the folder)."""
    path = STATIC / name
    if path.suffix not in TYPES or path.parent != STATIC or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return FileResponse(path, media_type=TYPES[path.suffix])
