"""A class-conditional label-noise model: how the source recorded each true class.

`transition[i, j]` is P(recorded j | true i), so one class can be under-reported as
another without the reverse (a share of class A recorded as B, none of B as A),
which a single symmetric noise rate cannot say. It is estimated by confident
learning (Northcutt, Jiang and Chuang, "Confident learning: estimating uncertainty
in dataset labels", JAIR 2021): count, per recorded class, the rows a classifier
that never saw them confidently places in each class, calibrate the counts to the
recorded class sizes, and read the joint of true and recorded labels off them;
then taken to the transition under which the recorded labels are likeliest
(`most_likely_transition`), since confident counting finds flips both ways
wherever classes overlap, whatever the noise.

Where a trusted table gives the clean class distribution (`reference_prior`), the
gap between it and the recorded distribution says how much net mass the noise
moved between classes, which confident learning alone underestimates wherever the
classes overlap (a row recorded in the wrong class, lying where both classes live,
is not confidently placed anywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mendb.repair.evidence import out_of_fold_probabilities
from mendb.valuation.data import TrainingArrays

_TINY = 1e-12
_ABSENT_THRESHOLD = 2.0  # above any probability: a class nobody recorded is never confident
_LOWEST_THRESHOLD = 1e-6


@dataclass(frozen=True)
class NoiseModel:
    """`transition` (K x K): P(recorded j | true i), rows summing to 1; `prior` (K,):
    the clean class distribution."""

    transition: NDArray[np.float64]
    prior: NDArray[np.float64]

    @property
    def joint(self) -> NDArray[np.float64]:
        """P(true i, recorded j)."""
        return self.prior[:, None] * self.transition

    @property
    def flip_share(self) -> float:
        """The share of rows whose recorded label is not their true one."""
        return float(1.0 - np.trace(self.joint))

    def posterior(
        self, probabilities: NDArray[np.float64], recorded: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """P(true = j | x, recorded = i) for each row, proportional to T[j, i] p_j(x),
        where p(x) are clean-class probabilities from a model that never saw the
        row. A row no class can explain (every term zero) keeps its recorded label."""
        probabilities = np.asarray(probabilities, np.float64)
        recorded = np.asarray(recorded, np.int64)
        weights = self.transition[:, recorded].T * probabilities
        total = weights.sum(axis=1, keepdims=True)
        keep = np.zeros_like(weights)
        keep[np.arange(len(recorded)), recorded] = 1.0
        return np.divide(weights, total, out=keep, where=total > _TINY)


def confident_thresholds(
    probabilities: NDArray[np.float64], recorded: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Per class, the mean probability of that class over the rows recorded in it
    (its expected self-confidence)."""
    k = probabilities.shape[1]
    thresholds = np.full(k, _ABSENT_THRESHOLD)
    for c in np.unique(recorded):
        thresholds[c] = probabilities[recorded == c, c].mean()
    return np.clip(thresholds, _LOWEST_THRESHOLD, None)


def confident_joint(
    probabilities: NDArray[np.float64], recorded: NDArray[np.int64]
) -> NDArray[np.float64]:
    """C[i][j]: rows recorded i that the classifier confidently places in j (at or
    above j's threshold; of several such classes, the likeliest). Rows confident in
    no class are not counted. Every diagonal entry is at least 1, so each class
    keeps one row believed right. Uncalibrated, as cleanlab's
    `compute_confident_joint(..., calibrate=False)`."""
    k = probabilities.shape[1]
    confident = probabilities >= confident_thresholds(probabilities, recorded) - 1e-6
    n_confident = confident.sum(axis=1)
    guess = np.where(n_confident > 1, probabilities.argmax(axis=1), confident.argmax(axis=1))
    counted = n_confident > 0
    counts = np.zeros((k, k))
    np.add.at(counts, (recorded[counted], guess[counted]), 1.0)
    np.fill_diagonal(counts, np.maximum(np.diag(counts), 1.0))
    return counts


def calibrated_joint(
    counts: NDArray[np.float64], recorded: NDArray[np.int64]
) -> NDArray[np.float64]:
    """The confident joint's rows scaled to the recorded class sizes, then the whole
    to a distribution: P(recorded i, true j). (cleanlab rounds the scaled counts to
    integers; a distribution needs no rounding.)"""
    sizes = np.bincount(recorded, minlength=counts.shape[0]).astype(np.float64)
    scaled = counts / np.clip(counts.sum(axis=1, keepdims=True), _TINY, None) * sizes[:, None]
    return scaled / max(float(scaled.sum()), _TINY)


def estimate_noise(
    probabilities: NDArray[np.float64],
    recorded: NDArray[np.int64],
    *,
    reference_prior: NDArray[np.float64] | None = None,
    reference_rows: int = 0,
) -> NoiseModel:
    """The noise model that explains the `recorded` labels of rows with clean-class
    `probabilities` (each from a classifier that never saw the row).

    The transition starts from confident learning's joint (`calibrated_joint`) and
    is then taken to the one under which the recorded labels are likeliest given
    the probabilities (`most_likely_transition`): confident counting takes a row
    that merely lies where both classes live, above the other class's threshold,
    for a flip, so where classes overlap it finds flips both ways whatever the
    noise; the likelihood weighs each row by how likely each class is there. The
    clean prior is then the mean posterior of the rows, whose recorded margin is
    the recorded distribution.

    With a trusted reference distribution (`reference_prior`, measured on
    `reference_rows` rows): the clean prior is the reference, shrunk toward the
    estimated prior per class by w = gap^2 / (gap^2 + se^2) (gap: their
    difference; se^2: the reference share's binomial sampling variance), so a gap
    within the reference's sampling noise moves little and a gap well beyond it
    wins. The transition then has to carry that prior onto the recorded
    distribution: the net mass moved into each class (its recorded minus clean
    share) is fixed. The estimated off-diagonal mass (its per-class flip rates on
    the new prior) is moved the least, in squares, that meets those net flows with
    no flow negative (`nearest_flows`). This takes from the flows against the net
    direction as much as it adds to those along it, so when one class was
    under-reported as another the reverse flow goes to zero and the model comes
    out one-way, while symmetric noise, found both ways, keeps both. Which flows
    carry the net mass is not identified by margins alone; the least change from
    the estimate is the choice that invents no pattern the classifier did not
    see.
    """
    probabilities = np.asarray(probabilities, np.float64)
    recorded = np.asarray(recorded, np.int64)
    k = probabilities.shape[1]
    joint = calibrated_joint(confident_joint(probabilities, recorded), recorded).T
    transition = most_likely_transition(probabilities, recorded, _rows_normalised(joint))
    estimated_prior = (
        NoiseModel(transition, np.full(k, 1.0 / k)).posterior(probabilities, recorded).mean(axis=0)
    )
    if reference_prior is None or reference_rows <= 0:
        return NoiseModel(transition, estimated_prior)
    reference = np.asarray(reference_prior, np.float64)
    reference = reference / reference.sum()
    prior = _shrunk_prior(reference, reference_rows, estimated_prior)
    recorded_share = np.bincount(recorded, minlength=k) / max(len(recorded), 1)
    flows = prior[:, None] * transition
    np.fill_diagonal(flows, 0.0)
    flows = nearest_flows(flows, recorded_share - prior)
    stay = np.clip(prior - flows.sum(axis=1), 0.0, None)
    return NoiseModel(_rows_normalised(flows + np.diag(stay)), prior)


def most_likely_transition(
    probabilities: NDArray[np.float64],
    recorded: NDArray[np.int64],
    start: NDArray[np.float64],
    iterations: int = 1000,
    tol: float = 1e-9,
) -> NDArray[np.float64]:
    """The transition under which the recorded labels are likeliest, each row's
    recorded label drawn as sum_j p_j(x) T[j, i] (maximum likelihood by EM from
    `start`: a row's weight on true class j is its posterior, and T[j, i] the share
    of class j's weight recorded i). An entry `start` has at zero stays zero."""
    k = probabilities.shape[1]
    transition = start.copy()
    for _ in range(iterations):
        weights = NoiseModel(transition, np.full(k, 1.0 / k)).posterior(probabilities, recorded)
        moved = np.zeros((k, k))
        np.add.at(moved.T, recorded, weights)
        updated = _rows_normalised(moved)
        if np.abs(updated - transition).max() < tol:
            return updated
        transition = updated
    return transition


def _shrunk_prior(
    reference: NDArray[np.float64], rows: int, estimate: NDArray[np.float64]
) -> NDArray[np.float64]:
    gap = reference - estimate
    variance = reference * (1.0 - reference) / rows
    spread = gap**2 + variance
    weight = np.divide(gap**2, spread, out=np.ones_like(gap), where=spread > 0)
    prior = np.clip(estimate + weight * gap, 0.0, None)
    return prior / prior.sum()


def nearest_flows(
    start: NDArray[np.float64], net_inflow: NDArray[np.float64], iterations: int = 20000
) -> NDArray[np.float64]:
    """The non-negative off-diagonal flows F (F[i, j]: mass moved from class i to j)
    nearest `start` in squares with sum_i F[i, j] - sum_i F[j, i] = net_inflow[j]
    (net_inflow sums to 0), by Dykstra's alternating projections onto the flows that
    meet the net inflows (an affine set: F[i, j] + l_j - l_i) and the non-negative
    ones."""
    k = len(net_inflow)
    off = ~np.eye(k, dtype=bool)
    target = net_inflow - net_inflow.mean()

    def meet_net(flows: NDArray[np.float64]) -> NDArray[np.float64]:
        shortfall = target - (flows.sum(axis=0) - flows.sum(axis=1))
        potential = shortfall / (2.0 * k)
        return np.where(off, flows + potential[None, :] - potential[:, None], 0.0)

    flows = start.copy()
    affine_step, cone_step = np.zeros_like(flows), np.zeros_like(flows)
    for _ in range(iterations):
        met = meet_net(flows + affine_step)
        affine_step = flows + affine_step - met
        previous, flows = flows, np.clip(met + cone_step, 0.0, None)
        cone_step = met + cone_step - flows
        if np.abs(flows - previous).max() < 1e-13:
            break
    return flows


def _rows_normalised(joint: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each row over its sum; a row with no mass (a class with no rows) records
    itself."""
    totals = joint.sum(axis=1, keepdims=True)
    identity = np.eye(joint.shape[0])
    return np.divide(joint, totals, out=identity.copy(), where=totals > _TINY)


def noise_model_for(
    data: TrainingArrays, recorded: NDArray[np.int64], trusted_reference: bool, seed: int = 0
) -> NoiseModel:
    """The noise model of the training rows' `recorded` labels, from out-of-fold
    class probabilities of a classifier on the training and validation rows; when
    the validation rows are trusted (`trusted_reference`), their class distribution
    is the reference. The classifier learns from the recorded labels, so it has
    learnt part of the noise and the likeliest transition understates it; the
    reference's margins put back the net part."""
    k = data.n_classes
    recorded = np.asarray(recorded, np.int64)
    probabilities = out_of_fold_probabilities(
        data.train.x, recorded, k, reference=data.valid, seed=seed
    )
    reference = None
    if trusted_reference and len(data.valid):
        reference = np.bincount(data.valid.y, minlength=k) / len(data.valid)
    return estimate_noise(
        probabilities, recorded, reference_prior=reference, reference_rows=len(data.valid)
    )
