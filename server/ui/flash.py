"""The result of an action, shown once on the page the action returns to.

An action answers with a redirect (so that reloading the page does not post again)
and leaves its result in a short-lived cookie, which the next page shows and clears.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

NOTICE_COOKIE = "mendb_ui_notice"
MAX_NOTICE = 500  # characters; a result names ids, an error is cut short


def redirect_with(back: str, notice: str) -> RedirectResponse:
    reply = RedirectResponse(back, 303)
    reply.set_cookie(
        NOTICE_COOKIE, notice[:MAX_NOTICE], max_age=60, path="/ui", httponly=True,
        samesite="strict",
    )  # fmt: skip
    return reply


def pending_notice(request: Request) -> str | None:
    return request.cookies.get(NOTICE_COOKIE)


def take_notice(request: Request, reply: Response) -> Response:
    """Clear the notice once a page has shown it."""
    if pending_notice(request) is not None:
        reply.delete_cookie(NOTICE_COOKIE, path="/ui", httponly=True, samesite="strict")
    return reply


def safe_back(back: str | None, default: str) -> str:
    """Where an action returns to: a page of /ui, never another site."""
    if back and back.startswith("/ui/") and not back.startswith("/ui//") and "\\" not in back:
        return back
    return default
