"""The run page in a real browser: `live.js` (no inline script, under the page's
CSP) follows the run's progress as the worker reports it, and a review token
cancels the run with the page's button."""

from __future__ import annotations

from typing import Any

import psycopg

from mendb.db import datasets, jobs, tokens
from tests.factories import make_table


def test_the_run_page_follows_progress_and_cancels(
    page: Any, conn: psycopg.Connection[Any]
) -> None:
    make_table(conn, n=40)
    datasets.register(conn, "d", "train", "id", "label", datasets.parse_feature_spec("a,b"))
    run_id = jobs.request(conn, "value", "d", {"method": "knn_shapley"})
    conn.execute(
        "UPDATE mendb.runs SET status = 'running', progress = 0.2,"
        " started_at = clock_timestamp() - interval '10 seconds' WHERE id = %s",
        [run_id],
    )
    _, secret = tokens.create(conn, "ui-reviewer", "review")
    problems: list[str] = []

    def console(message: Any) -> None:
        if message.type == "error" and "404" not in message.text:
            problems.append(message.text)

    def response(reply: Any) -> None:
        # A missing favicon is the browser's own request; any other 404 is the page's.
        if reply.status == 404 and not reply.url.endswith("/favicon.ico"):
            problems.append(f"{reply.status} {reply.url}")

    page.on("console", console)
    page.on("response", response)
    page.goto("/ui/login")
    page.fill("#token", secret)
    page.click("form.login button[type=submit]")
    page.goto(f"/ui/runs/{run_id}")
    assert page.inner_text('[data-field="percent"]') == "20%"

    conn.execute("UPDATE mendb.runs SET progress = 0.7 WHERE id = %s", [run_id])
    # A locator, not wait_for_function: the page's CSP refuses eval'd predicates.
    page.wait_for_selector('[data-field="percent"]:text-is("70%")')
    assert page.eval_on_selector("#run-progress", "bar => bar.value") == 0.7

    page.click("form.cancel button[type=submit]")
    page.wait_for_url(f"**/ui/runs/{run_id}")
    row = conn.execute(
        "SELECT status, cancel_requested FROM mendb.runs WHERE id = %s", [run_id]
    ).fetchone()
    assert row == ("running", True)  # a running run stops at its next progress report
    assert page.locator("form.cancel").count() == 0
    assert problems == []  # no CSP refusal, no failed fetch
