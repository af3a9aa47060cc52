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

With the auto policy a round accepts the proposals at least `min_confidence` sure,
and those at least `min_verified_confidence` sure whose counterfactual retrain says
they improve the validation utility; it rejects the rest (a later round may propose
for those rows again), and a round that accepts nothing ends the loop. With the
review policy the loop pauses after proposing, and `run_loop` resumes it once every
proposal of the round has been accepted or rejected (CLI, HTTP, or a plain UPDATE
in psql).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mendb.db import datasets, rounds, runs
from mendb.db.errors import MendbError
from mendb.db.repairs import list_repairs, review
from mendb.repair.explain import explain_low_value
from mendb.server import applying, operations
from mendb.server.context import Mendb
from mendb.server.loop_config import POLICIES, LoopConfig, default_budget, loop_config
from mendb.server.policy import Decision, DecisionCode, halt, judge_round, label_shift_guard
from mendb.server.round_state import Reference, RoundState, measure, reference_of
from mendb.valuation.choice import MethodChoice, choose_method
from mendb.valuation.methods import METHODS

__all__ = ["POLICIES", "LoopConfig", "LoopOutcome", "choose_method", "loop_config", "run_loop"]

Log = Callable[[str], None]
TRUSTED_HINT = (
    "note: no trusted validation table is registered, so the rounds are judged on rows"
    " of the same noisy table, corrected for the estimated noise; a small table of"
    " checked labels (`mendb register --validation-table`) makes every decision stronger"
)


@dataclass(frozen=True)
class LoopOutcome:
    loop_id: int
    status: str
    reason: str
    rounds: list[dict[str, Any]]


def run_loop(
    app: Mendb, name: str, config: LoopConfig, log: Log = print, loop_id: int | None = None
) -> LoopOutcome:
    """Start a loop on the dataset, or resume the one paused for review.

    `loop_id` names a run of kind 'loop' that already exists (a job claimed from
    the queue) to carry the new loop; otherwise one is created."""
    with app.connection() as conn:
        datasets.get(conn, name)
        paused = rounds.paused_loop(conn, name)
    if paused is not None:
        log(f"resuming loop {paused['id']} (paused for review)")
        return _resume(app, name, paused, log)
    config.check()
    chosen = METHODS.get(config.method)
    if chosen is not None and chosen.harmful_below is None:
        raise MendbError(
            f"method {config.method!r} ranks rows but has no value below which a row"
            " hurts, so the loop cannot pick rows with it; use auto, knn_shapley, data_oob,"
            " tmc_shapley or another method with one"
        )
    with app.connection() as conn:
        dataset, data, _ = operations.load(conn, name)
        reference = reference_of(conn, dataset, data, config.seed)
        if loop_id is None:
            loop_id = runs.create(conn, name, "loop", config.method, asdict(config))
        else:
            runs.set_params(conn, loop_id, asdict(config))
        runs.add_diagnostics(conn, loop_id, {"reference": reference.to_json()})
    if reference.validation != "trusted":
        log(TRUSTED_HINT)
    return _rounds(app, name, loop_id, config, reference, start=1, log=log)


def _resume(app: Mendb, name: str, loop: dict[str, Any], log: Log) -> LoopOutcome:
    config = LoopConfig(**loop["params"])
    reference = Reference.from_json(loop["diagnostics"]["reference"])
    with app.connection() as conn:
        current = rounds.of_loop(conn, loop["id"])[-1]
        waiting = list_repairs(conn, dataset=name, ids=current["proposal_ids"], status=["proposed"])
        if waiting:
            return _outcome(
                app,
                loop["id"],
                "paused",
                f"{len(waiting)} proposals of round {current['round']} still await review",
            )
        rounds.set_loop_status(conn, loop["id"], "running")
    decision = _finish_round(app, name, current, config, reference, log)
    if decision.stop:
        return _stop(app, loop["id"], decision, log)
    return _rounds(app, name, loop["id"], config, reference, current["round"] + 1, log)


def _rounds(
    app: Mendb,
    name: str,
    loop_id: int,
    config: LoopConfig,
    reference: Reference,
    start: int,
    log: Log,
) -> LoopOutcome:
    try:
        for number in range(start, config.max_rounds + 1):
            current, stop = _begin_round(app, name, loop_id, number, config, reference, log)
            if stop is None and current["status"] == "awaiting_review":
                with app.connection() as conn:
                    rounds.set_loop_status(conn, loop_id, "paused")
                return _outcome(
                    app,
                    loop_id,
                    "paused",
                    f"round {number}: proposals await review;"
                    f" accept or reject them, then run `mendb loop {name}` again",
                )
            if stop is None:
                stop = _finish_round(app, name, current, config, reference, log)
            if stop.stop:
                return _stop(app, loop_id, stop, log)
        return _stop(
            app, loop_id, halt(DecisionCode.MAX_ROUNDS, f"{config.max_rounds} rounds reached"), log
        )
    except BaseException as error:
        with app.connection() as conn:
            runs.fail(conn, loop_id, f"{type(error).__name__}: {error}")
        raise


def _measure(app: Mendb, name: str, config: LoopConfig, reference: Reference) -> RoundState:
    with app.connection() as conn:
        return measure(conn, name, config.seed, reference)


def _begin_round(
    app: Mendb,
    name: str,
    loop_id: int,
    number: int,
    config: LoopConfig,
    reference: Reference,
    log: Log,
) -> tuple[dict[str, Any], Decision | None]:
    """Measure, value, explain, propose (and accept under the auto policy). Returns
    the round and, if it ends the loop here, the decision."""
    before = _measure(app, name, config, reference)
    if config.method == "auto":
        choice = choose_method(before.n_train, set(before.kinds), before.label_counts)
    else:
        choice = MethodChoice(config.method, {}, "chosen by the user")
    method = choice.method
    with app.connection() as conn:
        round_id = rounds.start(conn, loop_id, name, number, method)
        rounds.update(conn, round_id, validation=reference.validation, **_before_columns(before))
    valid = before.valid.scores()
    log(
        f"round {number}: valuing with {method} ({choice.reason}); validation log-loss"
        f" {valid.log_loss:.4f}, balanced accuracy {valid.balanced_accuracy:.4f}"
    )
    outcome, untrusted = _value(app, name, choice, config)
    for rule in explain(app, name, outcome.run_id):
        log(f"  {rule['sentence']}")
    with app.connection() as conn:
        run = runs.get(conn, outcome.run_id)
        negative = int(run["metrics"].get("negative_rows", 0))
        threshold = operations.harm_threshold(run)
        rounds.update(
            conn,
            round_id,
            value_run_id=outcome.run_id,
            rows_valued=outcome.rows,
            negative_rows=negative,
        )
    if untrusted is not None:
        return _stopped(app, round_id, untrusted)
    budget = config.budget or default_budget(before.n_train)
    ids = operations.propose_repairs(app, name, max_rows=budget, method=method, k=config.k)
    accepted = _accept(app, name, ids, config)
    with app.connection() as conn:
        status = "awaiting_review" if ids and config.policy == "review" else "running"
        rounds.update(
            conn,
            round_id,
            proposal_ids=ids,
            proposals=len(ids),
            accepted=len(accepted),
            status=status,
        )
        current = rounds.of_loop(conn, loop_id)[-1]
    log(f"  {len(ids)} proposals, {len(accepted)} accepted")
    if not ids and negative == 0:
        # Rows with a broken cell or a contradicted label are looked at whatever
        # their value (server.propose): no harmful row alone is no reason to stop.
        reason = (
            f"no row is valued below {threshold:g} (harmful), and none has a broken cell"
            " or a contradicted label to repair"
        )
        return _stopped(app, round_id, halt(DecisionCode.NOTHING_TO_PROPOSE, reason))
    if not ids:
        reason = "no repair to propose for the low-valued rows"
        return _stopped(app, round_id, halt(DecisionCode.NOTHING_TO_PROPOSE, reason))
    if config.policy == "auto" and not accepted:
        reason = f"no proposal was {config.acceptance()}"
        return _stopped(app, round_id, halt(DecisionCode.NOTHING_ACCEPTED, reason))
    return current, None


def _value(
    app: Mendb, name: str, choice: MethodChoice, config: LoopConfig
) -> tuple[operations.ValueOutcome, Decision | None]:
    """Run the chosen valuation; returns the run the round proposes from and, if
    it or a part of its consensus cannot be trusted, the decision that says so."""
    outcome, parts = operations.value_choice(
        app,
        name,
        choice,
        lambda method: {"k": config.k} if method == "knn_shapley" else {"seed": config.seed},
    )
    verdicts = (_untrusted_values(run.diagnostics) for run in [*parts, outcome])
    return outcome, next((v for v in verdicts if v is not None), None)


def _untrusted_values(diagnostics: dict[str, Any]) -> Decision | None:
    """A reason not to act on a valuation: the MTM diagnostic's warning, or a Monte
    Carlo run whose own convergence check failed."""
    mtm_warning = (diagnostics.get("mtm") or {}).get("warning")
    if mtm_warning:
        reason = f"values cannot be trusted: {mtm_warning}"
        return halt(DecisionCode.VALUES_UNTRUSTED, reason)
    convergence = diagnostics.get("convergence") or {}
    if convergence.get("converged") is False:
        warning = convergence.get("warning") or "its convergence check failed"
        reason = f"the values did not converge: {warning}"
        return halt(DecisionCode.VALUES_UNTRUSTED, reason)
    return None


def _accept(app: Mendb, name: str, ids: list[int], config: LoopConfig) -> list[int]:
    """Under the auto policy, accept the proposals the settings accept and reject the
    rest: an open proposal keeps its row from being proposed again, and the next
    round sees it with cleaner neighbours."""
    if not ids or config.policy != "auto":
        return []
    actor = app.settings.actor
    with app.connection() as conn:
        chosen = [
            r["id"]
            for r in list_repairs(conn, dataset=name, ids=ids)
            if config.accepts(r["confidence"], r["verification"])
        ]
        accepted = review(conn, "accepted", dataset=name, ids=chosen, actor=actor) if chosen else []
        passed_over = sorted(set(ids) - set(accepted))
        if passed_over:
            review(conn, "rejected", dataset=name, ids=passed_over, actor=actor)
    return accepted


def _finish_round(
    app: Mendb,
    name: str,
    current: dict[str, Any],
    config: LoopConfig,
    reference: Reference,
    log: Log,
) -> Decision:
    """Guard the label distribution, apply the accepted proposals, retrain, and keep
    or roll back by the validation judges."""
    with app.connection() as conn:
        label = datasets.get(conn, name).label
        # Everything accepted for the dataset is applied, as `mendb apply` does: a
        # reviewer may have accepted repairs of their own beside the round's.
        accepted = list_repairs(conn, dataset=name, status=["accepted"])
    # Measured again rather than carried from the round's start: a round paused for
    # review resumes in another process, and one path serves both.
    before = _measure(app, name, config, reference)
    fields: dict[str, Any] = {"status": "done", "finish": True}
    if current["status"] == "awaiting_review":
        fields["accepted"] = len(accepted)
    moved = relabels(accepted, label)
    refusal = label_shift_guard(
        before.label_counts,
        _counts_after(before, moved),
        reference.distribution,
        reference.rows,
        z=config.margin,
        classes=before.classes,
    )
    if refusal is not None:
        with app.connection() as conn:
            ids = [r["id"] for r in accepted]
            review(conn, "rejected", dataset=name, ids=ids, actor=app.settings.actor)
            rounds.update(
                conn,
                current["id"],
                decision="refused",
                code=str(refusal.code),
                reason=refusal.reason,
                relabels=_relabel_rows(moved),
                label_distribution=_distributions(before, None, reference),
                judges=operations.jsonable(refusal.figures),
                **fields,
            )
        log(f"  refused: {refusal.reason}")
        return refusal
    report = applying.apply(app, name) if accepted else None
    applied = set(report.done if report else [])
    moved = relabels([r for r in accepted if r["id"] in applied], label)
    after = _measure(app, name, config, reference)
    decision = judge_round(before.valid, after.valid, z=config.margin, min_gain=config.min_gain)
    log(f"  applied {len(applied)} ({_direction_text(moved)}); {decision.reason}")
    if not decision.keep and applied:
        applying.revert(app, name, sorted(applied))
    with app.connection() as conn:
        rounds.update(
            conn,
            current["id"],
            applied=len(applied),
            decision="kept" if decision.keep else "rolled_back",
            code=str(decision.code),
            reason=decision.reason,
            judges=operations.jsonable(decision.figures),
            relabels=_relabel_rows(moved),
            label_distribution=_distributions(before, after, reference),
            **_after_columns(after),
            **fields,
        )
    return decision


def relabels(repairs: list[dict[str, Any]], label: str) -> Counter[tuple[str, str]]:
    """Label repairs counted by direction (old label, new label)."""
    return Counter(
        (r["old_value"], r["new_value"])
        for r in repairs
        if r["kind"] == "label" and r["column_name"] == label
    )


def _counts_after(state: RoundState, moved: Counter[tuple[str, str]]) -> np.ndarray:
    counts = state.label_counts.astype(np.int64).copy()
    index = {c: i for i, c in enumerate(state.classes)}
    for (old, new), n in moved.items():
        if old in index and new in index:
            counts[index[old]] -= n
            counts[index[new]] += n
    return counts


def _relabel_rows(moved: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"from": a, "to": b, "count": n} for (a, b), n in sorted(moved.items())]


def _direction_text(moved: Counter[tuple[str, str]]) -> str:
    if not moved:
        return "no relabels"
    return ", ".join(f"{n} {a}->{b}" for (a, b), n in sorted(moved.items()))


def _distributions(
    before: RoundState, after: RoundState | None, reference: Reference
) -> dict[str, Any]:
    out = {
        "before": before.shares(),
        "reference": dict(
            zip(before.classes, reference.distribution.round(6).tolist(), strict=True)
        ),
        "reference_kind": reference.validation,
    }
    if after is not None:
        out["after"] = after.shares()
    return out


def _before_columns(state: RoundState) -> dict[str, float]:
    valid, test = state.valid.scores(), state.test.scores()
    return {
        "valid_before": valid.accuracy,
        "valid_log_loss_before": valid.log_loss,
        "valid_balanced_before": valid.balanced_accuracy,
        "valid_macro_f1_before": valid.macro_f1,
        "valid_brier_before": valid.brier,
        "test_before": test.accuracy,
        "test_balanced_before": test.balanced_accuracy,
        "test_log_loss_before": test.log_loss,
    }


def _after_columns(state: RoundState) -> dict[str, float]:
    return {
        name.replace("_before", "_after"): value for name, value in _before_columns(state).items()
    }


def _stopped(app: Mendb, round_id: int, decision: Decision) -> tuple[dict[str, Any], Decision]:
    with app.connection() as conn:
        rounds.update(
            conn,
            round_id,
            status="done",
            decision="stopped",
            code=str(decision.code),
            reason=decision.reason,
            finish=True,
        )
    return {}, decision


def _stop(app: Mendb, loop_id: int, decision: Decision, log: Log) -> LoopOutcome:
    """End the loop; only now are the sealed test figures reported."""
    with app.connection() as conn:
        done = rounds.of_loop(conn, loop_id)
        first = next((r for r in done if r["test_before"] is not None), None)
        kept = [r for r in done if r["decision"] == "kept"]
        test: dict[str, Any] = {}
        if first is not None:
            last = kept[-1] if kept else None
            for name in ("test", "test_balanced", "test_log_loss"):
                test[f"{name}_before"] = first[f"{name}_before"]
                test[f"{name}_after"] = (last or first)[
                    f"{name}_after" if last else f"{name}_before"
                ]
        runs.finish(
            conn,
            loop_id,
            metrics={"reason": decision.reason, "code": str(decision.code), "sealed_test": test},
        )
    if test:
        log(
            "sealed test (reported only, never judged on): balanced accuracy"
            f" {test['test_balanced_before']:.4f} -> {test['test_balanced_after']:.4f},"
            f" log-loss {test['test_log_loss_before']:.4f} -> {test['test_log_loss_after']:.4f},"
            f" accuracy {test['test_before']:.4f} -> {test['test_after']:.4f}"
        )
    return _outcome(app, loop_id, "done", decision.reason)


def _outcome(app: Mendb, loop_id: int, status: str, reason: str) -> LoopOutcome:
    with app.connection() as conn:
        return LoopOutcome(loop_id, status, reason, rounds.of_loop(conn, loop_id))


def explain(app: Mendb, name: str, run_id: int | None = None) -> list[dict[str, Any]]:
    """Rules for the rows a valuation run values lowest, stored on the run."""
    with app.connection() as conn:
        _, data, read = operations.load(conn, name)
        if run_id is None:
            run_id, values = operations.latest_values(conn, name, data)
        else:
            values = operations.values_of_run(conn, runs.get(conn, run_id), data)
        rules = [
            r.to_dict() for r in explain_low_value(read.arrays, values.values, values.harmful())
        ]
        runs.add_diagnostics(conn, run_id, {"explanation": rules})
    return rules
