"""The regression benchmark (issue 20): numeric targets with realistic noise.

Real regression tables (`tables`: scikit-learn's diabetes, ggplot2 diamonds price,
AER CPS1988 wage, Ecdat Wages1 wage) get target noise planted in training rows only
(`planting`: a slipped zero, another row's value, heavy-tailed additive noise), seeded
and recorded. Two questions, each a grid of cells with one JSON file per cell under
`bench/out/regression/`:

- detection (`detection`): do mendb's regression valuations put the planted rows
  at the bottom? AUROC and AP against anchors in the same run (`anchors`):
  cleanlab's regression label quality, pyDVL TMC and Data-OOB, OpenDataVal Data-OOB;
  the last three in the reference virtualenvs of `bench.envs`, through
  `bench.runner` (runners `ref_pydvl`, `ref_odv` here);
- loop (`loop`): how much of the sealed-test RMSE gap (noisy - clean) does the real
  `server.loop.run_loop` win back, for linear regression and gradient-boosted trees
  trained on its final table, against random rows and cleanlab at the same budget.

`stats` computes every published figure, `report` (prose in
`bench/templates/regression.md.j2`) writes the section "Regression" of
docs/BENCHMARKS.md, `cli` is `python -m bench.regression`.

This package's `__init__` imports nothing: the runners `ref_pydvl` and `ref_odv` are
imported inside the reference libraries' environments, which have no mendb.
"""
