"""Seeded Rademacher random projection, generated tile by tile.

A matrix R of shape (P, k) with independent entries +-1 / sqrt(k) preserves inner
products in expectation, E[<R^T x, R^T y>] = <x, y>, and with high probability
within a relative error eps for every pair among n points once

    k >= (4 + 2 beta) ln(n) / (eps^2 / 2 - eps^3 / 3)

(Achlioptas, "Database-friendly random projections: Johnson-Lindenstrauss with
binary coins", JCSS 2003, Theorem 1.1; probability >= 1 - n^-beta for squared norms;
inner products of unit vectors follow by polarisation). `jl_epsilon` inverts the bound.

R is never held whole: it is cut into tiles of `_TILE_ROWS x _TILE_COLS`, and tile
(i, j) is drawn from its own CPU `torch.Generator`, seeded from
`SeedSequence([seed, i, j])`. Any tile can be regenerated on demand, so the
projection of a chunk of rows does not depend on how the rows were chunked, on the
device, or on anything but (seed, P, k). Changing the tile constants changes R.
When k >= P the projection is the identity (exact, and cheaper).

The products run in bfloat16 where the hardware multiplies it natively (GPUs, CPUs
with AVX512-BF16 or AMX), else in float32.
The +-1 entries are exact in bfloat16; rounding the gradients and each tile's
product to 8 significant bits adds a relative error of about 2e-3 per coordinate,
far below the JL distortion eps (about 0.1 at k = 8192 for 20,000 rows).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

_TILE_ROWS = 4096
_TILE_COLS = 512
_SHIFTS = torch.arange(8, dtype=torch.uint8)


def jl_epsilon(k: int, n: int, beta: float = 1.0) -> float:
    """Smallest eps with k >= (4 + 2 beta) ln n / (eps^2/2 - eps^3/3), eps in (0, 1)."""
    need = (4.0 + 2.0 * beta) * math.log(max(n, 2)) / k
    low, high = 0.0, 1.0
    if high**2 / 2 - high**3 / 3 < need:
        return 1.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if mid**2 / 2 - mid**3 / 3 < need else (low, mid)
    return high


def matmul_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where the device multiplies it natively, else float32."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    try:
        # torch leaves mkldnn.is_available unannotated
        mkldnn = torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
        native = mkldnn and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):
        native = False
    return torch.bfloat16 if native and device.type == "cpu" else torch.float32


def rademacher_tile(
    seed: int, row: int, col: int, shape: tuple[int, int], dtype: torch.dtype = torch.float32
) -> Tensor:
    """Tile (row, col) of the +-1 matrix, on the CPU (8 signs per random byte)."""
    state = np.random.SeedSequence([seed, row, col]).generate_state(2, dtype=np.uint32)
    generator = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    count = shape[0] * shape[1]
    byte = torch.randint(0, 256, ((count + 7) // 8, 1), generator=generator, dtype=torch.uint8)
    bits = ((byte >> _SHIFTS) & 1).reshape(-1)[:count]
    return bits.to(dtype).mul_(2).sub_(1).reshape(shape)


class RademacherProjection:
    """x -> R^T x for R in {+-1/sqrt(k)}^(P x k), built from `rademacher_tile`.

    `dtype` is the type the products run in; `None` picks it per device (`matmul_dtype`).
    """

    def __init__(self, n_in: int, n_out: int, seed: int, dtype: torch.dtype | None = None) -> None:
        if n_in < 1 or n_out < 1:
            raise ValueError(f"projection dimensions must be positive, got {n_in} -> {n_out}")
        self.n_in = n_in
        self.n_out = min(n_out, n_in)
        self.seed = seed
        self.dtype = dtype

    @property
    def identity(self) -> bool:
        return self.n_out == self.n_in

    def __call__(self, g: Tensor) -> Tensor:
        """Project the rows of `g` (B x P, float32, any device) to B x k."""
        if g.shape[-1] != self.n_in:
            raise ValueError(f"expected {self.n_in} columns, got {g.shape[-1]}")
        if self.identity:
            return g
        dtype = matmul_dtype(g.device) if self.dtype is None else self.dtype
        low = g.to(dtype)
        out = torch.zeros(g.shape[0], self.n_out, dtype=torch.float32, device=g.device)
        for c0 in range(0, self.n_out, _TILE_COLS):
            c1 = min(c0 + _TILE_COLS, self.n_out)
            for r0 in range(0, self.n_in, _TILE_ROWS):
                r1 = min(r0 + _TILE_ROWS, self.n_in)
                index = (r0 // _TILE_ROWS, c0 // _TILE_COLS)
                tile = rademacher_tile(self.seed, *index, (r1 - r0, c1 - c0), dtype)
                out[:, c0:c1] += low[:, r0:r1] @ tile.to(g.device)
        return out.mul_(1.0 / math.sqrt(self.n_out)).to(g.dtype)
