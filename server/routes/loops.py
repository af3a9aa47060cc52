"""The loop: its rounds, as `mendb.rounds` records them. A loop is started (or a
paused one resumed) by queueing a run of kind 'loop' (POST /runs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mendb.db import datasets, rounds
from mendb.db.errors import NotFound
from mendb.server.deps import ConnDep, Reader

router = APIRouter(prefix="/datasets", tags=["loop"])


@router.get("/{name}/loop")
def latest_loop(name: str, conn: ConnDep, _token: Reader) -> dict[str, Any]:
    """The dataset's latest loop: status, settings, and every round so far."""
    datasets.get(conn, name)
    loop = rounds.latest_loop(conn, name)
    if loop is None:
        raise NotFound(f"dataset {name!r} has no loop yet", table="mendb.rounds", row=name)
    return {
        "id": loop["id"],
        "status": loop["status"],
        "settings": loop["params"],
        "reason": (loop["metrics"] or {}).get("reason"),
        "rounds": rounds.of_loop(conn, loop["id"]),
    }
