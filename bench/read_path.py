"""The read path against its limit: one table read three ways in the same run.

    python -m bench.read_path --rows 200000 --features 32 [--write]

Sets up by itself: the embedded PostgreSQL in a temporary folder (or
--database-url, an empty database), a table of (id bigint primary key, f0..fD
float8, label integer) filled by one binary COPY, ANALYZEd and registered with
every float column as a feature. Then, `--repeats` times and in turn so that a
busy machine weighs on all three alike, it times

- mendb: `db.read.read_dataset`, everything a valuation gets (keys, features,
  labels, the key-hash split, the fingerprint);
- pandas: `pandas.read_sql` of the same columns in key order through SQLAlchemy,
  then the feature matrix as a float64 array (the keys stay in the frame);
- bulk COPY: a binary COPY of the same columns in key order, gathered into one
  buffer and parsed by numpy with a structured dtype into keys, a float64 matrix
  and labels: no split, no checks, no fingerprint, the floor for this table;
- mendb, text key: `read_dataset` on a copy of the table whose key is text, which
  mendb reads by a COPY of its own beside the values.

Prints JSON (best and median seconds of each, and pandas' best over mendb's);
`--write` puts the figures in the "Read path" section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa
from psycopg import sql

from bench.scratch import scratch_home
from mendb.db import datasets
from mendb.db.read import read_dataset
from mendb.server.context import Mendb
from mendb.server.settings import Settings

TABLE = "bench_read"
SECTION = "Read path"
_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_HEADER = len(_PGCOPY_HEADER)


def _row_dtype(features: int, label: tuple[str, str]) -> np.dtype[Any]:
    fields: list[tuple[str, str]] = [("count", ">i2"), ("id_len", ">i4"), ("id", ">i8")]
    for j in range(features):
        fields += [(f"l{j}", ">i4"), (f"f{j}", ">f8")]
    return np.dtype([*fields, ("label_len", ">i4"), label])


def create_table(conn: psycopg.Connection[Any], rows: int, features: int) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, rows)
    records = np.empty(rows, dtype=_row_dtype(features, ("label", ">i4")))
    records["count"], records["id_len"], records["id"] = features + 2, 8, np.arange(rows)
    records["label_len"], records["label"] = 4, labels
    for j in range(features):
        records[f"l{j}"], records[f"f{j}"] = 8, rng.normal(size=rows) + labels * (j < 4)
    columns = sql.SQL(", ").join(
        sql.SQL("{} float8").format(sql.Identifier(f"f{j}")) for j in range(features)
    )
    conn.execute(
        sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, {}, label integer NOT NULL)").format(
            sql.Identifier(TABLE), columns
        )
    )
    copy_in = sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(sql.Identifier(TABLE))
    with conn.cursor() as cur, cur.copy(copy_in) as copy:
        copy.write(_PGCOPY_HEADER + records.tobytes() + b"\xff\xff")
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(TABLE)))


def _select(features: int) -> sql.Composed:
    columns = [sql.Identifier(n) for n in ["id", *(f"f{j}" for j in range(features)), "label"]]
    return sql.SQL("SELECT {} FROM {} ORDER BY id").format(
        sql.SQL(", ").join(columns), sql.Identifier(TABLE)
    )


def read_pandas(engine: sa.Engine, query: str, features: int) -> int:
    with engine.connect() as connection:
        frame = pd.read_sql(sa.text(query), connection)
    x = frame[[f"f{j}" for j in range(features)]].to_numpy(dtype=np.float64)
    return len(x)


def read_bulk(
    conn: psycopg.Connection[Any], query: sql.Composed, features: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Keys, features and labels."""
    buffer = bytearray()
    copy_out = sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(query)
    with conn.cursor() as cur, cur.copy(copy_out) as copy:
        for chunk in copy:
            buffer += chunk
    dtype = _row_dtype(features, ("label", ">i4"))
    rows = (len(buffer) - _HEADER - 2) // dtype.itemsize
    records = np.frombuffer(buffer, dtype=dtype, count=rows, offset=_HEADER)
    x = np.empty((rows, features))
    for j in range(features):
        x[:, j] = records[f"f{j}"]
    return records["id"].astype(np.int64), x, records["label"].astype(np.int64)


def measure(url: str | None, rows: int, features: int, repeats: int, home: Path) -> dict[str, Any]:
    app = Mendb.open(Settings(database_url=url, home=home))
    try:
        with app.connection() as conn:
            create_table(conn, rows, features)
            spec = datasets.parse_feature_spec(",".join(f"f{j}" for j in range(features)))
            dataset = datasets.register(conn, "bench_read", TABLE, "id", "label", spec)
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {text} AS SELECT id::text AS id, {rest} FROM {t};"
                    " ALTER TABLE {text} ADD PRIMARY KEY (id); ANALYZE {text}"
                ).format(
                    text=sql.Identifier(f"{TABLE}_text"),
                    rest=sql.SQL(", ").join(
                        sql.Identifier(n) for n in [*(f"f{j}" for j in range(features)), "label"]
                    ),
                    t=sql.Identifier(TABLE),
                )
            )
            by_text = datasets.register(
                conn, "bench_read_text", f"{TABLE}_text", "id", "label", spec
            )
        query = _select(features)
        with psycopg.connect(app.url, autocommit=True) as conn:
            text = query.as_string(conn)
            paths: dict[str, Callable[[], int]] = {
                "mendb": lambda: read_dataset(conn, dataset).rows_read,
                "pandas": lambda: read_pandas(app.engine, text, features),
                "bulk_copy": lambda: len(read_bulk(conn, query, features)[0]),
                "mendb_text_key": lambda: read_dataset(conn, by_text).rows_read,
            }
            for read in paths.values():  # warm the buffers, the pool and the imports
                assert read() == rows
            times: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(repeats):
                for name, read in paths.items():
                    started = time.perf_counter()
                    read()
                    times[name].append(time.perf_counter() - started)
    finally:
        app.close()
    best = {name: min(t) for name, t in times.items()}
    return {
        "rows": rows,
        "features": features,
        "repeats": repeats,
        "best_s": {k: round(v, 3) for k, v in best.items()},
        "median_s": {k: round(statistics.median(t), 3) for k, t in times.items()},
        "pandas_over_mendb": round(best["pandas"] / best["mendb"], 2),
        "pandas_over_mendb_median": round(
            statistics.median(times["pandas"]) / statistics.median(times["mendb"]), 2
        ),
        "mendb_over_bulk_copy": round(best["mendb"] / best["bulk_copy"], 2),
    }


PATHS = (("mendb", "mendb read_dataset"), ("pandas", "pandas.read_sql"),
         ("bulk_copy", "binary COPY parsed by numpy"),
         ("mendb_text_key", "mendb read_dataset, text key"))  # fmt: skip


def section(result: dict[str, Any], load_before: tuple[float, ...]) -> str:
    """The "Read path" section, stamped with this machine now; the prose is
    bench/templates/read_path.md.j2."""
    from bench.render import render
    from bench.report import machine_now

    return render("read_path.md.j2", r=result, paths=PATHS, **machine_now(load_before))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="An empty database to use.")
    parser.add_argument("--write", action="store_true", help="Update docs/BENCHMARKS.md.")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with scratch_home("mendb-read-", embedded_server=not args.database_url) as home:
        result = measure(args.database_url, args.rows, args.features, args.repeats, home)
    print(json.dumps(result, indent=2))
    if args.write:
        from bench.report import replace_sections

        replace_sections({SECTION: section(result, load_before)})


if __name__ == "__main__":
    main()
