"""Which kinds of rows hurt: a shallow regression tree over the rows' own features
(in their original units, categories by name) that predicts their value, read back
as sentences a person can act on.

Each leaf whose mean value is below the mean of all rows becomes a rule, e.g.
"rows with colour = 'red' and a > 2.5: 41 rows, mean value -0.012 (all rows:
+0.001)". Vector components are left out: a rule over `emb[17]` helps nobody.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.tree import DecisionTreeRegressor

from mendb.valuation.data import TrainingArrays


@dataclass(frozen=True)
class Rule:
    conditions: tuple[str, ...]
    rows: int
    mean_value: float
    overall_mean: float
    harmful_share: float

    @property
    def sentence(self) -> str:
        where = " and ".join(self.conditions) or "all rows"
        return (
            f"rows with {where}: {self.rows} rows, mean value {self.mean_value:+.4g}"
            f" (all rows: {self.overall_mean:+.4g}); {self.harmful_share:.0%} of them"
            " are valued as harmful"
        )

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "sentence": self.sentence}


def explain_low_value(
    raw: TrainingArrays,
    values: NDArray[np.float64],
    harmful: NDArray[np.bool_],
    max_depth: int = 2,
    max_rules: int = 3,
    seed: int = 0,
) -> list[Rule]:
    """Rules describing the lowest-valued groups of training rows.

    `raw` is the dataset as read (before `prepare`): NaN for missing cells,
    categorical columns as 1-based codes into `raw.categories`. `harmful` marks the
    rows valued below the method's harm threshold.
    """
    features, names = _readable_features(raw)
    n = len(values)
    if n < 10 or features.shape[1] == 0:
        return []
    tree = DecisionTreeRegressor(
        max_depth=max_depth, min_samples_leaf=max(5, n // 50), random_state=seed
    ).fit(features, values)
    leaves = tree.apply(features)
    overall = float(values.mean())
    rules = []
    for leaf in np.unique(leaves):
        members = leaves == leaf
        mean = float(values[members].mean())
        if mean >= overall:
            continue
        rules.append(
            Rule(
                conditions=_path(tree, int(leaf), names),
                rows=int(members.sum()),
                mean_value=mean,
                overall_mean=overall,
                harmful_share=float(harmful[members].mean()),
            )
        )
    rules.sort(key=lambda r: r.mean_value)
    return rules[:max_rules]


def _readable_features(raw: TrainingArrays) -> tuple[NDArray[np.float64], list[tuple[str, str]]]:
    """Columns for the tree, each with (kind, label): ('num', 'a'), ('cat', "colour = 'red'"),
    ('missing', 'a')."""
    kinds = raw.feature_kinds or ("numeric",) * len(raw.feature_names)
    x = raw.train.x
    columns: list[NDArray[np.float64]] = []
    names: list[tuple[str, str]] = []
    for j, (name, kind) in enumerate(zip(raw.feature_names, kinds, strict=True)):
        column = x[:, j]
        missing = np.isnan(column)
        if kind == "categorical":
            for code, level in enumerate(raw.categories.get(name, ()), start=1):
                columns.append((column == code).astype(np.float64))
                names.append(("cat", f"{name} = {level!r}"))
        elif kind == "numeric":
            fill = float(np.nanmedian(column)) if (~missing).any() else 0.0
            columns.append(np.where(missing, fill, column))
            names.append(("num", name))
        else:
            continue
        if missing.any():
            columns.append(missing.astype(np.float64))
            names.append(("missing", name))
    if not columns:
        return np.zeros((len(x), 0)), []
    return np.column_stack(columns), names


def _path(tree: DecisionTreeRegressor, leaf: int, names: list[tuple[str, str]]) -> tuple[str, ...]:
    structure = tree.tree_
    parent = {}
    for node in range(structure.node_count):
        for child, side in (
            (structure.children_left[node], "left"),
            (structure.children_right[node], "right"),
        ):
            if child != -1:
                parent[int(child)] = (node, side)
    conditions = []
    node = leaf
    while node in parent:
        up, side = parent[node]
        kind, label = names[structure.feature[up]]
        threshold = float(structure.threshold[up])
        conditions.append(_condition(kind, label, threshold, side == "left"))
        node = up
    return tuple(reversed(conditions))


def _condition(kind: str, label: str, threshold: float, left: bool) -> str:
    if kind == "cat":
        return label.replace(" = ", " <> ", 1) if left else label
    if kind == "missing":
        return f"{label} is present" if left else f"{label} is missing"
    return f"{label} <= {threshold:,.4g}" if left else f"{label} > {threshold:,.4g}"
