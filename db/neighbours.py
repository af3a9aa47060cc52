"""Nearest neighbours inside PostgreSQL, over the embedding cache (pgvector).

On a cache of at least `EXACT_BELOW` rows the query is planned on the HNSW
(cosine) index, with pgvector's iterative scan so the filters on dataset and
column never leave a row short of neighbours; below that, or when asked, the
search is exact (a sequential scan and a sort). One query answers every row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql

from mendb.db.embeddings import EXACT_BELOW
from mendb.db.queries import query


class PgvectorNeighbours:
    """`repair.proposals.NeighbourSearch` over one cached text column."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        dataset: str,
        column: str,
        model: str,
        table: str,
        dims: int,
        train_keys: NDArray[np.object_],
        exact: bool | None = None,
    ) -> None:
        self.conn = conn
        self.where = {"dataset": dataset, "column": column, "model": model, "table_name": table}
        self.dims = int(dims)
        self.keys = [str(k) for k in train_keys]
        self._position = {key: i for i, key in enumerate(self.keys)}
        self.exact = self._small() if exact is None else exact

    def _small(self) -> bool:
        row = self.conn.execute(query("embeddings_count"), self.where).fetchone()
        return bool(row is None or row[0] < EXACT_BELOW)

    def search_keys(self, keys: list[str], k: int) -> list[list[tuple[str, float]]]:
        """For each key, its k nearest rows of the cache (itself excluded)."""
        found: list[list[tuple[str, float]]] = [[] for _ in keys]
        with self.conn.transaction():
            self._settings(k)
            rows = self.conn.execute(
                self._query(), {**self.where, "keys": keys, "k": k}
            ).fetchall()
        for position, key, distance in rows:
            found[position - 1].append((key, float(distance)))
        return found

    def search(
        self, rows: NDArray[np.int64], k: int
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        distances = np.full((len(rows), k), np.inf)
        indices = np.full((len(rows), k), -1, dtype=np.int64)
        answers = self.search_keys([self.keys[i] for i in rows], k)
        for r, answer in enumerate(answers):
            for c, (key, distance) in enumerate(answer):
                indices[r, c] = self._position.get(key, -1)
                distances[r, c] = distance
        return distances, indices

    def _settings(self, k: int) -> None:
        if self.exact:
            self.conn.execute(query("embeddings_exact_search"))
            return
        self.conn.execute(query("embeddings_index_search"))
        self.conn.execute(query("embeddings_iterative_scan"))
        self.conn.execute(
            query("embeddings_ef_search").format(ef_search=sql.Literal(max(40, 4 * int(k))))
        )

    def _query(self) -> sql.Composed:
        return query("embeddings_neighbours").format(dims=sql.Literal(self.dims))
