"""Same-event grouping on the results page and in the API (search/grouping.py):
the articles of one event are shown once, under the best-ranked of them, in
JSON and HTML; group=off, cursors and exports list every match on its own;
an article's page lists the rest of its event."""

from __future__ import annotations

import json
import re

import pytest
from web_helpers import XSS_TITLE, assert_error, auth, check_response

from tests.helpers import shared_path

QUERY = "hủy chuyến bay vì bão"
EVENT = ("mds-191-1", "mds-191-2", "mds-191-3")  # one typhoon's cancelled flights, three outlets, two days


def _mds(*ids: str) -> list[dict]:
    records = [json.loads(line) for line in shared_path("corpus/mds.jsonl").read_text(encoding="utf-8").splitlines()]
    by_id = {record["id"]: record for record in records}
    return [dict(by_id[i]) for i in ids]


@pytest.fixture
def archive(writer):
    """The demo archive, one event told three times, the same text again two
    weeks later (another event: too far apart), and a rewrite of one of them
    whose headline carries a script."""
    far = {**_mds("mds-191-2")[0], "id": "far-191-2", "published": "2013-11-25T10:05:00+07:00"}
    rewrite = _mds("mds-191-3")[0]
    rewrite.update(id="xss-191-3", title=rewrite["title"] + " " + XSS_TITLE)
    response = writer.post("/api/articles", json=[*_mds(*EVENT), far, rewrite], headers=auth())
    assert response.status_code == 201, response.data
    return writer


def _ids(hit: dict) -> list[str]:
    return [hit["id"], *(member["id"] for member in hit["group_members"])]


def test_an_event_is_one_hit_with_its_other_articles(archive, spec):
    response = archive.get("/api/search", query_string={"q": QUERY, "size": 100})
    check_response(spec, "/api/search", "GET", response)
    body = response.get_json()
    (event,) = [hit for hit in body["hits"] if "mds-191-1" in _ids(hit)]
    assert set(_ids(event)) == {*EVENT, "xss-191-3"}
    assert event["group"] == event["id"] and event["group_size"] == 4
    assert all(member["group"] == event["id"] and member["group_size"] == 1 and member["snippet"] == ""
               for member in event["group_members"])
    far = [hit for hit in body["hits"] if hit["id"] == "far-191-2"]
    assert far and far[0]["group_size"] == 1  # the same words two weeks later: not the same event
    # every match once: as a hit or as a member; the grouped ones counted
    shown = [i for hit in body["hits"] for i in _ids(hit)]
    assert len(shown) == len(set(shown)) == body["total"]
    assert body["grouped"] == body["total"] - len(body["hits"]) >= 3
    assert body["next_cursor"] is None  # cursors page ungrouped results (group=off)


def test_group_off_lists_every_match_on_its_own(archive, spec):
    grouped = archive.get("/api/search", query_string={"q": QUERY, "size": 100}).get_json()
    response = archive.get("/api/search", query_string={"q": QUERY, "size": 100, "group": "off"})
    check_response(spec, "/api/search", "GET", response)
    flat = response.get_json()
    assert flat["grouped"] == 0 and flat["total"] == grouped["total"]
    assert all(hit["group"] == hit["id"] and hit["group_size"] == 1 and hit["group_members"] == []
               for hit in flat["hits"])
    assert sorted(hit["id"] for hit in flat["hits"]) == sorted(i for hit in grouped["hits"] for i in _ids(hit))
    # the event's leader is the best-ranked of its articles
    (event,) = [hit for hit in grouped["hits"] if "mds-191-1" in _ids(hit)]
    order = [hit["id"] for hit in flat["hits"]]
    assert min(order.index(i) for i in _ids(event)) == order.index(event["id"])
    small = archive.get("/api/search", query_string={"q": QUERY, "size": 2, "group": "off"}).get_json()
    assert small["next_cursor"]
    assert_error(archive.get("/api/search", query_string={"q": QUERY, "group": "sometimes"}), 400, "bad_group")


def test_pages_count_groups_not_articles(archive):
    size = 2
    first = archive.get("/api/search", query_string={"q": QUERY, "size": size}).get_json()
    pages = -(-(first["total"] - first["grouped"]) // size)
    seen = []
    for number in range(1, pages + 2):
        body = archive.get("/api/search", query_string={"q": QUERY, "size": size, "page": number}).get_json()
        seen += [i for hit in body["hits"] for i in _ids(hit)]
        assert len(body["hits"]) == (size if number < pages else 0 if number > pages else len(body["hits"]))
    assert len(seen) == len(set(seen)) == first["total"]


def test_the_page_folds_an_event_into_details(archive):
    html = archive.get("/", query_string={"q": QUERY}).get_data(as_text=True)
    assert html.count('<details class="same-event">') >= 1
    assert "và 3 bài cùng sự kiện" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert re.search(r'class="ungroup" href="[^"]*group=off', html)
    flat = archive.get("/", query_string={"q": QUERY, "group": "off"}).get_data(as_text=True)
    assert "same-event" not in flat and "ungroup" not in flat


def test_an_article_page_lists_the_rest_of_its_event(archive):
    html = archive.get("/articles/mds-191-2").get_data(as_text=True)
    section = html[html.index('id="same-event-title"'):]
    section = section[:section.index("</section>")]
    linked = re.findall(r'href="/articles/([^"?]+)"', section)
    assert set(linked) == {"mds-191-1", "mds-191-3", "xss-191-3"}
    alone = archive.get("/articles/far-191-2").get_data(as_text=True)
    assert 'id="same-event-title"' not in alone
