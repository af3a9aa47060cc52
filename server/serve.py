"""`mendb serve`: the HTTP API in this process and N worker processes beside it."""

from __future__ import annotations

import multiprocessing
import signal

import uvicorn

from server import worker
from server.app import create_app
from server.context import Mendb
from server.settings import Settings


class _Stopped(Exception):
    """The service was asked to stop."""


def _stop(_signum: int, _frame: object) -> None:
    raise _Stopped


def resolve(settings: Settings) -> Settings:
    """Start the embedded server if needed and migrate once, then pin its URL so the
    workers attach to the same database."""
    app = Mendb.open(settings)
    app.close()
    return settings.model_copy(update={"database_url": app.url})


def serve(
    settings: Settings, host: str, port: int, workers: int, options: worker.WorkerOptions
) -> None:
    settings = resolve(settings)
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=worker.main, args=(settings, options), name=f"mendb-worker-{i}", daemon=True
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
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
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
