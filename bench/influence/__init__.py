"""Gradient influence (influence_sgd = TracIn, influence_adam = LESS) next to the
Shapley family: detection quality on small tables and throughput at N = 20,000.

Detection: breast cancer, digits and wine (scikit-learn) with 10 % and 20 % of the
training labels flipped, split and prepared by `bench.data.make_cell` (the splits of
`bench.quality`; split seed 0 is the very cell `bench.quality` uses, further seeds
redraw split and noise). Every method gets the same prepared arrays and its seed is
the split seed; AUROC and AP come from `bench.metrics.detection` (lower value = more
suspicious). TMC-Shapley runs a fixed budget of `max_samples` permutations (with a
wall-time cap as a guard, reported when it bites).

Throughput: N synthetic training rows (a seeded linear teacher over Gaussian
features, 1,000 validation rows), one configuration whose proxy MLP has fewer
parameters than d_proj = 8192 (the projection is the identity) and one with more
(the Rademacher projection to 8192 dimensions really runs). Each (configuration,
variant, device) runs in a fresh subprocess: rows/s of scoring alone and of training
plus scoring (split at the end of training through the progress callback), the peak
resident set of the process (`ru_maxrss`, torch and the data included) and the
resident set just before the call.

    .venv/bin/python -m bench.influence            # the full grid (its time: docs/BENCHMARKS.md)
    .venv/bin/python -m bench.influence --quick    # a smoke run; leaves the doc alone

Writes bench/out/influence.json and the section "## Gradient influence" of
docs/BENCHMARKS.md (every other byte of that file is kept).

Modules: `data` (the grid, the methods' settings, the synthetic rows), `experiment`
(the detection runs, the throughput child processes, the environment), `report`
(the tables; prose in `report.md.j2`), `cli`.
"""
