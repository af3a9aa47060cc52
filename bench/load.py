"""Load on the service's read paths: concurrent clients listing scores and repairs.

    python bench/load.py --clients 50 --seconds 60

Sets everything up by itself: an embedded PostgreSQL in a temporary folder (or
--database-url), a dataset of --rows rows valued with KNN-Shapley, --repairs
proposals, a read token, and `mendb serve --workers 0` on 127.0.0.1. Then each
client loops over GET /datasets/bench/scores and GET /datasets/bench/repairs at
random offsets. Prints requests per second, p50/p99 latency and the errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import numpy as np
from psycopg import sql

from bench.scratch import scratch_home
from mendb.db import datasets, embedded, tokens
from mendb.db.repairs import insert_proposals
from mendb.repair.proposals import RepairProposal
from mendb.server import operations
from mendb.server.context import Mendb
from mendb.server.settings import Settings


def setup(url: str, rows: int, repairs: int) -> tuple[str, int]:
    """The dataset, its scores and proposals; returns a read token and the number
    of scored (training) rows."""
    app = Mendb.open(Settings(database_url=url))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, rows)
    x = rng.normal(size=(rows, 4)) + labels[:, None]
    with app.connection() as conn:
        conn.execute("CREATE TABLE bench (id integer PRIMARY KEY, x1 float8, x2 float8,"
                     " x3 float8, x4 float8, label integer)")  # fmt: skip
        with conn.cursor() as cur, cur.copy(sql.SQL("COPY bench FROM STDIN")) as copy:
            for i in range(rows):
                copy.write_row([i, *map(float, x[i]), int(labels[i])])
        datasets.register(conn, "bench", "bench", "id", "label")
        outcome = operations.value_run(conn, app.settings, "bench", "knn_shapley", {"k": 10})
    scored = outcome.rows
    proposals = [
        RepairProposal(str(i), "label", str(labels[i]), str(1 - labels[i]), "label", "bench", 0.5)
        for i in range(repairs)
    ]
    with app.connection() as conn:
        insert_proposals(conn, "bench", None, proposals)
        _, secret = tokens.create(conn, "bench-reader", "read")
    app.close()
    return secret, scored


async def client(
    base: str, token: str, until: float, rows: int, repairs: int, out: dict[str, list[Any]]
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        while time.perf_counter() < until:
            if rng.random() < 0.5:
                path = f"/datasets/bench/scores?limit=50&offset={rng.randrange(rows - 50)}"
            else:
                path = f"/datasets/bench/repairs?status=proposed&limit=50&offset={rng.randrange(repairs - 50)}"  # noqa: E501
            started = time.perf_counter()
            try:
                response = await http.get(path)
                ok = response.status_code == 200 and bool(response.json()["items"])
            except httpx.HTTPError:
                ok = False
            out["latency" if ok else "errors"].append(time.perf_counter() - started)


async def load(base: str, token: str, clients: int, seconds: float, rows: int, repairs: int) -> Any:
    out: dict[str, list[Any]] = {"latency": [], "errors": []}
    until = time.perf_counter() + seconds
    await asyncio.gather(*(client(base, token, until, rows, repairs, out) for _ in range(clients)))
    latency = np.array(out["latency"]) * 1000
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(latency) + len(out["errors"]),
        "errors": len(out["errors"]),
        "requests_per_second": round(len(latency) / seconds, 1),
        "p50_ms": round(float(np.percentile(latency, 50)), 1),
        "p99_ms": round(float(np.percentile(latency, 99)), 1),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(url: str, port: int, pool: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "MENDB_POOL_SIZE": str(pool)}
    command = [sys.executable, "-c", "from mendb.server.cli import main; main()", "serve"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the service did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repairs", type=int, default=2_000)
    parser.add_argument("--pool", type=int, default=20, help="Database pool size.")
    parser.add_argument("--database-url", default=None, help="An empty database to use.")
    args = parser.parse_args()
    with scratch_home("mendb-bench-", embedded_server=not args.database_url) as home:
        url = args.database_url or embedded.start(home)
        token, scored = setup(url, args.rows, args.repairs)
        port = free_port()
        process = serve(url, port, args.pool)
        try:
            base = f"http://127.0.0.1:{port}"
            result = asyncio.run(
                load(base, token, args.clients, args.seconds, scored, args.repairs)
            )
        finally:
            process.terminate()
            process.wait(timeout=30)
        print(json.dumps({**result, "scored_rows": scored, "repairs": args.repairs}, indent=2))


if __name__ == "__main__":
    main()
