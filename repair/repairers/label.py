"""Label repair: a neighbour vote and a classifier, both over the rows valuation
trusts, with a confidence calibrated on those rows.

`NeighbourLabelRepairer` is the plain inverse-distance vote of the suspect's
nearest trusted neighbours. `LabelRepairer` averages that vote with the class
probabilities of a logistic model trained on the trusted rows; its confidence is
the probability that the winner is right, fitted (Platt scaling) on the trusted
rows' own out-of-fold scores, where the right answer is known to be their label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from repair.evidence import (
    class_probabilities,
    fit_quietly,
    nearest,
    out_of_fold_probabilities,
    trusted_or_all,
    weighted_votes,
)
from repair.proposals import RepairContext, RepairProposal


@dataclass(frozen=True)
class LabelSupport:
    """For some rows: neighbour vote shares, classifier probabilities, and the
    neighbours themselves (indices into data.train, -1 padded)."""

    votes: NDArray[np.float64]
    probabilities: NDArray[np.float64]
    neighbours: NDArray[np.int64]
    distances: NDArray[np.float64]

    @property
    def combined(self) -> NDArray[np.float64]:
        return 0.5 * (self.votes + self.probabilities)


def label_support(context: RepairContext, rows: NDArray[np.int64], k: int = 10) -> LabelSupport:
    data = context.data
    trusted = trusted_or_all(context.trusted(), context.suspects)
    distances, neighbours = _trusted_neighbours(context, rows, trusted, k)
    labels = np.where(neighbours >= 0, data.train.y[np.maximum(neighbours, 0)], -1)
    votes = weighted_votes(labels, distances, data.n_classes)
    probs = class_probabilities(
        data.train.x[trusted], data.train.y[trusted], data.train.x[rows], data.n_classes
    )
    return LabelSupport(votes, probs, neighbours, distances)


def _trusted_neighbours(
    context: RepairContext, rows: NDArray[np.int64], trusted: NDArray[np.int64], k: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    if context.neighbours is not None and len(rows):
        distances, found = context.neighbours.search(rows, k * 4)
        allowed = np.isin(found, trusted)
        order = np.argsort(~allowed, axis=1, kind="stable")[:, :k]
        picked = np.take_along_axis(np.where(allowed, found, -1), order, 1)
        return np.take_along_axis(distances, order, 1), picked
    distances, found = nearest(context.data.train.x[rows], context.data.train.x[trusted], k)
    return distances, trusted[found]


class LabelRepairer:
    """Neighbour vote plus out-of-fold classifier, calibrated confidence."""

    name = "label_vote_oof"

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def propose(self, context: RepairContext) -> list[RepairProposal]:
        rows = np.array([d.index for d in context.diagnosed("label")], dtype=np.int64)
        if len(rows) == 0:
            return []
        support = label_support(context, rows, self.k)
        calibrate = _calibration(context, self.k)
        proposals = []
        for position, index in enumerate(rows):
            scores = support.combined[position]
            winner, current = int(np.argmax(scores)), int(context.data.train.y[index])
            if winner == current:
                continue
            confidence = calibrate(float(scores[winner]))
            proposals.append(
                _proposal(context, self.name, index, winner, confidence, support, position)
            )
        return proposals


def _calibration(context: RepairContext, k: int) -> Any:
    """Platt scaling of the winning combined score, fitted on trusted rows."""
    data = context.data
    trusted = trusted_or_all(context.trusted(), context.suspects)
    x, y = data.train.x[trusted], data.train.y[trusted]
    distances, found = nearest(x, x, min(k + 1, len(x)))
    labels = np.where(found[:, 1:] >= 0, y[found[:, 1:]], -1)
    votes = weighted_votes(labels, distances[:, 1:], data.n_classes)
    combined = 0.5 * (votes + out_of_fold_probabilities(x, y, data.n_classes))
    best = combined.max(axis=1)
    right = (combined.argmax(axis=1) == y).astype(int)
    if right.min() == right.max():
        rate = float(right.mean())
        return lambda score: round(min(max(rate * score, 0.0), 1.0), 6)
    platt = LogisticRegression(C=1e4)
    fit_quietly(platt, best[:, None], right)
    return lambda score: round(float(platt.predict_proba([[score]])[0, 1]), 6)


def _proposal(
    context: RepairContext,
    repairer: str,
    index: int,
    winner: int,
    confidence: float,
    support: LabelSupport,
    position: int,
) -> RepairProposal:
    data = context.data
    return RepairProposal(
        row_key=str(data.train.keys[index]),
        column=context.label_column,
        old_value=data.classes[int(data.train.y[index])],
        new_value=data.classes[winner],
        kind="label",
        repairer=repairer,
        confidence=confidence,
        evidence=label_evidence(context, index, support, position),
    )


def label_evidence(
    context: RepairContext, index: int, support: LabelSupport, position: int
) -> dict[str, Any]:
    data = context.data
    neighbours = support.neighbours[position]
    return {
        "value": float(context.values.values[index]),
        "method": context.values.method,
        "votes": _shares(data.classes, support.votes[position]),
        "classifier": _shares(data.classes, support.probabilities[position]),
        "neighbours": [
            {
                "key": str(data.train.keys[n]),
                "label": data.classes[int(data.train.y[n])],
                "distance": round(float(d), 4),
            }
            for n, d in zip(neighbours, support.distances[position], strict=True)
            if n >= 0
        ],
    }


def _shares(classes: tuple[str, ...], shares: NDArray[np.float64]) -> dict[str, float]:
    return {classes[c]: round(float(shares[c]), 4) for c in np.flatnonzero(shares > 1e-4)}


class NeighbourLabelRepairer:
    """The plain inverse-distance vote of the k nearest trusted neighbours."""

    name = "knn_label_vote"

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def propose(self, context: RepairContext) -> list[RepairProposal]:
        rows = np.array([d.index for d in context.diagnosed("label")], dtype=np.int64)
        if len(rows) == 0:
            return []
        support = label_support(context, rows, self.k)
        proposals = []
        for position, index in enumerate(rows):
            votes = support.votes[position]
            winner, current = int(np.argmax(votes)), int(context.data.train.y[index])
            if winner == current:
                continue
            found = int((support.neighbours[position] >= 0).sum())
            share = float(votes[winner])
            confidence = (share * found + 1.0 / context.data.n_classes) / (found + 1.0)
            proposals.append(
                _proposal(
                    context, self.name, index, winner, round(confidence, 6), support, position
                )
            )
        return proposals
