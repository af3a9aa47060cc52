"""The same seed gives the same values whatever runs the blocks."""

from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest

from mendb.valuation.executors import DaskExecutor, LocalExecutor
from mendb.valuation.methods.data_oob import DataOOB
from mendb.valuation.methods.semivalue import BanzhafMSR, TMCShapley
from tests.unit.valuation.games import dataset


def test_process_pool_equals_in_process() -> None:
    data = dataset(12, seed=1)
    inline = TMCShapley(max_samples=24, seed=3).fit(data).result
    pooled = TMCShapley(max_samples=24, seed=3, executor=LocalExecutor(n_jobs=2)).fit(data).result
    np.testing.assert_array_equal(inline.values, pooled.values)
    np.testing.assert_array_equal(inline.stderr, pooled.stderr)
    assert pooled.params["executor"] == "LocalExecutor(n_jobs=2)"


def test_dask_local_cluster_equals_local_executor() -> None:
    distributed = pytest.importorskip("distributed")
    data = dataset(12, seed=2)
    local = [
        TMCShapley(max_samples=24, seed=5).fit(data).result,
        BanzhafMSR(max_samples=300, seed=5).fit(data).result,
        DataOOB(n_estimators=40, seed=5).fit(data).result,
    ]
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        executor = DaskExecutor(cluster.scheduler_address)
        remote = [
            TMCShapley(max_samples=24, seed=5, executor=executor).fit(data).result,
            BanzhafMSR(max_samples=300, seed=5, executor=executor).fit(data).result,
            DataOOB(n_estimators=40, seed=5, executor=executor).fit(data).result,
        ]
    for a, b in zip(local, remote, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.counts, b.counts)


def test_estimators_never_import_distributed() -> None:
    root = pathlib.Path(__file__).parents[3] / "valuation"
    for path in root.rglob("*.py"):
        if path.name == "executors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] in {"distributed", "dask"} for n in names), path
