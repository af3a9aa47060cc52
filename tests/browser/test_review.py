"""The review page in a real browser: log in with a review token, filter to label
proposals, accept two, reject one, apply, revert one, and find each step in the
table and in the audit rows under the token's name. Then the rules a person cannot
get around from the browser: a read token's page has no buttons and its forged
POST is refused, as is a POST without the CSRF secret; a `<script>` cell is text."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.browser.world import (
    DATASET,
    READER,
    REVIEWER,
    SCRIPT,
    build,
    csrf_of,
    events,
    statuses,
)

FORGE = """async ([url, body]) => (await fetch(url, {
    method: "POST", body: body,
    headers: {"Content-Type": "application/x-www-form-urlencoded"}})).status"""


def log_in(page: Any, secret: str) -> None:
    page.goto("/ui")
    assert page.url.endswith("/ui/login")
    page.fill("#token", secret)
    page.click("form.login button[type=submit]")
    page.wait_for_url("**/ui/datasets")
    assert secret not in page.url


def status_cell(page: Any, repair_id: int) -> str:
    text: str = page.locator(f'tr[data-proposal="{repair_id}"] .status').inner_text()
    return text


def test_a_round_reviewed_applied_and_reverted_in_the_browser(
    page: Any, conn: psycopg.Connection[Any]
) -> None:
    world = build(conn)
    first, second, third, *_ = world.label_ids
    log_in(page, world.review_secret)
    page.click(f'a[href="/ui/datasets/{DATASET}/proposals"]')
    page.select_option('select[name="kind"]', "label")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**kind=label**")
    rows = page.locator("tr[data-proposal]")
    assert rows.count() == 5
    assert [int(r) for r in rows.evaluate_all("rs => rs.map(r => r.dataset.proposal)")] == (
        world.label_ids
    )
    page.keyboard.press("j")  # the first row, by keyboard
    page.keyboard.press("a")
    page.wait_for_selector(f"text=Accepted 1: {first}.")
    page.click(f'tr[data-proposal="{second}"] button[data-key="a"]')
    page.wait_for_selector(f"text=Accepted 1: {second}.")
    for _ in range(3):
        page.keyboard.press("j")
    page.keyboard.press("r")
    page.wait_for_selector(f"text=Rejected 1: {third}.")
    assert [status_cell(page, i) for i in (first, second, third)] == [
        "accepted", "accepted", "rejected",
    ]  # fmt: skip
    page.click("#apply")
    page.wait_for_selector(f"text=Applied 2: {first}, {second}.")
    assert "kind=label" in page.url  # back on the filtered page
    page.click(f'tr[data-proposal="{second}"] button:has-text("Revert")')
    page.wait_for_selector(f"text=Reverted 1: {second}.")
    assert [status_cell(page, i) for i in (first, second, third)] == [
        "applied", "reverted", "rejected",
    ]  # fmt: skip
    by = page.locator(f'tr[data-proposal="{first}"] td').nth(10).inner_text()
    assert by == REVIEWER
    assert [statuses(conn)[i] for i in (first, second, third)] == [
        "applied", "reverted", "rejected",
    ]  # fmt: skip
    assert events(conn, first)[1:] == [
        ("proposed", "accepted", REVIEWER), ("accepted", "applied", REVIEWER),
    ]  # fmt: skip
    assert events(conn, second)[1:] == [
        ("proposed", "accepted", REVIEWER), ("accepted", "applied", REVIEWER),
        ("applied", "reverted", REVIEWER),
    ]  # fmt: skip
    assert events(conn, third)[1:] == [("proposed", "rejected", REVIEWER)]
    label = conn.execute("SELECT label::text FROM train WHERE id = 0").fetchone()
    assert (
        label
        == conn.execute("SELECT new_value FROM mendb.repairs WHERE id = %s", [first]).fetchone()
    )


def test_a_read_token_has_no_buttons_and_its_forged_post_is_refused(
    page: Any, conn: psycopg.Connection[Any]
) -> None:
    world = build(conn)
    log_in(page, world.read_secret)
    page.goto(f"/ui/datasets/{DATASET}/proposals")
    assert page.locator("tr[data-proposal]").count() == 7
    assert page.locator("tr[data-proposal] button").count() == 0
    assert page.locator("#apply").count() == 0 and READER in page.content()
    page.keyboard.press("j")
    page.keyboard.press("a")  # nothing to press
    before = statuses(conn)
    csrf = csrf_of(page.content())
    target = f"/ui/proposals/{world.label_ids[0]}/accept"
    assert page.evaluate(FORGE, [target, f"csrf={csrf}"]) == 403
    assert page.evaluate(FORGE, [f"/ui/datasets/{DATASET}/apply", f"csrf={csrf}"]) == 403
    assert statuses(conn) == before


def test_a_post_without_the_csrf_secret_is_refused(
    page: Any, conn: psycopg.Connection[Any]
) -> None:
    world = build(conn)
    log_in(page, world.review_secret)
    before = statuses(conn)
    target = f"/ui/proposals/{world.label_ids[0]}/accept"
    assert page.evaluate(FORGE, [target, ""]) == 403
    assert page.evaluate(FORGE, [target, "csrf=guessed"]) == 403
    assert statuses(conn) == before


def test_a_script_in_a_cell_shows_as_text(page: Any, conn: psycopg.Connection[Any]) -> None:
    world = build(conn)
    log_in(page, world.read_secret)
    page.goto(f"/ui/datasets/{DATASET}/proposals?kind=text")
    assert page.locator(f'tr[data-proposal="{world.text_id}"] td.old').inner_text() == SCRIPT
    page.goto(f"/ui/proposals/{world.text_id}")
    assert page.locator("#old-value").inner_text() == SCRIPT
    assert page.locator("#word-diff del").inner_text() == SCRIPT
    assert page.locator("script").count() == 1  # only the page's own, from /ui/static
