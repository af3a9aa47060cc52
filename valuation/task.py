"""What a dataset's label is. A module of its own, without numpy, so that the
command line and the database layer can name a task without the numeric stack."""

from __future__ import annotations

from enum import StrEnum


class Task(StrEnum):
    """What the label is: a class to predict, or a number."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
