"""A long unaccented query that spells a headline is planned with the
headline's accents (search/headline_accents.py)."""

from __future__ import annotations

import pytest
from helpers import ids, small_index

from search import headline_accents
from search.engine import Engine
from search.request import SearchRequest

HEADLINE = "Hà Nội củng cố đê điều trước mùa mưa bão năm nay"
TYPED = "ha noi cung co de dieu truoc mua mua bao nam nay"


def _article(article_id: str, title: str, body: str) -> dict:
    return {"id": article_id, "title": title, "body": body, "published": "2022-05-01"}


ARTICLES = [
    _article("source", HEADLINE, "Thành phố kiểm tra các tuyến đê trước mùa mưa bão."),
    # the same event: "củng cố" as the headline spells it
    _article("strengthen", "Các tỉnh củng cố đê điều",
             "Nhiều tỉnh củng cố đê điều trước mùa mưa bão năm nay, Hà Nội cũng vậy."),
    # the same folded words, other accents, and more of them: the stronger
    # match when accents are not known
    _article("together", "Các tỉnh cùng có đê điều trước mùa mưa bão",
             "Hà Nội và nhiều tỉnh cùng có đê điều, có kế hoạch trước mùa mưa bão năm nay. "
             "Mùa mưa năm nay đến sớm."),
    # two headlines that fold alike, spelled two ways, and a third like the first
    _article("storm-1", "Bão lớn đổ bộ miền Trung trong đêm nay rồi", "Mưa lớn."),
    _article("paper-1", "Báo lớn đổ bộ miền Trung trong đêm nay rồi", "Tòa soạn mới."),
    _article("split-a", "Xe khách lật trên đèo Hải Vân sáng nay", "Tai nạn."),
    _article("split-b", "Xe khách lật trên đèo Hải Vân sáng nay", "Tai nạn khác."),
    _article("split-c", "Xe khách lật trên đèo Hai Van sáng nay", "Bản không dấu."),
    _article("english", "Manchester United win the Premier League title again", "Bóng đá Anh."),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    return Engine(small_index(tmp_path_factory.mktemp("headline-accents"), ARTICLES))


def search(engine: Engine, q: str):
    return engine.search(SearchRequest(q=q, group=False))


def test_an_unaccented_headline_ranks_as_if_typed_with_its_accents(engine, monkeypatch):
    typed, accented = search(engine, TYPED), search(engine, HEADLINE.lower())
    assert ids(typed) == ids(accented)
    assert ids(typed).index("strengthen") < ids(typed).index("together")
    assert typed.total == accented.total
    assert any(HEADLINE in note for note in typed.notes)
    # without the headline's accents the folded words rank the other way
    monkeypatch.setattr(headline_accents, "restored", lambda *args: None)
    plain = search(engine, TYPED)
    assert ids(plain).index("together") < ids(plain).index("strengthen")
    assert not plain.notes


def test_headlines_that_disagree_leave_the_query_as_typed(engine):
    result = search(engine, "bao lon do bo mien trung trong dem nay roi")
    assert not result.notes
    assert {"storm-1", "paper-1"} <= set(ids(result))


def test_the_spelling_of_most_holders_wins(engine):
    result = search(engine, "xe khach lat tren deo hai van sang nay")
    assert any("Xe khách lật trên đèo Hải Vân sáng nay" in note for note in result.notes)


@pytest.mark.parametrize("q", [
    HEADLINE,  # typed with accents: nothing to learn
    "ha noi cung co de dieu",  # short: a few words say little about one headline
    '"ha noi cung co" de dieu truoc mua mua bao nam nay',  # a quoted part
    "ha noi cung co de dieu truoc mua mua bao nam nay -lut",  # an operator
    "title:ha noi cung co de dieu truoc mua mua bao nam nay",  # a field
    "manchester united win the premier league title again",  # a headline without accents
    "ha noi cung co de dieu sau mua mua bao nam nay",  # no headline holds these words in a row
])
def test_other_queries_stay_as_typed(engine, q):
    assert not any("theo tiêu đề" in note for note in search(engine, q).notes)
