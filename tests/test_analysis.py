"""The Vietnamese analyzer: normalisation, folding, segmentation, offsets."""

import pickle
import subprocess
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.analysis import COMPOUND, EXACT, FOLD, SPECIAL, VietnameseAnalyzer, terms
from indexer.textnorm import canonical_tones, fold, normalize, normalize_with_offsets


def nfd(text):
    return unicodedata.normalize("NFD", text)


def kinds(text, kind, **kw):
    return [t.text for t in terms(text, **kw) if t.kind == kind]


def test_nfd_input_gives_the_same_terms_as_nfc():
    text = "Việt Nam hòa bình, Đà Nẵng"
    assert len(nfd(text)) > len(text)
    assert [(t.text, t.pos, t.kind) for t in terms(nfd(text))] == \
           [(t.text, t.pos, t.kind) for t in terms(text)]


@pytest.mark.parametrize("old, new", [("hoà", "hòa"), ("thuý", "thúy"), ("uỷ", "ủy"),
                                      ("oà", "òa"), ("khoẻ", "khỏe"), ("HOÀ", "HÒA")])
def test_old_and_new_tone_placement_meet(old, new):
    assert canonical_tones(old) == new
    assert kinds(old, EXACT) == kinds(new, EXACT)


@pytest.mark.parametrize("word", ["hoàn", "ngoài", "quý", "thuyền", "hoài"])
def test_tone_is_not_moved_in_closed_syllables_or_qu(word):
    assert canonical_tones(word) == word


def test_folding_maps_d_stroke_and_drops_marks():
    assert fold("Đường") == "duong"
    assert kinds("Đà Nẵng", FOLD) == ["da", "nang"]
    assert kinds("cán bộ trẻ", FOLD) == kinds("can bo tre", FOLD)


def test_exact_terms_keep_diacritics_so_duong_forms_differ():
    assert kinds("đường", EXACT) == ["đường"]
    assert kinds("dương", EXACT) == ["dương"]
    assert kinds("đường", FOLD) == kinds("dương", FOLD) == ["duong"]


def test_i_y_spelling_variants_meet():
    assert kinds("kỹ", EXACT) == kinds("kĩ", EXACT)
    assert kinds("lý", FOLD) == kinds("lí", FOLD)
    assert kinds("quy", FOLD) == kinds("qui", FOLD)
    assert kinds("thúy", EXACT) == ["thúy"]  # a vowel before y: not a variant


def test_segmentation_gives_compounds_and_keeps_syllables():
    text = "Bí thư Thành ủy cho rằng công nghệ thông tin ở Hà Nội"
    compounds = kinds(text, COMPOUND)
    assert "thanh_uy" in compounds and "ha_noi" in compounds
    folded = kinds(text, FOLD)
    assert "thong" in folded and "tin" in folded  # "thông tin" inside "công nghệ thông tin"


def test_segmentation_runs_before_lowercasing():
    # pyvi uses capitals to find proper nouns; our terms are lowercase anyway
    assert "ha_noi" in kinds("Hà Nội", COMPOUND)
    assert all(t.text == t.text.lower() for t in terms("Hà Nội TP.HCM"))


def test_compound_stacks_at_the_position_of_its_first_syllable():
    found = {(t.text, t.pos) for t in terms("cán bộ trẻ")}
    assert ("can_bo", 0) in found and ("can", 0) in found and ("bo", 1) in found


@pytest.mark.parametrize("spelling", ["TP.HCM", "TP. HCM", "TP HCM", "TPHCM"])
def test_every_spelling_of_tp_hcm_yields_the_joined_term_and_syllables(spelling):
    found = [t.text for t in terms(f"ở {spelling} hôm nay")]
    assert "tphcm" in found and "tp" in found and "hcm" in found


def test_dates_become_one_zero_padded_term():
    assert kinds("ngày 18/01/2022", SPECIAL) == ["18/01/2022"]
    assert kinds("ngày 18/1/2022", SPECIAL) == ["18/01/2022"]
    assert kinds("ngày 32/13/2022", SPECIAL) == []
    assert "2022" in kinds("ngày 18/01/2022", FOLD)


@pytest.mark.parametrize("text", [
    "Bí thư Thành ủy TP.HCM ngày 18/01/2022",
    nfd("Bí thư Thành ủy TP.HCM ngày 18/01/2022 hoà bình"),
    "Uỷ ban hoà giải, thuý",
])
def test_offsets_slice_the_original_text(text):
    for term in terms(text):
        piece = text[term.start:term.end]
        if term.kind in (FOLD, EXACT):
            assert fold(normalize(piece)) == fold(term.text) or term.text.isdigit()
        assert unicodedata.normalize("NFC", piece) == normalize(piece) or piece


def test_offsets_for_nfd_text_cover_whole_characters():
    text = nfd("Đà Nẵng")
    spans = [text[t.start:t.end] for t in terms(text) if t.kind == FOLD]
    assert [unicodedata.normalize("NFC", s) for s in spans] == ["Đà", "Nẵng"]


def test_normalize_with_offsets_maps_each_character():
    text = nfd("Việt")
    norm, offsets = normalize_with_offsets(text)
    assert norm == "Việt" and offsets[0] == 0 and offsets[-1] == len(text)


def test_analyzer_is_picklable_and_equal_after_unpickling():
    analyzer = VietnameseAnalyzer()
    assert pickle.loads(pickle.dumps(analyzer)) == analyzer
    tokens = [t.text for t in analyzer("cán bộ", mode="query")]
    assert "can" in tokens and "cán" in tokens


def test_index_reopens_in_a_fresh_process(demo_index):
    code = (
        "import sys; from whoosh import index; from whoosh.query import Term;"
        f"ix = index.open_dir({str(demo_index)!r});"
        "s = ix.searcher(); print(len(s.search(Term('content', 'can_bo'))) > 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_terms_never_raise_and_offsets_are_in_order(text):
    found = terms(text, segment=False)
    for term in found:
        assert 0 <= term.start <= term.end <= len(text)
    starts = [t.start for t in found if t.kind == FOLD]
    assert starts == sorted(starts)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x1EFF), max_size=80))
def test_folding_is_idempotent_and_nfc_nfd_equivalent(text):
    once = [fold(t.text) for t in terms(text, segment=False)]
    assert [fold(t) for t in once] == once
    assert [t.text for t in terms(nfd(text), segment=False)] == \
           [t.text for t in terms(unicodedata.normalize("NFC", text), segment=False)]
