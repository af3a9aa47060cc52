"""`make screenshots`: the proposals page and a proposal's page, as the docs show
them (docs/ui/*.png). Run by pytest by name (it is not a test_ file, so the suite
does not collect it), on the browser tests' fixtures: a fresh database, the app on
a free port, Debian's chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.browser.test_review import log_in
from tests.browser.world import DATASET, build

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ui"


def test_screenshots(page: Any, conn: psycopg.Connection[Any]) -> None:
    world = build(conn)
    log_in(page, world.review_secret)
    page.set_viewport_size({"width": 1360, "height": 860})
    page.goto(f"/ui/datasets/{DATASET}/proposals")
    page.click(f'tr[data-proposal="{world.label_ids[1]}"] button[data-key="a"]')
    page.wait_for_selector(f"text=Accepted 1: {world.label_ids[1]}.")
    page.keyboard.press("j")
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / "proposals.png"), full_page=True)
    page.goto(f"/ui/proposals/{world.label_ids[0]}")
    page.screenshot(path=str(DOCS / "proposal.png"), full_page=True)
