"""Settings from the environment, read once at the entry point and passed down.

A frozen dataclass that reads its own few variables, not pydantic-settings: every
command reads these, and importing pydantic weighed on every light command's start
(docs/BENCHMARKS.md, "Measurements behind design choices"). `Settings()` reads the
environment as the fields are built; a keyword given in code wins over it. An empty
variable counts as unset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mendb.db.errors import InvalidArgument

DEFAULT_HOME = "~/.local/share/mendb"


def _variable(*names: str) -> str | None:
    """The first of the variables that is set and not empty."""
    return next((value for name in names if (value := os.environ.get(name))), None)


def _count(name: str, default: int) -> int:
    value = _variable(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"{name}={value!r} is not a whole number", column=name) from None


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str | None = field(
        default_factory=lambda: _variable("DATABASE_URL", "MENDB_DATABASE_URL")
    )
    """Any PostgreSQL with pgvector; unset means the embedded server under `home`."""

    home: Path = field(default_factory=lambda: Path(_variable("MENDB_HOME") or DEFAULT_HOME))
    """Where the embedded server's data directory and work files live."""

    dask_scheduler: str | None = field(default_factory=lambda: _variable("MENDB_DASK_SCHEDULER"))
    """A Dask scheduler (tcp://HOST:8786) for the sampling methods; unset is local."""

    actor: str | None = None
    """Who is acting, written into the audit trail: a token's name (HTTP), a job's
    requester (the worker); unset, `Mendb.open` names the command line's user as
    cli:OS_USER@DATABASE_ROLE. Never read from the environment: who is acting is
    established (a token, the database role and the OS account), never claimed."""

    pool_size: int = field(default_factory=lambda: _count("MENDB_POOL_SIZE", 4))
    """Connections the pool keeps open (the service may open as many again at peaks)."""

    max_body_bytes: int = field(default_factory=lambda: _count("MENDB_MAX_BODY_BYTES", 1_000_000))
    """The largest HTTP request body the API reads; a larger one gets 413 unread."""

    embedding_model: str = field(
        default_factory=lambda: _variable("MENDB_EMBEDDING_MODEL") or "all-MiniLM-L6-v2"
    )
    """The sentence-transformers model text columns are embedded with (a name or a
    path on disk; loaded offline)."""

    def __post_init__(self) -> None:
        # A home given in code may be a string or start with ~, as one from the
        # environment may.
        object.__setattr__(self, "home", Path(self.home).expanduser())
        for name, variable in (
            ("pool_size", "MENDB_POOL_SIZE"),
            ("max_body_bytes", "MENDB_MAX_BODY_BYTES"),
        ):
            if getattr(self, name) < 1:
                raise InvalidArgument(
                    f"{variable}={getattr(self, name)} is out of range: must be at least 1",
                    column=variable,
                )
