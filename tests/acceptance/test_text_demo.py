"""`mendb demo --text` end to end at a small size: real reviews, planted label
flips, typos and corrupted vectors, each scored against what was planted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mendb.server.cli import cli


def test_text_demo_finds_and_mends_planted_errors(
    dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("MENDB_HOME", str(tmp_path))
    result = CliRunner().invoke(
        cli, ["demo", "--text", "--rows", "150", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    kinds = report["kinds"]
    assert set(kinds) == {"label", "text", "vector"}
    assert all(k["injected"] >= 3 for k in kinds.values())
    # Stated precision: a corrupted derived vector is re-embedded from its text, so
    # every vector repair of a planted row is right, and vector flags are planted rows.
    vector = kinds["vector"]
    assert vector["found"] == vector["correct"]
    assert vector["proposed"] == 0 or vector["detection_precision"] >= 0.8
    assert kinds["label"]["found"] >= 1 and kinds["label"]["correct"] == kinds["label"]["found"]
    assert report["applied"] >= 1
