"""docker-compose.yml and the Dockerfile, checked without Docker: the service runs
`mendb serve` on every interface of its container with a healthcheck on /health,
and everything the Dockerfile copies, installs and runs exists in the project."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml

from mendb.server.app import create_app
from mendb.server.cli import cli
from mendb.server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), with continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_service_runs_mendb_serve_with_a_health_check() -> None:
    services = compose()["services"]
    assert set(services) >= {"db", "mendb"}
    mendb = services["mendb"]
    assert mendb["build"] == "."
    assert mendb["depends_on"]["db"]["condition"] == "service_healthy"
    assert mendb["entrypoint"] == ["mendb"]
    command = mendb["command"]
    assert command[0] == "serve" and command[command.index("--host") + 1] == "0.0.0.0"
    assert command[0] in cli.commands
    port = command[command.index("--port") + 1]
    assert f"127.0.0.1:{port}:{port}" in mendb["ports"]
    assert mendb["environment"]["DATABASE_URL"].startswith("postgresql://")
    health = " ".join(mendb["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/health" in health
    assert "/health" in {getattr(r, "path", None) for r in create_app(Settings()).routes}


def test_every_published_port_is_local() -> None:
    for name, service in compose()["services"].items():
        for mapping in service.get("ports", []):
            assert mapping.startswith("127.0.0.1:"), (name, mapping)


def test_what_the_dockerfile_uses_exists() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    instructions = dockerfile()
    assert instructions[0][0] == "FROM"
    for instruction, arguments in instructions:
        if instruction == "COPY":
            *sources, _target = shlex.split(arguments)
            for source in sources:
                assert (ROOT / source).exists(), source
        if instruction == "RUN":
            for extra in (part.split("[")[1].rstrip('"]') for part in shlex.split(arguments)
                          if part.startswith(".[")):  # fmt: skip
                assert extra in project["optional-dependencies"], extra
        if instruction == "ENTRYPOINT":
            assert json.loads(arguments) == ["mendb"] and "mendb" in project["scripts"]
        if instruction == "CMD":
            first = json.loads(arguments)[0]
            assert first == "--help" or first in cli.commands, first
    copied = {shlex.split(a)[0] for i, a in instructions if i == "COPY"}
    packages = {"db", "migrations", "repair", "server", "valuation"}
    assert packages <= copied, packages - copied
