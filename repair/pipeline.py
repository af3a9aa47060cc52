"""The propose chain, written once: diagnose the suspects, let each repairer propose
for the kinds it mends, keep only what the table still needs, verify what is left.

Arrays and dataclasses in, proposals out. The service (`server/propose.py`) reads
the table's state before and writes the proposals after; the benchmark's baselines
(`bench/loop/baselines.py`) call it on arrays in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from mendb.repair.diagnose import Thresholds, diagnose
from mendb.repair.proposals import (
    Diagnosis,
    RepairContext,
    Repairer,
    RepairProposal,
    TableState,
)
from mendb.repair.verify import Verifier
from mendb.valuation.data import TrainingArrays


def propose(
    context: RepairContext,
    repairers: Sequence[Repairer],
    verifier: Verifier | None,
    *,
    raw: TrainingArrays,
    k: int = 10,
    thresholds: Thresholds | None = None,
    table: TableState | None = None,
) -> ProposeOutcome:
    """Proposals for the context's suspects, verified when a `verifier` is given.

    `raw`: the training arrays as read (before `prepare`), which the verifier is
    fitted on, and only when there is a proposal to verify. `k`: the neighbours
    diagnosis asks. `table`: the table's state, to leave out what it does not need
    (`TableState.screen`); without it every proposal is kept as made."""
    diagnoses = diagnose(context, thresholds, k=k)
    diagnosed = replace(context, diagnoses=diagnoses)
    made = [p for repairer in repairers for p in repairer.propose(diagnosed)]
    proposals = table.screen(made) if table is not None else made
    if verifier is not None and proposals:
        proposals = verifier.fit(raw).verify(proposals)
    return ProposeOutcome(len(context.suspects), diagnoses, len(made), proposals)


@dataclass(frozen=True)
class ProposeOutcome:
    """What each link of the chain left: the suspects looked at, their diagnoses,
    the repairs the repairers made, and the proposals kept (screened, verified);
    where no proposal is left, the first link that came up empty says why."""

    suspects: int
    diagnoses: tuple[Diagnosis, ...]
    made: int
    proposals: list[RepairProposal]
