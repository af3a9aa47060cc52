"""Label repair: a neighbour vote and a classifier, both over the rows valuation
trusts, with the relabel's confidence its posterior under the source's noise model.

`NeighbourLabelRepairer` is the plain inverse-distance vote of the suspect's
nearest trusted neighbours. `LabelRepairer` averages that vote with the class
probabilities of a logistic model trained on the trusted rows and the validation
rows (`repair.evidence`); where that average contradicts the row's label it
proposes the class likeliest to be the true one (`repair.noise`):

    P(true j | x, recorded i)  proportional to  T[j, i] p_j(x).

- T is class-conditional: when the source under-reported a class (recorded part of
  A as B, none of B as A), T[B, A] is near zero and a row recorded A is not
  relabelled B however much it looks like B: a real A lying among the Bs keeps its
  label. A single symmetric flip rate cannot say this; it relabelled the minority
  into the majority wherever classes overlap.
- T is estimated on the labels as the source gave them (`source_labels`: a row
  relabelled since counts with its old label). On the table as mended only the
  flips the classifier finds plausible are left, and an estimate there understates
  the noise, taking every later confidence with it.
- T is estimated from a classifier on every training row (out of fold), not on the
  trusted ones only: one that never saw the suspects takes against their labels,
  and counts a minority the source under-reported as the majority's flips into it.
- When the validation rows are trusted (`RepairContext.trusted_validation`), their
  class distribution is the clean one (the gap to the recorded distribution is the
  net mass the noise moved), and p(x) comes from a classifier on them alone: the
  trusted training rows still carry the noise valuation missed, and a classifier
  that learns from them takes the under-reported class for the other one.
- p(x) is regularised as much as cross-validated log-loss on those reference rows
  asks (`repair.reference_model`), since the sure relabels are the rows in its
  tails, where a fixed regularisation is overconfident; and where it does not
  predict the label beyond the base rate, no relabel gets any confidence.
- The confidence is a lower quantile of the posterior over bootstrap refits of
  that classifier, not the posterior itself: the relabels picked for the highest
  posterior are those its particular reference rows overstated most.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mendb.repair.evidence import LabelSupport, label_support, trusted_or_all
from mendb.repair.noise import noise_model_for
from mendb.repair.proposals import DiagnosisKind, RepairContext, RepairProposal, WrongTask
from mendb.repair.reference_model import reference_model
from mendb.valuation.data import Task

# A relabel's confidence is this quantile of its posterior over the reference
# model's bootstrap refits (`repair.reference_model`): the relabels with the highest
# point posterior are the ones the drawn reference rows flattered most.
SURE_QUANTILE = 0.2


class _LabelVote:
    """What both label repairers share: the k nearest trusted neighbours' vote on the
    rows diagnosed with a wrong label; `_relabel` turns the vote into proposals."""

    name: ClassVar[str]

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def propose(self, context: RepairContext) -> list[RepairProposal]:
        refuse_regression(self.name, context)
        diagnosed = context.diagnosed(DiagnosisKind.LABEL)
        rows = np.array([d.index for d in diagnosed], dtype=np.int64)
        if len(rows) == 0:
            return []
        return self._relabel(context, rows, label_support(context, rows, self.k))

    def _relabel(
        self, context: RepairContext, rows: NDArray[np.int64], support: LabelSupport
    ) -> list[RepairProposal]:
        raise NotImplementedError


class LabelRepairer(_LabelVote):
    """Neighbour vote plus out-of-fold classifier; the confidence is the posterior
    of the winner under the source's class-conditional noise model."""

    name = "label_vote_oof"

    def _relabel(
        self, context: RepairContext, rows: NDArray[np.int64], support: LabelSupport
    ) -> list[RepairProposal]:
        data = context.data
        source = data.train.y if context.source_labels is None else context.source_labels
        noise = noise_model_for(data, source, context.trusted_validation)
        current = data.train.y[rows]
        reference_x, reference_y = _reference_rows(context)
        reference = reference_model(reference_x, reference_y, data.train.x[rows], data.n_classes)
        posterior = noise.posterior(reference.probabilities, current)
        resampled = np.stack([noise.posterior(p, current) for p in reference.resampled])
        proposals = []
        for position, index in enumerate(rows):
            if int(np.argmax(support.combined[position])) == int(current[position]):
                continue
            others = posterior[position].copy()
            others[current[position]] = -1.0
            winner = int(np.argmax(others))
            # Without a model that predicts the label, the posterior is an artefact
            # of an unidentified noise model: shown to a person, never acted on.
            sure = np.quantile(resampled[:, position, winner], SURE_QUANTILE)
            confidence = round(float(np.clip(sure, 0.0, 1.0)) if reference.predicts else 0.0, 6)
            noise_evidence = {
                "transition": round(float(noise.transition[winner, current[position]]), 4),
                "posterior": round(float(posterior[position, winner]), 4),
                "flip_probability": round(1.0 - float(posterior[position, current[position]]), 4),
                "noise_rate": round(noise.flip_share, 4),
                "label_signal": round(float(reference.signal), 2),
            }
            proposals.append(
                _proposal(
                    context, self.name, index, winner, confidence, support, position, noise_evidence
                )
            )
        return proposals


def _reference_rows(context: RepairContext) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The rows whose labels p(x) learns from: the validation rows when they are
    trusted (the trusted training rows still carry the noise valuation missed, and
    a classifier that learns from them takes an under-reported class for the other
    one); else the training rows valuation trusts, with the validation rows."""
    data = context.data
    if context.trusted_validation and len(np.unique(data.valid.y)) > 1:
        return data.valid.x, data.valid.y
    trusted = trusted_or_all(context.trusted(), context.suspects)
    return (
        np.concatenate([data.train.x[trusted], data.valid.x]),
        np.concatenate([data.train.y[trusted], data.valid.y]),
    )


def refuse_regression(repairer: str, context: RepairContext) -> None:
    """A class vote would "relabel" a number to a neighbour's number: refuse."""
    if context.data.task is Task.REGRESSION:
        raise WrongTask(
            f"repairer {repairer} relabels classes, but {context.label_column!r} is a"
            " regression target; its repairer is target_neighbours_model",
            column=context.label_column,
        )


def _proposal(
    context: RepairContext,
    repairer: str,
    index: int,
    winner: int,
    confidence: float,
    support: LabelSupport,
    position: int,
    extra: dict[str, Any] | None = None,
) -> RepairProposal:
    data = context.data
    return RepairProposal(
        row_key=str(data.train.keys[index]),
        column=context.label_column,
        old_value=data.classes[int(data.train.y[index])],
        new_value=data.classes[winner],
        kind=DiagnosisKind.LABEL,
        repairer=repairer,
        confidence=confidence,
        evidence={**label_evidence(context, index, support, position), **(extra or {})},
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


class NeighbourLabelRepairer(_LabelVote):
    """The plain inverse-distance vote of the k nearest trusted neighbours."""

    name = "knn_label_vote"

    def _relabel(
        self, context: RepairContext, rows: NDArray[np.int64], support: LabelSupport
    ) -> list[RepairProposal]:
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
