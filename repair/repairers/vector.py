"""Vector repair: re-embed the source text when the vector column is the embedding
of a text column, else the mean vector of the nearest trusted rows of the same
label on the other features."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mendb.repair.evidence import nearest, trusted_or_all
from mendb.repair.proposals import (
    Column,
    Diagnosis,
    DiagnosisKind,
    RepairContext,
    RepairProposal,
)


def format_vector(vector: NDArray[np.floating]) -> str:
    """pgvector's text form."""
    return "[" + ",".join(str(np.float32(v)) for v in vector) + "]"


class VectorRepairer:
    name = "vector_reembed_or_neighbours"

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def propose(self, context: RepairContext) -> list[RepairProposal]:
        proposals = []
        for diagnosis in context.diagnosed(DiagnosisKind.VECTOR):
            column = context.column(diagnosis.column)
            fixed: tuple[NDArray[np.floating], float, str] | None
            fixed = self._reembed(context, column, diagnosis)
            if fixed is None:
                fixed = self._neighbours(context, column, diagnosis)
            if fixed is None:
                continue
            vector, confidence, how = fixed
            old = column.values[diagnosis.index]
            proposals.append(
                RepairProposal(
                    row_key=str(context.data.train.keys[diagnosis.index]),
                    column=column.name,
                    old_value=None if np.isnan(old).any() else format_vector(old),
                    new_value=format_vector(vector),
                    kind=DiagnosisKind.VECTOR,
                    repairer=self.name,
                    confidence=round(confidence, 6),
                    evidence={**diagnosis.evidence.as_json(), "method": how},
                )
            )
        return proposals

    def _reembed(
        self, context: RepairContext, column: Column, diagnosis: Diagnosis
    ) -> tuple[NDArray[np.float32], float, str] | None:
        if column.source is None or context.encoder is None:
            return None
        text = context.column(column.source).values[diagnosis.index]
        if text is None or context.encoder.dim != column.values.shape[1]:
            return None
        return context.encoder.encode([str(text)])[0], 0.95, f"re-embedded {column.source}"

    def _neighbours(
        self, context: RepairContext, column: Column, diagnosis: Diagnosis
    ) -> tuple[NDArray[np.float64], float, str] | None:
        data, values = context.data, column.values
        pool = trusted_or_all(context.trusted(), context.suspects)
        pool = pool[np.isfinite(values[pool]).all(axis=1)]
        same = pool[data.train.y[pool] == data.train.y[diagnosis.index]]
        pool = same if len(same) >= self.k else pool
        prefix = f"{column.name}["
        others = [j for j, n in enumerate(data.feature_names) if not n.startswith(prefix)]
        if len(pool) == 0 or not others:
            return None
        x = data.train.x[:, others]
        _, found = nearest(x[[diagnosis.index]], x[pool], self.k)
        donors = values[pool[found[0]]]
        mean = donors.mean(axis=0)
        agreement = _mean_cosine(donors, mean)
        return mean, float(np.clip(agreement, 0.05, 0.9)), "mean of trusted neighbours"


def _mean_cosine(vectors: NDArray[np.float64], centre: NDArray[np.float64]) -> float:
    norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(centre) or 1.0)
    return float(np.mean(vectors @ centre / np.where(norms > 0, norms, 1.0)))
