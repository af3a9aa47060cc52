"""A million-row table valued end to end through the product path.

`setup` (its own process, not measured against the target): start the embedded
PostgreSQL under bench/out/pg (`Mendb.open(Settings(home=...))`), generate N rows
of 64 standard-normal float8 features and a 0/1 label (sign of the first four
features plus noise, 10 % of labels flipped; the flipped keys are saved), create
the table with one binary COPY per 100,000 rows, add its primary key, ANALYZE,
and `db.datasets.register` it with a key-hash split of 500 validation and 500
test rows.

`value` (a fresh process, measured): `server.operations.value_run` for
knn_shapley (K = 10) and then ts_shapley (n_jobs = 2), exactly as `mendb value`
runs them: each reads the table by binary COPY, prepares the arrays, values the
rows and writes the scores back by binary COPY in one transaction. The read and
write stages are timed by wrapping `server.operations.load` and
`server.operations.write_scores`; valuation time is the rest of each run. Peak
memory: RSS of this process plus its worker processes, sampled every 10 ms; the
PostgreSQL server's processes are sampled separately.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import numpy as np

from bench.envs import BENCH, ref_environ
from bench.render import render

OUT = BENCH / "out"
HOME = OUT / "pg"
TABLE = "bench_million"
NAME = "bench_million"
D = 64
CHUNK = 100_000


def _app() -> Any:
    from mendb.server.context import Mendb
    from mendb.server.settings import Settings

    return Mendb.open(Settings(home=HOME, database_url=None))


def _copy_buffer(ids: np.ndarray, labels: np.ndarray, x: np.ndarray) -> bytes:
    """Binary COPY rows: (id int8, label int4, f0..f63 float8), packed by numpy."""
    fields = [("n", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("label_len", ">i4"),
              ("label", ">i4")]
    for j in range(x.shape[1]):
        fields += [(f"l{j}", ">i4"), (f"f{j}", ">f8")]
    rows = np.empty(len(ids), dtype=np.dtype(fields))
    rows["n"], rows["id_len"], rows["id"] = 2 + x.shape[1], 8, ids
    rows["label_len"], rows["label"] = 4, labels
    for j in range(x.shape[1]):
        rows[f"l{j}"], rows[f"f{j}"] = 8, x[:, j]
    return rows.tobytes()


def setup(n: int) -> dict[str, Any]:
    from psycopg import sql

    from mendb.db import datasets
    from mendb.db.datasets import SplitSpec

    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") * 2
    trailer = (-1).to_bytes(2, "big", signed=True)
    app = _app()
    rng = np.random.default_rng(0)
    flipped = rng.choice(n, n // 10, replace=False)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with app.connection() as conn:
        if datasets.get_optional(conn, NAME) is not None:
            conn.execute("DELETE FROM mendb.datasets WHERE name = %s", [NAME])
        table = sql.Identifier(TABLE)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(table))
        columns = sql.SQL(", ").join(
            sql.SQL("{} float8 NOT NULL").format(sql.Identifier(f"f{j}")) for j in range(D))
        conn.execute(sql.SQL("CREATE TABLE {} (id bigint NOT NULL, label int NOT NULL, {})")
                     .format(table, columns))
        flip = np.zeros(n, dtype=bool)
        flip[flipped] = True
        with conn.transaction(), conn.cursor() as cur, cur.copy(
                sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(table)) as copy:
            copy.write(header)
            for start in range(0, n, CHUNK):
                stop = min(n, start + CHUNK)
                x = rng.normal(size=(stop - start, D))
                y = (x[:, :4].sum(axis=1) + rng.normal(size=stop - start) > 0).astype(np.int32)
                y = np.where(flip[start:stop], 1 - y, y)
                copy.write(_copy_buffer(np.arange(start, stop), y, x))
            copy.write(trailer)
        timings["copy_s"] = time.perf_counter() - started
        conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)").format(table))
        conn.execute(sql.SQL("ANALYZE {}").format(table))
        timings["index_s"] = time.perf_counter() - started - timings["copy_s"]
        datasets.register(conn, NAME, f"public.{TABLE}", "id", "label",
                          split=SplitSpec(validation_fraction=0.0005, test_fraction=0.0005,
                                          seed=0))
        size = conn.execute("SELECT pg_total_relation_size(%s)", [TABLE]).fetchone()[0]
    app.close()
    np.save(OUT / "million-flipped.npy", flipped)
    timings["setup_s"] = time.perf_counter() - started
    return {"rows": n, "table_mb": size / 2**20, **timings}


def value(methods: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    import psutil

    from bench.child import PeakRSS
    from mendb.server import operations

    stages: dict[str, float] = {}
    originals = (operations.load, operations.write_scores)

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                stages[name] = stages.get(name, 0.0) + time.perf_counter() - t
        return wrapper

    operations.load = timed("read", originals[0])
    operations.write_scores = timed("write", originals[1])
    app = _app()
    pid = int((HOME / "pgdata" / "postmaster.pid").read_text().split()[0])
    server = PeakRSS()
    server.process = psutil.Process(pid)
    server.baseline = server.sample()
    report: dict[str, Any] = {"runs": []}
    with PeakRSS() as memory, server:
        for method, params in methods:
            stages.clear()
            with app.connection() as conn:
                t = time.perf_counter()
                outcome = operations.value_run(conn, app.settings, NAME, method, params)
                total = time.perf_counter() - t
                keys, values = _scores(conn, outcome.run_id)
            report["runs"].append({
                "method": method, "params": params, "rows": outcome.rows, "total_s": total,
                "read_s": stages.get("read", 0.0), "write_s": stages.get("write", 0.0),
                "value_s": total - stages.get("read", 0.0) - stages.get("write", 0.0),
                "scores_written": len(keys), "auroc": _auroc(keys, values),
                "diagnostics": {k: v for k, v in outcome.diagnostics.items()
                                if k in ("samples", "gelman_rubin_max", "never_sampled")},
            })
            print(json.dumps(report["runs"][-1]), flush=True)
    app.close()
    report.update(peak_mb=memory.peak / 2**20, baseline_mb=memory.baseline / 2**20,
                  server_peak_mb=server.peak / 2**20)
    return report


def _scores(conn: Any, run_id: int) -> tuple[np.ndarray, np.ndarray]:
    rows = conn.execute("SELECT row_key, value FROM mendb.scores WHERE run_id = %s",
                        [run_id]).fetchall()
    return np.array([int(r[0]) for r in rows]), np.array([r[1] for r in rows])


def _auroc(keys: np.ndarray, values: np.ndarray) -> float:
    from bench.metrics import detection

    flipped = np.load(OUT / "million-flipped.npy")
    noisy = np.isin(keys, flipped)
    return detection(values, noisy)["auroc"]


def stop_server(remove: bool = True) -> None:
    import shutil

    from mendb.db import embedded

    embedded.stop(HOME)
    if remove:
        shutil.rmtree(HOME, ignore_errors=True)


METHODS = [("knn_shapley", {"k": 10}), ("ts_shapley", {"n_jobs": 2, "seed": 0})]


def run(n: int, log: Any = print) -> dict[str, Any]:
    """Both stages in fresh processes; the server is stopped and its data removed."""
    result: dict[str, Any] = {"rows": n}
    try:
        for stage in ("setup", "value"):
            out = OUT / f"million-{stage}.json"
            out.unlink(missing_ok=True)
            done = subprocess.run([sys.executable, "-m", "bench.million", stage, str(n)],
                                  env=ref_environ(), cwd=BENCH.parent, check=False,
                                  timeout=3600)
            if done.returncode != 0 or not out.exists():
                result["error"] = f"{stage} failed with exit {done.returncode}"
                break
            result[stage] = json.loads(out.read_text())
            log(json.dumps(result[stage])[:400])
    finally:
        stop_server()
    (OUT / "million.json").write_text(json.dumps(result, indent=1))
    return result


def markdown(result: dict[str, Any]) -> str:
    """The section's text; the prose is bench/templates/million.md.j2."""
    if "value" not in result:
        return render("million.md.j2", incomplete=True, error=result.get("error", "?"))
    report = result["value"]
    total = sum(r["total_s"] for r in report["runs"])
    lines = [f"| {r['method']} | {r['read_s']:.1f} | {r['value_s']:.1f} |"
             f" {r['write_s']:.1f} | {r['total_s']:.1f} | {r['scores_written']:,} |"
             f" {r['auroc']:.3f} |" for r in report["runs"]]
    return render(
        "million.md.j2", incomplete=False, rows=result["rows"], d=D, setup=result["setup"],
        value=report, lines=lines, total=total, met_time=total < 600,
        met_mem=report["peak_mb"] < 4096,
    )  # fmt: skip


def main(argv: list[str]) -> int:
    stage, n = argv[0], int(argv[1])
    report = setup(n) if stage == "setup" else value(METHODS)
    (OUT / f"million-{stage}.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
