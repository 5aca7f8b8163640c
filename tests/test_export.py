"""Exports for applications and researchers (issue 13): cursor paging of the
JSON API (``next_cursor``, ``cursor=``) and the streamed export of every
match (``format=ndjson``), on the demo index.

Reading these tests is reading the contract: cursor pages give exactly the
order of one big page; date-sorted cursors survive writes between pages
(no article twice, none of the unchanged ones skipped), relevance cursors
are refused once the index changed; a cursor that was forged, changed, cut
short or made for another search is a 400 ``bad_cursor``; an export holds
every match, one JSON object per line, streamed in bounded batches.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from helpers import DEMO_ARTICLES
from web_helpers import TOKEN, assert_error, auth, check_response, check_schema, make_app

from indexer import store
from search import engine as engine_module
from search import ordering
from search import request as request_module
from search.engine import Engine
from search.ordering import IdHashes, segment_hashes, tie_hash
from search.request import BadRequest, Position, SearchRequest
from search.sphinx_backend import SphinxBackend
from webui import exports

HIT_KEYS = {"id", "title", "url", "author", "category", "source", "published", "snippet", "score",
            "group", "group_size", "group_members"}
NDJSON = "application/x-ndjson"
UNGROUPED = {"group": "off"}  # cursors continue ungrouped results only (search/grouping.py)


def _request(**params) -> SearchRequest:
    lists = {k: (v if isinstance(v, list) else [v]) for k, v in params.items()}
    return SearchRequest.from_params(params.get, lambda k: lists.get(k, []))


def follow(client, spec=None, size: int = 7, **params) -> tuple[list[str], list[dict]]:
    """Every page of a search by its cursors: the ids in order, and the bodies."""
    ids: list[str] = []
    bodies = []
    cursor = None
    while True:
        query = {**UNGROUPED, **params, "size": size, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/search", query_string=query)
        assert response.status_code == 200, response.data[:300]
        if spec is not None:
            check_response(spec, "/api/search", "GET", response)
        body = response.get_json()
        bodies.append(body)
        ids += [hit["id"] for hit in body["hits"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, bodies
        assert len(body["hits"]) == size and len(bodies) < 100


def big_page(client, **params) -> list[str]:
    body = client.get("/api/search", query_string={**UNGROUPED, **params, "size": 100}).get_json()
    assert body["total"] <= 100 and body["next_cursor"] is None  # all of it, so no next page
    return [hit["id"] for hit in body["hits"]]


def ndjson_lines(response) -> list[dict]:
    assert response.status_code == 200 and response.mimetype == NDJSON
    text = response.get_data(as_text=True)
    assert text.endswith("\n") or text == ""
    return [json.loads(line) for line in text.splitlines()]


# -- cursor paging ----------------------------------------------------------------
CASES = [
    {},  # browsing: newest first
    {"sort": "oldest"},
    {"q": "và"},  # relevance over (nearly) everything
    {"q": "NOT xyzzy"},  # relevance where every match scores 0: the order is all tie-breaks
    {"q": "", "category": ["Kinh tế", "Thể thao"], "sort": "relevance"},
    {"q": "chính phủ", "from": "2020-01-01", "to": "2024-12-31", "sort": "newest"},
]


@pytest.mark.parametrize("params", CASES, ids=lambda p: json.dumps(p, ensure_ascii=False))
def test_cursor_pages_give_exactly_the_order_of_one_big_page(client, spec, params):
    whole = big_page(client, **params)
    assert whole
    ids, bodies = follow(client, spec, size=7, **params)
    assert ids == whole
    assert {body["total"] for body in bodies} == {len(whole)}
    assert bodies[-1]["next_cursor"] is None and len(bodies) == -(-len(whole) // 7)
    # page= pages are cut from the same order, and their cursors continue it
    by_page = []
    for number in range(1, len(bodies) + 1):
        by_page += [h["id"] for h in client.get("/api/search", query_string={
            **params, "size": 7, "page": number}).get_json()["hits"]]
    assert by_page == whole
    second = client.get("/api/search", query_string={**UNGROUPED, **params, "size": 7, "page": 2}).get_json()
    if second["next_cursor"]:
        continued = {**UNGROUPED, **params, "size": 7, "cursor": second["next_cursor"]}
        rest = client.get("/api/search", query_string=continued)
        assert [h["id"] for h in rest.get_json()["hits"]] == whole[14:21]


def test_the_demo_has_every_article_in_the_broad_cases(client):
    assert len(big_page(client)) == DEMO_ARTICLES
    assert len(big_page(client, q="NOT xyzzy")) == DEMO_ARTICLES


def test_ties_are_ordered_by_the_hash_of_the_id(client):
    hits = client.get("/api/search", query_string={**UNGROUPED, "q": "NOT xyzzy", "size": 100}).get_json()["hits"]
    assert {hit["score"] for hit in hits} == {0.0}
    assert [hit["id"] for hit in hits] == sorted((hit["id"] for hit in hits), key=tie_hash)


def test_there_is_no_result_window_for_cursors(client, monkeypatch):
    monkeypatch.setattr(request_module, "MAX_RESULT_WINDOW", 20)
    assert_error(client.get("/api/search?size=10&page=3"), 400, "page_too_deep")
    ids, _ = follow(client, size=10)  # 48 articles: past the window
    assert len(ids) == DEMO_ARTICLES == len(set(ids))


def test_tie_breaks_read_the_stored_articles_or_the_id_terms_alike(demo_index, monkeypatch):
    engine = Engine(demo_index)
    view = engine._state().view
    docs = np.flatnonzero(view.live)
    expected = np.array([tie_hash(view.stored(int(d))["id"]) for d in docs])
    few = IdHashes(1 << 20)
    assert np.array_equal(few.of(view, docs[:3]), expected[:3]) and len(few.segments) == 0  # stored records
    many = IdHashes(1 << 20)
    assert np.array_equal(many.of(view, docs), expected) and len(many.segments) == len(view.leaves)  # id terms
    for leaf, reader in zip(view.leaves, view.readers, strict=True):
        local = docs[(docs >= leaf.base) & (docs < leaf.base + leaf.doc_count)] - leaf.base
        assert np.array_equal(segment_hashes(reader, leaf.doc_count)[local], expected[local + leaf.base])
    for cost in (0, 10**9):  # stored records only, id terms only: the same order
        monkeypatch.setattr(ordering, "STORED_READ_COST", cost)
        tied = Engine(demo_index).search(_request(q="NOT xyzzy", size="100"))
        assert [hit.id for hit in tied.hits] == sorted((hit.id for hit in tied.hits), key=tie_hash)


def test_a_cursor_keeps_the_match_set_of_its_first_page(client):
    # No demo article has all six words: the relaxed matches count from the first page on.
    query = {"q": "cán bộ trẻ bóng đá hà"}
    ids, bodies = follow(client, size=5, **query)
    assert bodies[0]["relaxed"] and {body["total"] for body in bodies} == {len(ids)} == {len(set(ids))}
    assert ids == big_page(client, **query)


# -- stability while the index changes -----------------------------------------
def article(article_id: str, published: str | None, title: str = "Bài thử nghiệm ổn định") -> dict:
    return {"id": article_id, "title": title, "body": "Nội dung thử nghiệm cho phân trang.",
            "category": "Thử nghiệm", "published": published}


def test_date_sorted_cursors_survive_adds_replacements_and_deletes(writer, spec):
    # Ties across page boundaries: six articles at one minute, and three undated (last).
    tied = [article(f"tie-{i}", "2025-01-01T08:00:00+07:00") for i in range(6)]
    undated = [article(f"undated-{i}", None) for i in range(3)]
    assert writer.post("/api/articles", json=tied + undated, headers=auth()).status_code == 201
    before = big_page(writer, sort="newest")
    assert len(before) == DEMO_ARTICLES + 9 and before[-3:] == sorted(before[-3:], key=tie_hash)

    seen: list[str] = []
    size = 4
    first = writer.get("/api/search", query_string={**UNGROUPED, "sort": "newest", "size": size}).get_json()
    seen += [hit["id"] for hit in first["hits"]]
    cursor = first["next_cursor"]
    assert [hit["id"] for hit in first["hits"]] == before[:4] and all(i.startswith("tie-") for i in seen)

    # Between page 1 and 2: one article newer than all (before the cursor: not
    # shown), one older than the demo's (after it: shown), the whole tie group
    # (seen and unseen) replaced with its date unchanged, an unseen article and
    # a seen one deleted.
    changes = [article("new-first", "2026-01-01T08:00:00+07:00"), article("new-last", "2000-01-01T08:00:00+07:00"),
               *({**t, "title": "Đã sửa"} for t in tied)]
    assert writer.post("/api/articles", json=changes, headers=auth()).status_code == 201
    unseen_deleted, seen_deleted = before[10], seen[1]
    for gone in (unseen_deleted, seen_deleted):
        assert writer.delete(f"/api/articles/{gone}", headers=auth()).status_code == 200

    pages = 1
    while cursor:
        query = {**UNGROUPED, "sort": "newest", "size": size, "cursor": cursor}
        response = writer.get("/api/search", query_string=query)
        assert response.status_code == 200, response.data[:300]
        check_response(spec, "/api/search", "GET", response)
        body = response.get_json()
        seen += [hit["id"] for hit in body["hits"]]
        cursor = body["next_cursor"]
        pages += 1
        if pages == 5:  # and again further on: an article re-dated to after the cursor moves
            moved = article(before[-5], "2001-01-01T08:00:00+07:00")
            assert writer.post("/api/articles", json=moved, headers=auth()).status_code == 200
    assert len(seen) == len(set(seen)), "an article came twice"
    unchanged = [i for i in before if i not in (unseen_deleted, before[-5])]
    assert [i for i in seen if i in unchanged] == unchanged, "an unchanged article was skipped or moved"
    assert unseen_deleted not in seen and "new-first" not in seen
    assert "new-last" in seen and seen.index("new-last") < len(seen) - 3  # before the undated ones
    assert seen.count(before[-5]) == 1  # re-dated after the cursor: it moved, and still came once


def test_relevance_cursors_continue_only_in_their_index_generation(writable_index):
    # two servers with one secret; one of them looks for new commits seldom
    writer = make_app(writable_index, API_TOKEN=TOKEN, CURSOR_SECRET="one secret").test_client()
    stale = make_app(writable_index, REFRESH_INTERVAL=3600.0, CURSOR_SECRET="one secret").test_client()
    assert stale.get("/api/search?q=chinh+phu").status_code == 200
    assert writer.post("/api/articles", json=article("w-1", "2023-01-01"), headers=auth()).status_code == 201
    query = {**UNGROUPED, "q": "chính phủ", "size": 3}
    whole = big_page(writer, q="chính phủ")
    first = writer.get("/api/search", query_string=query).get_json()
    # the cursor's generation is newer than the stale thread's: it reads the new commit and continues
    continued = stale.get("/api/search", query_string={**query, "cursor": first["next_cursor"]})
    assert continued.status_code == 200
    assert [h["id"] for h in continued.get_json()["hits"]] == whole[3:6]
    # after a write, relevance scores change: the cursor is refused, not trusted
    assert writer.post("/api/articles", json=article("w-2", "2023-01-02"), headers=auth()).status_code == 201
    expired = writer.get("/api/search", query_string={**query, "cursor": first["next_cursor"]})
    assert "start again" in assert_error(expired, 400, "cursor_expired")["message"]


# -- cursors are opaque and checked ------------------------------------------------
def _parts(cursor: str) -> tuple[list, str]:
    body, tag = cursor.split(".")
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))), tag


def _spell(payload: list, tag: str) -> str:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(body).rstrip(b"=").decode() + "." + tag


def test_forged_changed_cut_or_mismatched_cursors_are_bad_cursors(client, spec):
    query = {**UNGROUPED, "q": "chính phủ", "size": 3, "sort": "newest"}
    cursor = client.get("/api/search", query_string=query).get_json()["next_cursor"]
    payload, tag = _parts(cursor)
    last = tag[-1]
    forged = {
        "garbage": "abc",
        "cut short": cursor[:-3],
        "cut in half": cursor[: len(cursor) // 2],
        "no tag": cursor.split(".")[0],
        "another tag": cursor[:-1] + ("A" if last != "A" else "Q"),
        "spare bits changed": cursor[:-1] + chr(ord(last) + 1),  # the same bytes, spelt otherwise
        "a character inserted": cursor[:5] + "$" + cursor[5:],
        "another id": _spell([*payload[:3], "demo-0001", *payload[4:]], tag),
        "another position": _spell([payload[0], payload[1], 0, *payload[3:]], tag),
        "another version": _spell([2, *payload[1:]], tag),
        "too long": cursor + "A" * 1000,
        "not ascii": cursor[:-1] + "ệ",
    }
    for why, bad in forged.items():
        response = client.get("/api/search", query_string={**query, "cursor": bad})
        assert response.status_code == 400, why
        assert_error(response, 400, "bad_cursor")
        check_response(spec, "/api/search", "GET", response)
    # the cursor belongs to its search: query, filters, sort and size
    for other in ({"q": "chinh phu"}, {"category": "Kinh tế"}, {"from": "2020-01-01"}, {"sort": "oldest"},
                  {"size": 4}):
        message = assert_error(client.get("/api/search", query_string={**query, **other, "cursor": cursor}),
                               400, "bad_cursor")["message"]
        assert "another search" in message, other
    # facets may change between pages; page and other formats may not come with a cursor
    assert client.get("/api/search", query_string={**query, "facets": "false", "cursor": cursor}).status_code == 200
    assert_error(client.get("/api/search", query_string={**query, "page": 2, "cursor": cursor}), 400, "bad_page")
    for output in ("csv", "atom", "ndjson"):
        assert_error(client.get("/api/search", query_string={**query, "format": output, "cursor": cursor}),
                     400, "bad_cursor")
    assert client.get("/api/search", query_string={**query, "cursor": " "}).status_code == 200  # empty: none


def test_cursors_are_signed_with_the_servers_secret(demo_index):
    query = {**UNGROUPED, "sort": "newest", "size": 5}
    restarted = [make_app(demo_index).test_client() for _ in range(2)]  # a random secret each
    cursor = restarted[0].get("/api/search", query_string=query).get_json()["next_cursor"]
    assert_error(restarted[1].get("/api/search", query_string={**query, "cursor": cursor}), 400, "bad_cursor")
    configured = [make_app(demo_index, CURSOR_SECRET="s3cret").test_client() for _ in range(2)]
    cursor = configured[0].get("/api/search", query_string=query).get_json()["next_cursor"]
    after = configured[1].get("/api/search", query_string={**query, "cursor": cursor})
    assert after.status_code == 200 and len(after.get_json()["hits"]) == 5


def test_a_sphinx_cluster_says_it_has_no_cursors_nor_exports(demo_index, spec):
    with pytest.raises(BadRequest) as raised:
        SphinxBackend("sphinx://127.0.0.1:1").search(SearchRequest(size=5, after=Position(1.0, "x", 5, 1)))
    assert raised.value.code == "cursor_unsupported"
    with pytest.raises(BadRequest) as raised:
        SphinxBackend("sphinx://127.0.0.1:1").export(_request())
    assert raised.value.code == "format_unsupported"
    web = make_app(demo_index, BACKEND="sphinx://127.0.0.1:1").test_client()  # nothing listens there
    for query, code in (({"cursor": "abc"}, "cursor_unsupported"), ({"format": "ndjson"}, "format_unsupported")):
        response = web.get("/api/search", query_string=query)
        assert_error(response, 400, code)
        check_response(spec, "/api/search", "GET", response)


# -- format=ndjson -------------------------------------------------------------------
@pytest.mark.parametrize("params", CASES, ids=lambda p: json.dumps(p, ensure_ascii=False))
def test_ndjson_streams_every_match_in_order(client, spec, params):
    response = client.get("/api/search", query_string={**params, "format": "ndjson", "size": 100})
    check_response(spec, "/api/search", "GET", response)
    assert response.is_streamed and "Content-Length" not in response.headers
    lines = ndjson_lines(response)
    assert [line["id"] for line in lines] == big_page(client, **params)
    hits = client.get("/api/search", query_string={**UNGROUPED, **params, "size": 100}).get_json()["hits"]
    assert lines == [{**hit, "snippet": ""} for hit in hits]  # the API's hits, scores included
    assert int(response.headers["X-Total-Count"]) == len(lines)
    for line in lines:
        assert set(line) == HIT_KEYS and line["snippet"] == ""
        check_schema(line, spec["components"]["schemas"]["Hit"], spec)


def test_ndjson_applies_the_filters_and_the_first_pages_match_set(client):
    lines = ndjson_lines(client.get("/api/search", query_string={
        "format": "ndjson", "category": "Thể thao", "from": "2021-01-01"}))
    expected = client.get("/api/search", query_string={"category": "Thể thao", "from": "2021-01-01"}).get_json()
    assert len(lines) == expected["total"] > 0
    assert all(line["category"] == "Thể thao" and line["published"] >= "2021" for line in lines)
    everything = ndjson_lines(client.get("/api/search?format=ndjson"))
    assert len(everything) == DEMO_ARTICLES == len({line["id"] for line in everything})
    relaxed = {"q": "cán bộ trẻ bóng đá hà"}  # relaxed matches count when the full ones do not fill a page
    body = client.get("/api/search", query_string=relaxed).get_json()
    assert body["relaxed"]
    assert len(ndjson_lines(client.get("/api/search", query_string={**relaxed, "format": "ndjson"}))) == body["total"]
    assert ndjson_lines(client.get("/api/search?q=xyzzyqq&format=ndjson")) == []


def test_an_export_reads_the_index_in_bounded_batches(demo_index, monkeypatch):
    monkeypatch.setattr(engine_module, "EXPORT_BATCH", 5)
    engine = Engine(demo_index)
    export = engine.export(_request())
    assert export.total == DEMO_ARTICLES
    sizes = [len(batch) for batch in export.batches]
    assert sizes == [5] * 9 + [3]
    reads = []
    original = engine_module.IndexView.stored

    def counting(view, docnum):
        reads.append(docnum)
        return original(view, docnum)

    monkeypatch.setattr(engine_module.IndexView, "stored", counting)
    export = engine.export(_request())
    assert reads == []  # nothing is read before it is wanted
    next(export.batches)
    assert len(reads) == 5  # one batch at a time


def test_an_export_is_one_commit_while_writes_go_on(writer, monkeypatch):
    monkeypatch.setattr(engine_module, "EXPORT_BATCH", 5)
    response = writer.get("/api/search?format=ndjson", buffered=False)
    stream = iter(response.response)
    first = next(stream)  # the order and the first batch are fixed
    assert writer.delete("/api/articles/demo-0001", headers=auth()).status_code == 200
    assert writer.post("/api/articles", json=article("late", "2030-01-01"), headers=auth()).status_code == 201
    text = (first + b"".join(stream)).decode("utf-8")
    response.close()
    ids = [json.loads(line)["id"] for line in text.splitlines()]
    assert len(ids) == DEMO_ARTICLES and "demo-0001" in ids and "late" not in ids


def test_exports_at_once_per_process_are_bounded(demo_index, spec):
    client = make_app(demo_index).test_client()
    held = [client.get("/api/search?format=ndjson", buffered=False) for _ in range(exports.EXPORT_STREAMS)]
    busy = client.get("/api/search?format=ndjson")
    assert_error(busy, 503, "export_busy")
    assert busy.headers["Retry-After"] == "5"
    check_response(spec, "/api/search", "GET", busy)
    assert client.get("/api/search?q=chinh+phu").status_code == 200  # searches go on meanwhile
    held[0].close()  # a client that leaves frees its stream, read or not
    assert len(ndjson_lines(client.get("/api/search?format=ndjson"))) == DEMO_ARTICLES  # read to the end: freed
    assert len(ndjson_lines(held[1])) == DEMO_ARTICLES
    held[1].close()
    again = [client.get("/api/search?format=ndjson", buffered=False) for _ in range(exports.EXPORT_STREAMS)]
    assert all(r.status_code == 200 for r in again)
    for response in again:
        response.close()


def test_a_failure_mid_stream_ends_it_with_an_error_line(demo_index, monkeypatch):
    monkeypatch.setattr(engine_module, "EXPORT_BATCH", 10)
    client = make_app(demo_index).test_client()
    original = engine_module.IndexView.stored
    reads = []

    def failing(view, docnum):
        reads.append(docnum)
        if len(reads) > 25:
            raise store.IndexProblem("segment x: stored document does not decode")
        return original(view, docnum)

    monkeypatch.setattr(engine_module.IndexView, "stored", failing)
    lines = ndjson_lines(client.get("/api/search?format=ndjson"))
    assert len(lines) == 21 and set(lines[:20][0]) == HIT_KEYS
    assert lines[-1] == {"error": {"code": "index_problem", "message": "the search index is not usable right now"}}
    assert client.get("/api/search?format=ndjson&q=chinh+phu").status_code == 200  # its stream was freed

