"""Gradient influence (TracIn and LESS) over a proxy network's training trajectory.

`training` trains the proxy and keeps checkpoints, `gradients` computes per-example
gradients with `torch.func`, `projection` reduces them with a seeded Rademacher
matrix generated tile by tile, `store` streams the projections to disk, `pipeline`
turns them into per-row scores, and `text` adapts a sentence-transformer encoder with
LoRA so text rows get gradients from an adapted encoder. The estimators users call
are in `valuation.methods.influence`.
"""

from mendb.valuation.influence.pipeline import InfluenceOutput, influence_values
from mendb.valuation.influence.projection import RademacherProjection, jl_epsilon

__all__ = ["InfluenceOutput", "RademacherProjection", "influence_values", "jl_epsilon"]
