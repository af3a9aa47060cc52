"""Turn the arrays read from a table into the numeric space methods work in.

Missing cells are imputed with the training median (and stay flagged in
`missing`), categorical codes become one-hot columns, and every column is
standardised with the training mean and standard deviation, so that distances
(KNN-Shapley, neighbour repairs) weigh columns alike.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.data import TrainingArrays


def prepare(data: TrainingArrays) -> TrainingArrays:
    kinds = data.feature_kinds or ("numeric",) * data.train.x.shape[1]
    missing = np.isnan(data.train.x)
    fill = _column_medians(data.train.x)
    blocks_train: list[NDArray[np.float64]] = []
    blocks_valid: list[NDArray[np.float64]] = []
    blocks_test: list[NDArray[np.float64]] = []
    names: list[str] = []
    for j, (name, kind) in enumerate(zip(data.feature_names, kinds, strict=True)):
        columns = [_impute(s.x[:, j], fill[j]) for s in (data.train, data.valid, data.test)]
        if kind == "categorical":
            levels = data.categories.get(name, ())
            codes = range(1, len(levels) + 1) if levels else np.unique(columns[0])
            for code in codes:
                label = levels[int(code) - 1] if levels else str(code)
                for blocks, col in zip(
                    (blocks_train, blocks_valid, blocks_test), columns, strict=True
                ):
                    blocks.append((col == code).astype(np.float64))
                names.append(f"{name}={label}")
        else:
            for blocks, col in zip((blocks_train, blocks_valid, blocks_test), columns, strict=True):
                blocks.append(col)
            names.append(name)
    x_train, x_valid, x_test = (
        _stack(b, len(s))
        for b, s in zip(
            (blocks_train, blocks_valid, blocks_test),
            (data.train, data.valid, data.test),
            strict=True,
        )
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0
    return replace(
        data,
        train=replace(data.train, x=(x_train - mean) / std),
        valid=replace(data.valid, x=(x_valid - mean) / std),
        test=replace(data.test, x=(x_test - mean) / std),
        feature_names=tuple(names),
        feature_kinds=("numeric",) * len(names),
        missing=missing if data.missing is None else data.missing,
    )


def _column_medians(x: NDArray[np.float64]) -> NDArray[np.float64]:
    if x.shape[0] == 0:
        return np.zeros(x.shape[1])
    with np.errstate(all="ignore"):
        medians = np.nanmedian(np.where(np.isnan(x).all(axis=0), 0.0, x), axis=0)
    filled: NDArray[np.float64] = np.nan_to_num(medians)
    return filled


def _impute(column: NDArray[np.float64], fill: float) -> NDArray[np.float64]:
    return np.where(np.isnan(column), fill, column)


def _stack(blocks: list[NDArray[np.float64]], n: int) -> NDArray[np.float64]:
    return np.column_stack(blocks) if blocks else np.zeros((n, 0))
