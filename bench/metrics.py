"""Detection metrics. Every method's values are "lower = more suspicious", so the
detection score is the negated value; ties and non-finite values are handled by
ranking (non-finite values count as least suspicious)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, roc_auc_score


def detection(values: NDArray[np.float64], noisy: NDArray[np.bool_]) -> dict[str, float]:
    v = np.where(np.isfinite(values), values, np.inf)
    score = -v
    score = np.where(np.isfinite(score), score, np.min(score[np.isfinite(score)], initial=0) - 1)
    k = int(noisy.sum())
    # precision at k: the k lowest values, ties broken by row order (stable)
    lowest = np.argsort(v, kind="stable")[:k]
    return {
        "auroc": float(roc_auc_score(noisy, score)),
        "ap": float(average_precision_score(noisy, score)),
        "p_at_k": float(noisy[lowest].mean()) if k else float("nan"),
    }
