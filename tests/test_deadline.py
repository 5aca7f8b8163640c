"""No search holds a thread past its deadline (search/deadline.py)."""

from __future__ import annotations

import threading
import time

import pytest

from search.deadline import Deadline, SearchTimeout
from search.engine import Engine
from search.index_view import IndexView
from search.request import SearchRequest
from tests.web_helpers import assert_error, make_app
from webui.settings import settings_from_env

SLOW_STEP = 0.05  # seconds each postings read takes in the slowed-down tests


def long_query() -> SearchRequest:
    # many words, each read in four fields: far more than deadline / SLOW_STEP reads
    return SearchRequest(q="thủ tướng chính phủ yêu cầu các bộ ngành địa phương khẩn trương triển khai")


@pytest.fixture
def slow_postings(monkeypatch):
    real = IndexView.postings

    def slow(self, field, term):
        time.sleep(SLOW_STEP)
        return real(self, field, term)

    monkeypatch.setattr(IndexView, "postings", slow)


def test_a_deadline_of_zero_never_passes():
    deadline = Deadline(0)
    deadline.check()
    assert deadline.remaining() == float("inf")


def test_a_slow_search_stops_at_its_deadline(demo_index, slow_postings):
    engine = Engine(demo_index, deadline=0.3)
    started = time.monotonic()
    with pytest.raises(SearchTimeout) as caught:
        engine.search(long_query())
    took = time.monotonic() - started
    assert took < 0.3 + 4 * SLOW_STEP + 0.5  # stopped within a step or two, not after every read
    assert caught.value.retry_after >= 1 and "0.3 s" in str(caught.value)
    # the slot was given back: the next search runs (and also stops in time)
    with pytest.raises(SearchTimeout):
        engine.search(long_query())


def test_the_same_search_completes_without_a_deadline(demo_index, slow_postings):
    result = Engine(demo_index, deadline=0).search(long_query())
    assert result.took_ms > 300  # it really was slower than the deadline above


def test_waiting_for_a_search_slot_counts(demo_index):
    engine = Engine(demo_index, search_slots=1, deadline=0.4)
    engine.search(SearchRequest(q="việt nam"))  # opened and warm
    engine._searching.acquire()  # another search holds the only slot
    try:
        started = time.monotonic()
        with pytest.raises(SearchTimeout):
            engine.search(SearchRequest(q="việt nam"))
        assert 0.3 < time.monotonic() - started < 2.0
    finally:
        engine._searching.release()
    assert engine.search(SearchRequest(q="việt nam")).total > 0


def test_many_threads_past_their_deadline_leave_no_search_running(demo_index, slow_postings):
    engine = Engine(demo_index, search_slots=2, deadline=0.3)
    outcomes: list[str] = []

    def one() -> None:
        try:
            engine.search(long_query())
            outcomes.append("answered")
        except SearchTimeout:
            outcomes.append("timeout")

    threads = [threading.Thread(target=one) for _ in range(6)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert outcomes == ["timeout"] * 6
    assert time.monotonic() - started < 3.0  # none queued behind the others' full runs
    assert engine._heap._running == 0


def test_the_api_answers_503_with_retry_after_and_the_page_explains(demo_index, slow_postings):
    app = make_app(demo_index, DEADLINE=0.2)
    client = app.test_client()
    response = client.get("/api/search", query_string={"q": long_query().q})
    body = assert_error(response, 503, "search_timeout")
    assert int(response.headers["Retry-After"]) >= 1
    assert "deadline" in body["message"]
    page = client.get("/", query_string={"q": long_query().q})
    assert page.status_code == 503 and page.headers["Retry-After"]
    assert "mất quá nhiều thời gian" in page.get_data(as_text=True)


def test_the_deadline_is_a_setting():
    assert settings_from_env({})["DEADLINE"] == 2.0
    assert settings_from_env({"VNSEARCH_DEADLINE": "0.5"})["DEADLINE"] == 0.5
    with pytest.raises(ValueError, match="VNSEARCH_DEADLINE"):
        settings_from_env({"VNSEARCH_DEADLINE": "-1"})
