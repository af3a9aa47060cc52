"""The one Monte Carlo loop every sampling method runs.

Samples are numbered k = 0, 1, 2, ...; sample k belongs to chain k mod n_chains
and draws its randomness from `SeedSequence(seed, spawn_key=(k,))`. Work goes out
in blocks of `block_size` samples of one chain, round-robin over chains, at most
`capacity` blocks in flight. Tallies are added in block order and the stopping
rule is checked at fixed block counts, so for a given seed, block size and number
of chains the values are the same whatever the executor or its number of workers
(except under `MaxTime`, which depends on the machine by nature).

R-hat (Gelman & Rubin 1992) is computed per row from the chains' estimates: with
chain means m_c, within-chain sample variances s_c^2 = n_c stderr_c^2 and n the
mean count, W = mean(s_c^2), B/n = var(m_c), R = sqrt(((n-1)/n W + B/n) / W).
The figure reported is the largest R over rows whose contributions vary within
chains (W > 0); it is 1 when no row varies.

The estimate also records, for each convergence criterion of the stopping rule
(standard error, rank stability, R-hat), whether it held at the last check, so a
run that stopped because its budget ran out is told apart from one that converged.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.base import ProgressCallback
from mendb.valuation.executors import Executor, LocalExecutor
from mendb.valuation.samplers import Record, Sampler, Tally
from mendb.valuation.stopping import StoppingRule, criteria_met

RECORD_LIMIT = 4000
"""At most this many (subset, utility) pairs are kept for the MTM diagnostic."""


@dataclass(frozen=True)
class Estimate:
    values: NDArray[np.float64]
    stderr: NDArray[np.float64]
    counts: NDArray[np.int64]
    samples: int
    evaluations: int
    rhat: float
    elapsed: float
    records: list[Record] = field(default_factory=list)
    criteria: dict[str, bool] = field(default_factory=dict)
    """Each convergence criterion of the stopping rule: did it hold at the end?"""

    def diagnostics(self, n_chains: int) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "utility_evaluations": self.evaluations,
            "n_chains": n_chains,
            "gelman_rubin_max": float(self.rhat) if np.isfinite(self.rhat) else None,
            "elapsed_s": round(self.elapsed, 3),
        }


class Snapshot:
    """The state of a run at a check; estimates are computed only when asked for."""

    def __init__(self, sampler: Sampler, chains: list[Tally], elapsed: float) -> None:
        self.sampler, self.chains, self.elapsed = sampler, chains, elapsed
        self.samples = sum(chain.samples for chain in chains)

    @cached_property
    def total(self) -> Tally:
        total = Tally.zeros(len(self.chains[0].count))
        for chain in self.chains:
            total.merge(chain)
        return total

    @cached_property
    def _estimate(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return self.sampler.estimate(self.total)

    @property
    def values(self) -> NDArray[np.float64]:
        return self._estimate[0]

    @property
    def stderr(self) -> NDArray[np.float64]:
        return self._estimate[1]

    @cached_property
    def rhat(self) -> float:
        return gelman_rubin(self.sampler, self.chains)


def gelman_rubin(sampler: Sampler, chains: list[Tally]) -> float:
    """Largest per-row R-hat across chains; nan with fewer than two chains."""
    if len(chains) < 2 or min(int(chain.count.min(initial=2)) for chain in chains) < 2:
        return float("nan")
    estimates = [sampler.estimate(chain) for chain in chains]
    means = np.array([m for m, _ in estimates])
    counts = np.array([chain.count for chain in chains], dtype=np.float64)
    within = np.mean([se**2 * c for (_, se), c in zip(estimates, counts, strict=True)], axis=0)
    between = means.var(axis=0, ddof=1)
    n = counts.mean(axis=0)
    pooled = (n - 1) / n * within + between
    varies = (within > 0) & np.isfinite(means).all(axis=0)
    if not varies.any():
        return 1.0
    return float(np.sqrt(pooled[varies] / within[varies]).max())


def _blocks(limit: int, n_chains: int, block_size: int) -> list[tuple[int, NDArray[np.int64]]]:
    """(chain, sample ids) of every block, round-robin over chains, in order."""
    blocks = []
    for start in range(0, -(-limit // n_chains), block_size):
        for chain in range(n_chains):
            ids = np.arange(start, start + block_size) * n_chains + chain
            ids = ids[ids < limit]
            if len(ids):
                blocks.append((chain, ids))
    return blocks


def run(
    payload: Any,
    sampler: Sampler,
    n: int,
    stopping: StoppingRule,
    *,
    max_samples: int,
    seed: int,
    executor: Executor | None = None,
    n_chains: int = 1,
    block_size: int = 8,
    progress: ProgressCallback | None = None,
) -> Estimate:
    """Run `sampler` on `payload` until `stopping` says so or `max_samples` are done."""
    size = sampler.size(n)
    limit = max_samples if size is None else min(max_samples, size)
    rule = copy.deepcopy(stopping)
    chains = [Tally.zeros(n) for _ in range(n_chains)]
    blocks = deque(_blocks(limit, n_chains, block_size))
    check_every = max(1, n // 20_000)
    started = time.perf_counter()
    merged = 0
    with (executor or LocalExecutor()).open(payload) as session:
        pending: deque[tuple[int, Any]] = deque()
        while blocks or pending:
            while blocks and len(pending) < session.capacity:
                chain, ids = blocks.popleft()
                pending.append((chain, session.submit(sampler.run, ids, seed)))
            chain, job = pending.popleft()
            tally = job.result()
            chains[chain].merge(_capped(tally, chains))
            merged += 1
            if merged % check_every and (blocks or pending):
                continue
            snapshot = Snapshot(sampler, chains, time.perf_counter() - started)
            stop = rule.check(snapshot)
            if progress is not None:
                progress(1.0 if stop else rule.completion(snapshot))
            if stop:
                break
    return _finish(sampler, chains, time.perf_counter() - started, criteria_met(rule))


def _capped(tally: Tally, chains: list[Tally]) -> Tally:
    room = RECORD_LIMIT - sum(len(chain.records) for chain in chains)
    tally.records = tally.records[: max(room, 0)]
    return tally


def _finish(
    sampler: Sampler, chains: list[Tally], elapsed: float, criteria: dict[str, bool]
) -> Estimate:
    snapshot = Snapshot(sampler, chains, elapsed)
    total = snapshot.total
    return Estimate(
        values=snapshot.values,
        stderr=snapshot.stderr,
        counts=total.count.copy(),
        samples=total.samples,
        evaluations=total.evaluations,
        rhat=snapshot.rhat,
        elapsed=elapsed,
        records=total.records,
        criteria=criteria,
    )
