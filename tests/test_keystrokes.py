"""search/keystrokes.py (Telex and VNI typed without a Vietnamese keyboard)
and what suggestions make of it and of misspellings: every suggested word
a syllable the archive holds."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.ingest import ingest
from indexer.textnorm import fold
from search.engine import Engine
from search.keystrokes import decode, decode_word
from search.request import SearchRequest
from search.suggest import candidates, keystroke_words
from search.syllables import is_valid_syllable
from search.vocabulary import Vocabulary
from tests.helpers import corpus_slice, write_jsonl

TELEX = [
    ("thanhf", "thành"), ("phoos", "phố"), ("hoof", "hồ"), ("chis", "chí"), ("Vieetj", "Việt"),
    ("ddaij", "đại"), ("hocj", "học"), ("nguowif", "người"), ("buwa", "bưa"), ("muwa", "mưa"),
    ("hoaf", "hòa"), ("thuyr", "thủy"), ("khoer", "khỏe"),  # open oa/oe/uy: as textnorm.normalize writes them
    ("quas", "quá"), ("gias", "giá"), ("giowf", "giờ"), ("quyeets", "quyết"), ("nguyeenx", "nguyễn"),
    ("dduowngf", "đường"), ("duwowngf", "dường"), ("truongw", "trương"), ("thuowr", "thuở"),
    ("nhaan", "nhân"), ("ddi", "đi"), ("tieengs", "tiếng"), ("awn", "ăn"), ("owr", "ở"), ("wf", "ừ"),
    ("nhwng", "nhưng"), ("tws", "tứ"), ("thw", "thư"),
    ("vieejt", "việt"), ("nguowfi", "người"),  # a tone key before the end, vouched for by another marker
    ("thanhfz", "thanh"),  # z clears the tone
    ("DDaij", "Đại"),
]
VNI = [
    ("tha2nh", "thành"), ("pho61", "phố"), ("d9a5i", "đại"), ("ho5c", "học"), ("nguo72i", "người"),
    ("d9u7o7ng2", "đường"), ("vie6t5", "việt"), ("viet65", "việt"), ("o73", "ở"), ("a8n", "ăn"), ("Vie65t", "Việt"),
]
NOT_KEYSTROKES = [
    # English and brands: no marker, or a decoding that is no syllable
    "add", "facebook", "coffee", "google", "email", "iphone", "covid", "online", "news", "show", "web", "jazz",
    "quiz", "boss", "miss",
    # a tone letter followed by more letters is English spelling, not a tone typed early
    "taxi", "visa", "test", "turn", "lisa", "thafnh",
    # one vowel and a tone: English words, paper sizes and bands
    "as", "is", "of", "or", "us", "A4", "U2",
    # a lone w that is not the whole vowel, or too bare to be ư
    "was", "war", "tw", "sw", "mw",
    # numbers, dates, codes and abbreviations (U23 also has two tones)
    "2022", "18/01/2022", "TP.HCM", "UBND", "U23", "TW", "VW", "MW", "h5n1", "mp3", "4g", "covid19", "iphone13", "u19",
    # already a syllable as typed, or plain syllables with no marker
    "xoong", "boong", "minh", "pho", "thanh",
    # already accented, no syllable once decoded (nghiêeng), or too long
    "thành", "nghieeengf", "thanhfthanhfthanhf",
]


@pytest.mark.parametrize(("typed", "syllable"), TELEX + VNI)
def test_a_keystroke_word_decodes(typed, syllable):
    assert decode_word(typed) == syllable
    assert is_valid_syllable(syllable)


@pytest.mark.parametrize("word", NOT_KEYSTROKES)
def test_a_word_that_is_no_keystrokes_stays(word):
    assert decode_word(word) is None
    assert decode(word) is None


@pytest.mark.parametrize(("query", "decoded"), [
    ("thanhf phoos hoof chis minh", "thành phố hồ chí minh"),
    ("thanhf pho", "thành pho"),
    ("Vieetj Nam", "Việt Nam"),
    ("ddaij hocj", "đại học"),
    ("tha2nh pho61", "thành phố"),
    ("d9a5i ho5c", "đại học"),
    ("gias  iphone 2022", "giá  iphone 2022"),  # spacing, brands and numbers kept
    ("(thanhf phoos)", "(thành phố)"),
    ("tieengs Anh U23 TP.HCM", "tiếng Anh U23 TP.HCM"),
])
def test_a_query_decodes_word_by_word(query, decoded):
    assert decode(query) == decoded


def test_english_queries_are_not_decoded():
    """A word that decodes validly is not enough when the query around it
    is foreign words: "cats" is Telex for cát, but not in this query."""
    assert decode_word("cats") == "cát"
    assert decode("cats and dogs") is None
    assert decode("how to make money") is None
    assert decode("minh") is None and decode("") is None


def test_decoding_is_bounded_and_cheap():
    assert decode(" ".join(["thanhf"] * 31)) is None
    assert decode(" ".join(["thanhf"] * 30)) == " ".join(["thành"] * 30)
    words = [f"{a}{b}{c}{tone}" for a in "bcdhlmnstv" for b in ("a", "oo", "ee", "uw", "ow")
             for c in ("", "n", "ng", "t", "c") for tone in "sfrxj"]
    decode_word.cache_clear()
    start = time.perf_counter()
    found = [decode_word(w) for w in words]
    elapsed = time.perf_counter() - start
    assert sum(f is not None for f in found) > len(words) // 2
    assert elapsed / len(words) < 300e-6, elapsed  # measured ~10 us a word


# -- suggestions -------------------------------------------------------------

def test_a_word_the_archive_holds_as_typed_is_not_decoded():
    vocab = Vocabulary({"xe": 30, "bus": 2, "ho": 50, "thanh": 40})
    assert keystroke_words(["xe", "bus", "hoof"], vocab) == {2: "hồ"}
    assert keystroke_words(["thanhf", "pho"], vocab) == {0: "thành"}
    assert keystroke_words(["cats", "and", "dogs"], vocab) == {}


def test_corrections_are_syllables_when_one_is_in_reach():
    vocab = Vocabulary({"tin": 5, "tint": 40, "daa": 1, "da": 20, "dan": 9, "zyxwvuts": 1})
    assert candidates("tinn", vocab) == ["tin"]  # the more frequent "tint" is no syllable
    assert candidates("zyxwvutx", vocab) == ["zyxwvuts"]  # no syllable near: a name stays correctable
    assert candidates("daa", vocab) == []  # known as typed
    assert candidates("daa", vocab, garbled=True) == ["da", "dan"]


def request(q: str) -> SearchRequest:
    values = {"q": q}
    return SearchRequest.from_params(values.get, lambda k: [values[k]] if k in values else [])


GARBLED_ARTICLE = 7513  # the corpus's one "dãä" (for "dã"), beside "bông lau"
EXTRA = [
    {"id": "k-1", "title": "Giá nhà ở thành phố Hồ Chí Minh tăng",
     "body": "Giá nhà ở thành phố Hồ Chí Minh tăng mạnh, người mua chờ đợi. Đại học mở thêm ký túc xá."},
    {"id": "k-2", "title": "Bóng đá Việt Nam", "body": "Đội tuyển bóng đá Việt Nam thắng, người hâm mộ vui mừng."},
]


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return corpus_slice(1, start=GARBLED_ARTICLE) + corpus_slice(40) + EXTRA


@pytest.fixture(scope="module")
def engine(tmp_path_factory, records) -> Engine:
    """A small index of real articles (and two written here), for this module."""
    path = tmp_path_factory.mktemp("keystrokes-index")
    assert ingest([write_jsonl(path.parent / "keystrokes.jsonl", records)], path, procs=1,
                  show_progress=False).rejected == 0
    return Engine(path)


@pytest.mark.parametrize(("query", "suggestion"), [
    ("thanhf phoos hoof chis minh", "thành phố hồ chí minh"),  # not the nearest spellings "thanh phoo hoo chi minh"
    ("tha2nh pho61 ho62 chi1 minh", "thành phố hồ chí minh"),
    ("ddaij hocj", "đại học"),
    ("thanhf pho", "thành phố"),  # the undecoded word accented as the archive writes it
    ("bongs ddas vieetj nam", "bóng đá việt nam"),
])
def test_keystrokes_are_suggested_when_the_archive_holds_the_decoding(engine, query, suggestion):
    result = engine.search(request(query))
    assert result.total == 0 and result.suggestion == suggestion
    assert engine.search(request(suggestion)).total > 0


def test_a_garbled_archive_spelling_is_never_suggested(engine, records):
    assert "dãä" in records[0]["body"]
    result = engine.search(request("bong daa"))
    assert result.total == 1  # the garbled article holds both words
    assert result.suggestion != "bông dãä"
    assert result.suggestion is None or all(is_valid_syllable(w) for w in result.suggestion.split())
    other = engine.search(request("dan daa")).suggestion  # "dân dãä" in the article
    assert other is not None and other.startswith("dân ") and all(is_valid_syllable(w) for w in other.split())


def _archive_words(records: list[dict]) -> list[str]:
    words = {w.lower() for r in records for w in re.findall(r"[^\W\d_]+", f"{r['title']} {r['body']}")}
    return sorted(w for w in words if is_valid_syllable(w) and len(w) >= 2)


TYPO_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789ăâêôơưđáàảãạếồ"


@st.composite
def typos(draw, words: list[str]) -> str:
    """One archive word (accented, or folded as typed without accents) with
    one random insertion, deletion, substitution or swap of neighbours."""
    word = draw(st.sampled_from(words))
    if draw(st.booleans()):
        word = fold(word)
    at = draw(st.integers(0, len(word) - 1))
    letter = draw(st.sampled_from(TYPO_LETTERS))
    edit = draw(st.sampled_from(["insert", "delete", "replace", "swap"]))
    if edit == "insert":
        return word[:at] + letter + word[at:]
    if edit == "delete":
        return word[:at] + word[at + 1:]
    if edit == "replace":
        return word[:at] + letter + word[at + 1:]
    at = min(at, len(word) - 2)
    return word[:at] + word[at + 1] + word[at] + word[at + 2:]


def test_typos_of_archive_words_never_get_a_suggestion_that_is_no_syllable(engine, records):
    words = _archive_words(records)
    assert len(words) > 500 and "thành" in words

    @settings(max_examples=100, deadline=None, derandomize=True)
    @given(typo=typos(words), neighbour=st.sampled_from(["", *words[:: len(words) // 20]]))
    def check(typo: str, neighbour: str) -> None:
        query = f"{neighbour} {typo}".strip()
        suggestion = engine.search(request(query)).suggestion
        if suggestion is not None:
            assert all(is_valid_syllable(w) for w in suggestion.split()), (query, suggestion)
            assert engine.search(request(suggestion)).total > 0, (query, suggestion)

    check()
