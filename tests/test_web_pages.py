"""The Vietnamese HTML pages: what a reader sees, that every state is in the
URL, that nothing needs JavaScript, and that archive text is always escaped."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from markupsafe import escape
from web_helpers import XSS_ARTICLE, auth

from search.request import MAX_QUERY_CHARS


class Page(HTMLParser):
    """The parts of a page the tests look at: links, form controls, labels."""

    def __init__(self, text: str):
        super().__init__()
        self.links: list[tuple[str, dict]] = []
        self.controls: list[dict] = []
        self.labels: set[str] = set()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "a" and "href" in attrs:
            self.links.append((attrs["href"], attrs))
        if tag in ("input", "select", "textarea") and attrs.get("type") != "hidden":
            self.controls.append(attrs)
        if tag == "label" and "for" in attrs:
            self.labels.add(attrs["for"])

    def hrefs(self, contains: str = "") -> list[str]:
        return [html.unescape(h) for h, _ in self.links if contains in html.unescape(h)]


def get_page(client, url: str, status: int = 200) -> tuple[str, Page]:
    response = client.get(url)
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    return text, Page(text)


def params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# -- the search page --------------------------------------------------------------
def test_search_page_shows_highlighted_results(client):
    text, page = get_page(client, "/?q=can+bo+tre")
    assert 'value="can bo tre"' in text  # the box keeps the query
    assert "Tìm thấy 4 kết quả" in text and " ms)" in text
    assert "/articles/demo-0001?q=can+bo+tre" in page.hrefs()  # the article marks the words
    assert "<mark>cán</mark> <mark>bộ</mark> <mark>trẻ</mark>" in text  # title and snippet
    assert "18/01/2022" in text and "Tú Viên" in text and "Thời sự" in text


def test_suggestion_link(client):
    text, page = get_page(client, "/?q=can+bo+tre&category=Thời+sự")
    assert "Có phải bạn muốn tìm:" in text
    (link,) = [h for h in page.hrefs("q=") if params(h)["q"] == ["cán bộ trẻ"]]
    assert params(link)["category"] == ["Thời sự"]  # the filters stay


def test_facet_links_filter_and_unfilter(client):
    _, page = get_page(client, "/?q=tre")
    (link,) = [h for h in page.hrefs("category=") if params(h)["category"] == ["Thể thao"]]
    assert params(link)["q"] == ["tre"] and "page" not in params(link)
    text, filtered = get_page(client, link)
    assert "Đang lọc theo: chuyên mục: Thể thao" in text
    assert 'type="hidden" name="category" value="Thể thao"' in text  # kept on a new search
    remove = [h for h in filtered.hrefs() if params(h).get("q") == ["tre"] and "category" not in params(h)]
    assert remove, "a selected facet and the filter line both offer a way back"


def test_date_range_and_sort_are_kept_in_the_form(client):
    text, _ = get_page(client, "/?q=tre&from=01/01/2022&to=2023-12-31&sort=newest")
    assert 'name="from" value="2022-01-01"' in text  # dd/mm/yyyy shown as the date input wants
    assert 'name="to" value="2023-12-31"' in text
    assert '<option value="newest" selected>' in text
    assert "từ 01/01/2022; đến 31/12/2023" in text


def test_pagination(client):
    text, page = get_page(client, "/")  # an empty query browses newest first: 48 articles
    assert "Bài mới nhất: 48 bài" in text
    # The selector keeps "relevance": a query typed next must not come back date-sorted.
    assert '<option value="relevance" selected>' in text
    next_links = [h for h, a in page.links if a.get("rel") == "next"]
    assert len(next_links) == 1 and params(html.unescape(next_links[0]))["page"] == ["2"]
    text2, page2 = get_page(client, html.unescape(next_links[0]))
    assert '<span aria-current="page" class="current">2</span>' in text2
    assert 'start="11"' in text2  # the numbering continues
    assert [h for h, a in page2.links if a.get("rel") == "prev"]
    _, last = get_page(client, "/?page=5")
    assert not [h for h, a in last.links if a.get("rel") == "next"]


def test_empty_result_page_helps(client):
    text, page = get_page(client, "/?q=xyzzyqqq&category=Thể+thao")
    assert "Không tìm thấy bài nào" in text and "Gợi ý" in text
    assert any("category" not in params(h) and params(h).get("q") == ["xyzzyqqq"]
               for h in page.hrefs("q="))  # "search again without filters"
    assert "gõ không dấu" in text


def test_a_page_past_the_end_says_so(client):
    text, _ = get_page(client, "/?q=tre&page=50")
    assert "Trang 50 không có kết quả" in text


def test_csv_and_atom_are_linked_with_the_same_search(client):
    _, page = get_page(client, "/?q=tre&category=Thể+thao&page=2")
    csv_link = page.hrefs("format=csv")[0]
    atom_link = page.hrefs("format=atom")[0]
    for link in (csv_link, atom_link):
        assert link.startswith("/api/search?")
        assert params(link)["q"] == ["tre"] and params(link)["category"] == ["Thể thao"]
        assert client.get(link).status_code == 200
    alternate = [a for t, a in page.tags if t == "link" and a.get("type") == "application/atom+xml"]
    assert alternate and "format=atom" in html.unescape(alternate[0]["href"])


def _chart_bars(text: str, query: str) -> list[str]:
    """The links of the chart's bars, each keeping the query."""
    (svg,) = re.findall(r"<svg.*?</svg>", text, re.DOTALL)
    links = Page(svg).hrefs()
    assert all(params(h).get("q") == [query] for h in links)
    return links


def test_coverage_chart_is_server_side_svg(client):
    # "tre" matches articles from six years: more than 36 months, so one bar a year.
    text, _ = get_page(client, "/?q=tre")
    assert "Số bài theo năm" in text
    bars = _chart_bars(text, "tre")
    facts = client.get("/api/search?q=tre").get_json()["facets"]
    assert len(bars) == len(facts["year"]) == 6  # each non-empty year narrows the search to it
    assert {(params(h)["from"][0], params(h)["to"][0]) for h in bars} == {
        (f"{f['value']}-01-01", f"{f['value']}-12-31") for f in facts["year"]}


def test_the_chart_shows_months_for_short_spans(client):
    url = "/?q=tre&from=2022-01-01&to=2023-12-31"
    text, _ = get_page(client, url)
    assert "Số bài theo tháng" in text
    facts = client.get("/api/search" + url[1:]).get_json()["facets"]
    bars = _chart_bars(text, "tre")
    assert len(bars) == len(facts["month"]) == 5
    assert (params(bars[0])["from"], params(bars[0])["to"]) == (["2022-01-01"], ["2022-01-31"])


def test_the_chart_switches_to_years_for_long_spans(client):
    text, _ = get_page(client, "/")  # the demo spans 2019-2024
    assert "Số bài theo năm" in text and ">2019<" in text and ">2024<" in text


# -- the article page -------------------------------------------------------------
def test_article_page(client):
    text, page = get_page(client, "/articles/demo-0001")
    assert "<h1 id=\"article-title\">Bí thư Thành ủy TP.HCM: Bố trí cán bộ trẻ về cơ sở</h1>" in text
    assert "Tú Viên" in text and "18/01/2022" in text
    assert text.count("<p>") == 4  # the body in paragraphs
    assert "Bài liên quan" in text
    related = text[text.index('id="related-title"'):]
    assert related.count('href="/articles/') == 5
    assert any(params(h).get("category") == ["Thời sự"] for h in page.hrefs("category="))


def test_the_article_lists_its_authors_latest_other_articles(client):
    text, _ = get_page(client, "/articles/demo-0001")  # by Tú Viên, who wrote 5 of the demo articles
    section = text[text.index('id="same-author-title"'):text.index('id="related-title"')]
    assert "Cùng tác giả" in section
    linked = re.findall(r'href="/articles/([^"]+)"', section)
    assert linked == ["demo-0011", "demo-0023", "demo-0045", "demo-0005"]  # newest first, not itself


def test_an_article_reached_from_a_search_marks_the_searched_words(client):
    _, results = get_page(client, "/?q=can+bo+tre")
    link = next(h for h in results.hrefs("/articles/demo-0001"))
    assert params(link)["q"] == ["can bo tre"]  # the result link carries the query
    text, _ = get_page(client, link)
    assert "<mark>cán bộ</mark> <mark>trẻ</mark>" in text or "<mark>cán</mark> <mark>bộ</mark> <mark>trẻ</mark>" in text
    assert "Đánh dấu các từ đã tìm" in text
    plain, _ = get_page(client, "/articles/demo-0001")
    assert "<mark>" not in plain


def test_marking_the_searched_words_still_escapes_the_article(writer):
    assert writer.post("/api/articles", json=XSS_ARTICLE, headers=auth()).status_code == 201
    for q in ("alert", "script", "tin gia mao", "<script>"):
        text = writer.get("/articles/xss-1", query_string={"q": q}).get_data(as_text=True)
        assert "<script" not in text and "<img" not in text and "<b onmouseover" not in text
    assert "<mark>" in writer.get("/articles/xss-1?q=alert").get_data(as_text=True)
    long = writer.get("/articles/xss-1", query_string={"q": "tin " * 2000})
    assert long.status_code == 200  # a long q is cut, not an error


def test_article_captions_and_tags(writer):
    record = {"id": "cap-1", "title": "Lễ hội hoa", "body": "Nội dung.",
              "captions": ["Du khách chụp ảnh bên hoa"], "tags": ["lễ hội"],
              "url": "https://example.vn/le-hoi"}
    assert writer.post("/api/articles", json=record, headers=auth()).status_code == 201
    text, page = get_page(writer, "/articles/cap-1")
    assert "Chú thích ảnh" in text and "Du khách chụp ảnh bên hoa" in text
    assert "https://example.vn/le-hoi" in page.hrefs()


def test_captions_stay_with_their_image_names(writer):
    """Each image name with its caption, and which have none (a scraped file
    pairs them too: test_raw_text.py)."""
    record = {"id": "fig-1", "title": "Lễ hội hoa", "body": "Nội dung.",
              "figures": [{"image": "a.jpg", "caption": "Hoa nở"}, {"image": "b.jpg", "caption": None}]}
    assert writer.post("/api/articles", json=record, headers=auth()).status_code == 201
    text = writer.get("/articles/fig-1?q=hoa").get_data(as_text=True)
    section = text[text.index('id="captions-title"'):text.index("</section>", text.index('id="captions-title"'))]
    items = re.findall(r"<li>(.*?)</li>", section, re.S)
    assert items == ['<code class="image-name">a.jpg</code>: <mark>Hoa</mark> nở',
                     '<code class="image-name">b.jpg</code> <span class="muted">(không có chú thích)</span>']
    article = writer.get("/api/articles/fig-1").get_json()
    assert article["images"] == ["a.jpg", "b.jpg"] and article["captions"] == ["Hoa nở"]
    again = {**article, "id": "fig-2"}  # an article as the API gives it can be posted back
    assert writer.post("/api/articles", json=again, headers=auth()).status_code == 201
    assert writer.get("/api/articles/fig-2").get_json()["figures"] == article["figures"]
    other = {**record, "id": "fig-3", "images": ["c.jpg"]}
    refused = writer.post("/api/articles", json=other, headers=auth())
    assert refused.status_code == 400 and "those of 'figures'" in refused.get_json()["error"]["message"]


def test_unknown_article_is_a_friendly_404(client):
    text, _ = get_page(client, "/articles/khong-co", status=404)
    assert "Không tìm thấy trang" in text and "Traceback" not in text


# -- errors --------------------------------------------------------------------------
@pytest.mark.parametrize("url, words", [
    ("/?from=32/13/2020&q=abc", "Ngày không hợp lệ"),
    ("/?size=0", "từ 1 đến 100"),
    ("/?page=5000", "quá sâu"),
    ("/?q=" + "x" * 1001, "quá dài"),
    ("/?sort=hot", "sắp xếp"),
])
def test_bad_parameters_give_a_vietnamese_400_page(client, url, words):
    text, _ = get_page(client, url, status=400)
    assert words in text and "Yêu cầu không hợp lệ" in text
    if "q=abc" in url:
        assert 'value="abc"' in text  # the query box keeps the query


def test_method_not_allowed_is_an_html_page(client):
    response = client.post("/")
    assert response.status_code == 405 and response.mimetype == "text/html"


# -- escaping, security, accessibility ------------------------------------------------
@pytest.mark.parametrize("query", [
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>",
    "javascript:alert(1)", "{{ 7*7 }}", "%ED%A0%80",
])
def test_queries_are_escaped(client, query):
    text = client.get("/", query_string={"q": query}).get_data(as_text=True)
    assert "<script>alert" not in text and "<img src=x" not in text and "<svg onload" not in text
    assert f'value="{escape(query)}"' in text


def test_archive_text_is_escaped_everywhere(writer):
    assert writer.post("/api/articles", json=XSS_ARTICLE, headers=auth()).status_code == 201
    for url in ("/?q=alert", "/articles/xss-1", "/?q=tin+gia+mao",
                "/?category=<img src=x onerror=alert(1)>"):
        text = writer.get(url).get_data(as_text=True)
        text = text.replace('<script src="/static/suggest.js" defer></script>', "")  # ours, on the search page
        assert "<script" not in text and "<img" not in text and "<b onmouseover" not in text
        assert "javascript:" not in text
    article = writer.get("/articles/xss-1").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Tin giả mạo" in article
    assert "&lt;img src=x onerror=alert(1)&gt;" in article
    assert 'href="javascript:' not in article  # an unsafe original URL is shown, not linked


def test_security_headers_and_no_inline_script(client):
    response = client.get("/?q=tre")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    for url in ("/?q=tre", "/", "/articles/demo-0001", "/nope"):
        text = client.get(url).get_data(as_text=True)
        # the search page's one script is our own file (search as you type); nothing inline
        scripts = re.findall(r"<script[^>]*>", text)
        assert scripts == (['<script src="/static/suggest.js" defer>'] if url.startswith("/?") or url == "/" else [])
        assert "<script>" not in text and " style=" not in text
        assert not re.search(r'(?:src|href)="(?:https?:)?//', text.split("Bài gốc")[0])


def test_pages_are_labelled_and_mobile_ready(client):
    for url in ("/?q=tre", "/articles/demo-0001", "/?size=0"):
        text = client.get(url).get_data(as_text=True)
        page = Page(text)
        assert '<html lang="vi">' in text and 'name="viewport"' in text
        for control in page.controls:
            assert control.get("id") in page.labels, f"{url}: unlabelled {control}"
    text = client.get("/?q=tre").get_data(as_text=True)  # 17 results: two pages
    assert 'role="search"' in text and 'aria-label="Bộ lọc"' in text
    assert 'aria-label="Phân trang"' in text


def test_stylesheet_is_served_locally(client):
    with client.get("/static/style.css") as response:  # `with`: the file is closed
        assert response.status_code == 200 and response.mimetype == "text/css"
        css = response.get_data(as_text=True)
    assert "@import" not in css and "url(" not in css  # nothing fetched from elsewhere
    assert "@media" in css  # a narrow-screen layout


def test_dropped_words_are_told_on_the_page(client):
    query = " ".join(f"tu{i}" for i in range(40))
    page = client.get("/", query_string={"q": query}).get_data(as_text=True)
    assert '<p class="note">Chỉ tìm theo 32 từ đầu tiên; 8 từ sau đó bị bỏ qua.</p>' in page


def test_a_relaxed_search_is_told_on_the_page(client):
    relaxed = "Không có bài nào chứa tất cả các từ"
    assert relaxed in client.get("/", query_string={"q": "cán bộ trẻ bóng đá hà nội"}).get_data(as_text=True)
    assert relaxed not in client.get("/?q=can+bo+tre").get_data(as_text=True)


def test_the_page_states_the_real_limits(client):
    text, _ = get_page(client, "/?q=tre")
    assert f'maxlength="{MAX_QUERY_CHARS}"' in text and "CSV (tối đa 1.000 dòng)" in text
    assert 'name="size"' not in text  # the default page size needs no hidden field
    text, _ = get_page(client, "/?q=tre&size=20")
    assert '<input type="hidden" name="size" value="20">' in text
    text, _ = get_page(client, "/?size=0", status=400)
    assert f'maxlength="{MAX_QUERY_CHARS}"' in text  # the error page's search box too
