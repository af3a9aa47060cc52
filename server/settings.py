"""Settings from the environment, read once at the entry point and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Fields that only code may set: who is acting is established (a token, the
# database role and the OS account), never claimed by an environment variable.
_NOT_FROM_ENVIRONMENT = frozenset({"actor"})


class _Without(PydanticBaseSettingsSource):
    """A settings source with some fields left out."""

    def __init__(self, source: PydanticBaseSettingsSource, left_out: frozenset[str]) -> None:
        super().__init__(source.settings_cls)
        self.source, self.left_out = source, left_out

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self.source().items() if k not in self.left_out}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", populate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _Without(env_settings, _NOT_FROM_ENVIRONMENT),
            _Without(dotenv_settings, _NOT_FROM_ENVIRONMENT),
            file_secret_settings,
        )

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

    actor: str | None = None
    """Who is acting, written into the audit trail: a token's name (HTTP), a job's
    requester (the worker); unset, `Mendb.open` names the command line's user as
    cli:OS_USER@DATABASE_ROLE. Never read from the environment."""

    pool_size: int = Field(default=4, ge=1, validation_alias=AliasChoices("MENDB_POOL_SIZE"))
    """Connections the pool keeps open (the service may open as many again at peaks)."""

    max_body_bytes: int = Field(
        default=1_000_000, ge=1, validation_alias=AliasChoices("MENDB_MAX_BODY_BYTES")
    )
    """The largest HTTP request body the API reads; a larger one gets 413 unread."""

    embedding_model: str = Field(
        default="all-MiniLM-L6-v2", validation_alias=AliasChoices("MENDB_EMBEDDING_MODEL")
    )
    """The sentence-transformers model text columns are embedded with (a name or a
    path on disk; loaded offline)."""
