"""Target noise as it happens in recorded numbers, planted in rows the benchmark
chooses (the training rows: validation and sealed test rows keep their values).

- slipped_zero: the value recorded with an extra zero, x 10 (a slipped decimal
  point or a doubled keystroke);
- swap: another row's value (a misaligned paste or join), drawn uniformly from the
  eligible rows whose value differs;
- heavy_tail: additive Student-t noise with `DF` degrees of freedom, scaled by the
  eligible rows' standard deviation: mostly small slips, sometimes huge ones.

`RATE` of the eligible rows is drawn, without replacement, from a seeded generator;
a row counts as planted only if its value changed (x 10 leaves a zero a zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

NOISES = ("slipped_zero", "swap", "heavy_tail")
RATE = 0.10
DF = 2.0


@dataclass(frozen=True)
class Planted:
    """The target after planting and the positions whose value changed (sorted)."""

    y: NDArray[np.float64]
    rows: NDArray[np.int64]

    def mask(self) -> NDArray[np.bool_]:
        out = np.zeros(len(self.y), dtype=bool)
        out[self.rows] = True
        return out


def _draw(rows: NDArray[np.int64], count: int, rng: np.random.Generator) -> NDArray[np.int64]:
    count = min(count, len(rows))
    return np.sort(rng.choice(rows, count, replace=False)).astype(np.int64)


def plant(
    noise: str, y: NDArray[np.float64], eligible: NDArray[np.int64], rng: np.random.Generator,
    rate: float = RATE,
) -> Planted:  # fmt: skip
    """Plant `noise` in `rate` of the `eligible` positions of `y`; nothing else moves."""
    if noise not in NOISES:
        raise ValueError(f"unknown noise {noise!r}; one of {', '.join(NOISES)}")
    y = np.asarray(y, dtype=np.float64)
    eligible = np.unique(np.asarray(eligible, dtype=np.int64))
    count = round(rate * len(eligible))
    out = y.copy()
    if noise == "slipped_zero":
        rows = _draw(eligible[y[eligible] != 0], count, rng)
        out[rows] = y[rows] * 10.0
    elif noise == "swap":
        rows = _draw(eligible, count, rng)
        for i in rows:
            donors = eligible[y[eligible] != y[i]]
            if len(donors):
                out[i] = y[int(rng.choice(donors))]
    else:
        rows = _draw(eligible, count, rng)
        scale = float(np.std(y[eligible])) or 1.0
        out[rows] = y[rows] + scale * rng.standard_t(DF, size=len(rows))
    changed = rows[out[rows] != y[rows]]
    return Planted(out, changed.astype(np.int64))


def seed_for(noise: str, seed: int) -> list[int]:
    """The generator seed of one (noise, seed) pair: the same rows on every run."""
    return [seed, NOISES.index(noise), 2000]
