"""A real browser against the app: Debian's chromium (`/usr/bin/chromium`, which
`make test` installs when it is missing) driven by playwright, and the app served by
uvicorn on a free port, in a thread, on the test's database."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from mendb.server.app import create_app
from mendb.server.settings import Settings

CHROMIUM = os.environ.get("MENDB_CHROMIUM", "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    # A failure, not a skip: `make test` installs the browser, and a skipped browser
    # test would let CI pass without the review page ever being clicked.
    if not shutil.which(CHROMIUM):
        pytest.fail(f"no browser at {CHROMIUM}: apt-get install -y chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    """The app, served on a free port until the test ends."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=base_url)
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.set_default_timeout(15_000)
    yield opened
    context.close()
    assert dialogs == [], f"a script ran in the page: {dialogs}"
