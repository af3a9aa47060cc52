"""mendb's errors. Each names the table, column or row it is about; `server/` maps
them once to exit codes and HTTP statuses."""

from __future__ import annotations


class MendbError(Exception):
    """Something went wrong in mendb."""

    status_code = 400

    def __init__(
        self,
        message: str | None = None,
        *,
        table: str | None = None,
        column: str | None = None,
        row: str | None = None,
    ) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        self.table = table
        self.column = column
        self.row = row

    def to_dict(self) -> dict[str, str | None]:
        return {
            "error": type(self).__name__,
            "message": str(self),
            "table": self.table,
            "column": self.column,
            "row": self.row,
        }


class NotFound(MendbError):
    """The object does not exist."""

    status_code = 404


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

    status_code = 409


class DatasetExists(Conflict):
    """A dataset of that name is already registered."""


class InvalidDataset(MendbError):
    """The table cannot be used as a dataset."""

    status_code = 422


class NoScores(Conflict):
    """The dataset has no finished valuation yet."""


class MissingPrivilege(MendbError):
    """mendb's database role lacks a privilege it needs; the message names the grant."""

    status_code = 403


class MissingExtension(MendbError):
    """A PostgreSQL extension mendb needs is missing and mendb's role cannot create it."""

    status_code = 503


class InvalidName(MendbError):
    """The name is not one mendb accepts."""

    status_code = 422


class InvalidArgument(MendbError):
    """An argument is outside the range it may take."""

    status_code = 422


class SourceTableMissing(Conflict):
    """The dataset's table no longer exists."""


def require_between(option: str, value: float | None, low: float, high: float) -> None:
    """Refuse a given option's value outside [low, high] (None: not given); NaN is
    outside every range."""
    if value is not None and not low <= value <= high:
        raise InvalidArgument(f"{option}={value} is out of range: must be between {low} and {high}")
