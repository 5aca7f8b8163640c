"""The JSON API's writes: bearer-token auth, upsert, delete, bad bodies and
size limits, and that changes reach searches without a restart."""

from __future__ import annotations

import json
import time

import pytest
from web_helpers import TOKEN, XSS_ARTICLE, assert_error, auth, check_response, make_app


def test_writes_are_disabled_without_a_configured_token(client, spec):
    response = client.post("/api/articles", json={"title": "x", "body": "y"}, headers=auth())
    assert_error(response, 403, "writes_disabled")
    check_response(spec, "/api/articles", "POST", response)
    assert_error(client.delete("/api/articles/demo-0001", headers=auth()), 403, "writes_disabled")


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": "Bearer"}, {"Authorization": "Bearer " + TOKEN[:-1]},
])
def test_writes_need_the_right_token(writer, headers):
    response = writer.post("/api/articles", json={"title": "x", "body": "y"}, headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(writer.delete("/api/articles/demo-0001", headers=headers), 401, "unauthorized")


def test_post_upserts_and_search_sees_it(writer, spec):
    record = {"id": "new-1", "title": "Khai trương tuyến metro số 1 ở TP.HCM",
              "body": "Tuyến metro đầu tiên chính thức chở khách.", "published": "2024-12-22",
              "category": "Thời sự"}
    response = writer.post("/api/articles", json=record, headers=auth())
    assert response.status_code == 201
    assert response.get_json() == {"added": 1, "replaced": 0, "rejected": 0, "problems": []}
    check_response(spec, "/api/articles", "POST", response)
    assert writer.get("/api/search?q=metro").get_json()["hits"][0]["id"] == "new-1"
    again = writer.post("/api/articles", json=[{**record, "title": "Metro số 1 vận hành"}],
                        headers=auth())
    assert again.status_code == 200 and again.get_json()["replaced"] == 1


def test_a_replaced_article_shows_only_its_new_version(writer):
    record = {"id": "new-1", "title": "Khai trương tuyến metro", "body": "Tuyến metro đầu tiên."}
    writer.get("/api/search?q=metro")  # a searcher exists before the writes, as in a server
    assert writer.post("/api/articles", json=record, headers=auth()).status_code == 201
    writer.get("/api/search?q=metro")
    changed = {**record, "title": "Metro số 1 vận hành"}
    assert writer.post("/api/articles", json=changed, headers=auth()).status_code == 200
    assert writer.get("/api/articles/new-1").get_json()["title"] == "Metro số 1 vận hành"
    assert writer.get("/api/search?q=metro").get_json()["total"] == 1


def test_writes_show_up_within_seconds_without_a_restart(writable_index):
    app = make_app(writable_index, API_TOKEN=TOKEN, REFRESH_INTERVAL=1.0)
    test_client = app.test_client()
    assert test_client.get("/api/search?q=metro").get_json()["total"] == 0  # opens a searcher
    record = {"id": "late-1", "title": "Metro Bến Thành", "body": "Tuyến metro mới."}
    assert test_client.post("/api/articles", json=record, headers=auth()).status_code == 201
    deadline = time.monotonic() + 5
    while test_client.get("/api/search?q=metro").get_json()["total"] == 0:
        assert time.monotonic() < deadline, "the new article never became searchable"
        time.sleep(0.2)


def test_post_reports_rejected_records(writer):
    response = writer.post("/api/articles", headers=auth(), json=[
        {"id": "ok-1", "title": "Một bài hợp lệ", "body": "nội dung"},
        {"id": "bad-1", "title": 42},
    ])
    body = response.get_json()
    assert response.status_code == 201 and body["added"] == 1 and body["rejected"] == 1
    assert "record 1" in body["problems"][0]


@pytest.mark.parametrize("data, code", [
    (b"{not json", "bad_json"),
    (b"\xff\xfe{}", "bad_json"),
    (b"[]", "bad_article"),
    (b"42", "bad_article"),
    (b'"text"', "bad_article"),
    (b'{"id": "e", "title": 1}', "bad_article"),
    (b'[{"body": ""}]', "bad_article"),
    (b'{"title": "a\\ud800b", "body": "lone surrogate"}', "bad_article"),
    (b"[" * 100_000 + b"]" * 100_000, "bad_json"),
])
def test_bad_bodies_are_400(writer, spec, data, code):
    response = writer.post("/api/articles", data=data, headers=auth(),
                           content_type="application/json")
    assert_error(response, 400, code)
    check_response(spec, "/api/articles", "POST", response)


def test_oversized_bodies_are_413(writable_index, spec):
    small = make_app(writable_index, API_TOKEN=TOKEN, MAX_CONTENT_LENGTH=1000).test_client()
    body = json.dumps({"title": "dài", "body": "x" * 2000})
    response = small.post("/api/articles", data=body, headers=auth(), content_type="application/json")
    assert_error(response, 413, "body_too_large")
    check_response(spec, "/api/articles", "POST", response)


def test_delete(writer, spec):
    response = writer.delete("/api/articles/demo-0001", headers=auth())
    assert response.get_json() == {"deleted": ["demo-0001"]}
    check_response(spec, "/api/articles/{article_id}", "DELETE", response)
    assert_error(writer.get("/api/articles/demo-0001"), 404)
    assert "demo-0001" not in {h["id"] for h in writer.get("/api/search?q=can bo tre").get_json()["hits"]}
    again = writer.delete("/api/articles/demo-0001", headers=auth())
    assert_error(again, 404, "not_found")
    check_response(spec, "/api/articles/{article_id}", "DELETE", again)


def test_ids_with_slashes_work(writer):
    record = {**XSS_ARTICLE, "id": "2024/05/bai-1"}
    assert writer.post("/api/articles", json=record, headers=auth()).status_code == 201
    assert writer.get("/api/articles/2024/05/bai-1").get_json()["id"] == "2024/05/bai-1"
    assert writer.get("/api/articles/2024/05/bai-1/related").status_code == 200
    assert writer.delete("/api/articles/2024/05/bai-1", headers=auth()).status_code == 200
