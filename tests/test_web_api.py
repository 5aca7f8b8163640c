"""The JSON API's reads: contract, every endpoint, every error, checked
against /api/openapi.json (writes: test_web_api_writes.py). Reading these
tests is reading the API's behaviour."""

from __future__ import annotations

import csv
import io
import re
import time
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_helpers import assert_error, auth, check_response, make_app

from search.request import BadRequest, parse_bound
from webui import feeds
from webui import settings as server_settings

HIT_KEYS = {"id", "title", "url", "author", "category", "source", "published", "snippet", "score",
            "group", "group_size", "group_members"}
RESULT_KEYS = {"query", "total", "page", "size", "took_ms", "hits", "facets", "filters", "suggestion",
               "relaxed", "notes", "partial", "missing_shards", "next_cursor", "grouped"}
ATOM = "{http://www.w3.org/2005/Atom}"


# -- search ----------------------------------------------------------------
def test_search_returns_the_documented_contract(client, spec):
    response = client.get("/api/search", query_string={"q": "can bo tre"})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == RESULT_KEYS
    assert set(body["facets"]) == {"category", "author", "source", "year", "month"}
    assert body["query"] == "can bo tre" and body["page"] == 1 and body["size"] == 10
    first = body["hits"][0]
    assert set(first) == HIT_KEYS
    assert first["id"] == "demo-0001"
    assert first["author"] == "Tú Viên" and first["category"] == "Thời sự"
    assert first["published"].startswith("2022-01-18")
    assert "<mark>cán</mark>" in first["snippet"]
    assert body["suggestion"] == "cán bộ trẻ"
    assert body["relaxed"] is False and body["notes"] == []
    assert body["partial"] is False and body["missing_shards"] == []  # the embedded index is never partial
    check_response(spec, "/api/search", "GET", response)


def test_a_relaxed_search_says_so(client, spec):
    # No demo article has all six words; the page says so, and so must the API.
    response = client.get("/api/search", query_string={"q": "cán bộ trẻ bóng đá hà"})
    body = response.get_json()
    every = client.get("/api/search", query_string={"q": "NOT xyzzy", "size": 1}).get_json()["total"]
    assert body["relaxed"] is True and 0 < body["total"] < every
    check_response(spec, "/api/search", "GET", response)
    assert client.get("/api/search?q=can+bo+tre").get_json()["relaxed"] is False


def test_words_beyond_the_limit_are_told_in_notes(client, spec):
    query = " ".join(f"tu{i}" for i in range(40))  # 40 words; the first 32 are kept
    response = client.get("/api/search", query_string={"q": query})
    assert response.get_json()["notes"] == ["Chỉ tìm theo 32 từ đầu tiên; 8 từ sau đó bị bỏ qua."]
    check_response(spec, "/api/search", "GET", response)


def test_snippets_contain_no_markup_but_mark(client):
    body = client.get("/api/search?q=tre&size=50").get_json()
    for hit in body["hits"]:
        assert set(re.findall(r"</?([a-zA-Z]+)", hit["snippet"])) <= {"mark"}


def test_filters_narrow_and_are_described(client):
    body = client.get("/api/search?category=Thời sự&from=2022-01-01&to=31/12/2022").get_json()
    assert [(h["id"], h["category"], h["published"][:4]) for h in body["hits"]] == [
        ("demo-0001", "Thời sự", "2022")]
    assert body["total"] == 1
    assert body["filters"] == ["chuyên mục: Thời sự", "từ 01/01/2022", "đến 31/12/2022"]


def test_repeated_filters_mean_any_of_them(client):
    both = client.get("/api/search?category=Thể thao&category=Văn hóa&size=100").get_json()
    assert {h["category"] for h in both["hits"]} == {"Thể thao", "Văn hóa"}
    assert both["total"] == 12


def test_sort_and_pages(client):
    newest = client.get("/api/search?sort=newest&size=5").get_json()["hits"]
    dates = [h["published"] for h in newest]
    assert dates == sorted(dates, reverse=True)
    oldest = client.get("/api/search?sort=oldest&size=5").get_json()["hits"]
    assert [h["published"] for h in oldest] == sorted(h["published"] for h in oldest)
    page2 = client.get("/api/search?sort=newest&size=5&page=2").get_json()
    assert page2["page"] == 2 and not {h["id"] for h in newest} & {h["id"] for h in page2["hits"]}


def test_facets_false_skips_counts(client):
    assert client.get("/api/search?q=tre&facets=false").get_json()["facets"] == {}


@pytest.mark.parametrize("query, code", [
    ({"from": "2022-13-45"}, "bad_date"),
    ({"to": "ngày mai"}, "bad_date"),
    ({"from": "2023-01-01", "to": "2022-01-01"}, "bad_date"),
    ({"size": "0"}, "bad_size"),
    ({"size": "101"}, "bad_size"),
    ({"size": "ten"}, "bad_size"),
    ({"page": "0"}, "bad_page"),
    ({"page": "1001"}, "page_too_deep"),
    ({"page": "101", "size": "100"}, "page_too_deep"),
    ({"q": "x" * 1001}, "query_too_long"),
    ({"sort": "popular"}, "bad_sort"),
    ({"format": "xml"}, "bad_format"),
    ({"category": [f"c{i}" for i in range(21)]}, "bad_category"),
])
def test_bad_parameters_are_400_with_a_code(client, spec, query, code):
    response = client.get("/api/search", query_string=query)
    assert_error(response, 400, code)
    check_response(spec, "/api/search", "GET", response)


@pytest.mark.parametrize("query", [("cán bộ trẻ " * 100)[:1000], "x" * 1000])
def test_the_query_length_limit_is_inclusive(client, query):
    # One 1,000-letter unknown word once exhausted memory in the spelling
    # suggester (edit distance 2); it must answer like any other query.
    started = time.monotonic()
    assert client.get("/api/search", query_string={"q": query}).status_code == 200
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("raw", [
    "q=%ED%A0%80",  # a lone surrogate, UTF-8 encoded (invalid UTF-8)
    "q=%FF%FE", "q=%00", "q=a%00b", "q=%01%02%1b%7f", "q=%22unbalanced", "q=((((",
    "q=)))", "q=-", "q=OR+AND+NOT", "q=author%3A", "q=*", "q=%EF%BF%BD",
    "author=%00", "category=%ED%A0%80", "q=" + "ca+" * 300,
])
def test_hostile_queries_are_answered_as_searches(client, spec, raw):
    # Whatever the bytes, these are a (possibly empty) query or an unknown
    # filter value: a normal result, never an error.
    response = client.get("/api/search?" + raw)
    assert response.status_code == 200, response.data[:300]
    assert set(response.get_json()) == RESULT_KEYS
    check_response(spec, "/api/search", "GET", response)


def test_a_control_character_date_is_a_bad_date(client):
    assert_error(client.get("/api/search?from=%00"), 400, "bad_date")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=120), author=st.text(max_size=20), date=st.text(max_size=12))
def test_any_text_gives_results_or_a_bad_date(client, q, author, date):
    # q is within the length limit and one author value is always allowed, so
    # the only thing that can be refused is the date.
    try:
        parse_bound(date, "from", end=False)
        date_is_valid = True
    except BadRequest:
        date_is_valid = False
    response = client.get("/api/search", query_string={"q": q, "author": author, "from": date})
    if date_is_valid:
        assert response.status_code == 200, response.data[:300]
        assert set(response.get_json()) == RESULT_KEYS
    else:
        assert_error(response, 400, "bad_date")


# -- CSV and Atom -------------------------------------------------------------
def _csv_rows(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_csv_export(client):
    response = client.get("/api/search?size=5&page=2&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _csv_rows(response)
    assert rows[0] == ["id", "title", "published", "author", "category", "source", "url"]
    assert len(rows) == 1 + 48  # page and size are ignored: up to 1,000 rows


def test_csv_export_is_bounded(client, monkeypatch):
    assert feeds.CSV_ROWS == 1000
    monkeypatch.setattr(feeds, "CSV_ROWS", 7)  # the demo has only 48 articles
    assert len(_csv_rows(client.get("/api/search?format=csv"))) == 1 + 7


def test_csv_cells_cannot_run_as_formulas():
    for value in ("=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM(A1)", "\t=1"):
        assert feeds.csv_cell(value).startswith("'")
    assert feeds.csv_cell("Hà Nội") == "Hà Nội" and feeds.csv_cell(None) == ""


def test_csv_export_escapes_formulas_end_to_end(writer):
    record = {"id": "f-1", "title": "=HYPERLINK(\"http://evil\",\"bấm\") tin", "body": "nội dung",
              "author": "@SUM(1)", "category": "+Kinh tế", "source": "-Nguồn"}
    assert writer.post("/api/articles", json=record, headers=auth()).status_code == 201
    rows = _csv_rows(writer.get("/api/search?q=HYPERLINK&format=csv"))
    assert rows[1][0] == "f-1"
    assert rows[1][1].startswith("'=") and rows[1][3] == "'@SUM(1)"
    assert rows[1][4] == "'+Kinh tế" and rows[1][5] == "'-Nguồn"


def test_atom_feed_is_newest_first(client):
    response = client.get("/api/search?q=tre&sort=oldest&format=atom")
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 10
    dates = [e.find(f"{ATOM}published").text for e in entries]
    assert dates == sorted(dates, reverse=True)
    assert feed.find(f"{ATOM}link[@rel='self']") is not None
    assert entries[0].find(f"{ATOM}summary").get("type") == "html"
    assert entries[0].find(f"{ATOM}id").text.startswith("http://localhost/articles/")


def test_atom_feed_survives_control_characters(writer):
    record = {"id": "ctl-1", "title": "Bão\x01 số 9\x1b đổ bộ", "body": "mưa lớn\x00 kéo dài"}
    assert writer.post("/api/articles", json=record, headers=auth()).status_code == 201
    response = writer.get("/api/search?q=bao+so+9&format=atom")
    titles = [e.findtext(f"{ATOM}title") for e in ET.fromstring(response.data).iter(f"{ATOM}entry")]
    assert any("số 9" in t for t in titles)


# -- articles, related, stats, health -----------------------------------------
def test_article(client, spec):
    response = client.get("/api/articles/demo-0001")
    body = response.get_json()
    assert body["title"] == "Bí thư Thành ủy TP.HCM: Bố trí cán bộ trẻ về cơ sở"
    assert body["author"] == "Tú Viên" and len(body["body"]) > 500
    check_response(spec, "/api/articles/{article_id}", "GET", response)


def test_unknown_article_is_404(client, spec):
    response = client.get("/api/articles/no-such-id")
    assert_error(response, 404, "not_found")
    check_response(spec, "/api/articles/{article_id}", "GET", response)
    assert_error(client.get("/api/articles/no-such-id/related"), 404, "not_found")
    assert_error(client.get("/api/articles/%ED%A0%80"), 404, "not_found")  # invalid UTF-8


def test_related(client, spec):
    response = client.get("/api/articles/demo-0001/related?limit=3")
    body = response.get_json()
    assert body["id"] == "demo-0001" and len(body["hits"]) == 3
    assert "demo-0001" not in {h["id"] for h in body["hits"]}
    check_response(spec, "/api/articles/{article_id}/related", "GET", response)
    for limit in ("0", "21", "many"):
        assert_error(client.get(f"/api/articles/demo-0001/related?limit={limit}"), 400, "bad_limit")


def test_stats_and_health(client, spec):
    stats = client.get("/api/stats")
    assert stats.get_json()["documents"] == 48 and "index" not in stats.get_json()
    check_response(spec, "/api/stats", "GET", stats)
    health = client.get("/healthz")
    assert health.get_json() == {"status": "ok", "documents": 48}
    check_response(spec, "/healthz", "GET", health)


def test_no_index_is_503_everywhere(tmp_path):
    empty = make_app(tmp_path / "nothing-here").test_client()
    for path in ("/api/search?q=x", "/api/stats", "/healthz", "/api/articles/demo-0001"):
        error = assert_error(empty.get(path), 503, "index_missing")
        assert str(tmp_path) not in error["message"]  # no server paths for clients
    page = empty.get("/?q=x")
    assert page.status_code == 503 and "chưa được lập chỉ mục" in page.get_data(as_text=True)


def test_unexpected_errors_are_500_without_details():
    app = make_app("unused")

    @app.get("/api/boom")
    def boom():
        raise RuntimeError("secret detail")

    @app.get("/boom")
    def boom_page():
        raise RuntimeError("secret detail")

    test_client = app.test_client()
    error = assert_error(test_client.get("/api/boom"), 500, "internal_error")
    assert "secret" not in error["message"]
    page = test_client.get("/boom")
    assert page.status_code == 500 and "secret" not in page.get_data(as_text=True)
    assert "Đã có lỗi xảy ra" in page.get_data(as_text=True)


def test_routing_errors_have_the_error_shape(client):
    assert_error(client.get("/api/nothing"), 404, "not_found")
    response = client.put("/api/search")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


# -- headers and documentation ----------------------------------------------------
def test_get_endpoints_send_cors_and_writes_do_not(client, writer):
    for path in ("/api/search?q=tre", "/api/articles/demo-0001", "/api/stats", "/healthz",
                 "/api/search?size=0"):
        assert client.get(path).headers["Access-Control-Allow-Origin"] == "*"
    post = writer.post("/api/articles", json={"title": "a", "body": "b"}, headers=auth())
    assert "Access-Control-Allow-Origin" not in post.headers


def test_security_headers_on_api(client):
    headers = client.get("/api/search").headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"]


def test_settings_are_converted_and_bad_values_named():
    read = server_settings.settings_from_env
    assert read({})["LOCK_TIMEOUT"] == 60.0 and read({})["PORT"] == 8000
    values = read({"VNSEARCH_LOCK_TIMEOUT": " 2.5 ", "VNSEARCH_PORT": "9000"})
    assert values["LOCK_TIMEOUT"] == 2.5 and values["PORT"] == 9000
    for bad in ("soon", "-1", "nan", "inf"):
        with pytest.raises(ValueError, match="^VNSEARCH_LOCK_TIMEOUT must be a number of seconds"):
            read({"VNSEARCH_LOCK_TIMEOUT": bad})
    with pytest.raises(ValueError, match="^VNSEARCH_PORT must be a whole number, got '80.5'$"):
        read({"VNSEARCH_PORT": "80.5"})


def _documented(spec) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in spec["paths"].items() for method in item}


def test_every_route_is_documented_and_every_documented_route_exists(client, spec):
    app = client.application
    routes = set()
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/") or rule.rule == "/healthz"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == _documented(spec)


def test_every_setting_and_search_parameter_is_documented(spec):
    for env_name, *_ in server_settings.SETTINGS:
        assert env_name in spec["info"]["description"] and env_name in server_settings.__doc__
    names = {p["name"] for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert names == {"q", "from", "to", "author", "category", "source", "sort", "page", "size",
                     "facets", "format", "cursor", "group"}
