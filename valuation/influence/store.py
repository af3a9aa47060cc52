"""Projected gradients on disk: fp16 unit vectors plus float32 norms, one file pair
per checkpoint, written and read in chunks through `numpy.memmap`.

Storing direction and length apart keeps fp16 safe: unit vectors never overflow
and lose no precision to subnormals when gradients become tiny late in training,
and the norm keeps the full float32 range. An inner product is
`norm_a * norm_b * <unit_a, unit_b>`; a cosine is `<unit_a, unit_b>` (LESS stores
normalised features for the same reason). Memory is bounded by the chunk, the
number of rows by the disk: N x k x 2 bytes per checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor


class GradientStore:
    """Rows of projected gradients for `n_checkpoints` checkpoints under `directory`."""

    def __init__(self, directory: str | Path, n_rows: int, dim: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.n_rows = n_rows
        self.dim = dim

    def _paths(self, checkpoint: int) -> tuple[Path, Path]:
        stem = self.directory / f"checkpoint_{checkpoint:03d}"
        return stem.with_suffix(".f16"), stem.with_suffix(".norm.f32")

    def _open(self, checkpoint: int, mode: Literal["r", "r+", "w+"]) -> tuple[np.memmap, np.memmap]:
        vectors_path, norms_path = self._paths(checkpoint)
        vectors = np.memmap(vectors_path, np.float16, mode, shape=(max(self.n_rows, 1), self.dim))
        norms = np.memmap(norms_path, np.float32, mode, shape=(max(self.n_rows, 1),))
        return vectors, norms

    def create(self, checkpoint: int) -> None:
        """Allocate the files of one checkpoint (sparse until written)."""
        vectors, norms = self._open(checkpoint, "w+")
        del vectors, norms

    def write(self, checkpoint: int, start: int, rows: Tensor) -> None:
        """Store rows `start .. start + len(rows)` of one checkpoint."""
        if rows.shape[1] != self.dim:
            raise ValueError(f"expected {self.dim} columns, got {rows.shape[1]}")
        rows = rows.detach().to(torch.float32)
        norms = torch.linalg.vector_norm(rows, dim=1)
        units = rows / torch.where(norms > 0, norms, torch.ones_like(norms)).unsqueeze(1)
        vectors_mm, norms_mm = self._open(checkpoint, "r+")
        stop = start + len(rows)
        vectors_mm[start:stop] = units.cpu().numpy().astype(np.float16)
        norms_mm[start:stop] = norms.cpu().numpy()
        vectors_mm.flush()
        norms_mm.flush()
        del vectors_mm, norms_mm

    def chunks(
        self, checkpoint: int, rows: int
    ) -> Iterator[tuple[int, NDArray[np.float32], NDArray[np.float32]]]:
        """Yield (start, unit vectors as float32, norms) of one checkpoint, `rows` at a time."""
        vectors_mm, norms_mm = self._open(checkpoint, "r")
        for start in range(0, self.n_rows, rows):
            stop = min(start + rows, self.n_rows)
            yield (
                start,
                np.asarray(vectors_mm[start:stop], np.float32),
                np.array(norms_mm[start:stop]),
            )
        del vectors_mm, norms_mm

    def remove(self) -> None:
        """Delete the files this store wrote (the directory is left to its owner)."""
        for path in self.directory.glob("checkpoint_*"):
            path.unlink(missing_ok=True)
