"""One round of the loop, on the loop's connection: begin it (measure, value,
explain, propose, and accept under the auto policy), then finish it (guard the
label distribution, apply, retrain, and keep or roll back). The decisions are the
pure functions of `server.policy`; each write that must be whole is one
transaction. A numeric target's round is judged by its errors and guarded by the
target's mean (`server.policy_regression`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from mendb.db import datasets, rounds, runs
from mendb.db.repairs import Repair, RepairStatus, find, review
from mendb.db.rounds import Round, RoundDecision, RoundStatus
from mendb.repair.explain import explain_low_value
from mendb.server import applying, operations
from mendb.server.loop_config import LoopConfig, default_budget
from mendb.server.policy import (
    Decision,
    DecisionCode,
    halt,
    judge_round,
    label_shift_guard,
    untrusted_values,
)
from mendb.server.policy_regression import judge_error_round, target_shift_guard
from mendb.server.propose import Proposed
from mendb.server.round_figures import (
    Moves,
    counts_after,
    direction_text,
    figures_text,
    measured,
    relabels,
    round_verdict,
    targets_after,
    with_accepted,
)
from mendb.server.round_state import Reference, RoundState, measure
from mendb.server.settings import Settings
from mendb.valuation.choice import MethodChoice, choose_method
from mendb.valuation.judge import Measurement
from mendb.valuation.judge_regression import ErrorMeasurement
from mendb.valuation.methods import METHODS
from mendb.valuation.task import Task

Log = Callable[[str], None]


@dataclass(frozen=True)
class LoopRun:
    """One loop as its rounds see it: which, on what, by which settings."""

    loop_id: int
    name: str
    config: LoopConfig
    reference: Reference
    settings: Settings
    log: Log

    def measure(self, conn: psycopg.Connection[Any]) -> RoundState:
        """The model retrained on the training rows as they stand (the user's model,
        when the loop has one)."""
        config = self.config
        return measure(conn, self.name, config.seed, self.reference, config.model_spec())


def _value_overrides(config: LoopConfig, method: str) -> dict[str, Any]:
    """A round's own settings for one valuation method: the user's model goes to every
    method that fits one, so rows are valued for the model the loop retrains."""
    if method == "knn_shapley":
        return {"k": config.k}
    overrides: dict[str, Any] = {"seed": config.seed}
    fits_a_model = method in METHODS and "model_params" in METHODS[method].param_names()
    if config.model is not None and fits_a_model:
        overrides |= {"model": config.model, "model_params": config.model_params or {}}
    return overrides


def begin_round(conn: psycopg.Connection[Any], loop: LoopRun, number: int) -> Round:
    """Measure, value, explain, propose (and accept under the auto policy). The
    round comes back awaiting review, ready to finish, or stopped: then its code
    and reason say why the loop ends here (`stop_decision`)."""
    config = loop.config
    before = loop.measure(conn)
    if config.method == "auto":
        choice = choose_method(before.n_train, set(before.kinds), before.label_counts, before.task)
    else:
        choice = MethodChoice(config.method, {}, "chosen by the user")
    with conn.transaction():
        round_id = rounds.start(conn, loop.loop_id, loop.name, number, choice.method)
        rounds.measured(conn, round_id, loop.reference.validation, measured(before))
    own = "model" in _value_overrides(config, choice.method)
    loop.log(
        f"round {number}: valuing with {choice.method} ({choice.reason})"
        f"{f', fitting {config.model}' if own else ''}; {figures_text(before.valid)}"
    )
    outcome, parts = operations.value_choice(
        conn,
        loop.settings,
        loop.name,
        choice,
        lambda method: _value_overrides(config, method),
    )
    for rule in explain(conn, loop.name, outcome.run_id):
        loop.log(f"  {rule['sentence']}")
    run = runs.get(conn, outcome.run_id)
    negative = int(run["metrics"].get("negative_rows", 0))
    rounds.valued(conn, round_id, outcome.run_id, outcome.rows, negative)
    verdicts = (untrusted_values(r.diagnostics) for r in [*parts, outcome])
    untrusted = next((v for v in verdicts if v is not None), None)
    if untrusted is not None:
        return _stopped(conn, loop, round_id, untrusted)
    budget = config.budget or default_budget(before.n_train)
    proposed = operations.propose(
        conn, loop.settings, loop.name, max_rows=budget, method=choice.method, k=config.k,
        model=config.model, model_params=config.model_params,
    )
    ids = proposed.ids
    with conn.transaction():
        accepted = _accept(conn, loop, ids)
        review_now = bool(ids) and config.policy == "review"
        status = RoundStatus.AWAITING_REVIEW if review_now else RoundStatus.RUNNING
        rounds.proposed(conn, round_id, ids, len(accepted), status)
    loop.log(f"  {len(ids)} proposals, {len(accepted)} accepted")
    stop = _nothing_to_do(config, proposed, accepted)
    if stop is not None:
        return _stopped(conn, loop, round_id, awaiting_review(conn, loop.name, stop))
    return _round(conn, loop, round_id)


def awaiting_review(conn: psycopg.Connection[Any], name: str, stop: Decision) -> Decision:
    """A loop that finds nothing new to propose says so when earlier proposals still
    wait for a reviewer: rows with an open proposal are not proposed for again."""
    if stop.code is not DecisionCode.NOTHING_TO_PROPOSE:
        return stop
    waiting = find(conn, name, status=[RepairStatus.PROPOSED, RepairStatus.ACCEPTED])
    if not waiting:
        return stop
    return replace(stop, reason=(
        f"{stop.reason}; {len(waiting)} earlier proposals still wait for review"
        f" (mendb review {name}), and their rows are not proposed for again"
    ))


def _nothing_to_do(config: LoopConfig, proposed: Proposed, accepted: list[int]) -> Decision | None:
    if not proposed.ids:
        return halt(DecisionCode.NOTHING_TO_PROPOSE, proposed.reason)
    if config.policy == "auto" and not accepted:
        reason = f"no proposal was {config.acceptance()}"
        return halt(DecisionCode.NOTHING_ACCEPTED, reason)
    return None


def stop_decision(current: Round) -> Decision | None:
    """The decision a round that ended the loop before its review records."""
    if current.decision is not RoundDecision.STOPPED:
        return None
    return halt(DecisionCode(current.code), current.reason or "")


def _accept(conn: psycopg.Connection[Any], loop: LoopRun, ids: list[int]) -> list[int]:
    """Under the auto policy, accept the proposals the settings accept and reject the
    rest: an open proposal keeps its row from being proposed again, and the next
    round sees it with cleaner neighbours."""
    if not ids or loop.config.policy != "auto":
        return []
    actor = loop.settings.actor
    chosen = [
        r.id
        for r in find(conn, loop.name, ids=ids)
        if loop.config.accepts(r.confidence, r.verification)
    ]
    accepted = (
        review(conn, RepairStatus.ACCEPTED, dataset=loop.name, ids=chosen, actor=actor)
        if chosen
        else []
    )
    passed_over = sorted(set(ids) - set(accepted))
    if passed_over:
        review(conn, RepairStatus.REJECTED, dataset=loop.name, ids=passed_over, actor=actor)
    return accepted


def finish_round(conn: psycopg.Connection[Any], loop: LoopRun, current: Round) -> Decision:
    """Guard the label distribution, apply the accepted proposals, retrain, and keep
    or roll back by the validation judges."""
    name, reference, actor = loop.name, loop.reference, loop.settings.actor
    label = datasets.get(conn, name).label
    # Everything accepted for the dataset is applied, as `mendb apply` does: a
    # reviewer may have accepted repairs of their own beside the round's.
    accepted = find(conn, name, status=[RepairStatus.ACCEPTED])
    # Measured again rather than carried from the round's start: a round paused for
    # review resumes in another process, and one path serves both.
    before = loop.measure(conn)
    reviewed = len(accepted) if current.status is RoundStatus.AWAITING_REVIEW else None
    moved = relabels(accepted, label)
    refusal = _guard(loop, before, [r for r in accepted if r.kind == "label"], moved)
    if refusal is not None:
        verdict = round_verdict(RoundDecision.REFUSED, refusal, moved, before, None, reference)
        with conn.transaction():
            ids = [r.id for r in accepted]
            review(conn, RepairStatus.REJECTED, dataset=name, ids=ids, actor=actor)
            rounds.refused(conn, current.id, with_accepted(verdict, reviewed))
        loop.log(f"  refused: {refusal.reason}")
        return refusal
    report = applying.apply_accepted(conn, name, actor) if accepted else None
    applied = set(report.done if report else [])
    moved = relabels([r for r in accepted if r.id in applied], label)
    after = loop.measure(conn)
    decision = _judge(loop.config, before, after)
    loop.log(f"  applied {len(applied)} ({direction_text(moved)}); {decision.reason}")
    kept = RoundDecision.KEPT if decision.keep else RoundDecision.ROLLED_BACK
    verdict = round_verdict(kept, decision, moved, before, after, reference)
    with conn.transaction():
        if not decision.keep and applied:
            applying.revert_applied(conn, name, sorted(applied), actor)
        rounds.judged(
            conn, current.id, with_accepted(verdict, reviewed), len(applied), measured(after)
        )
    return decision


def _guard(loop: LoopRun, before: RoundState, relabelled: list[Repair], moved: Moves
           ) -> Decision | None:  # fmt: skip
    """The guard on what the relabels do to the training labels: their class shares,
    or a numeric target's mean, held to the reference."""
    reference, z = loop.reference, loop.config.margin
    if before.task is not Task.REGRESSION:
        return label_shift_guard(
            before.label_counts, counts_after(before, moved), reference.distribution,
            reference.rows, z=z, classes=before.classes,
        )  # fmt: skip
    if before.targets is None or not len(before.targets) or reference.target_mean is None:
        return None
    after = targets_after(before, relabelled)
    return target_shift_guard(
        before.targets, after, reference.target_mean, reference.target_sd or 0.0,
        reference.rows, z=z,
    )  # fmt: skip


def _judge(config: LoopConfig, before: RoundState, after: RoundState) -> Decision:
    """Classification's judges (log-loss, balanced accuracy) or regression's (MSE,
    MAE), on the validation rows only."""
    z, min_gain = config.margin, config.min_gain
    if isinstance(before.valid, ErrorMeasurement) and isinstance(after.valid, ErrorMeasurement):
        return judge_error_round(before.valid, after.valid, z=z, min_gain=min_gain)
    assert isinstance(before.valid, Measurement) and isinstance(after.valid, Measurement)
    return judge_round(before.valid, after.valid, z=z, min_gain=min_gain)


def _stopped(
    conn: psycopg.Connection[Any], loop: LoopRun, round_id: int, decision: Decision
) -> Round:
    rounds.stopped(conn, round_id, str(decision.code), decision.reason)
    return _round(conn, loop, round_id)


def _round(conn: psycopg.Connection[Any], loop: LoopRun, round_id: int) -> Round:
    return next(r for r in rounds.rounds_of(conn, loop.loop_id) if r.id == round_id)


def explain(conn: psycopg.Connection[Any], name: str, run_id: int | None) -> list[dict[str, Any]]:
    """Rules for the rows a valuation run values lowest, stored on the run."""
    _, data, read = operations.load(conn, name)
    if run_id is None:
        run_id, values = operations.latest_values(conn, name, data)
    else:
        values = operations.values_of_run(conn, runs.get(conn, run_id), data)
    rules = [r.to_dict() for r in explain_low_value(read.arrays, values.values, values.harmful())]
    runs.add_diagnostics(conn, run_id, {"explanation": rules})
    return rules
