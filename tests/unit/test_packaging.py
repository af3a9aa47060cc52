"""The wheel installs everything under one import name, `mendb`: installing mendb
must not claim generic names like `db` or `server` in a user's environment."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("db", "migrations", "repair", "server", "valuation")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(ROOT)],
        check=True, capture_output=True,
    )
    (built,) = out.glob("mendb-*.whl")
    return built


def test_the_wheel_holds_one_top_level_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"mendb"}
    top_level = zipfile.ZipFile(wheel).read(
        next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    )
    assert b"mendb = mendb.server.cli:main" in top_level


def test_every_source_file_and_migration_is_in_the_wheel(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        f"mendb/{path.relative_to(ROOT).as_posix()}"
        for folder in FOLDERS
        for pattern in ("*.py", "*.sql")
        for path in (ROOT / folder).rglob(pattern)
    }
    assert sources - names == set()


def test_installed_package_imports_as_mendb_and_not_as_db(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(site)!r})\n"
        "import mendb.db.migrate, mendb.valuation\n"
        f"assert mendb.valuation.__file__.startswith({str(site)!r}), mendb.valuation.__file__\n"
        "from importlib import resources\n"
        "files = resources.files('mendb.migrations').iterdir()\n"
        "sql = [p for p in files if p.name.endswith('.sql')]\n"
        "assert sql\n"
        "for generic in ('db', 'server', 'valuation', 'repair', 'migrations'):\n"
        "    try:\n"
        "        __import__(generic)\n"
        "    except ModuleNotFoundError:\n"
        "        continue\n"
        "    raise SystemExit(f'{generic} is importable')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


def test_no_source_imports_a_folder_by_its_bare_name() -> None:
    # Run from the checkout, `import db` would still work and load a second copy of
    # every module under another name (with its own exception classes): only `mendb.*`.
    bare = re.compile(
        r"\b(from|import) (db|server|valuation|repair|migrations)\b[. ]"
        r"|[\"'](db|server|valuation|repair|migrations)\.\w+\.\w+"  # monkeypatch targets
    )
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in (*FOLDERS, "bench", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if bare.search(line)
    ]
    assert found == []
