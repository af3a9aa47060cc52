"""Launch one measured job (`bench.child`) in the right environment and read it back."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.envs import BENCH, ENVS, ref_environ

OUT = BENCH / "out"
RUNNERS = {"mendb": "bench.ref_mendb", "cleanlab": "bench.ref_mendb",
           "pydvl": "bench.ref_pydvl", "odv": "bench.ref_odv"}


@dataclass
class Outcome:
    lib: str
    method: str
    ok: bool
    values: np.ndarray | None = None
    seconds: float = float("nan")
    peak_mb: float = float("nan")
    extras: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def python_for(lib: str) -> str:
    return str(ENVS[lib].python) if lib in ENVS else sys.executable


def run_job(lib: str, method: str, params: dict[str, Any], cell: Path | None, tag: str,
            timeout: float, resume: bool = False, runner: str | None = None) -> Outcome:
    """Run the job in a fresh process; with `resume`, reuse a finished result of the
    very same job (library, method, parameters, cell) from an earlier run. `runner`
    names the module that runs it in the library's environment (default: the
    library's own, `RUNNERS`)."""
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / "jobs" / tag
    out.parent.mkdir(parents=True, exist_ok=True)
    job = {"lib": lib, "runner": runner or RUNNERS[lib], "method": method, "params": params,
           "cell": str(cell) if cell else None, "out": str(out)}
    job_path = out.with_suffix(".job.json")
    if resume and job_path.exists() and json.loads(job_path.read_text()) == job:
        earlier = _read(lib, method, out)
        if earlier.ok:
            return earlier
    job_path.write_text(json.dumps(job))
    for stale in (out.with_suffix(".json"), out.with_suffix(".npy")):
        stale.unlink(missing_ok=True)
    # Its own session, so that a timeout ends the whole tree: the job, its pool's
    # forkserver and workers (which would otherwise go on computing as orphans).
    with subprocess.Popen([python_for(lib), "-m", "bench.child", str(job_path)],
                          env=ref_environ(), cwd=BENCH.parent, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return Outcome(lib, method, False, error=f"timed out after {timeout:.0f} s")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # anything the job left behind
    if not out.with_suffix(".json").exists():
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        return Outcome(lib, method, False, error=f"exit {proc.returncode}: {last}")
    return _read(lib, method, out)


def _read(lib: str, method: str, out: Path) -> Outcome:
    result = out.with_suffix(".json")
    if not result.exists():
        return Outcome(lib, method, False, error="no result")
    info = json.loads(result.read_text())
    if not info.get("ok"):
        return Outcome(lib, method, False, error=info.get("error", "?"))
    return Outcome(lib, method, True, np.load(out.with_suffix(".npy")), info["seconds"],
                   info["peak_mb"], info.get("extras") or {})
