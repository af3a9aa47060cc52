"""The review page's reads: the datasets overview, the proposals listing (filters,
sort, pages on the server) and a proposal with its diff and evidence."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from mendb.db import ui
from mendb.db.repairs import insert_proposals
from mendb.repair.proposals import RepairProposal
from tests.acceptance.test_ui_review import PROPOSALS, log_in
from tests.browser.world import DATASET, World, build

_ROW = re.compile(r'data-proposal="(\d+)"')


@pytest.fixture
def world(conn: psycopg.Connection[Any], client: TestClient) -> World:
    built = build(conn)
    log_in(client, built.read_secret)
    return built


def listed(html: str) -> list[int]:
    return [int(i) for i in _ROW.findall(html)]


def test_the_datasets_page_shows_each_dataset(client: TestClient, world: World) -> None:
    page = client.get("/ui/datasets").text
    assert f'data-dataset="{DATASET}"' in page and "classification" in page
    assert f'/ui/datasets/{DATASET}/proposals?status=proposed">7<' in page


def test_filters_sort_and_pages(client: TestClient, world: World) -> None:
    labels = listed(client.get(PROPOSALS, params={"kind": "label"}).text)
    assert labels == world.label_ids  # most confident first
    by_id = listed(client.get(PROPOSALS, params={"order": "id"}).text)
    assert by_id == sorted(by_id) and len(by_id) == 7
    assert listed(client.get(PROPOSALS, params={"column": "a"}).text) == [world.numeric_id]
    confident = listed(client.get(PROPOSALS, params={"min_confidence": 0.79}).text)
    assert confident == world.label_ids[:4]
    assert listed(client.get(PROPOSALS, params={"status": "applied"}).text) == []
    first = client.get(PROPOSALS, params={"per": 3, "kind": "label"})
    assert listed(first.text) == world.label_ids[:3] and "page 1 of 2" in first.text
    following = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert following is not None
    second = client.get(following.group(1).replace("&amp;", "&"))
    assert listed(second.text) == world.label_ids[3:]
    assert client.get(PROPOSALS, params={"kind": "bogus"}).status_code == 422


def test_a_proposal_shows_its_change_and_evidence(client: TestClient, world: World) -> None:
    label = client.get(f"/ui/proposals/{world.label_ids[0]}").text
    assert 'id="neighbours"' in label and "improves" in label and 'id="probabilities"' in label
    assert f'href="/ui/proposals/{world.label_ids[1]}" data-key="j"' in label
    text = client.get(f"/ui/proposals/{world.text_id}").text
    assert "<del>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</del>" in text
    assert "<ins>a harmless note</ins>" in text
    number = client.get(f"/ui/proposals/{world.numeric_id}").text
    assert 'id="numeric-place"' in number and re.search(r"\d+\.\d%.*of 60 values", number)
    assert client.get("/ui/proposals/999999").status_code == 404


def test_the_listing_pages_on_an_index_at_ten_thousand_proposals(
    client: TestClient, conn: psycopg.Connection[Any], world: World
) -> None:
    many = [
        RepairProposal(str(i % 60), "label", "0", "1", "label", "bulk", (i % 997) / 997)
        for i in range(10_000)
    ]
    insert_proposals(conn, DATASET, None, many)
    conn.execute("ANALYZE mendb.repairs")
    deep = client.get(PROPOSALS, params={"page": 150, "per": 50})
    assert deep.status_code == 200 and len(listed(deep.text)) == 50
    assert "10,007 proposals" in deep.text
    rows, total = ui.proposals_page(conn, DATASET, ui.ProposalFilter(), "confidence", 50, 0)
    assert total == 10_007 and [r["confidence"] for r in rows] == sorted(
        (r["confidence"] for r in rows), reverse=True
    )
