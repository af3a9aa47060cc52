"""mendb's errors. Each names the table, column or row it is about; `server/errors.py`
maps them once to exit codes and HTTP statuses.

The root, `MendbError`, and the parameter errors live in `mendb.valuation.errors`
(the layer every other may import) and are re-exported here, so that
`from mendb.db.errors import MendbError, NotFound` names the whole family."""

from __future__ import annotations

from mendb.valuation.errors import InvalidParameterError, MendbError

__all__ = [
    "Conflict",
    "DatasetExists",
    "InvalidArgument",
    "InvalidDataset",
    "InvalidName",
    "InvalidParameterError",
    "MendbError",
    "MissingExtension",
    "MissingPrivilege",
    "NoScores",
    "NotFound",
    "SourceTableMissing",
    "UnknownColumn",
    "UnknownDataset",
    "UnknownRelation",
    "UnknownRepair",
    "require_between",
]


class NotFound(MendbError):
    """The object does not exist."""


class UnknownRelation(NotFound):
    """The table does not exist."""


class UnknownColumn(NotFound):
    """The column does not exist."""


class UnknownDataset(NotFound):
    """No dataset of that name is registered."""


class UnknownRepair(NotFound):
    """No repair with that id."""


class Conflict(MendbError):
    """The request conflicts with the current state."""


class DatasetExists(Conflict):
    """A dataset of that name is already registered."""


class InvalidDataset(MendbError):
    """The table cannot be used as a dataset."""


class NoScores(Conflict):
    """The dataset has no finished valuation yet."""


class MissingPrivilege(MendbError):
    """mendb's database role lacks a privilege it needs; the message names the grant."""


class MissingExtension(MendbError):
    """A PostgreSQL extension mendb needs is missing and mendb's role cannot create it."""


class InvalidName(MendbError):
    """The name is not one mendb accepts."""


class InvalidArgument(MendbError):
    """An argument is outside the range it may take."""


class SourceTableMissing(Conflict):
    """The dataset's table no longer exists."""


def require_between(option: str, value: float | None, low: float, high: float) -> None:
    """Refuse a given option's value outside [low, high] (None: not given); NaN is
    outside every range."""
    if value is not None and not low <= value <= high:
        raise InvalidArgument(f"{option}={value} is out of range: must be between {low} and {high}")


class Cancelled(Conflict):
    """The job was cancelled."""


class LeaseLost(Conflict):
    """This worker no longer holds the job's lease; another worker may run it."""
