"""The review page's runs, rounds and figures (`/ui`), end to end on the test
database: a person logs in with a token through `/ui/login`, and the pages show what
`mendb.runs` and `mendb.rounds` hold; Cancel changes a run only for a review token
that carries the session's CSRF secret."""

from __future__ import annotations

import base64
import re
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from mendb.db import datasets, jobs, rounds, tokens
from mendb.db.rounds import Measured, RoundDecision, Verdict
from mendb.server import operations
from mendb.server.settings import Settings
from tests.factories import make_table

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def log_in(client: TestClient, conn: psycopg.Connection[Any], scope: str) -> str:
    """Log in as a new token of `scope`; returns the session's CSRF secret."""
    _, secret = tokens.create(conn, f"ui-{scope}", scope)
    client.cookies.clear()
    reply = client.post("/ui/login", data={"token": secret}, follow_redirects=False)
    assert reply.status_code == 303, reply.text
    found = CSRF.search(client.get("/ui/runs").text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def dataset(conn: psycopg.Connection[Any]) -> str:
    make_table(conn, n=80)
    datasets.register(conn, "d", "train", "id", "label", datasets.parse_feature_spec("a,b"))
    return "d"


def running_run(conn: psycopg.Connection[Any], dataset: str, progress: float) -> int:
    """A valuation run a worker has taken and carried `progress` of the way, ten
    seconds after it started."""
    run_id = jobs.request(conn, "value", dataset, {"method": "knn_shapley"})
    conn.execute(
        "UPDATE mendb.runs SET status = 'running', progress = %s,"
        " started_at = clock_timestamp() - interval '10 seconds' WHERE id = %s",
        [progress, run_id],
    )
    return run_id


def run_status(conn: psycopg.Connection[Any], run_id: int) -> str:
    row = conn.execute("SELECT status FROM mendb.runs WHERE id = %s", [run_id]).fetchone()
    assert row is not None
    return str(row[0])


def test_runs_list_and_run_page_show_status_progress_and_time_left(
    client: TestClient, conn: psycopg.Connection[Any], dataset: str
) -> None:
    log_in(client, conn, "read")
    run_id = running_run(conn, dataset, 0.4)
    queued = jobs.request(conn, "propose", dataset, {})
    listing = client.get("/ui/runs")
    assert listing.status_code == 200
    assert f'href="/ui/runs/{run_id}"' in listing.text
    assert f'href="/ui/runs/{queued}"' in listing.text
    assert "running" in listing.text and "40%" in listing.text and "queued" in listing.text
    only_queued = client.get("/ui/runs", params={"status": "queued"}).text
    assert f'href="/ui/runs/{queued}"' in only_queued
    assert f'href="/ui/runs/{run_id}"' not in only_queued
    page = client.get(f"/ui/runs/{run_id}")
    assert page.status_code == 200
    assert "40%" in page.text and ">running<" in page.text and "knn_shapley" in page.text
    assert re.search(r'data-field="eta">1\d s<', page.text)  # 10 s for 40%: about 15 s left
    assert f'data-progress-url="/ui/runs/{run_id}/progress"' in page.text
    assert '<script src="/ui/static/live.js"' in page.text
    assert client.get("/ui/static/live.js").status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_progress_fragment_is_json_for_a_session_only(
    client: TestClient, conn: psycopg.Connection[Any], dataset: str
) -> None:
    run_id = running_run(conn, dataset, 0.25)
    assert client.get(f"/ui/runs/{run_id}/progress", follow_redirects=False).status_code == 303
    log_in(client, conn, "read")
    record = client.get(f"/ui/runs/{run_id}/progress").json()
    assert record["status"] == "running" and record["progress"] == 0.25
    assert record["percent"] == "25%" and not record["ended"]
    assert 25 <= record["eta_seconds"] <= 40  # 10 s for a quarter: about 30 s left
    assert client.get("/ui/runs/999999/progress").status_code == 404


def test_a_review_token_cancels_a_queued_run_and_a_read_token_cannot(
    client: TestClient, conn: psycopg.Connection[Any], dataset: str
) -> None:
    run_id = jobs.request(conn, "value", dataset, {"method": "knn_shapley"})
    csrf = log_in(client, conn, "read")
    assert "Cancel run" not in client.get(f"/ui/runs/{run_id}").text
    forged = client.post(f"/ui/runs/{run_id}/cancel", data={"csrf": csrf})
    assert forged.status_code == 403 and run_status(conn, run_id) == "queued"

    csrf = log_in(client, conn, "review")
    assert "Cancel run" in client.get(f"/ui/runs/{run_id}").text
    no_csrf = client.post(f"/ui/runs/{run_id}/cancel", data={})
    assert no_csrf.status_code == 403 and run_status(conn, run_id) == "queued"
    done = client.post(f"/ui/runs/{run_id}/cancel", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/ui/runs/{run_id}"
    assert run_status(conn, run_id) == "cancelled"
    after = client.get(f"/ui/runs/{run_id}")
    assert ">cancelled<" in after.text and "Cancel run" not in after.text
    assert "data-progress-url" not in after.text  # an ended run is not polled


def test_cancelling_a_finished_run_says_so_and_changes_nothing(
    client: TestClient, conn: psycopg.Connection[Any], dataset: str
) -> None:
    run_id = jobs.request(conn, "value", dataset, {"method": "knn_shapley"})
    conn.execute("UPDATE mendb.runs SET status = 'done', progress = 1 WHERE id = %s", [run_id])
    csrf = log_in(client, conn, "review")
    reply = client.post(f"/ui/runs/{run_id}/cancel", data={"csrf": csrf})
    assert reply.status_code == 409 and "is already done" in reply.text
    assert run_status(conn, run_id) == "done"


def judged_round(conn: psycopg.Connection[Any], dataset: str, reason: str) -> int:
    """A loop with one kept round that relabelled three rows 0 -> 1 and one 1 -> 0."""
    loop_id = jobs.request(conn, "loop", dataset, {})
    round_id = rounds.start(conn, loop_id, dataset, 1, "knn_shapley")
    before = Measured(valid_log_loss=0.61, valid_balanced=0.70)
    rounds.measured(conn, round_id, "noisy_corrected", before)
    verdict = Verdict(
        RoundDecision.KEPT, "improved", reason, {},
        [{"from": "0", "to": "1", "count": 3}, {"from": "1", "to": "0", "count": 1}],
        {"before": {"0": 0.55, "1": 0.45}, "after": {"0": 0.52, "1": 0.48},
         "reference": {"0": 0.5, "1": 0.5}, "reference_kind": "noisy_corrected"},
    )  # fmt: skip
    rounds.judged(conn, round_id, verdict, 4, Measured(valid_log_loss=0.52, valid_balanced=0.76))
    return loop_id


def test_the_rounds_page_shows_decision_reason_relabels_and_label_shares(
    client: TestClient, conn: psycopg.Connection[Any], dataset: str
) -> None:
    loop_id = judged_round(conn, dataset, "log-loss fell by 0.09 <script>alert(1)</script>")
    log_in(client, conn, "read")
    assert 'href="/ui/datasets/d/rounds"' in client.get("/ui/rounds").text
    page = client.get("/ui/datasets/d/rounds")
    assert page.status_code == 200
    text = page.text
    assert f'href="/ui/runs/{loop_id}"' in text
    assert "kept" in text and "<code>improved</code>" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>alert" not in text
    relabels = re.findall(r'<tr class="relabel"><td>(\w+)</td><td>→</td><td>(\w+)</td>'
                          r"<td class=\"num\">(\d+)</td></tr>", text)  # fmt: skip
    assert relabels == [("0", "1", "3"), ("1", "0", "1")]
    assert "0.61" in text and "0.52" in text  # validation log-loss before and after
    assert "<svg" in text and text.count("<rect x=") == 6  # 2 classes x before/after/reference
    assert "0.550" in text and "0.480" in text and "0.500" in text
    missing = client.get(f"/ui/datasets/d/rounds?loop={loop_id + 100}")
    assert missing.status_code == 404


def test_a_dataset_without_a_loop_says_so(
    client: TestClient, conn: psycopg.Connection[Any], dataset: str
) -> None:
    log_in(client, conn, "read")
    assert "No loop has run on d yet" in client.get("/ui/datasets/d/rounds").text
    assert client.get("/ui/datasets/nothing/rounds").status_code == 404


def test_the_figures_page_returns_the_reports_images(
    client: TestClient, conn: psycopg.Connection[Any], settings: Settings, dataset: str
) -> None:
    operations.value_run(conn, settings, dataset, "knn_shapley", {"k": 5})
    judged_round(conn, dataset, "kept")
    log_in(client, conn, "read")
    assert 'href="/ui/datasets/d/figures"' in client.get("/ui/figures").text
    page = client.get("/ui/datasets/d/figures")
    assert page.status_code == 200
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page.text)
    assert len(images) == 5
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert "Point removal" in page.text
    assert "img-src 'self' data:" in page.headers["Content-Security-Policy"]


def test_a_regression_loop_shows_rmse_mae_and_the_target_mean(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    conn.execute(
        "CREATE TABLE prices AS SELECT i AS id, i * 0.5 AS a, i * 2.0 + 1 AS y"
        " FROM generate_series(1, 60) AS i"
    )
    conn.execute("ALTER TABLE prices ADD PRIMARY KEY (id)")
    datasets.register(conn, "p", "prices", "id", "y", datasets.parse_feature_spec("a"),
                      task="regression")  # fmt: skip
    loop_id = jobs.request(conn, "loop", "p", {})
    round_id = rounds.start(conn, loop_id, "p", 1, "data_oob")
    rounds.measured(conn, round_id, "noisy", Measured(valid_rmse=3.25, valid_mae=2.5))
    verdict = Verdict(
        RoundDecision.ROLLED_BACK, "worse", "validation MSE rose", {},
        [{"from": "510.0", "to": "51.0", "count": 1}],
        {"target_mean_before": 61.5, "target_mean_after": 60.75,
         "target_mean_reference": 61.0, "reference_kind": "noisy"},
    )  # fmt: skip
    rounds.judged(conn, round_id, verdict, 1, Measured(valid_rmse=3.5, valid_mae=2.75))
    log_in(client, conn, "read")
    text = client.get("/ui/datasets/p/rounds").text
    assert "rolled_back" in text and "validation MSE rose" in text
    assert "validation RMSE" in text and "3.25" in text and "3.5" in text and "2.75" in text
    assert "log-loss" not in text and "<svg" not in text
    assert "60.75" in text and "reference (noisy)" in text
    assert ">510.0<" in text and ">51.0<" in text


def test_a_failed_runs_error_is_shown_as_text(
    client: TestClient, conn: psycopg.Connection[Any], dataset: str
) -> None:
    run_id = jobs.request(conn, "value", dataset, {"method": "knn_shapley"})
    conn.execute(
        "UPDATE mendb.runs SET status = 'failed', error = %s WHERE id = %s",
        ["MendbError: column <script>x</script> is bad", run_id],
    )
    log_in(client, conn, "review")
    text = client.get(f"/ui/runs/{run_id}").text
    assert "&lt;script&gt;x&lt;/script&gt;" in text and "<script>x" not in text
    assert "Cancel run" not in text
