"""The reference libraries' own virtualenvs, created on first use.

pyDVL 0.10 needs numpy < 2 and OpenDataVal 1.3 pins an older stack, so neither can
share mendb's environment. Each gets a virtualenv under `bench/` (gitignored); the
benchmark runs them as subprocesses on the same splits, saved as .npz.
torch==2.13.0 goes in first so the CPU build lying on disk is used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class RefEnv:
    name: str
    steps: tuple[tuple[str, ...], ...]  # pip argument lists, in order
    check: str  # python code that must import cleanly

    @property
    def path(self) -> Path:
        return BENCH / f".venv-{self.name}"

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def stamp(self) -> Path:
        return self.path / ".bench-ready"


PYDVL = RefEnv(
    "pydvl",
    (
        ("numpy==1.26.4",),
        ("pydvl==0.10.0", "numpy==1.26.4", "psutil", "threadpoolctl"),
    ),
    "import pydvl, numpy; print(pydvl.__version__, numpy.__version__)",
)

ODV = RefEnv(
    "odv",
    (
        ("torch==2.13.0",),
        ("opendataval==1.3.0", "--no-deps"),
        (
            "numpy==1.25.2", "pandas==1.5.3", "scikit-learn==1.3.2", "scipy==1.11.4",
            "tqdm==4.64.1", "matplotlib==3.8.4", "geomloss==0.2.6", "pandera==0.15.2",
            "torcheval==0.0.7", "typer==0.9.4", "requests", "psutil", "threadpoolctl",
        ),
    ),
    "import bench.ref_odv as r; r.import_odv(); import numpy; print(numpy.__version__)",
)

ENVS = {"pydvl": PYDVL, "odv": ODV}


def ensure(env: RefEnv, log: Path | None = None) -> tuple[bool, str]:
    """Create the env if needed; (usable, reason or versions)."""
    if env.stamp.exists():
        return True, env.stamp.read_text()
    log = log or BENCH / "out" / f"install-{env.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        if not env.python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(env.path)], check=True,
                           stdout=out, stderr=out)
            subprocess.run([str(env.python), "-m", "pip", "install", "-q", "--upgrade", "pip"],
                           stdout=out, stderr=out, check=False)
        for step in env.steps:
            done = subprocess.run([str(env.python), "-m", "pip", "install", "-q", *step],
                                  stdout=out, stderr=out, check=False)
            if done.returncode != 0:
                return False, f"did not install: pip install {' '.join(step)} failed (see {log})"
    probe = subprocess.run([str(env.python), "-c", env.check], capture_output=True, text=True,
                           cwd=BENCH.parent, env=ref_environ(), check=False)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return False, f"did not import: {last}"
    env.stamp.write_text(probe.stdout.strip())
    return True, probe.stdout.strip()


def ref_environ(threads: int | None = None) -> dict[str, str]:
    """The environment for a benchmark subprocess: OPENBLAS_CORETYPE and
    OPENBLAS_L2_SIZE are dropped together (only here), so OpenBLAS picks its kernel
    by itself as it does for mendb's own measurements in the parent."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    environ["PYTHONPATH"] = str(BENCH.parent)
    if threads is not None:
        for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            environ[key] = str(threads)
    return environ


def main() -> None:
    names = sys.argv[1:] or list(ENVS)
    print(json.dumps({name: ensure(ENVS[name]) for name in names}, indent=1))


if __name__ == "__main__":
    main()
