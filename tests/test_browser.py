"""A real browser (Debian's Chromium, headless, driven by Playwright) against
the app served by waitress on loopback: the reader's path through the site,
and an article full of script payloads that must run nothing.

Screenshots go to /tmp/vnsearch-shots/ (outside the repository).
"""

from __future__ import annotations

import json
import os
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from helpers import shared_path
from web_helpers import TOKEN, XSS_ARTICLE, make_app

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path("/tmp/vnsearch-shots")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-dev-shm-usage"]  # small /dev/shm in containers crashes tabs

pytestmark = [
    pytest.mark.slow,
    # `make test` installs chromium and sets VNSEARCH_REQUIRE_BROWSER: there a
    # missing browser is a failure, not a silent skip
    pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("VNSEARCH_REQUIRE_BROWSER"),
                       reason="needs Debian's chromium (make browser / apt-get install chromium)"),
]


@pytest.fixture
def base_url(writable_index):
    """The app under waitress on 127.0.0.1 and a free port, in a background thread."""
    import waitress

    app = make_app(writable_index, API_TOKEN=TOKEN, TESTING=False)
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    stopping = threading.Event()

    def serve() -> None:
        # closing the socket from this fixture can land while the loop's
        # select() holds it: EBADF then, which is the stop, not a failure
        try:
            server.run()
        except OSError:
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    stopping.set()
    server.task_dispatcher.shutdown()
    server.close()
    thread.join(timeout=5)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        context = browser.new_context(locale="vi-VN", viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.problems = []  # dialogs (a script ran) and CSP violations (we broke our own policy)
        page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.on("console", lambda m: page.problems.append(m.text)
                if "Content Security Policy" in m.text else None)
        yield page
        browser.close()


def _post(base_url: str, record: dict) -> None:
    request = urllib.request.Request(
        f"{base_url}/api/articles", data=json.dumps(record).encode(), method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def test_a_reader_searches_filters_pages_and_reads(base_url, page):
    SHOTS.mkdir(exist_ok=True)
    response = page.goto(base_url + "/")
    assert "default-src 'self'" in response.headers["content-security-policy"]

    # An unaccented query finds accented text, highlighted.
    page.get_by_label("Từ khóa").fill("can bo tre")
    page.get_by_role("button", name="Tìm kiếm").click()
    page.wait_for_url("**/?q=can+bo+tre**")
    marks = page.locator(".hit mark")
    assert marks.count() == 19 and marks.first.inner_text() == "Bố"  # "bo" finds bố as well as bộ
    assert "Bố trí cán bộ trẻ" in page.locator(".hit h2").first.inner_text()
    assert page.get_by_text("Có phải bạn muốn tìm:").is_visible()
    page.screenshot(path=str(SHOTS / "search.png"), full_page=True)

    # A category facet narrows the search.
    page.locator("#facet-category + ul a").filter(has_text="Thời sự").click()
    page.wait_for_url("**category=*")
    assert "chuyên mục: Thời sự" in page.locator(".filters").inner_text()
    assert all(c == "Thời sự" for c in _hit_categories(page))

    # A date range, typed into the form (the filter stays, the dates join it).
    page.get_by_label("Từ ngày").fill("2022-01-01")
    page.get_by_label("Đến ngày").fill("2022-12-31")
    page.get_by_role("button", name="Tìm kiếm").click()
    page.wait_for_url("**from=2022-01-01**")
    filters = page.locator(".filters").inner_text()
    assert "từ 01/01/2022" in filters and "đến 31/12/2022" in filters
    assert page.locator(".hit").count() == 1

    # Browsing everything has several pages; go to page 2.
    page.goto(base_url + "/")
    page.get_by_role("link", name="Trang sau ›").click()
    page.wait_for_url("**page=2**")
    assert page.locator('.pagination [aria-current="page"]').inner_text() == "2"
    assert page.locator("ol.hits").get_attribute("start") == "11"

    # Open an article from the results.
    title = page.locator(".hit h2 a").first.inner_text()
    page.locator(".hit h2 a").first.click()
    page.wait_for_url("**/articles/**")
    assert page.locator("h1").inner_text() == title
    article_id = urllib.parse.urlsplit(page.url).path.split("/articles/", 1)[1]  # without ?q= (a search's words)
    with urllib.request.urlopen(f"{base_url}/api/articles/{article_id}", timeout=10) as response:
        body = json.load(response)["body"]
    paragraphs = [line for line in body.split("\n") if line.strip()]
    assert len(paragraphs) >= 2 and page.locator(".body p").count() == len(paragraphs)
    assert page.get_by_role("heading", name="Bài liên quan").is_visible()
    page.screenshot(path=str(SHOTS / "article.png"), full_page=True)

    # The same page on a phone: readable without sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base_url + "/?q=giao+duc")
    page.screenshot(path=str(SHOTS / "search-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.problems == []


def test_script_payloads_in_an_article_run_nothing(base_url, page):
    _post(base_url, XSS_ARTICLE)
    for path in ("/articles/xss-1", "/?q=alert", "/?q=tin+gia+mao"):
        page.goto(base_url + path)
        page.wait_for_load_state("load")
        # no payload became a script: the only one is our own file, on the search page
        assert _scripts(page) == ([] if path.startswith("/articles/") else ["/static/suggest.js"])
        assert page.locator("img").count() == 0  # no payload became an element
    page.goto(base_url + "/articles/xss-1")
    assert page.locator("h1").inner_text() == XSS_ARTICLE["title"]  # shown as text
    assert "<img src=x onerror=alert(1)>" in page.locator(".body").inner_text()
    page.goto(base_url + "/?q=alert")
    assert "<script>alert(1)</script>" in page.locator(".hit h2").first.inner_text()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "xss-article-search.png"), full_page=True)
    assert page.problems == []  # no dialog opened, nothing tripped the CSP


# -- search as you type (webui/static/suggest.js) ----------------------------------
def test_typing_without_accents_suggests_and_the_keyboard_picks(base_url, page):
    SHOTS.mkdir(exist_ok=True)
    page.goto(base_url + "/")
    box = page.get_by_role("combobox", name="Từ khóa")  # the script made the box a combobox
    assert box.get_attribute("aria-expanded") == "false"
    box.press_sequentially("bi thu thanh u", delay=40)  # keystrokes: debounced, stale requests cancelled
    listbox = page.get_by_role("listbox", name="Gợi ý tìm kiếm")
    listbox.wait_for()
    options = listbox.get_by_role("option")
    assert options.first.inner_text().lower() == "bí thư thành ủy"
    assert options.first.locator("mark").inner_text() == "Bí thư Thành ủ"  # the typed part
    assert "Bí thư Thành ủy TP.HCM: Bố trí cán bộ trẻ về cơ sở" in options.all_inner_texts()
    assert box.get_attribute("aria-expanded") == "true"
    assert box.get_attribute("aria-controls") == listbox.get_attribute("id")
    assert "gợi ý" in page.get_by_role("status").inner_text()  # told to a screen reader
    # down and up again: the active option is the box's aria-activedescendant
    box.press("ArrowDown")
    box.press("ArrowDown")
    assert box.get_attribute("aria-activedescendant") == options.nth(1).get_attribute("id")
    assert options.nth(1).get_attribute("aria-selected") == "true"
    box.press("ArrowUp")
    assert box.get_attribute("aria-activedescendant") == options.first.get_attribute("id")
    assert options.first.get_attribute("aria-selected") == "true"
    assert options.nth(1).get_attribute("aria-selected") == "false"
    page.screenshot(path=str(SHOTS / "suggest.png"))
    box.press("Enter")
    page.wait_for_url("**/?q=B*")
    assert box.input_value().lower() == "bí thư thành ủy"
    assert page.locator(".hit h2").first.inner_text() == "Bí thư Thành ủy TP.HCM: Bố trí cán bộ trẻ về cơ sở"
    assert box.get_attribute("aria-expanded") == "false"
    # Escape closes the list; the box keeps what was typed
    box.fill("")
    box.press_sequentially("da n", delay=40)
    listbox.wait_for()
    box.press("Escape")
    listbox.wait_for(state="hidden")
    assert box.input_value() == "da n" and box.get_attribute("aria-expanded") == "false"
    assert page.problems == []


def test_a_stored_script_in_a_headline_is_text_in_the_list(base_url, page):
    _post(base_url, XSS_ARTICLE)
    page.goto(base_url + "/")
    page.get_by_label("Từ khóa").press_sequentially("script alert", delay=40)
    option = page.get_by_role("listbox", name="Gợi ý tìm kiếm").get_by_role("option")
    option.first.wait_for()
    assert option.all_inner_texts() == [XSS_ARTICLE["title"]]  # "<script>alert(1)</script> Tin giả mạo"
    assert option.first.locator("mark").inner_text() == "script>alert"
    assert option.first.locator("script, img").count() == 0
    assert _scripts(page) == ["/static/suggest.js"]
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "suggest-xss.png"))
    assert page.problems == []  # no dialog opened, nothing tripped the CSP


def test_without_javascript_the_search_box_is_a_plain_form(base_url, page):
    context = page.context.browser.new_context(java_script_enabled=False, locale="vi-VN")
    plain = context.new_page()
    plain.goto(base_url + "/")
    box = plain.get_by_label("Từ khóa")
    box.fill("bi thu thanh uy")
    box.press("Enter")
    plain.wait_for_url("**/?q=bi+thu+thanh+uy**")
    assert plain.locator(".hit h2").first.inner_text() == "Bí thư Thành ủy TP.HCM: Bố trí cán bộ trẻ về cơ sở"
    assert plain.locator("#q-suggestions").count() == 0 and box.get_attribute("role") is None
    context.close()


def _scripts(page) -> list[str]:
    return page.evaluate("Array.from(document.scripts, s => s.getAttribute('src'))")


def _hit_categories(page) -> list[str]:
    return [text.replace("·", "").strip() for text in page.locator(".hit .category").all_inner_texts()]


# -- same-event grouping (search/grouping.py) -------------------------------------
def test_an_event_told_three_times_is_one_result_that_opens(base_url, page):
    records = [json.loads(line) for line in shared_path("corpus/mds.jsonl").read_text(encoding="utf-8").splitlines()]
    event = [record for record in records if record["id"] in ("mds-191-1", "mds-191-2", "mds-191-3")]
    for record in event:
        _post(base_url, record)
    SHOTS.mkdir(exist_ok=True)
    page.goto(base_url + "/?q=" + urllib.parse.quote("hủy chuyến bay vì bão"))
    hit = page.locator(".hit", has=page.locator("details.same-event")).first
    summary = hit.locator("summary")
    assert summary.inner_text() == "và 2 bài cùng sự kiện"
    members = hit.locator("details li a")
    assert not members.first.is_visible()  # folded until asked for, with no script
    page.screenshot(path=str(SHOTS / "grouped.png"), full_page=True)
    summary.click()
    assert members.first.is_visible()
    titles = {hit.locator("h2").inner_text(), *members.all_inner_texts()}
    assert titles == {record["title"] for record in event}
    page.screenshot(path=str(SHOTS / "grouped-open.png"), full_page=True)
    # a member's page lists the rest of its event
    members.first.click()
    page.wait_for_url("**/articles/mds-191-*")
    here = urllib.parse.urlparse(page.url).path.rsplit("/", 1)[-1]
    same = page.get_by_role("region", name="Cùng sự kiện").get_by_role("link")
    assert set(same.all_inner_texts()) == {record["title"] for record in event if record["id"] != here}
    page.screenshot(path=str(SHOTS / "same-event-article.png"), full_page=True)
    # and the reader can ask for every article on its own
    page.go_back()
    page.locator("a.ungroup").click()
    page.wait_for_url("**group=off**")
    assert page.locator("details.same-event").count() == 0
    assert page.problems == []
