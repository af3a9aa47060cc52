"""Run one method in a fresh process and measure it: `python -m bench.child JOB.json`.

It runs in mendb's environment and in the reference libraries' own ones, so it
imports only the standard library, numpy and psutil at the top. The job names a
runner module (`bench.ref_mendb`, `bench.ref_pydvl`, ...), a method, its
parameters and the cell's .npz. The runner's `run(method, params, arrays)`
returns (values, extras); only that call is timed.

Peak memory is the largest resident set of this process *and its children*
(worker pools), sampled every 10 ms by a thread with psutil, minus the resident
set just before the call: the memory the method itself added. The absolute peak
and ru_maxrss are recorded too.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import resource
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import psutil


class PeakRSS:
    """Samples the RSS of this process tree until stopped."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self.process = psutil.Process()
        self.baseline = self.sample()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> int:
        total = 0
        for p in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.sample())


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    out = Path(job["out"])
    info: dict[str, object] = {"lib": job["lib"], "method": job["method"]}
    try:
        runner = importlib.import_module(job["runner"])
        arrays = dict(np.load(job["cell"])) if job.get("cell") else {}
        if hasattr(runner, "prepare"):
            runner.prepare(job)  # imports and warm-up outside the timed call
        with PeakRSS() as memory:
            started = time.perf_counter()
            values, extras = runner.run(job["method"], job.get("params", {}), arrays)
            seconds = time.perf_counter() - started
        np.save(out.with_suffix(".npy"), np.asarray(values, dtype=np.float64))
        info.update(ok=True, seconds=seconds,
                    peak_mb=(memory.peak - memory.baseline) / 2**20,
                    peak_abs_mb=memory.peak / 2**20,
                    maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                    extras=extras)
    except Exception as error:  # report any failure of a library as a table cell
        info.update(ok=False, error=f"{type(error).__name__}: {error}",
                    traceback=traceback.format_exc()[-2000:])
    out.with_suffix(".json").write_text(json.dumps(info, default=_jsonable))
    return 0


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
