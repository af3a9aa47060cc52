"""The review page's rules, through FastAPI's TestClient on a real database: the
session cookie, CSRF, scopes, escaping, and each action's audit rows."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from mendb.db import tokens
from tests.browser.world import (
    DATASET,
    READER,
    REVIEWER,
    SCRIPT,
    World,
    build,
    csrf_of,
    events,
    statuses,
)

PROPOSALS = f"/ui/datasets/{DATASET}/proposals"


@pytest.fixture
def world(conn: psycopg.Connection[Any], client: TestClient) -> World:
    return build(conn)


def log_in(client: TestClient, secret: str) -> str:
    """Log in; returns the CSRF secret of the session's forms."""
    reply = client.post("/ui/login", data={"token": secret})
    assert reply.status_code == 200 and reply.url.path == "/ui/datasets"
    return csrf_of(reply.text)


def test_a_page_without_a_session_sends_the_person_to_log_in(client: TestClient) -> None:
    reply = client.get(PROPOSALS, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/ui/login"
    assert client.get("/ui").url.path == "/ui/login"


def test_logging_in_gives_a_strict_cookie_and_no_token_in_any_url(
    client: TestClient, world: World
) -> None:
    assert client.post("/ui/login", data={"token": "mendb_wrong"}).status_code == 401
    reply = client.post("/ui/login", data={"token": world.review_secret}, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/ui/datasets"
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    assert world.review_secret not in reply.headers["set-cookie"]
    page = client.get("/ui/datasets")
    assert page.status_code == 200 and DATASET in page.text and REVIEWER in page.text
    assert world.review_secret not in page.text and world.review_secret not in str(page.url)
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text.replace('<script src="/ui/static/ui.js" defer></script>', "")


def test_a_login_posted_from_another_site_is_refused(client: TestClient, world: World) -> None:
    reply = client.post(
        "/ui/login", data={"token": world.review_secret},
        headers={"Origin": "https://elsewhere.example"},
    )  # fmt: skip
    assert reply.status_code == 403 and "mendb_ui" not in client.cookies


def test_review_apply_and_revert_are_audited_under_the_tokens_name(
    client: TestClient, conn: psycopg.Connection[Any], world: World
) -> None:
    csrf = log_in(client, world.review_secret)
    first, second, third, *_ = world.label_ids
    back = f"{PROPOSALS}?kind=label"
    for repair_id, decision in ((first, "accept"), (second, "accept"), (third, "reject")):
        reply = client.post(f"/ui/proposals/{repair_id}/{decision}",
                            data={"csrf": csrf, "back": back})  # fmt: skip
        assert reply.status_code == 200 and reply.url.path == PROPOSALS
        assert f"{decision.capitalize()}ed 1: {repair_id}." in reply.text
    again = client.post(f"/ui/proposals/{first}/accept", data={"csrf": csrf, "back": back})
    assert "Nothing changed: already accepted." in again.text
    applied = client.post(f"/ui/datasets/{DATASET}/apply", data={"csrf": csrf, "back": back})
    assert f"Applied 2: {first}, {second}." in applied.text
    assert (
        "Nothing to apply: already done."
        in client.post(f"/ui/datasets/{DATASET}/apply", data={"csrf": csrf}).text
    )
    reverted = client.post(f"/ui/datasets/{DATASET}/revert",
                           data={"csrf": csrf, "one": str(second)})  # fmt: skip
    assert f"Reverted 1: {second}." in reverted.text
    found = statuses(conn)
    assert [found[i] for i in (first, second, third)] == ["applied", "reverted", "rejected"]
    assert events(conn, first) == [
        (None, "proposed", "proposer"), ("proposed", "accepted", REVIEWER),
        ("accepted", "applied", REVIEWER),
    ]  # fmt: skip
    assert events(conn, second)[-1] == ("applied", "reverted", REVIEWER)
    assert events(conn, third)[-1] == ("proposed", "rejected", REVIEWER)
    new_label = conn.execute("SELECT new_value FROM mendb.repairs WHERE id = %s", [first])
    cell = conn.execute("SELECT label::text FROM train WHERE id = 0").fetchone()
    assert cell == new_label.fetchone()


def test_bulk_accept_above_a_confidence_and_a_stale_apply(
    client: TestClient, conn: psycopg.Connection[Any], world: World
) -> None:
    csrf = log_in(client, world.review_secret)
    reply = client.post(f"/ui/datasets/{DATASET}/accept-above",
                        data={"csrf": csrf, "min_confidence": "0.85"})  # fmt: skip
    top = world.label_ids[:3]
    assert f"Accepted 3: {', '.join(map(str, top))}." in reply.text
    conn.execute("UPDATE train SET label = 1 - label WHERE id = 0")  # someone else got there
    applied = client.post(f"/ui/datasets/{DATASET}/apply", data={"csrf": csrf}).text
    assert f"Applied 2: {top[1]}, {top[2]}." in applied and f"not written: {top[0]}." in applied
    assert statuses(conn)[top[0]] == "stale"
    checked = client.post(
        f"/ui/datasets/{DATASET}/review",
        data={"csrf": csrf, "decision": "reject", "ids": [str(i) for i in world.label_ids[3:]]},
    )  # fmt: skip
    assert "Rejected 2" in checked.text
    refused = client.post(f"/ui/proposals/{top[1]}/reject", data={"csrf": csrf}).text
    assert "Could not reject" in refused and "applied" in refused


def test_a_post_without_the_csrf_secret_is_refused(
    client: TestClient, conn: psycopg.Connection[Any], world: World
) -> None:
    log_in(client, world.review_secret)
    before = statuses(conn)
    target = world.label_ids[0]
    assert client.post(f"/ui/proposals/{target}/accept").status_code == 403
    assert client.post(f"/ui/proposals/{target}/accept", data={"csrf": "x"}).status_code == 403
    assert client.post(f"/ui/datasets/{DATASET}/apply", data={}).status_code == 403
    assert statuses(conn) == before


def test_a_read_token_sees_everything_and_changes_nothing(
    client: TestClient, conn: psycopg.Connection[Any], world: World
) -> None:
    csrf = log_in(client, world.read_secret)
    page = client.get(PROPOSALS)
    assert page.status_code == 200 and READER in page.text
    assert all(f'data-proposal="{i}"' in page.text for i in world.label_ids)
    assert "formaction" not in page.text and 'id="apply"' not in page.text
    one = client.get(f"/ui/proposals/{world.label_ids[0]}")
    assert one.status_code == 200 and "Accept (a)" not in one.text
    before = statuses(conn)
    forged = client.post(f"/ui/proposals/{world.label_ids[0]}/accept", data={"csrf": csrf})
    assert forged.status_code == 403
    assert client.post(f"/ui/datasets/{DATASET}/apply", data={"csrf": csrf}).status_code == 403
    assert statuses(conn) == before


def test_revoking_the_token_ends_its_sessions(
    client: TestClient, conn: psycopg.Connection[Any], world: World
) -> None:
    log_in(client, world.review_secret)
    assert client.get(PROPOSALS).status_code == 200
    tokens.revoke(conn, REVIEWER)
    assert client.get(PROPOSALS).url.path == "/ui/login"


def test_logging_out_ends_the_session(client: TestClient, world: World) -> None:
    csrf = log_in(client, world.review_secret)
    assert client.post("/ui/logout", data={"csrf": csrf}).url.path == "/ui/login"
    assert client.get(PROPOSALS).url.path == "/ui/login"


def test_a_cell_holding_a_script_shows_as_text(client: TestClient, world: World) -> None:
    log_in(client, world.read_secret)
    for page in (client.get(PROPOSALS), client.get(f"/ui/proposals/{world.text_id}")):
        assert SCRIPT not in page.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
