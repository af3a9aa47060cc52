"""The HTTP API: `create_app(settings)` builds it; the lifespan opens the database
handle (migrations, pool) and closes it. Heavy work never runs in a request: a
request queues a run and the worker carries it out.

mendb's errors become JSON naming the table, column or row, with the status the
error class carries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from db.errors import MendbError
from server.context import Mendb
from server.deps import ConnDep
from server.routes import datasets, loops, repairs, runs, scores
from server.schemas import ErrorBody, Health
from server.settings import Settings
from valuation._validation import InvalidParameterError

_ERRORS = {
    status: {"model": ErrorBody, "description": text}
    for status, text in [(400, "bad request"), (404, "not found"), (409, "conflict")]
}


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
    app.add_exception_handler(MendbError, _mendb_error)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidParameterError, _invalid_parameter)  # type: ignore[arg-type]
    app.add_exception_handler(psycopg.DataError, _data_error)  # type: ignore[arg-type]

    @app.get("/health", tags=["service"])
    def health(conn: ConnDep) -> Health:
        """Up, and the database answers (no token needed)."""
        conn.execute("SELECT 1")
        return Health(status="ok", database=True)

    return app


def _mendb_error(_request: Request, error: MendbError) -> JSONResponse:
    return JSONResponse(error.to_dict(), status_code=error.status_code)


def _invalid_parameter(_request: Request, error: InvalidParameterError) -> JSONResponse:
    body = {"error": "InvalidParameterError", "message": str(error), "column": error.name}
    return JSONResponse({"table": None, "row": None, **body}, status_code=422)


def _data_error(_request: Request, error: psycopg.DataError) -> JSONResponse:
    # Values PostgreSQL cannot hold (a NUL byte in text, a number out of range).
    body = {"error": "InvalidValue", "message": str(error).splitlines()[0]}
    return JSONResponse({"table": None, "column": None, "row": None, **body}, status_code=422)
