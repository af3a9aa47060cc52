"""`mendb serve`: the HTTP API in this process and N worker processes beside it,
kept at N: a worker that dies is started again. The workers end with the service:
on SIGTERM or SIGINT it stops them, and if it is killed outright each worker sees
its parent gone (server/worker.py) and stops itself."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import replace
from multiprocessing.context import SpawnContext, SpawnProcess

import uvicorn

from mendb.server import worker
from mendb.server.app import create_app
from mendb.server.context import Mendb
from mendb.server.settings import Settings

log = logging.getLogger("mendb.serve")


class _Stopped(Exception):
    """The service was asked to stop."""


def _stop(_signum: int, _frame: object) -> None:
    raise _Stopped


def resolve(settings: Settings) -> Settings:
    """Start the embedded server if needed and migrate once, then pin its URL so the
    workers attach to the same database. The service acts as itself only where no
    token or request names someone: as service:OS_USER@ROLE."""
    app = Mendb.open(settings)
    app.close()
    actor = settings.actor or app.actor.replace("cli:", "service:", 1)
    return replace(settings, database_url=app.url, actor=actor)


class Supervisor(threading.Thread):
    """Keeps `count` worker processes running. A worker that exits is started
    again; one that keeps dying soon after it starts is started again after a
    wait that doubles each time, up to `max_wait` seconds."""

    def __init__(
        self,
        settings: Settings,
        options: worker.WorkerOptions,
        count: int,
        check_seconds: float = 1.0,
        max_wait: float = 60.0,
    ) -> None:
        super().__init__(daemon=True, name="mendb-supervisor")
        self.settings, self.options = settings, options
        self.check_seconds, self.max_wait = check_seconds, max_wait
        self.context: SpawnContext = multiprocessing.get_context("spawn")
        self.processes: list[SpawnProcess | None] = [None] * count
        self.started_at = [0.0] * count
        self.waits = [0.0] * count
        self.restarts = 0
        self.stopped = threading.Event()
        self.lock = threading.Lock()

    def start_worker(self, slot: int) -> None:
        process = self.context.Process(
            target=worker.main,
            args=(self.settings, self.options, os.getpid()),
            name=f"mendb-worker-{slot}",
            daemon=True,
        )
        process.start()
        self.processes[slot] = process
        self.started_at[slot] = time.monotonic()

    def run(self) -> None:
        # Workers are started from this thread, which lives as long as the service:
        # Linux's parent-death signal follows the thread that started a process.
        with self.lock:
            for slot in range(len(self.processes)):
                self.start_worker(slot)
        due: list[float | None] = [None] * len(self.processes)
        while not self.stopped.wait(self.check_seconds):
            with self.lock:
                if self.stopped.is_set():
                    return
                for slot, process in enumerate(self.processes):
                    if process is not None and not process.is_alive():
                        due[slot] = self._replace(slot, process, due[slot])

    def _replace(self, slot: int, process: SpawnProcess, due: float | None) -> float | None:
        """Start a dead worker again once its wait is over; returns when it is due
        (None once started)."""
        now = time.monotonic()
        if due is None:
            died_young = now - self.started_at[slot] < 10 * max(self.check_seconds, 1.0)
            self.waits[slot] = min(2 * self.waits[slot] or 1.0, self.max_wait) if died_young else 0
            due = now + self.waits[slot]
            log.warning(
                "worker %s (pid %s) exited with status %s; starting it again in %.0f s",
                slot, process.pid, process.exitcode, self.waits[slot],
            )  # fmt: skip
        if now < due:
            return due
        self.restarts += 1
        self.start_worker(slot)
        return None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop restarting, then end the workers: SIGTERM, and SIGKILL for any still
        running after `timeout` seconds."""
        with self.lock:
            self.stopped.set()
        self.join(timeout=timeout)
        running = [p for p in self.processes if p is not None]
        for process in running:
            if process.is_alive():
                process.terminate()
        for process in running:
            process.join(timeout=timeout)
            if process.is_alive():
                process.kill()
                process.join()


def serve(
    settings: Settings, host: str, port: int, workers: int, options: worker.WorkerOptions
) -> None:
    settings = resolve(settings)
    supervisor = Supervisor(settings, options, workers)
    supervisor.start()
    # uvicorn shuts down on SIGTERM/SIGINT, then raises the signal again with the
    # handlers found before it started: these, so that the workers are ended too.
    previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    except _Stopped:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        supervisor.stop()
