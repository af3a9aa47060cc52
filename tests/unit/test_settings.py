"""Settings read the environment as they are built; code wins over it, an empty
variable is unset, and a bad number is refused naming its variable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mendb.db.errors import InvalidArgument
from mendb.server.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DATABASE_URL",
        "MENDB_DATABASE_URL",
        "MENDB_HOME",
        "MENDB_POOL_SIZE",
        "MENDB_MAX_BODY_BYTES",
        "MENDB_EMBEDDING_MODEL",
        "MENDB_DASK_SCHEDULER",
    ):
        monkeypatch.delenv(name, raising=False)


def test_the_defaults() -> None:
    settings = Settings()
    assert settings.database_url is None
    assert settings.home == Path("~/.local/share/mendb").expanduser()
    assert (settings.pool_size, settings.max_body_bytes) == (4, 1_000_000)
    assert settings.embedding_model == "all-MiniLM-L6-v2"
    assert settings.actor is None


def test_the_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MENDB_DATABASE_URL", "postgresql:///second")
    monkeypatch.setenv("MENDB_HOME", str(tmp_path))
    monkeypatch.setenv("MENDB_POOL_SIZE", "9")
    monkeypatch.setenv("MENDB_DASK_SCHEDULER", "tcp://h:8786")
    settings = Settings()
    assert settings.database_url == "postgresql:///second"
    assert settings.home == tmp_path
    assert settings.pool_size == 9
    assert settings.dask_scheduler == "tcp://h:8786"
    monkeypatch.setenv("DATABASE_URL", "postgresql:///first")
    assert Settings().database_url == "postgresql:///first"


def test_code_wins_and_an_empty_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MENDB_POOL_SIZE", "9")
    monkeypatch.setenv("DATABASE_URL", "")
    settings = Settings(pool_size=2, home="~/elsewhere")  # type: ignore[arg-type]
    assert settings.pool_size == 2
    assert settings.database_url is None
    assert settings.home == Path("~/elsewhere").expanduser()


def test_a_copy_does_not_read_the_environment_again(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(database_url="postgresql:///mine")
    monkeypatch.setenv("DATABASE_URL", "postgresql:///other")
    assert replace(settings, actor="someone").database_url == "postgresql:///mine"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MENDB_POOL_SIZE", "four"), ("MENDB_POOL_SIZE", "0"), ("MENDB_MAX_BODY_BYTES", "-1")],
)
def test_a_bad_number_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidArgument, match=variable) as caught:
        Settings()
    assert caught.value.column == variable
