"""The root of mendb's errors, and the errors of parameters.

The root lives here, in `valuation/`, because `valuation/` is the one layer every
other may import while it imports nothing of ours (tests/unit/test_layering.py):
an error raised by the numeric core and one raised by the database layer then
share one root, and `server/errors.py` maps each class once to an HTTP status and
an exit code. `mendb.db.errors` re-exports `MendbError` beside the database's own
errors.
"""

from __future__ import annotations

from typing import Any


class MendbError(Exception):
    """Something went wrong in mendb."""

    def __init__(
        self,
        message: str | None = None,
        *,
        table: str | None = None,
        column: str | None = None,
        row: str | None = None,
    ) -> None:
        super().__init__(message or (type(self).__doc__ or "").strip())
        self.table = table
        self.column = column
        self.row = row

    def to_dict(self) -> dict[str, str | None]:
        """What the error names, as the HTTP API and `--json` print it."""
        return {
            "error": type(self).__name__,
            "message": str(self),
            "table": self.table,
            "column": self.column,
            "row": self.row,
        }


class InvalidParameterError(MendbError, ValueError, TypeError):
    """A parameter is out of its allowed range or of the wrong type.

    Also a `ValueError` and a `TypeError` (scikit-learn's convention), so callers
    that catch those keep catching it; the parameter's name is its `column`."""

    def __init__(self, name: str, value: Any, allowed: str) -> None:
        super().__init__(f"parameter {name}={value!r} is invalid: must be {allowed}", column=name)
        self.name = name
        self.value = value
        self.allowed = allowed

    def __reduce__(self) -> tuple[type[InvalidParameterError], tuple[str, Any, str]]:
        # Rebuilt from its parts when it crosses a process (a Dask or joblib worker).
        return type(self), (self.name, self.value, self.allowed)
