"""One error root, and one table from error class to HTTP status and exit code."""

from __future__ import annotations

import json
import pickle
from typing import Any

import click
import psycopg
import pytest
from click.testing import CliRunner

from mendb.db import errors
from mendb.server.cli._common import handle_errors
from mendb.server.errors import HANDLED, OUTCOMES, BodyTooLarge, error_body, outcome_of
from mendb.valuation import errors as root
from mendb.valuation._validation import InvalidParameterError, check_int


def test_the_root_is_one_class_re_exported_by_the_database_layer() -> None:
    assert errors.MendbError is root.MendbError
    assert errors.InvalidParameterError is root.InvalidParameterError is InvalidParameterError


def test_a_parameter_error_is_a_mendb_error_and_still_a_value_and_type_error() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        check_int("k", -1, low=1)
    error = caught.value
    assert isinstance(caught.value, errors.MendbError)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, TypeError)
    assert error.to_dict() == {
        "error": "InvalidParameterError",
        "message": "parameter k=-1 is invalid: must be >= 1",
        "table": None,
        "column": "k",
        "row": None,
    }


def test_a_parameter_error_survives_a_trip_to_another_process() -> None:
    error = InvalidParameterError("k", -1, ">= 1")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is InvalidParameterError and again.to_dict() == error.to_dict()


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.MendbError, 400),
        (errors.NotFound, 404),
        (errors.UnknownRelation, 404),
        (errors.UnknownColumn, 404),
        (errors.UnknownDataset, 404),
        (errors.UnknownRepair, 404),
        (errors.Conflict, 409),
        (errors.DatasetExists, 409),
        (errors.NoScores, 409),
        (errors.SourceTableMissing, 409),
        (errors.Cancelled, 409),
        (errors.LeaseLost, 409),
        (errors.MissingPrivilege, 403),
        (BodyTooLarge, 413),
        (errors.InvalidDataset, 422),
        (errors.InvalidName, 422),
        (errors.InvalidArgument, 422),
        (InvalidParameterError, 422),
        (psycopg.errors.NumericValueOutOfRange, 422),
        (errors.MissingExtension, 503),
    ],
)
def test_each_class_takes_the_outcome_of_its_nearest_listed_class(cls: type, status: int) -> None:
    assert outcome_of(cls).http_status == status
    assert outcome_of(cls).exit_code == 1


def test_every_listed_class_falls_under_a_handled_root() -> None:
    assert all(issubclass(cls, HANDLED) for cls in OUTCOMES)
    with pytest.raises(LookupError, match="KeyError"):
        outcome_of(KeyError("x"))


def test_a_value_the_database_refused_shows_its_first_line_only() -> None:
    body = error_body(psycopg.DataError("invalid byte sequence\nDETAIL: the row's data"))
    assert body == {
        "error": "InvalidValue",
        "message": "invalid byte sequence",
        "table": None,
        "column": None,
        "row": None,
    }


def _failing(error: Exception) -> click.Command:
    @click.command()
    @click.option("--json", "as_json", is_flag=True)
    @handle_errors
    def command(as_json: bool) -> None:
        raise error

    return command


def test_the_cli_prints_the_body_and_exits_with_the_tables_code() -> None:
    error = errors.UnknownRelation("table 'public.gone' does not exist", table="public.gone")
    result = CliRunner().invoke(_failing(error), ["--json"])
    assert result.exit_code == outcome_of(error).exit_code == 1
    assert json.loads(result.stderr) == error.to_dict()
    plain = CliRunner().invoke(_failing(error), [])
    assert plain.exit_code == 1 and "table 'public.gone' does not exist" in plain.stderr


def test_the_cli_leaves_a_bug_its_traceback() -> None:
    result: Any = CliRunner().invoke(_failing(KeyError("x")), [])
    assert isinstance(result.exception, KeyError)
