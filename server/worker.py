"""The worker: claims jobs from `mendb.runs` and carries them out.

It LISTENs on `mendb_jobs` and polls as a fallback, claims a job with
`FOR UPDATE SKIP LOCKED`, and renews the job's lease from a heartbeat thread on a
connection of its own while the work runs in the main thread. Cancellation is
seen by the heartbeat and honoured at the next progress report; a job whose
worker died is queued again by any worker once the lease has expired.

Beside that, a presence thread writes the worker's own heartbeat into
`mendb.workers` (for /health), busy or idle. When the database goes away the worker
waits and reconnects with a growing delay; the job it held is left to its lease.
A worker started by `mendb serve` ends when the service does, however it ended.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy.exc

from mendb.db import changes, jobs, rounds, runs
from mendb.db.errors import Cancelled, LeaseLost, MendbError
from mendb.db.repairs import act_for
from mendb.db.runs import Run
from mendb.server import applying, loop, operations
from mendb.server.context import Mendb
from mendb.server.failures import failure_recorded
from mendb.server.loop import LoopConfig, loop_config
from mendb.server.settings import Settings
from mendb.valuation.methods import METHODS

log = logging.getLogger("mendb.worker")


@dataclass(frozen=True)
class WorkerOptions:
    lease_seconds: float = 30.0
    poll_seconds: float = 2.0
    max_attempts: int = 3
    watch: bool = False
    watch_threshold: int = 50
    watch_method: str = "knn_shapley"
    beat_seconds: float = 5.0
    reconnect_seconds: float = 1.0  # the first wait after losing the database
    max_reconnect_seconds: float = 30.0


# What losing the database looks like, from psycopg directly or through the pool.
CONNECTION_LOST = (psycopg.OperationalError, psycopg.InterfaceError, sqlalchemy.exc.DBAPIError)


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
        conn: psycopg.Connection[Any] | None = None
        renewed = time.monotonic()
        try:
            while not self.stopped.wait(self.lease_seconds / 3):
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                    self.state = jobs.renew(conn, self.run_id, self.worker_id, self.lease_seconds)
                    renewed = time.monotonic()
                except psycopg.Error:
                    conn = None
                    # Past its lease the job may be another worker's: stop it here.
                    if time.monotonic() - renewed > self.lease_seconds:
                        self.state = "lost"
                if self.state != "held":
                    return
        finally:
            if conn is not None:
                conn.close()

    def check(self, _fraction: float = 0.0) -> None:
        """The progress callback: stop the work when cancelled or no longer ours."""
        if self.state == "cancel":
            raise Cancelled(f"run {self.run_id} was cancelled", row=str(self.run_id))
        if self.state == "lost":
            raise LeaseLost(f"run {self.run_id} is no longer held", row=str(self.run_id))


def execute(
    conn: psycopg.Connection[Any], settings: Settings, job: Run, worker_id: str, beat: Heartbeat
) -> None:
    """Carry out one claimed job, as the user who requested it. Its failure is
    recorded by the worker's guard (`run_once`), not here."""
    settings = dataclasses.replace(settings, actor=job.requested_by)
    act_for(conn, job.requested_by)
    kind, name, params = job.kind, job.dataset, dict(job.params)
    if kind == "value":
        operations.execute_value_run(conn, settings, job.id, beat.check, worker_id)
        return
    if kind == "loop":
        _loop(conn, settings, job, worker_id)
        return
    beat.check()
    if kind == "propose":
        if job.method:
            params["method"] = job.method
        proposed = operations.propose(conn, settings, name, **params)
        metrics: dict[str, Any] = {"proposed": proposed.ids}
        if proposed.reason:
            metrics["reason"] = proposed.reason
    elif kind == "apply":
        metrics = applying.apply_accepted(conn, name, settings.actor).to_dict()
    elif kind == "revert":
        metrics = applying.revert_applied(conn, name, params.get("ids"), settings.actor).to_dict()
    else:
        raise MendbError(f"jobs of kind {kind!r} are not run by this worker")
    jobs.finish(conn, job.id, worker_id, metrics)


def _loop(conn: psycopg.Connection[Any], settings: Settings, job: Run, worker_id: str) -> None:
    """Start a loop carried by this job's run, or resume the dataset's paused loop
    (then this job only records which loop it resumed)."""
    name = job.dataset
    paused = rounds.paused(conn, name)
    if paused is None:
        fields = dict(job.params) | ({"method": job.method} if job.method else {})
        config = loop_config({k: v for k, v in fields.items() if k in _LOOP_FIELDS})
        loop.start(conn, settings, name, config, log.info, loop_id=job.id)
        return
    # Marks this run as a resume request, not a loop of its own.
    runs.add_diagnostics(conn, job.id, {"resumes_loop": paused.id})
    log.info("resuming loop %s (paused for review)", paused.id)
    outcome = loop.resume(conn, settings, name, paused, log.info)
    jobs.finish(
        conn,
        job.id,
        worker_id,
        {"loop_id": outcome.loop_id, "status": outcome.status, "reason": outcome.reason},
    )


_LOOP_FIELDS = {f.name for f in dataclasses.fields(LoopConfig)}


class Presence(threading.Thread):
    """Writes the worker's heartbeat into `mendb.workers` every `beat_seconds`, on a
    connection of its own, reconnecting when the database comes back. With a
    `parent_pid`, it also watches that the process which started the worker is
    still there, and ends the worker when it is not."""

    def __init__(
        self, url: str, worker_id: str, options: WorkerOptions, parent_pid: int | None = None
    ) -> None:
        super().__init__(daemon=True, name="presence")
        self.url, self.worker_id, self.options = url, worker_id, options
        self.parent_pid = parent_pid
        self.run_id: int | None = None
        self.stopped = threading.Event()
        self.orphaned = threading.Event()

    def run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        watching = self.parent_pid is not None
        check_every = min(self.options.beat_seconds, 1.0) if watching else self.options.beat_seconds
        next_beat = 0.0
        try:
            while not self.stopped.is_set():
                if self.parent_pid is not None and os.getppid() != self.parent_pid:
                    self.orphaned.set()
                    return
                if time.monotonic() >= next_beat:
                    conn = self._beat(conn)
                    next_beat = time.monotonic() + self.options.beat_seconds
                self.stopped.wait(check_every)
        finally:
            if conn is not None:
                conn.close()

    def _beat(self, conn: psycopg.Connection[Any] | None) -> psycopg.Connection[Any] | None:
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            jobs.worker_beat(
                conn,
                self.worker_id,
                socket.gethostname(),
                os.getpid(),
                self.options.beat_seconds,
                self.run_id,
            )
            return conn
        except psycopg.Error as error:
            log.warning("heartbeat not written: %s", error)
            return None


class Worker:
    def __init__(self, app: Mendb, options: WorkerOptions, worker_id: str | None = None) -> None:
        self.app, self.options = app, options
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.presence: Presence | None = None
        self._delay = options.reconnect_seconds

    def run_once(self) -> bool:
        """Re-queue expired jobs, then claim and carry out one; False when idle."""
        with self.app.connection() as conn:
            jobs.requeue_expired(conn, self.options.max_attempts)
            row = jobs.claim(conn, self.worker_id, self.options.lease_seconds)
            if row is None:
                return False
            job = Run.from_row(row)
            if self.presence is not None:
                self.presence.run_id = job.id
            beat = Heartbeat(self.app.url, job.id, self.worker_id, self.options.lease_seconds)
            beat.start()
            try:
                with failure_recorded(conn, job.id, self.worker_id):
                    execute(conn, self.app.settings, job, self.worker_id, beat)
                log.info("run %s done", job.id)
            except LeaseLost:
                log.warning("run %s: lease lost; another worker carries on", job.id)
            except Cancelled:
                log.info("run %s cancelled", job.id)
            except Exception:  # the worker's top level: recorded by the guard; go on
                log.exception("run %s failed", job.id)
            finally:
                beat.stopped.set()
                beat.join()
                if self.presence is not None:
                    self.presence.run_id = None
        return True

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
        """Work until `stop` is set, waking on NOTIFY or every poll interval; while
        the database is unreachable, wait and reconnect, each wait longer than the
        last up to `max_reconnect_seconds`."""
        self._delay = self.options.reconnect_seconds
        while not stop.is_set():
            try:
                self._serve(stop)
                return
            except CONNECTION_LOST as error:
                log.warning("database unreachable (%s); reconnecting in %.1f s", error, self._delay)
                stop.wait(self._delay)
                self._delay = min(self._delay * 2, self.options.max_reconnect_seconds)

    def _serve(self, stop: threading.Event) -> None:
        with psycopg.connect(self.app.url, autocommit=True, connect_timeout=10) as listener:
            jobs.listen(listener)
            self._delay = self.options.reconnect_seconds
            log.info("worker %s listening on %s", self.worker_id, jobs.CHANNEL)
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


def end_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when the process that started it
    dies, SIGKILL included (elsewhere the presence thread's check does it)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def open_with_retry(settings: Settings, options: WorkerOptions, stop: threading.Event) -> Mendb:
    """Mendb.open, waiting for the database the way a running worker does."""
    delay = options.reconnect_seconds
    while True:
        try:
            return Mendb.open(settings)
        except CONNECTION_LOST as error:
            if stop.is_set():
                raise
            log.warning("database unreachable (%s); retrying in %.1f s", error, delay)
            stop.wait(delay)
            delay = min(delay * 2, options.max_reconnect_seconds)


# How long a worker whose service is gone may take to finish its job before it
# exits anyway; its lease then hands the job to another worker.
ORPHAN_GRACE_SECONDS = 10.0


def main(settings: Settings, options: WorkerOptions, parent_pid: int | None = None) -> None:
    """A worker process: runs until SIGTERM or SIGINT, or, started by `mendb serve`
    (`parent_pid`), until that process is gone."""
    if parent_pid is not None:
        end_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if parent_pid is not None and os.getppid() != parent_pid:
        return  # the service ended before this process was set up
    app = open_with_retry(settings, options, stop)
    worker = Worker(app, options)
    presence = Presence(app.url, worker.worker_id, options, parent_pid)
    worker.presence = presence
    presence.start()
    threading.Thread(target=_leave_when_orphaned, args=(presence, stop), daemon=True).start()
    try:
        worker.run(stop)
    finally:
        presence.stopped.set()
        presence.join()
        try:
            with app.connection() as conn:
                jobs.worker_stopped(conn, worker.worker_id)
        except CONNECTION_LOST:
            pass  # it falls silent instead, which /health reads the same way
        app.close()


def _leave_when_orphaned(presence: Presence, stop: threading.Event) -> None:
    presence.orphaned.wait()
    log.warning("the service that started this worker is gone; stopping")
    stop.set()
    time.sleep(ORPHAN_GRACE_SECONDS)
    os._exit(1)
