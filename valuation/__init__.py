"""Pure numeric data valuation: arrays in, dataclasses out.

Nothing in this package knows about PostgreSQL, HTTP or the CLI; a test fails if
it imports them.
"""

from mendb.valuation.data import Split, Task, TrainingArrays
from mendb.valuation.result import ValuationResult

__all__ = ["Split", "Task", "TrainingArrays", "ValuationResult"]
