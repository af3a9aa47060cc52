"""Label repair by a weighted vote of the suspect row's nearest trusted neighbours.

Neighbours are searched among training rows that are not suspects, in the prepared
(standardised) feature space, and weighted by inverse distance. The proposed label
is the vote's winner; the confidence is the winner's share of the weight, shrunk
towards uniform by the number of neighbours found so that a vote of two does not
read as certainty. A proposal is made only when the winner differs from the
current label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from repair.proposals import RepairContext, RepairProposal

_EPS = 1e-9


class NeighbourLabelRepairer:
    name = "knn_label_vote"

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def propose(self, context: RepairContext) -> list[RepairProposal]:
        data, suspects = context.data, context.suspects
        if len(suspects) == 0:
            return []
        trusted = np.setdiff1d(np.arange(len(data.train)), suspects)
        k = min(self.k, len(trusted))
        if k == 0:
            return []
        distances, neighbours = _nearest(data.train.x[suspects], data.train.x[trusted], k)
        neighbours = trusted[neighbours]
        votes = _weighted_votes(data.train.y[neighbours], distances, data.n_classes)
        proposals = []
        for row, index in enumerate(suspects):
            winner = int(np.argmax(votes[row]))
            current = int(data.train.y[index])
            if winner == current:
                continue
            share = float(votes[row, winner] / votes[row].sum())
            confidence = (share * k + 1.0 / data.n_classes) / (k + 1.0)
            proposals.append(
                RepairProposal(
                    row_key=str(data.train.keys[index]),
                    column=context.label_column,
                    old_value=data.classes[current],
                    new_value=data.classes[winner],
                    kind="label",
                    repairer=self.name,
                    confidence=round(confidence, 6),
                    evidence=self._evidence(
                        context, index, neighbours[row], distances[row], votes[row]
                    ),
                )
            )
        return proposals

    def _evidence(
        self,
        context: RepairContext,
        index: int,
        neighbours: NDArray[np.int64],
        distances: NDArray[np.float64],
        votes: NDArray[np.float64],
    ) -> dict[str, Any]:
        data = context.data
        total = votes.sum()
        return {
            "value": float(context.values.values[index]),
            "rank": int(context.values.ranks()[index]) if len(context.values) < 200_000 else None,
            "method": context.values.method,
            "votes": {
                data.classes[c]: round(float(votes[c] / total), 4) for c in np.flatnonzero(votes)
            },
            "neighbours": [
                {
                    "key": str(data.train.keys[n]),
                    "label": data.classes[int(data.train.y[n])],
                    "distance": round(float(d), 4),
                }
                for n, d in zip(neighbours, distances, strict=True)
            ],
        }


def _nearest(
    queries: NDArray[np.float64], points: NDArray[np.float64], k: int, batch: int = 1024
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Exact k nearest neighbours (Euclidean), batched over queries."""
    pts = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float64))
    all_d, all_i = [], []
    for start in range(0, len(queries), batch):
        q = torch.from_numpy(np.ascontiguousarray(queries[start : start + batch], dtype=np.float64))
        d, i = torch.topk(torch.cdist(q, pts), k, dim=1, largest=False, sorted=True)
        all_d.append(d.numpy())
        all_i.append(i.numpy())
    return np.concatenate(all_d), np.concatenate(all_i)


def _weighted_votes(
    labels: NDArray[np.int64], distances: NDArray[np.float64], n_classes: int
) -> NDArray[np.float64]:
    weights = 1.0 / (distances + _EPS)
    votes = np.zeros((len(labels), n_classes))
    np.add.at(votes, (np.arange(len(labels))[:, None], labels), weights)
    return votes
