"""The experts, one per kind of error, behind `repair.proposals.Repairer`.

Each reads the suspects diagnosed with its kind from the context and proposes
new values; swap one out, or add another (an HTTP endpoint, a larger model), by
passing a different list to `server.operations.propose`.
"""

from mendb.repair.proposals import Repairer
from mendb.repair.repairers.label import LabelRepairer, NeighbourLabelRepairer
from mendb.repair.repairers.numeric import NeighbourNumericRepairer
from mendb.repair.repairers.target import TargetRepairer
from mendb.repair.repairers.text import SpellingRepairer
from mendb.repair.repairers.vector import VectorRepairer
from mendb.valuation.data import Task

__all__ = [
    "LabelRepairer",
    "NeighbourLabelRepairer",
    "NeighbourNumericRepairer",
    "SpellingRepairer",
    "TargetRepairer",
    "VectorRepairer",
    "default_repairers",
]


def default_repairers(k: int = 10, task: Task = Task.CLASSIFICATION) -> list[Repairer]:
    """One expert per kind; the label's is the class vote, or for a regression
    target the numeric-target repairer."""
    return [
        TargetRepairer(k) if task is Task.REGRESSION else LabelRepairer(k),
        NeighbourNumericRepairer(k),
        VectorRepairer(k),
        SpellingRepairer(),
    ]
