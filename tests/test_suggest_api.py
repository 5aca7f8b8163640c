"""Search as you type (GET /api/suggest, search/autocomplete.py) on the demo
archive: what a reader typing without accents gets back, how the typed part
is marked, how completions are ranked, and that every input, however odd,
gets an answer in the documented shape and never a 500."""

from __future__ import annotations

import html
import re
import time
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_helpers import XSS_ARTICLE, assert_error, auth, check_response

from search import autocomplete, completion_builder
from search.autocomplete import CompletionTable, Typed
from search.request import MAX_QUERY_CHARS
from search.sphinx_backend import SphinxBackend
from webui.context import ENGINE_KEY

HEADLINE = "Bí thư Thành ủy TP.HCM: Bố trí cán bộ trẻ về cơ sở"  # demo-0001


def suggest(client, q, **params):
    response = client.get("/api/suggest", query_string={"q": q, **params})
    assert response.status_code == 200, response.data[:300]
    body = response.get_json()
    assert body["query"] == q
    return body["suggestions"]


def texts(client, q, **params) -> list[str]:
    return [s["text"] for s in suggest(client, q, **params)]


# -- what comes back -----------------------------------------------------------
def test_a_headline_typed_without_accents_comes_back_with_them(client, spec):
    response = client.get("/api/suggest", query_string={"q": "bi thu thanh u"})
    check_response(spec, "/api/suggest", "GET", response)
    suggestions = response.get_json()["suggestions"]
    found = [s["text"] for s in suggestions]
    # the phrase, as the archive writes it, first; then longer ones and the headline
    assert found[0].lower() == "bí thư thành ủy"
    assert HEADLINE in found
    assert suggestions[0]["html"] == "<mark>Bí thư Thành ủ</mark>y"
    assert next(s["html"] for s in suggestions if s["text"] == HEADLINE) == (
        "<mark>Bí thư Thành ủ</mark>y TP.HCM: Bố trí cán bộ trẻ về cơ sở")


@pytest.mark.parametrize("typed", [
    "bi thu thanh uy", "Bí thư Thành ủy", "BI THU THANH UY", unicodedata.normalize("NFD", "bí thư thành ủy"),
    "bí thư thành uỷ",  # the other tone placement
    unicodedata.normalize("NFD", "BÍ THƯ THÀNH UỶ"),
])
def test_accents_case_nfd_and_tone_placement_make_no_difference(client, typed):
    assert texts(client, typed) == texts(client, "bi thu thanh uy")
    assert texts(client, typed)[0].lower() == "bí thư thành ủy"


def test_the_last_word_may_be_incomplete(client):
    assert "thành ủy" in [t.lower() for t in texts(client, "thanh u")]
    assert [t for t in texts(client, "xuat khau nong s")] == [
        "Xuất khẩu nông sản sáu tháng đầu năm đạt hơn 20 tỷ USD"]
    assert "Đà Nẵng" in texts(client, "da n")
    # a typed "đ" is a d: "da n" and "đà n" find the same
    assert texts(client, "đà n") == texts(client, "da n")


def test_a_space_after_the_last_word_means_it_is_complete(client):
    assert texts(client, "tien ")  # "tiền ..." phrases
    assert all(t.lower().split()[0] in ("tiền", "tiến") for t in texts(client, "tien "))
    assert not any(t.lower().startswith("tiếng") for t in texts(client, "tien "))
    assert any(t.lower().startswith("tiếng") for t in texts(client, "tien"))


def test_both_i_y_spellings_and_tphcm(client):
    assert any(t.lower().startswith("kĩ thuật") for t in texts(client, "ky thuat"))  # written kĩ in demo-0027
    assert any(t.lower().startswith("kĩ thuật") for t in texts(client, "ki thuat"))
    assert "TP.HCM" in texts(client, "tphcm")  # as a query reads it: TP.HCM
    assert "TP.HCM" in texts(client, "tp.h")


def test_completions_are_phrases_and_headlines_not_single_words(client):
    found = texts(client, "t")
    assert len(found) == autocomplete.MAX_COMPLETIONS
    assert all(len(re.findall(r"[^\W_]+", t)) >= 2 for t in found)
    assert found[0] == "TP.HCM"  # the phrase most demo articles use


def test_nothing_typed_or_nothing_found_is_an_empty_list(client):
    for typed in ("", "   ", "!!!", "zzzzqqq", "bí thư thành ủy quận 12 phường 7"):
        assert suggest(client, typed) == []


# -- html ------------------------------------------------------------------------
def test_html_marks_the_typed_part_and_escapes_everything(writer, spec):
    assert writer.post("/api/articles", json=XSS_ARTICLE, headers=auth()).status_code == 201
    response = writer.get("/api/suggest", query_string={"q": "script alert"})
    check_response(spec, "/api/suggest", "GET", response)
    (only,) = response.get_json()["suggestions"]
    assert only["text"] == XSS_ARTICLE["title"]  # "<script>alert(1)</script> Tin giả mạo", as text
    assert only["html"] == "&lt;<mark>script&gt;alert</mark>(1)&lt;/script&gt; Tin giả mạo"
    assert _unmarked(only["html"]) == only["text"]


def _unmarked(markup: str) -> str:
    """The text of an html field, checking that <mark> is its only markup."""
    assert re.sub(r"</?mark>", "", markup).count("<") == 0
    assert markup.count("<mark>") == markup.count("</mark>") == 1
    return html.unescape(re.sub(r"</?mark>", "", markup))


# -- ranking ---------------------------------------------------------------------
def _article(number: int, title: str, published: str) -> dict:
    return {"id": f"rank-{number}", "title": title, "body": "Nội dung bài viết.", "published": published}


def test_more_articles_rank_first_and_recent_ones_count_more(writer):
    records = [
        # used by three articles of 2015 against one of 2024: the three win
        *[_article(i, f"Cảng Vân Phong tiếp nhận tàu số {i}", "2015-03-01") for i in range(3)],
        _article(3, "Cảng Vân Đồn tiếp nhận tàu mới", "2024-11-01"),
        # one article each: the recent one first
        _article(4, "Sân bay Long Thành khởi công nhà ga", "2012-05-05"),
        _article(5, "Sân bay Long Hải khởi công nhà ga", "2024-11-20"),
    ]
    assert writer.post("/api/articles", json=records, headers=auth()).status_code == 201
    found = texts(writer, "cang van")
    assert found.index("Cảng Vân Phong") < found.index("Cảng Vân Đồn tiếp nhận tàu mới")
    found = texts(writer, "san bay long")
    assert found.index("Sân bay Long Hải khởi công nhà ga") < found.index("Sân bay Long Thành khởi công nhà ga")


def test_written_and_deleted_articles_show_once_the_table_is_rebuilt(writer):
    completer = writer.application.extensions[ENGINE_KEY].completions
    completer.min_interval = completer.interval_factor = 0  # rebuild at once (a server waits seconds)
    assert texts(writer, "ho tram") == []
    record = _article(9, "Hồ Tràm đón du khách dịp lễ", "2024-04-30")
    assert writer.post("/api/articles", json=record, headers=auth()).status_code == 201
    assert _eventually(lambda: "Hồ Tràm đón du khách dịp lễ" in texts(writer, "ho tram"))
    assert writer.delete("/api/articles/rank-9", headers=auth()).status_code == 200
    assert _eventually(lambda: texts(writer, "ho tram") == [])


def _eventually(check, seconds: float = 20.0) -> bool:
    """The previous table answers while the new one is built aside."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if check():
            return True
        time.sleep(0.05)
    return False


# -- limits and errors -----------------------------------------------------------
def test_limit_bounds_the_list(client, spec):
    assert len(suggest(client, "t", limit="3")) == 3
    assert len(suggest(client, "t", limit=" 1 ")) == 1
    assert len(suggest(client, "t", limit="")) == autocomplete.MAX_COMPLETIONS
    for bad in ("0", "9", "-1", "x", "1.5", "9" * 5000):
        response = client.get("/api/suggest", query_string={"q": "t", "limit": bad})
        assert_error(response, 400, "bad_limit")
        check_response(spec, "/api/suggest", "GET", response)


def test_the_query_length_limit_is_the_search_limit(client, spec):
    assert client.get("/api/suggest", query_string={"q": "a" * MAX_QUERY_CHARS}).status_code == 200
    response = client.get("/api/suggest", query_string={"q": "a" * (MAX_QUERY_CHARS + 1)})
    assert_error(response, 400, "query_too_long")
    check_response(spec, "/api/suggest", "GET", response)


@pytest.mark.parametrize("raw", ["%ED%A0%80bi", "%00", "%FF%FE", "%E2%80%AEbi%20thu", "%F0%9F%98%80",
                                 "bi%20" * 300, "q%22%3Cscript%3E", "%C3%9F" * 400])
def test_hostile_input_is_answered(client, spec, raw):
    response = client.get("/api/suggest?q=" + raw)
    assert response.status_code == 200
    check_response(spec, "/api/suggest", "GET", response)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=60))
def test_any_text_gets_completions_whose_html_is_their_text(client, q):
    for s in suggest(client, q):
        assert _unmarked(s["html"]) == s["text"]


# -- the table itself ------------------------------------------------------------
def test_the_table_is_bounded(demo_engine):
    view = demo_engine._state().view
    whole = completion_builder.build(view)
    small = completion_builder.build(view, max_phrases=50, max_headlines=10)
    assert len(small) <= 60 < len(whole) and small.nbytes < whole.nbytes
    assert small.articles == whole.articles == 48
    few = completion_builder.build(view, max_tokens=100)  # newest articles first, until 100 syllables
    assert few.articles < 48 and "Tòa án nhân dân TP.HCM xét xử vụ án chiếm đoạt tiền đặt cọc mua nhà" in \
        [c.text for c in few.complete("toa an nhan")]  # demo-0048, the newest


def test_typed_text_is_read_as_the_index_reads_it():
    (reading,) = Typed.read(unicodedata.normalize("NFD", "Hoà Bình k"))
    assert reading.prefixes == [b"hoa binh k"] and (reading.words, reading.partial) == (3, 1)
    (reading,) = Typed.read("hoa binh ky")  # the last word as typed and with one i/y spelling
    assert reading.prefixes == [b"hoa binh ki", b"hoa binh ky"]
    (reading,) = Typed.read("hoa binh, ")
    assert reading.prefixes == [b"hoa binh "] and reading.exact == b"hoa binh" and reading.partial == 0
    assert [r.prefixes for r in Typed.read("tphcm q")] == [[b"tphcm q"], [b"tp hcm q"]]
    assert Typed.read("") == Typed.read(" .,!") == []


def test_an_empty_table_completes_nothing():
    table = CompletionTable([], [], np.zeros(0))
    assert table.complete("bi thu") == [] and table.nbytes >= 0


def test_a_sphinx_cluster_completes_nothing():
    # documented: the cluster has no completion table (nothing is connected here)
    assert SphinxBackend("sphinx://127.0.0.1:9").complete("bi thu thanh u") == []


def test_the_script_is_ours_and_the_page_works_without_it(client):
    with client.get("/static/suggest.js") as response:  # `with`: the file is closed
        assert response.status_code == 200 and "javascript" in response.mimetype
        script = response.get_data(as_text=True)
    assert "http" not in script and "import" not in script  # nothing fetched from elsewhere
    assert "innerHTML" not in script and "eval(" not in script  # suggestions are copied as text
    page = client.get("/?q=tre").get_data(as_text=True)
    # the box is a plain search box in the HTML: the script makes it a combobox
    assert 'data-suggest="/api/suggest"' in page and 'role="combobox"' not in page
    assert '<script src="/static/suggest.js" defer></script>' in page
