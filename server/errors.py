"""How an error leaves mendb: the one table from error class to HTTP status and
command-line exit code, and the body both print.

A class's outcome is that of the nearest class in its MRO that the table names,
so a new error takes its family's outcome (`UnknownRelation` is a `NotFound`: 404)
unless a row of its own says otherwise. The FastAPI exception handlers
(`server/app.py`) and the CLI's error handling (`server/cli/_common.py`) both read
it; neither picks a status or an exit code of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import psycopg

from mendb.db.errors import (
    Conflict,
    InvalidArgument,
    InvalidDataset,
    InvalidName,
    MendbError,
    MissingExtension,
    MissingPrivilege,
    NotFound,
)
from mendb.repair.proposals import WrongTask
from mendb.valuation.errors import InvalidParameterError
from mendb.valuation.models import InvalidModel

__all__ = ["HANDLED", "OUTCOMES", "BodyTooLarge", "Outcome", "error_body", "outcome_of"]


class BodyTooLarge(MendbError):
    """The request body is over the size limit."""


@dataclass(frozen=True)
class Outcome:
    """What an error becomes: the HTTP status of its reply, the CLI's exit code."""

    http_status: int
    exit_code: int = 1


OUTCOMES: Final[dict[type[Exception], Outcome]] = {
    MendbError: Outcome(400),
    NotFound: Outcome(404),
    Conflict: Outcome(409),
    MissingPrivilege: Outcome(403),
    BodyTooLarge: Outcome(413),
    InvalidDataset: Outcome(422),
    InvalidName: Outcome(422),
    InvalidArgument: Outcome(422),
    InvalidParameterError: Outcome(422),
    InvalidModel: Outcome(422),
    WrongTask: Outcome(422),
    MissingExtension: Outcome(503),
    # A value PostgreSQL cannot hold (a NUL byte in text, a number out of range):
    # the input's fault, so it is answered like mendb's own refusals.
    psycopg.DataError: Outcome(422),
}

HANDLED: Final[tuple[type[Exception], ...]] = (MendbError, psycopg.DataError)
"""The roots of the table: the errors the API and the CLI turn into a reply;
anything else is a bug, and shows as one."""


def outcome_of(error: type[BaseException] | BaseException) -> Outcome:
    """The outcome of the nearest class in the error's MRO that the table names."""
    cls = error if isinstance(error, type) else type(error)
    for base in cls.__mro__:
        if base in OUTCOMES:
            return OUTCOMES[base]
    raise LookupError(f"{cls.__name__} is not one of mendb's errors")


def error_body(error: Exception) -> dict[str, str | None]:
    """The error as the API's JSON body and `--json` print it: its class, its
    message, and the table, column and row it names."""
    if isinstance(error, MendbError):
        return error.to_dict()
    if isinstance(error, psycopg.DataError):
        # The first line only: the rest may quote the statement and its data.
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        return {
            "error": "InvalidValue",
            "message": message,
            "table": None,
            "column": None,
            "row": None,
        }
    raise LookupError(f"{type(error).__name__} is not one of mendb's errors")
