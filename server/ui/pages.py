"""Rendering the pages of `/ui`: one Jinja2 environment with autoescape on, so that
every value a template shows is escaped (a cell holding `<script>` shows as text).

`render(request, template, **context)` gives each template what the layout needs:
the session's token (`user`), whether it may change things (`can_review`), the
hidden CSRF field every state-changing form must carry (`csrf_field`), and the
result of the action that led here (`notice`, shown once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, escape
from starlette.responses import Response

from mendb.server.ui.flash import pending_notice, take_notice
from mendb.server.ui.session import CSRF_FIELD

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template, whatever its file name
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)


def csrf_token(request: Request) -> str:
    token: str = getattr(request.state, "csrf", "")
    return token


def csrf_field(request: Request) -> Markup:
    """The hidden input that carries the session's CSRF secret back on a POST."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, escape(csrf_token(request))
    )


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """The page `template`, with the layout's context added to `context`."""
    user = getattr(request.state, "ui_token", None)
    base = {
        "user": user,
        "can_review": bool(user and user.allows("review")),
        "csrf_field": csrf_field(request),
        "csrf_token": csrf_token(request),
        "notice": pending_notice(request),
        "title": "mendb",
    }
    reply = templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code
    )
    return take_notice(request, reply)
