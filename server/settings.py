"""Settings from the environment, read once at the entry point and passed down."""

from __future__ import annotations

import getpass
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "mendb"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "MENDB_DATABASE_URL")
    )
    """Any PostgreSQL with pgvector; unset means the embedded server under `home`."""

    home: Path = Field(
        default=Path("~/.local/share/mendb").expanduser(),
        validation_alias=AliasChoices("MENDB_HOME"),
    )
    """Where the embedded server's data directory and work files live."""

    dask_scheduler: str | None = Field(
        default=None, validation_alias=AliasChoices("MENDB_DASK_SCHEDULER")
    )
    """A Dask scheduler (tcp://HOST:8786) for the sampling methods; unset is local."""

    actor: str = Field(default_factory=_default_actor, validation_alias=AliasChoices("MENDB_ACTOR"))
    """Who is acting, written into the audit trail."""

    pool_size: int = Field(default=4, ge=1, validation_alias=AliasChoices("MENDB_POOL_SIZE"))
    """Connections the pool keeps open (the service may open as many again at peaks)."""

    embedding_model: str = Field(
        default="all-MiniLM-L6-v2", validation_alias=AliasChoices("MENDB_EMBEDDING_MODEL")
    )
    """The sentence-transformers model text columns are embedded with (a name or a
    path on disk; loaded offline)."""
