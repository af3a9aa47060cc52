"""The self-improving loop: value, select, propose, review, apply, retrain — round
after round, while the model keeps improving on rows it never learns from.

Every decision reads the validation rows only (`server.policy`): a round is kept
when the retrained model's validation log-loss falls beyond its paired margin and
its balanced accuracy does not fall beyond its own, else it is reverted in one
transaction and the loop stops, naming the judge that refused it. A round whose
relabels would move the training labels' class distribution away from the
reference (the validation rows' class shares) is refused before
it is applied. Without a trusted validation table the validation rows carry the
table's noise, and their losses are corrected for it (`server.round_state`). The
sealed test rows are measured for the record only (the `test_*` columns of
`mendb.rounds`) and reported once the loop has ended.

A numeric target's rounds are judged on the validation RMSE's square (the MSE) and
the MAE by the same paired margins, and guarded by the training target's mean
(`server.policy_regression`). With `model` (and `model_params`) the loop retrains
and judges with the user's own estimator, checked before the loop starts and
recorded in the loop run's params.

With the auto policy a round accepts the proposals at least `min_confidence` sure,
and those at least `min_verified_confidence` sure whose counterfactual retrain says
they improve the validation utility; it rejects the rest (a later round may propose
for those rows again), and a round that accepts nothing ends the loop. With the
review policy the loop pauses after proposing, and `run_loop` resumes it once every
proposal of the round has been accepted or rejected (CLI, HTTP, or a plain UPDATE
in psql).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from mendb.db import datasets, rounds, runs
from mendb.db.errors import MendbError
from mendb.db.repairs import RepairStatus, find
from mendb.db.rounds import Round, RoundDecision, RoundStatus
from mendb.db.runs import Run, RunStatus
from mendb.server import operations
from mendb.server.context import Mendb
from mendb.server.failures import failure_recorded
from mendb.server.loop_config import POLICIES, LoopConfig, loop_config
from mendb.server.policy import Decision, DecisionCode, halt
from mendb.server.round_state import Reference, reference_of
from mendb.server.round_steps import Log, LoopRun, begin_round, finish_round, stop_decision
from mendb.server.round_steps import explain as explain_on
from mendb.server.settings import Settings
from mendb.valuation.choice import choose_method
from mendb.valuation.methods import METHODS

__all__ = [
    "POLICIES", "LoopConfig", "LoopOutcome", "choose_method", "loop_config", "resume", "run_loop",
    "start",
]  # fmt: skip

TRUSTED_HINT = (
    "note: no trusted validation table is registered, so the rounds are judged on rows"
    " of the same noisy table, corrected for the estimated noise; a small table of"
    " checked labels (`mendb register --validation-table`) makes every decision stronger"
)

TRUSTED_HINT_TARGET = (
    "note: no trusted validation table is registered, so the rounds are judged on rows"
    " of the same table, with their targets as recorded (a slipped value there weighs on"
    " the MSE; the MAE judge is little swayed by it); a small table of checked targets"
    " (`mendb register --validation-table`) makes every decision stronger"
)


@dataclass(frozen=True)
class LoopOutcome:
    loop_id: int
    status: RunStatus
    reason: str
    rounds: list[dict[str, Any]]  # the rows of `mendb.rounds`, as the CLI and HTTP show them


def run_loop(
    app: Mendb, name: str, config: LoopConfig, log: Log = print, loop_id: int | None = None
) -> LoopOutcome:
    """Start a loop on the dataset, or resume the one paused for review, on one
    connection of the app's pool (the command line's path)."""
    with app.connection() as conn:
        datasets.get(conn, name)
        paused = rounds.paused(conn, name)
        if paused is not None:
            log(f"resuming loop {paused.id} (paused for review)")
            return resume(conn, app.settings, name, paused, log)
        return start(conn, app.settings, name, config, log, loop_id)


def start(
    conn: psycopg.Connection[Any],
    settings: Settings,
    name: str,
    config: LoopConfig,
    log: Log,
    loop_id: int | None = None,
) -> LoopOutcome:
    """Start a loop. `loop_id` names a run of kind 'loop' that already exists (a job
    claimed from the queue, whose worker records its failure); otherwise one is
    created, and its failure recorded here."""
    config.check()
    chosen = METHODS.get(config.method)
    if chosen is not None and chosen.harmful_below is None:
        raise MendbError(
            f"method {config.method!r} ranks rows but has no value below which a row"
            " hurts, so the loop cannot pick rows with it; use auto, knn_shapley, data_oob,"
            " tmc_shapley or another method with one"
        )
    dataset, data, _ = operations.load(conn, name)
    reference = reference_of(conn, dataset, data, config.seed)
    if loop_id is not None:
        return _carry(conn, settings, name, config, reference, loop_id, log)
    loop_id = runs.create(conn, name, "loop", config.method, asdict(config))
    with failure_recorded(conn, loop_id):
        return _carry(conn, settings, name, config, reference, loop_id, log)


def _carry(
    conn: psycopg.Connection[Any],
    settings: Settings,
    name: str,
    config: LoopConfig,
    reference: Reference,
    loop_id: int,
    log: Log,
) -> LoopOutcome:
    with conn.transaction():
        runs.set_params(conn, loop_id, asdict(config))
        runs.add_diagnostics(conn, loop_id, {"reference": reference.to_json()})
    if reference.validation == "noisy":
        log(TRUSTED_HINT_TARGET)
    elif reference.validation != "trusted":
        log(TRUSTED_HINT)
    return _rounds(conn, LoopRun(loop_id, name, config, reference, settings, log), start=1)


def resume(
    conn: psycopg.Connection[Any], settings: Settings, name: str, paused: Run, log: Log
) -> LoopOutcome:
    """Finish the round a paused loop waits on, once every proposal of it has been
    reviewed, and go on; its failure is recorded on the loop."""
    config = LoopConfig(**paused.params)
    reference = Reference.from_json(paused.diagnostics["reference"])
    loop = LoopRun(paused.id, name, config, reference, settings, log)
    with failure_recorded(conn, paused.id):
        current = rounds.rounds_of(conn, paused.id)[-1]
        waiting = find(conn, name, ids=list(current.proposal_ids), status=[RepairStatus.PROPOSED])
        if waiting:
            return _outcome(
                conn,
                paused.id,
                RunStatus.PAUSED,
                f"{len(waiting)} proposals of round {current.round} still await review",
            )
        rounds.set_loop_status(conn, paused.id, RunStatus.RUNNING)
        decision = finish_round(conn, loop, current)
        if decision.stop:
            return _stop(conn, loop, decision)
        return _rounds(conn, loop, current.round + 1)


def _rounds(conn: psycopg.Connection[Any], loop: LoopRun, start: int) -> LoopOutcome:
    for number in range(start, loop.config.max_rounds + 1):
        current = begin_round(conn, loop, number)
        decision = stop_decision(current)
        if decision is None and current.status is RoundStatus.AWAITING_REVIEW:
            rounds.set_loop_status(conn, loop.loop_id, RunStatus.PAUSED)
            return _outcome(
                conn,
                loop.loop_id,
                RunStatus.PAUSED,
                f"round {number}: proposals await review;"
                f" accept or reject them, then run `mendb loop {loop.name}` again",
            )
        if decision is None:
            decision = finish_round(conn, loop, current)
        if decision.stop:
            return _stop(conn, loop, decision)
    reached = halt(DecisionCode.MAX_ROUNDS, f"{loop.config.max_rounds} rounds reached")
    return _stop(conn, loop, reached)


def sealed_test(done: list[Round]) -> dict[str, float]:
    """The sealed test figures before the first round and after the last kept one."""
    first = next(
        (r for r in done if r.test_before is not None or r.test_rmse_before is not None), None
    )
    if first is None:
        return {}
    kept = [r for r in done if r.decision is RoundDecision.KEPT]
    # Without a kept round the data are as they were: the figures after are those before.
    last, end = (kept[-1], "after") if kept else (first, "before")
    test: dict[str, float] = {}
    for name in ("test", "test_balanced", "test_log_loss", "test_rmse", "test_mae"):
        before = getattr(first, f"{name}_before")
        if before is not None:  # a classifier's figures or a regressor's
            test[f"{name}_before"] = before
            test[f"{name}_after"] = getattr(last, f"{name}_{end}")
    return test


def _stop(conn: psycopg.Connection[Any], loop: LoopRun, decision: Decision) -> LoopOutcome:
    """End the loop; only now are the sealed test figures reported."""
    test = sealed_test(rounds.rounds_of(conn, loop.loop_id))
    runs.finish(
        conn,
        loop.loop_id,
        metrics={"reason": decision.reason, "code": str(decision.code), "sealed_test": test},
    )
    if "test_rmse_before" in test:
        loop.log(
            "sealed test (reported only, never judged on): RMSE"
            f" {test['test_rmse_before']:.4g} -> {test['test_rmse_after']:.4g},"
            f" MAE {test['test_mae_before']:.4g} -> {test['test_mae_after']:.4g}"
        )
    elif test:
        loop.log(
            "sealed test (reported only, never judged on): balanced accuracy"
            f" {test['test_balanced_before']:.4f} -> {test['test_balanced_after']:.4f},"
            f" log-loss {test['test_log_loss_before']:.4f} -> {test['test_log_loss_after']:.4f},"
            f" accuracy {test['test_before']:.4f} -> {test['test_after']:.4f}"
        )
    return _outcome(conn, loop.loop_id, RunStatus.DONE, decision.reason)


def _outcome(
    conn: psycopg.Connection[Any], loop_id: int, status: RunStatus, reason: str
) -> LoopOutcome:
    return LoopOutcome(loop_id, status, reason, rounds.of_loop(conn, loop_id))


def explain(app: Mendb, name: str, run_id: int | None = None) -> list[dict[str, Any]]:
    """Rules for the rows a valuation run values lowest, stored on the run."""
    with app.connection() as conn:
        return explain_on(conn, name, run_id)
