"""The HTTP API: `create_app(settings)` builds it; the lifespan opens the database
handle (migrations, pool) and closes it. Heavy work never runs in a request: a
request queues a run and the worker carries it out.

mendb's errors become JSON naming the table, column or row, with the status
`server/errors.py` gives the error's class. A body over the size limit is refused
with 413 before it is parsed, and no error quotes more than a short piece of the
input back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mendb.db import jobs
from mendb.server.context import Mendb
from mendb.server.deps import ConnDep
from mendb.server.errors import HANDLED, BodyTooLarge, error_body, outcome_of
from mendb.server.params import shown
from mendb.server.routes import datasets, loops, repairs, runs, scores
from mendb.server.schemas import ErrorBody, Health
from mendb.server.settings import Settings
from mendb.server.ui import router as ui_router
from mendb.server.ui.headers import SecurityHeaders

_ERRORS = {
    status: {"model": ErrorBody, "description": text}
    for status, text in [
        (400, "bad request"),
        (404, "not found"),
        (409, "conflict"),
        (413, "request body too large"),
    ]
}
MAX_MESSAGE = 300  # characters of an error message; the rest is the input echoed


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.mendb = Mendb.open(settings)
        try:
            yield
        finally:
            app.state.mendb.close()

    app = FastAPI(
        title="mendb",
        summary="Find the training rows that hurt your model, and mend them.",
        version="0.1.0",
        lifespan=lifespan,
        responses=_ERRORS,  # type: ignore[arg-type]
    )
    for router in (datasets.router, runs.router, scores.router, repairs.router, loops.router):
        app.include_router(router)
    app.include_router(ui_router)  # the review page in the browser, /ui
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    for root in HANDLED:
        app.add_exception_handler(root, _error_reply)  # type: ignore[arg-type]

    @app.get("/health", tags=["service"], responses={503: {"model": Health}})
    def health(conn: ConnDep, response: Response) -> Health:
        """Up, the database answers, and the queue is served (no token needed):
        503 `degraded` while runs are queued and no worker has been heard from
        within three of its heartbeats."""
        found = jobs.service_health(conn)
        served = found["workers_alive"] > 0 or found["queued"] == 0
        if not served:
            response.status_code = 503
        return Health(status="ok" if served else "degraded", database=True, **found)

    return app


class _BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413)


class BodyLimit:
    """Refuse a request body over `max_bytes` with 413: at once when its
    Content-Length says so, or as soon as the bytes streamed in pass the limit (a
    chunked body has no length to trust)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        over = False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    raise _BodyTooLarge  # stops the handler before it parses anything
            return message

        async def replied(message: Message) -> None:
            if not over:  # once over, the 413 below is the only reply
                await send(message)

        await self.app(scope, counted, replied)
        if over:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        error = BodyTooLarge(f"the request body is over the limit of {self.max_bytes} bytes")
        response = _error_reply(None, error)
        response.headers["Connection"] = "close"
        await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, with each offending input cut short instead of echoed whole."""
    details = []
    for detail in error.errors():
        trimmed: dict[str, Any] = {k: v for k, v in detail.items() if k not in ("input", "ctx")}
        if "input" in detail:
            trimmed["input"] = shown(jsonable_encoder(detail["input"]))
        if "ctx" in detail:
            trimmed["ctx"] = {k: shown(str(v)) for k, v in detail["ctx"].items()}
        details.append(trimmed)
    return JSONResponse({"detail": jsonable_encoder(details)}, status_code=422)


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + "..."


def _error_reply(_request: Request | None, error: Exception) -> JSONResponse:
    """A mendb error (or a value the database refused) as JSON, its message cut
    short, with the status `server/errors.py` gives its class."""
    body = error_body(error)
    body["message"] = _short(str(body["message"]))
    return JSONResponse(body, status_code=outcome_of(error).http_status)
