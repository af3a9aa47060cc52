"""Which valuation methods value which tasks, and the refusal of the others.

Most methods value a regression target as well as a class label, with a utility
made of squared error (`valuation.utility`). A method whose idea needs classes
(LAVA's label cost compares labels as equal or not; a target with hundreds of
distinct values would make every pair a mismatch) refuses a regression dataset
before doing any work, with `UnsupportedTask`, naming the method and the task.
"""

from __future__ import annotations

from mendb.valuation.data import Task, TrainingArrays
from mendb.valuation.errors import InvalidParameterError, MendbError


class UnsupportedTask(InvalidParameterError):
    """The valuation method cannot value a dataset of this task.

    An `InvalidParameterError` on `method` (the method is the parameter to change),
    so it is answered like any refused parameter (HTTP 422) and names the method and
    the task in its message."""

    def __init__(self, method: str, task: str, reason: str = "") -> None:
        allowed = f"a method that values a {task} target"
        MendbError.__init__(
            self,
            f"method {method} cannot value a {task} target" + (f": {reason}" if reason else ""),
            column="method",
        )
        self.name, self.value, self.allowed = "method", method, allowed
        self.method, self.task, self.reason = method, task, reason

    def __reduce__(self) -> tuple[type[UnsupportedTask], tuple[str, str, str]]:
        # Rebuilt from its parts when it crosses a process (a Dask or joblib worker).
        return type(self), (self.method, self.task, self.reason)


def require_classification(method: str, data: TrainingArrays, reason: str) -> None:
    """Refuse a regression dataset for a method that only values class labels."""
    if Task(data.task) is not Task.CLASSIFICATION:
        raise UnsupportedTask(method, str(Task(data.task)), reason)


def is_regression(data: TrainingArrays) -> bool:
    return Task(data.task) is Task.REGRESSION
