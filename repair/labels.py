"""Moved to `repair.repairers.label`; kept so existing imports work."""

from repair.repairers.label import LabelRepairer, NeighbourLabelRepairer

__all__ = ["LabelRepairer", "NeighbourLabelRepairer"]
