"""One loop cell: a table, a noise kind and a seed, through PostgreSQL as a user
would have it. The table is created (label double precision) and registered as a
regression dataset that mendb splits 60 / 20 / 20; the noise is planted by SQL in
training rows only; the real `server.loop.run_loop` runs (default `LoopConfig`,
seeded); the loop's final training rows, the clean and noisy ones and the
baselines' are scored on the sealed test rows (which keep their clean values) by
linear regression and gradient-boosted trees: RMSE and MAE.

Where the noise lands (`LoopSpec.where`): "train", the training rows only, as if a
checked validation table stood beside them (mendb is not told so: none is
registered); or "table", the training and validation rows alike, as in a table
nobody checked, where the rows the loop judges on carry the errors it looks for.
The sealed test rows keep their values in both.

The same planted table is then made afresh (dropped, created, registered and
planted again, so it starts from the same noisy rows) and the loop runs once more
with the user's own model (`--model` HistGradientBoosting, the boosted downstream
model's estimator and parameters): it retrains, judges, values and verifies with
it. Its final rows are scored as "own"; the issue's target is that the boosted
model recovers at least as much of its gap this way as with the proxy's loop.

Baselines at the loop's budget B (the training rows it spent a repair on, kept or
rolled back): cleanlab's `CleanLearning` (default linear model) ranks the rows by
label quality and its B lowest get its out-of-fold predicted value; "random" gives
B random training rows that same predicted value, so the two differ only in which
rows they pick."""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.regression import planting, stats, store
from bench.regression.anchors import cleanlab_issues
from bench.regression.tables import load_table
from mendb.db.repairs import list_repairs
from mendb.server.context import Mendb
from mendb.server.loop import LoopConfig, run_loop
from mendb.valuation.data import Task, TrainingArrays
from mendb.valuation.preprocess import prepare

MODELS = ("linear", "boosting")
WHERE = ("train", "table")  # the rows the noise lands in (module doc)
BASELINES = ("cleanlab", "random")
METHODS = ("mendb", *BASELINES)
# The loop run with the user's model, scored under this name beside "mendb".
OWN = "own"
OWN_MODEL = "sklearn.ensemble:HistGradientBoostingRegressor"
OWN_ITERATIONS = 100  # as the boosted downstream model: the loop judges with that model


def own_config(seed: int) -> LoopConfig:
    """The loop's settings with the user's model: the downstream booster's."""
    params = {"max_iter": OWN_ITERATIONS, "random_state": seed}
    return LoopConfig(seed=seed, model=OWN_MODEL, model_params=params)


@dataclass(frozen=True)
class LoopSpec:
    table: str
    noise: str
    seed: int
    max_rows: int
    where: str = "train"

    @property
    def suffix(self) -> str:
        # The training-only cells keep the names they had before `where` existed.
        return "" if self.where == "train" else f"_{self.where}"

    @property
    def name(self) -> str:
        return f"reg_{self.table}_{self.noise}_{self.seed}{self.suffix}"

    @property
    def key(self) -> str:
        return f"loop_{self.table}_{self.noise}_{self.seed}_{self.max_rows}{self.suffix}"


def _model(name: str, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression

    if name == "linear":
        return LinearRegression()
    return HistGradientBoostingRegressor(max_iter=OWN_ITERATIONS, random_state=seed)


def evaluate(raw: TrainingArrays, seed: int) -> dict[str, dict[str, float]]:
    """Each downstream model trained on the (prepared) training rows, scored on
    the sealed test rows."""
    data = prepare(raw)
    out = {}
    for name in MODELS:
        model = _model(name, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data.train.x, data.train.y)
        predicted = model.predict(data.test.x)
        out[name] = {"rmse": stats.rmse(data.test.y, predicted),
                     "mae": stats.mae(data.test.y, predicted)}  # fmt: skip
    return out


def with_targets(raw: TrainingArrays, y: NDArray[np.float64]) -> TrainingArrays:
    return replace(raw, train=replace(raw.train, y=np.asarray(y, dtype=np.float64)))


def baselines(
    noisy: TrainingArrays, budget: int, seed: int
) -> tuple[dict[str, TrainingArrays], dict[str, list[int]]]:
    """Both baselines on the noisy rows at budget B: the repaired arrays and the
    training positions each changed."""
    data = prepare(noisy)
    quality, predicted = cleanlab_issues(data.train.x, data.train.y, seed)
    budget = min(budget, len(noisy.train))
    chosen = {
        "cleanlab": np.argsort(quality, kind="stable")[:budget],
        "random": np.sort(np.random.default_rng([seed, 3000]).choice(
            len(noisy.train), budget, replace=False)),
    }  # fmt: skip
    after, rows = {}, {}
    for name, picked in chosen.items():
        y = noisy.train.y.astype(np.float64).copy()
        y[picked] = predicted[picked]
        after[name] = with_targets(noisy, y)
        rows[name] = sorted(int(i) for i in picked)
    return after, rows


def target_changes(clean: NDArray[np.float64], noisy: NDArray[np.float64],
                   after: NDArray[np.float64]) -> dict[str, float]:  # fmt: skip
    """Rows changed from the noisy value, how many of them were planted, the
    planted rows left with a wrong value, and the training target's RMSE against
    the clean values before and after."""
    changed = after != noisy
    planted = noisy != clean
    return {
        "changed": int(changed.sum()),
        "changed_planted": int((changed & planted).sum()),
        "planted_left": int((planted & ~np.isclose(after, clean)).sum()),
        "target_rmse_noisy": stats.rmse(clean, noisy),
        "target_rmse_after": stats.rmse(clean, after),
    }


def _plant(app: Mendb, spec: LoopSpec, clean: TrainingArrays,
           target: NDArray[np.float64]) -> dict[str, Any]:  # fmt: skip
    eligible = clean.train.keys.astype(int)
    if spec.where == "table":
        eligible = np.concatenate([eligible, clean.valid.keys.astype(int)])
    rng = np.random.default_rng(planting.seed_for(spec.noise, spec.seed))
    planted = planting.plant(spec.noise, target, eligible, rng)
    store.set_targets(app, spec.name, planted.rows.tolist(), planted.y[planted.rows].tolist())
    return {"planted": len(planted.rows), "planted_rows": planted.rows.tolist()}


def _planted_table(app: Mendb, spec: LoopSpec) -> tuple[TrainingArrays, TrainingArrays,
                                                         dict[str, Any]]:  # fmt: skip
    """Create, register and plant the cell's table afresh: the clean rows, the noisy
    rows and what was planted."""
    table = load_table(spec.table, spec.max_rows, spec.seed)
    store.drop(app, spec.name, [spec.name])
    store.create_table(app, spec.name, table.features, table.target)
    store.register(app, spec.name, spec.name, spec.seed)
    clean = store.read(app, spec.name)
    if clean.task is not Task.REGRESSION:
        raise RuntimeError(f"{spec.name} was registered as {clean.task}, not regression")
    planted = _plant(app, spec, clean, table.target)
    noisy = store.read(app, spec.name)
    keys = clean.train.keys.astype(str).tolist()
    assert noisy.train.keys.astype(str).tolist() == keys, "the training rows moved"
    assert np.array_equal(noisy.test.y, clean.test.y), "noise reached the test rows"
    return clean, noisy, planted


@dataclass(frozen=True)
class LoopRun:
    final: TrainingArrays
    budget: int  # training rows the loop spent a repair on, kept or rolled back
    reason: str
    decisions: list[Any]
    seconds: float


def _run(app: Mendb, spec: LoopSpec, config: LoopConfig, keys: list[str], log: Any) -> LoopRun:
    started = time.perf_counter()
    outcome = run_loop(app, spec.name, config, log=lambda s: log(f"    {s}"))
    seconds = time.perf_counter() - started
    final = store.read(app, spec.name)
    assert final.train.keys.astype(str).tolist() == keys, "the loop moved training rows"
    with app.connection() as conn:
        repairs = list_repairs(conn, dataset=spec.name)
    spent = {r["row_key"] for r in repairs if r["status"] in ("applied", "reverted")}
    return LoopRun(final, len(spent & set(keys)), outcome.reason,
                   [r.get("decision") for r in outcome.rounds], seconds)  # fmt: skip


def has_own(spec: LoopSpec) -> bool:
    """Whether the cell also runs the loop with the user's model: the training-only
    cells, where the issue's own-model target is measured."""
    return spec.where == "train"


def run_cell(app: Mendb, spec: LoopSpec, log: Any = print) -> dict[str, Any]:
    started = time.perf_counter()
    clean, noisy, planted = _planted_table(app, spec)
    keys = clean.train.keys.astype(str).tolist()
    proxy = _run(app, spec, LoopConfig(seed=spec.seed), keys, log)
    baseline_started = time.perf_counter()
    after, touched = baselines(noisy, proxy.budget, spec.seed)
    seconds = {"mendb": proxy.seconds, "baselines": time.perf_counter() - baseline_started}
    after = {"mendb": proxy.final, **after}
    own_record = {}
    if has_own(spec):
        # The own-model loop starts from the same noisy rows, not from the proxy's repairs.
        log(f"    again with --model {OWN_MODEL}")
        _, replanted, _ = _planted_table(app, spec)
        assert np.array_equal(replanted.train.y, noisy.train.y), "the replanted rows differ"
        config = own_config(spec.seed)
        own = _run(app, spec, config, keys, log)
        seconds[OWN] = own.seconds
        after[OWN] = own.final
        own_record[OWN] = {"model": config.model, "params": config.model_params,
                           "budget": own.budget, "reason": own.reason,
                           "decisions": own.decisions}  # fmt: skip
    scores = {"clean": evaluate(clean, spec.seed), "noisy": evaluate(noisy, spec.seed)}
    scores |= {m: evaluate(raw, spec.seed) for m, raw in after.items()}
    touched_counts = {"mendb": proxy.budget, **{m: len(r) for m, r in touched.items()}}
    return {
        "spec": asdict(spec),
        "rows": {"train": len(clean.train), "valid": len(clean.valid), "test": len(clean.test)},
        **planted,
        "budget": proxy.budget,
        "touched": touched_counts,
        "scores": scores,
        "changes": {
            m: target_changes(clean.train.y, noisy.train.y, raw.train.y.astype(np.float64))
            for m, raw in after.items()
        },
        "reason": proxy.reason,
        "decisions": proxy.decisions,
        **own_record,
        "seconds": {**seconds, "cell": time.perf_counter() - started},
    }


def cleanup(app: Mendb, spec: LoopSpec) -> None:
    store.drop(app, spec.name, [spec.name])
