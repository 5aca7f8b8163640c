"""Abbreviations (search/abbreviations.py, abbreviations.tsv, compiler.py):
a query in one form finds the articles written in the other, the form typed
ranks first, and a query without abbreviations is planned as before.

The articles below come in pairs that differ only in the form they print
("UBND tỉnh Quảng Nam" / "Ủy ban nhân dân tỉnh Quảng Nam"), plus articles
that hold the words of a form without meaning it, which must not match.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_helpers import indexed
from helpers import ids, write_jsonl

from indexer.analysis import FOLD, terms
from indexer.ingest import ingest
from search import abbreviations
from search.abbreviations import Spelling, TableError, folded_syllables, parse
from search.backends import open_backend
from search.compiler import Compiler, highlight_words
from search.engine import Engine
from search.expansion import MAX_EXPANDED, expansions
from search.plan import AnyOf, PhraseMatch
from search.querylang import parse as parse_query
from search.request import SearchRequest

ARTICLES = [
    ("ubnd", "UBND tỉnh Quảng Nam họp bàn phòng chống bão",
     "Sáng 12-9, UBND tỉnh Quảng Nam họp khẩn với các sở ngành về phòng chống cơn bão số 5."),
    ("uy-ban", "Ủy ban nhân dân tỉnh Quảng Nam họp bàn phòng chống bão",
     "Sáng 12-9, Ủy ban nhân dân tỉnh Quảng Nam họp khẩn với các sở ngành về phòng chống cơn bão số 5."),
    ("uy-ban-apart", "Người dân Quảng Nam góp ý cho ủy ban",
     "Ủy ban phường lắng nghe ý kiến của nhân dân về con đường mới ở Quảng Nam."),
    ("city-dot", "Giá nhà ở TP.HCM tăng mạnh trong quý III",
     "Giá căn hộ ở TP.HCM tăng mạnh, theo báo cáo của các sàn giao dịch."),
    ("city-full", "Giá nhà ở Thành phố Hồ Chí Minh tăng mạnh trong quý III",
     "Giá căn hộ ở Thành phố Hồ Chí Minh tăng mạnh, theo báo cáo của các sàn giao dịch."),
    ("city-other", "TP Đà Nẵng mở rộng bãi biển",
     "TP Đà Nẵng có thêm bãi tắm mới, gần khu tưởng niệm Chủ tịch Hồ Chí Minh."),
    ("coach-short", "HLV Park Hang-seo chốt danh sách dự SEA Games",
     "HLV Park Hang-seo công bố danh sách 23 cầu thủ dự SEA Games."),
    ("coach-full", "Huấn luyện viên Park Hang-seo chốt danh sách dự SEA Games",
     "Huấn luyện viên Park Hang-seo công bố danh sách 23 cầu thủ dự SEA Games."),
    ("ministry", "Bộ GD-ĐT công bố lịch thi", "Bộ GD-ĐT vừa công bố lịch thi tốt nghiệp THPT năm nay."),
    ("ministry-joined", "Bộ GDĐT điều chỉnh đề thi", "Bộ GDĐT điều chỉnh cấu trúc đề thi môn toán."),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    records = [{"id": i, "title": title, "body": body, "published": "2023-09-12T08:00:00+07:00",
                "category": "Thời sự", "source": "test"} for i, title, body in ARTICLES]
    return write_jsonl(tmp_path_factory.mktemp("abbreviations") / "articles.jsonl", records)


@pytest.fixture(scope="module")
def engine(corpus) -> Engine:
    summary = ingest([corpus], corpus.parent / "index", procs=1, show_progress=False)
    assert (summary.added, summary.rejected) == (len(ARTICLES), 0)
    return Engine(corpus.parent / "index", refresh_interval=0)


def search(engine, q: str):
    """Every match, ungrouped: the pairs tell the same news, which same-event grouping would fold."""
    params = {"q": q, "size": "50", "facets": "false", "group": "off"}
    return engine.search(SearchRequest.from_params(params.get, lambda _: []))


@pytest.fixture
def disabled(monkeypatch):
    monkeypatch.setattr(abbreviations, "ENABLED", False)


# -- either form finds both, the form typed first ---------------------------------

@pytest.mark.parametrize("q, first, also", [
    ("UBND tỉnh Quảng Nam", "ubnd", "uy-ban"),
    ("ubnd quang nam", "ubnd", "uy-ban"),
    ("Ủy ban nhân dân tỉnh Quảng Nam", "uy-ban", "ubnd"),
    ("uỷ ban nhân dân Quảng Nam", "uy-ban", "ubnd"),  # the other tone placement
    ("uy ban nhan dan quang nam", "uy-ban", "ubnd"),
    ("UY BAN NHAN DAN", "uy-ban", "ubnd"),
    ('"Ủy ban nhân dân tỉnh Quảng Nam"', "uy-ban", "ubnd"),  # a phrase holding the expansion
    ('"ubnd tỉnh quảng nam"', "ubnd", "uy-ban"),
    ("TP.HCM giá nhà", "city-dot", "city-full"),
    ("tphcm gia nha", "city-dot", "city-full"),
    ("tp hcm", "city-dot", "city-full"),
    ("Thành phố Hồ Chí Minh", "city-full", "city-dot"),
    ("thanh pho ho chi minh gia nha", "city-full", "city-dot"),
    ("HLV Park Hang-seo", "coach-short", "coach-full"),
    ("hlv park", "coach-short", "coach-full"),
    ("huấn luyện viên Park Hang-seo", "coach-full", "coach-short"),
    ("huan luyen vien park", "coach-full", "coach-short"),
])
def test_either_form_finds_both_and_the_form_typed_ranks_first(engine, q, first, also):
    found = ids(search(engine, q))
    assert found[0] == first
    assert also in found


@pytest.mark.parametrize("q, absent", [
    ("UBND Quảng Nam", "uy-ban"),
    ("Thành phố Hồ Chí Minh", "city-dot"),
    ("HLV Park Hang-seo", "coach-full"),
])
def test_without_the_table_each_form_finds_only_itself(engine, disabled, q, absent):
    assert absent not in ids(search(engine, q))


def test_the_expansion_must_stand_together(engine):
    """"UBND" means the whole name in a row: an article with "ủy ban" and
    "nhân dân" apart is not about the people's committee."""
    assert set(ids(search(engine, "UBND"))) == {"ubnd", "uy-ban"}


def test_every_spelling_of_tp_hcm_meets_and_no_other_city(engine):
    """TPHCM used to match every article with "tp" in it (TP Đà Nẵng):
    the split "TPHCM" now asks for the city's name only."""
    for q in ("TP.HCM", "TPHCM", "tphcm", "TP HCM", "tp. hcm", "thành phố hồ chí minh", '"TP Hồ Chí Minh"'):
        assert set(ids(search(engine, q))) == {"city-dot", "city-full"}, q


def test_an_abbreviation_in_parts_is_found_joined_too(engine):
    assert ids(search(engine, "GD-ĐT"))[0] == "ministry"
    assert set(ids(search(engine, "GD-ĐT"))) == {"ministry", "ministry-joined"}
    assert set(ids(search(engine, "gd&đt"))) == {"ministry", "ministry-joined"}
    assert ids(search(engine, "GDĐT")) == ["ministry-joined", "ministry"]
    assert set(ids(search(engine, "giáo dục và đào tạo"))) == {"ministry", "ministry-joined"}


def test_exclusions_and_field_scopes_keep_the_form_typed(engine):
    """"-UBND" excludes what was typed, not the expansion; title:UBND
    searches the title for exactly that word."""
    assert set(ids(search(engine, "Quảng Nam -UBND"))) == {"uy-ban", "uy-ban-apart"}
    assert ids(search(engine, "title:UBND")) == ["ubnd"]


def test_the_other_form_is_marked_too(engine):
    hit = next(h for h in search(engine, "UBND Quảng Nam").hits if h.id == "uy-ban")
    assert "<mark>Ủy</mark> <mark>ban</mark> <mark>nhân</mark> <mark>dân</mark>" in hit.title_html
    assert ("uy", None) in highlight_words("UBND")  # the article page reached from the search
    assert ("tphcm", None) in highlight_words("Thành phố Hồ Chí Minh")  # "TPHCM" in one word
    assert ("uy", None) not in highlight_words("-UBND nhà")


@pytest.fixture(scope="module")
def sphinx(corpus, tmp_path_factory):
    """The same articles on a Sphinx cluster of 2 shards (tests/cluster_helpers.py)."""
    with indexed(tmp_path_factory.mktemp("cluster"), corpus, 2, 1) as (layout, _):
        yield open_backend(layout.url, cluster_dir=layout.directory, refresh_interval=0)


@pytest.mark.parametrize("q", ["UBND tỉnh Quảng Nam", "uy ban nhan dan", '"ủy ban nhân dân tỉnh quảng nam"',
                               "TPHCM", "tp hcm", "Thành phố Hồ Chí Minh", "HLV Park", "GD-ĐT", "GDĐT",
                               "giáo dục và đào tạo", "Quảng Nam -UBND"])
def test_both_backends_expand_alike(engine, sphinx, q):
    """The cluster runs the same plan (sphinx_match.py, sphinx_scoring.py): the same matches, scores and marks."""
    expected, got = search(engine, q), search(sphinx, q)
    assert got.total == expected.total > 0
    assert {h.id: h.score for h in got.hits} == {h.id: h.score for h in expected.hits}
    assert [h.score for h in got.hits] == [h.score for h in expected.hits]
    by_id = {h.id: h for h in expected.hits}
    assert all((h.snippet, h.title_html) == (by_id[h.id].snippet, by_id[h.id].title_html) for h in got.hits)


# -- plans ------------------------------------------------------------------------

class View:
    """A compiler view with no facets and no compounds."""

    def codes(self, field):
        return None, []

    def doc_frequency(self, field, term):
        return 0


def plan(q: str):
    return Compiler(View()).plan(parse_query(q))


QUERIES_WITHOUT = ["can bo tre", '"cán bộ trẻ"', "biểu tình -campuchia", "(hà nội OR đà nẵng) AND kinh tế",
                   "title:dương", "author:vien nhà", "18/1/2022", "người ủng hộ đảng đối lập biểu tình ở thủ đô",
                   "ủy ban", "nhân dân", "hồ chí minh", "thành phố", "giáo dục", "tp", "NOT ubnd", ""]
QUERIES_WITH = ["UBND", "tp hcm", '"ủy ban nhân dân"', "hlv park hang seo", "bộ gd-đt", "đại học bách khoa"]


@pytest.mark.parametrize("q", QUERIES_WITHOUT)
def test_a_query_without_abbreviations_is_planned_as_without_the_table(q, monkeypatch):
    with_table = plan(q)
    monkeypatch.setattr(abbreviations, "ENABLED", False)
    assert plan(q) == with_table


@pytest.mark.parametrize("q", QUERIES_WITH)
def test_a_query_with_one_is_planned_otherwise(q, monkeypatch):
    with_table = plan(q)
    monkeypatch.setattr(abbreviations, "ENABLED", False)
    assert plan(q) != with_table


def test_the_other_form_is_a_phrase_scored_below_the_form_typed():
    required = plan("UBND").required
    assert isinstance(required, AnyOf)
    typed, other = required.nodes
    assert isinstance(other, PhraseMatch) and other.words == ["uy", "ban", "nhan", "dan"]
    assert sum(t.weight for t in other.scoring if t.field == "content") == pytest.approx(0.5)
    assert min(t.weight for t in typed.terms if t.field == "content") == 1.0


def test_a_run_of_words_is_one_clause_for_the_relaxed_fallback():
    relaxation = plan("ủy ban nhân dân tỉnh quảng nam họp").relaxation
    assert relaxation is not None
    assert len(relaxation.words) == 5  # the expansion (or UBND), tỉnh, quảng, nam, họp
    assert isinstance(relaxation.words[0], AnyOf)


def test_expansions_per_query_are_bounded():
    q = " ".join(["UBND", "HĐND", "HLV", "CLB", "THPT", "THCS", "BHXH"])
    assert len(expansions(parse_query(q).root)) == MAX_EXPANDED
    assert [isinstance(n, AnyOf) for n in plan(q).required.nodes] == [True] * MAX_EXPANDED + [False] * 3


# -- the data file ----------------------------------------------------------------

def test_the_shipped_table_loads_and_folds_as_the_index_does():
    """Each entry's forms are the folded terms the analyzer indexes for them,
    so a form in a query meets the same form in an article."""
    table = abbreviations.load()
    assert 40 <= len(table.entries) <= 80
    for entry in table.entries:
        written = [t.text for t in terms(entry.abbreviation) if t.kind == FOLD]
        assert tuple(written) == entry.parts, entry.abbreviation
        for expansion, folded in zip(entry.expansions, entry.expanded, strict=True):
            assert tuple(t.text for t in terms(expansion) if t.kind == FOLD) == folded, expansion


def test_lookups_go_both_ways_by_folded_syllables():
    table = abbreviations.load()
    assert table.others(folded_syllables("Uỷ ban Nhân dân")) == (Spelling(("ubnd",)),)
    city = (Spelling(("thanh", "pho", "ho", "chi", "minh")), Spelling(("tp", "ho", "chi", "minh")))
    assert table.others(folded_syllables("TPHCM")) == (*city, Spelling(("tp", "hcm"), ("tphcm",)))
    assert table.others(folded_syllables("tp.hcm")) == (*city, Spelling(("tphcm",)))
    assert table.others(folded_syllables("TP Hồ Chí Minh"))[0] == Spelling(("tp", "hcm"), ("tphcm",))
    assert table.alternatives(folded_syllables("ủy ban nhân dân tỉnh")) == (Spelling(("ubnd", "tinh")),)
    assert table.alternatives(folded_syllables("ủy ban")) == ()


HEADER = "abbreviation\texpansion\tcomment\n"


@pytest.mark.parametrize("text, message", [
    (HEADER + "UBND\tỦy ban nhân dân\nUBND\tỦy ban nhân dân\n", ":3: 'UBND' is spelt like 'UBND' on line 2"),
    (HEADER + "TP.HCM\tThành phố Hồ Chí Minh\nTPHCM\tTP Hồ Chí Minh\n", ":3: 'TPHCM' is spelt like 'TP.HCM' on line 2"),
    (HEADER + "UBND\tỦy ban nhân dân\nUB\tuỷ ban nhân dân\n", ":3: 'uỷ ban nhân dân' is spelt like 'Ủy ban nhân dân'"),
    (HEADER + "UBND\t\n", ":2: empty expansion for 'UBND'"),
    (HEADER + "\tỦy ban nhân dân\n", ":2: empty abbreviation"),
    (HEADER + "UBND\n", ":2: expected 'abbreviation<TAB>expansion[<TAB>comment]'"),
    (HEADER + "UBND\tỦy ban nhân dân | \n", ":2: empty expansion spelling"),
    (HEADER + "TP HCM\tThành phố Hồ Chí Minh\n", ":2: abbreviation 'TP HCM' has a space"),
    (HEADER + "A.B.C.D\tan bê xê đê\n", ":2: abbreviation 'A.B.C.D' has 4 parts"),
    (HEADER + "MỸ\tHoa Kỳ | Mỹ\n", ":2: expansion 'Mỹ' has 1 syllables"),
    ("UBND\tỦy ban nhân dân\n", ":1: the first line must be the header"),
    ("# only comments\n", "no header line"),
])
def test_a_bad_table_is_refused_naming_the_line(text, message):
    with pytest.raises(TableError) as refused:
        parse(text, source="t.tsv")
    assert message in str(refused.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(TableError) as refused:
        parse(HEADER + "UBND\t\n\tHội đồng nhân dân\nHLV\thuấn luyện viên\nHLV\thuấn luyện viên\n", source="t.tsv")
    # line 5 twice: its abbreviation and its expansion are both on line 4
    assert [line.split(":")[1] for line in str(refused.value).splitlines()[1:]] == ["2", "3", "5", "5"]


def test_comments_blank_lines_and_the_optional_comment_column():
    table = parse("# a comment\n\n" + HEADER + "# -- sport\nHLV\thuấn luyện viên\tcoach\nCLB\tcâu lạc bộ\n")
    assert [e.abbreviation for e in table.entries] == ["HLV", "CLB"]
    assert table.entries[0].line == 5
