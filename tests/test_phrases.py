"""An exact phrase finds every article that holds it, however many articles
hold its words (phrases.PhraseFinder reads positions PHRASE_CHUNK documents
at a time; it used to stop at the first MAX_PHRASE_CHECKS of them, which at
400,000 articles left out most holders of a phrase of common words)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ids, small_index

from search import docsets, executor, phrases
from search.engine import Engine
from search.request import SearchRequest

HOLDERS = {f"a{i:02d}" for i in range(40) if i % 3 == 0}


def _article(i: int) -> dict:
    if f"a{i:02d}" in HOLDERS:
        body = "Hội nghị biểu dương cán bộ trẻ của tỉnh trong năm qua."
    else:  # the same words, apart
        body = "Người trẻ tham gia hội nghị cùng cán bộ của tỉnh trong năm qua."
    return {"id": f"a{i:02d}", "title": f"Tin địa phương số {i}", "body": body,
            "published": f"2021-{1 + i % 12:02d}-{1 + i % 27:02d}"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return Engine(small_index(tmp_path_factory.mktemp("phrases"), [_article(i) for i in range(40)]))


@pytest.mark.parametrize("query", ['"cán bộ trẻ"', '"can bo tre"'])
def test_a_phrase_is_found_in_every_holder_past_any_check_limit(engine, monkeypatch, query):
    monkeypatch.setattr(executor, "MAX_PHRASE_CHECKS", 5)  # far fewer than the 40 articles with the words
    monkeypatch.setattr(phrases, "PHRASE_CHUNK", 4)  # and positions read a few articles at a time
    result = engine.search(SearchRequest(q=query, size=50, group=False))
    assert result.total == len(HOLDERS)
    assert set(ids(result)) == HOLDERS


def test_words_apart_are_matches_of_the_words_but_not_of_the_phrase(engine):
    assert engine.search(SearchRequest(q="cán bộ trẻ", size=50, group=False)).total == 40


@pytest.mark.parametrize("sizes", [(0, 5), (5, 5), (40, 3000), (2000, 2500), (1, 1)])
def test_intersect_matches_numpy(sizes):
    rng = np.random.default_rng(sum(sizes))
    first = np.unique(rng.integers(0, 5000, sizes[0]))
    second = np.unique(np.concatenate([first[::2], rng.integers(0, 5000, sizes[1])]))
    assert np.array_equal(docsets.intersect(first, second), np.intersect1d(first, second))
    assert np.array_equal(docsets.intersect(second, first), np.intersect1d(first, second))


def _filtered_article(article_id: str, author: str, body: str) -> dict:
    return {"id": article_id, "title": "Tin địa phương", "body": body, "author": author,
            "published": "2021-03-04"}


FILTERED = [
    # many strong matches of the words apart, by another author
    *[_filtered_article(f"other-{i}", "Trần Văn Nam",
                        "Người trẻ gặp cán bộ. Cán bộ hỏi người trẻ. Trẻ và cán bộ cùng làm.") for i in range(12)],
    # the filtered author's: the words apart and often, and once in a row in a long text
    *[_filtered_article(f"apart-{i}", "Lê Thị Hoa",
                        "Người trẻ gặp cán bộ. Cán bộ hỏi người trẻ. Trẻ và cán bộ cùng làm.") for i in range(3)],
    _filtered_article("together", "Lê Thị Hoa",
                      "Hội nghị năm nay của tỉnh có nhiều nội dung, trong đó có việc biểu dương cán bộ trẻ "
                      "đã hoàn thành tốt nhiệm vụ, cùng nhiều báo cáo về kinh tế, xã hội và giáo dục."),
]


@pytest.fixture(scope="module")
def filtered_engine(tmp_path_factory):
    return Engine(small_index(tmp_path_factory.mktemp("phrases-filtered"), FILTERED))


def test_a_filtered_search_looks_for_the_phrase_among_the_articles_it_shows(filtered_engine, monkeypatch):
    # 16 articles match; the boost looks for the words in a row among the 5
    # best-scoring of those the filter lets through, not of all 16
    monkeypatch.setattr(executor, "MAX_PHRASE_CHECKS", 5)
    result = filtered_engine.search(SearchRequest(q="can bo tre", authors=["Lê Thị Hoa"], group=False))
    assert ids(result)[0] == "together"
    assert set(ids(result)) == {"together", "apart-0", "apart-1", "apart-2"}
