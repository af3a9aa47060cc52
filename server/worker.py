"""The worker: claims jobs from `mendb.runs` and carries them out.

It LISTENs on `mendb_jobs` and polls as a fallback, claims a job with
`FOR UPDATE SKIP LOCKED`, and renews the job's lease from a heartbeat thread on a
connection of its own while the work runs in the main thread. Cancellation is
seen by the heartbeat and honoured at the next progress report; a job whose
worker died is queued again by any worker once the lease has expired.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from db import changes, jobs, rounds, runs
from db.errors import MendbError
from db.jobs import Cancelled, LeaseLost
from server import operations
from server.context import Mendb
from server.loop import LoopConfig, loop_config, run_loop
from server.settings import Settings
from valuation.methods import METHODS

log = logging.getLogger("mendb.worker")


@dataclass(frozen=True)
class WorkerOptions:
    lease_seconds: float = 30.0
    poll_seconds: float = 2.0
    max_attempts: int = 3
    watch: bool = False
    watch_threshold: int = 50
    watch_method: str = "knn_shapley"


class Heartbeat(threading.Thread):
    """Renews one job's lease every third of the lease, and remembers whether the
    job was cancelled or the lease lost."""

    def __init__(self, url: str, run_id: int, worker_id: str, lease_seconds: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{run_id}")
        self.url, self.run_id, self.worker_id = url, run_id, worker_id
        self.lease_seconds = lease_seconds
        self.state: jobs.Lease = "held"
        self.stopped = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopped.wait(self.lease_seconds / 3):
                self.state = jobs.renew(conn, self.run_id, self.worker_id, self.lease_seconds)
                if self.state != "held":
                    return

    def check(self, _fraction: float = 0.0) -> None:
        """The progress callback: stop the work when cancelled or no longer ours."""
        if self.state == "cancel":
            raise Cancelled(f"run {self.run_id} was cancelled", row=str(self.run_id))
        if self.state == "lost":
            raise LeaseLost(f"run {self.run_id} is no longer held", row=str(self.run_id))


def execute(app: Mendb, job: dict[str, Any], worker_id: str, beat: Heartbeat) -> None:
    """Carry out one claimed job, as the user who requested it."""
    app = dataclasses.replace(
        app, settings=app.settings.model_copy(update={"actor": job["requested_by"]})
    )
    kind, name, params = job["kind"], job["dataset"], dict(job["params"])
    if kind == "value":
        operations.execute_value_run(app, job["id"], beat.check, worker_id)
        return
    if kind == "loop":
        _loop(app, job, worker_id)
        return
    beat.check()
    if kind == "propose":
        if job["method"]:
            params["method"] = job["method"]
        metrics: dict[str, Any] = {"proposed": operations.propose_repairs(app, name, **params)}
    elif kind == "apply":
        metrics = operations.apply(app, name).to_dict()
    elif kind == "revert":
        metrics = operations.revert(app, name, params.get("ids")).to_dict()
    else:
        raise MendbError(f"jobs of kind {kind!r} are not run by this worker")
    with app.connection() as conn:
        jobs.finish(conn, job["id"], worker_id, metrics)


def _loop(app: Mendb, job: dict[str, Any], worker_id: str) -> None:
    """Start a loop carried by this job's run, or resume the dataset's paused loop
    (then this job only records which loop it resumed)."""
    name = job["dataset"]
    with app.connection() as conn:
        paused = rounds.paused_loop(conn, name)
    if paused is None:
        fields = dict(job["params"]) | ({"method": job["method"]} if job["method"] else {})
        config = loop_config({k: v for k, v in fields.items() if k in _LOOP_FIELDS})
        run_loop(app, name, config, log.info, loop_id=job["id"])
        return
    with app.connection() as conn:
        # Marks this run as a resume request, not a loop of its own.
        runs.add_diagnostics(conn, job["id"], {"resumes_loop": paused["id"]})
    outcome = run_loop(app, name, LoopConfig(), log.info)
    with app.connection() as conn:
        jobs.finish(
            conn,
            job["id"],
            worker_id,
            {"loop_id": outcome.loop_id, "status": outcome.status, "reason": outcome.reason},
        )


_LOOP_FIELDS = {f.name for f in dataclasses.fields(LoopConfig)}


class Worker:
    def __init__(self, app: Mendb, options: WorkerOptions, worker_id: str | None = None) -> None:
        self.app, self.options = app, options
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def run_once(self) -> bool:
        """Re-queue expired jobs, then claim and carry out one; False when idle."""
        with self.app.connection() as conn:
            jobs.requeue_expired(conn, self.options.max_attempts)
            job = jobs.claim(conn, self.worker_id, self.options.lease_seconds)
        if job is None:
            return False
        beat = Heartbeat(self.app.url, job["id"], self.worker_id, self.options.lease_seconds)
        beat.start()
        try:
            execute(self.app, job, self.worker_id, beat)
            log.info("run %s done", job["id"])
        except LeaseLost:
            log.warning("run %s: lease lost; another worker carries on", job["id"])
        except Cancelled:
            self._end(job["id"], "cancelled", None)
        except Exception as error:  # the worker's top level: record and go on
            log.exception("run %s failed", job["id"])
            self._end(job["id"], "failed", f"{type(error).__name__}: {error}")
        finally:
            beat.stopped.set()
            beat.join()
        return True

    def _end(self, run_id: int, status: Any, error: str | None) -> None:
        with self.app.connection() as conn:
            jobs.end(conn, run_id, self.worker_id, status, error)

    def watch(self) -> list[int]:
        """Continuous mode: queue a revaluation where enough rows changed."""
        method = self.options.watch_method
        accepted = set(METHODS[method].param_names())

        def params_of(previous: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in previous.items() if k in accepted}

        with self.app.connection() as conn:
            return changes.request_revaluations(
                conn, method, self.options.watch_threshold, params_of, "mendb-watch"
            )

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set, waking on NOTIFY or every poll interval."""
        with psycopg.connect(self.app.url, autocommit=True) as listener:
            jobs.listen(listener)
            if self.options.watch:
                with self.app.connection() as conn:
                    changes.attach_all(conn)
            while not stop.is_set():
                if self.run_once():
                    continue
                if self.options.watch and self.watch():
                    continue
                for _ in listener.notifies(timeout=self.options.poll_seconds, stop_after=1):
                    pass


def main(settings: Settings, options: WorkerOptions) -> None:
    """A worker process: runs until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    app = Mendb.open(settings)
    try:
        worker = Worker(app, options)
        log.info("worker %s listening on %s", worker.worker_id, jobs.CHANNEL)
        worker.run(stop)
    finally:
        app.close()
