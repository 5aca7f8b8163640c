"""The Vietnamese analyzer: normalisation, folding, segmentation, offsets."""

import json
import pickle
import subprocess
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer import pyvi_model
from indexer.analysis import COMPOUND, EXACT, FOLD, SPECIAL, VietnameseAnalyzer, has_accents, terms
from indexer.textnorm import canonical_tones, fold, fold_aligned, normalize_with_offsets
from tests.helpers import DEMO, corpus_slice


def nfd(text):
    return unicodedata.normalize("NFD", text)


def kinds(text, kind, **kw):
    return [t.text for t in terms(text, **kw) if t.kind == kind]


def test_nfd_input_gives_the_same_terms_as_nfc():
    text = "Việt Nam hòa bình, Đà Nẵng"
    assert len(nfd(text)) > len(text)
    assert [(t.text, t.pos, t.kind) for t in terms(nfd(text))] == \
           [(t.text, t.pos, t.kind) for t in terms(text)]


# The analyzer's output, term by term, captured from the single-function
# analyzer before it became a chain of steps: any change to terms, positions,
# offsets, kinds or their order shows up here. Query mode is what the Whoosh
# analyzer runs for a search box (pyvi only on accented text; abbreviations
# joined whatever their case). Worth knowing when reading the values:
# * "TPHCM" takes two positions (tp, hcm), so later syllables move one on;
# * "tp.hcm" joins only in query mode, and "tphcm" splits only in query mode;
# * in query mode TP also joins the next short word across a space whatever
#   its case ("tpha" in "UBND.TP Hà Nội");
# * has_accents() sees no accent in NFD text (combining marks are not
#   letters), so NFD queries are not segmented (no compounds in query mode).
SAME = object()
GOLDEN = [  # (why, text, index-mode terms, query-mode terms or SAME)
    ('empty', '',
     [],
     SAME),
    ('punctuation only', '... !? -- ,',
     [],
     SAME),
    ('đ, accents, a compound', 'Đà Nẵng',
     [('da', 0, 0, 2, 'fold'), ('đà', 0, 0, 2, 'exact'), ('nang', 1, 3, 7, 'fold'),
      ('nẵng', 1, 3, 7, 'exact'), ('da_nang', 0, 0, 7, 'compound')],
     SAME),
    ('NFD input: offsets count the combining marks', nfd('Việt Nam hòa bình'),
     [('viet', 0, 0, 6, 'fold'), ('việt', 0, 0, 6, 'exact'), ('nam', 1, 7, 10, 'fold'),
      ('viet_nam', 0, 0, 10, 'compound'), ('hoa', 2, 11, 15, 'fold'), ('hòa', 2, 11, 15, 'exact'),
      ('binh', 3, 16, 21, 'fold'), ('bình', 3, 16, 21, 'exact'), ('hoa_binh', 2, 11, 21, 'compound')],
     [('viet', 0, 0, 6, 'fold'), ('việt', 0, 0, 6, 'exact'), ('nam', 1, 7, 10, 'fold'),
      ('hoa', 2, 11, 15, 'fold'), ('hòa', 2, 11, 15, 'exact'), ('binh', 3, 16, 21, 'fold'),
      ('bình', 3, 16, 21, 'exact')]),
    ('new tone placement', 'hoà bình, khoẻ mạnh, thuý, Uỷ ban',
     [('hoa', 0, 0, 3, 'fold'), ('hòa', 0, 0, 3, 'exact'), ('binh', 1, 4, 8, 'fold'),
      ('bình', 1, 4, 8, 'exact'), ('khoe', 2, 10, 14, 'fold'), ('khỏe', 2, 10, 14, 'exact'),
      ('manh', 3, 15, 19, 'fold'), ('mạnh', 3, 15, 19, 'exact'), ('khoe_manh', 2, 10, 19, 'compound'),
      ('thuy', 4, 21, 25, 'fold'), ('thúy', 4, 21, 25, 'exact'), ('uy', 5, 27, 29, 'fold'),
      ('ủy', 5, 27, 29, 'exact'), ('ban', 6, 30, 33, 'fold'), ('uy_ban', 5, 27, 33, 'compound')],
     SAME),
    ('old tone placement', 'Hòa bình, khỏe mạnh, thúy, Ủy ban',
     [('hoa', 0, 0, 3, 'fold'), ('hòa', 0, 0, 3, 'exact'), ('binh', 1, 4, 8, 'fold'),
      ('bình', 1, 4, 8, 'exact'), ('hoa_binh', 0, 0, 8, 'compound'), ('khoe', 2, 10, 14, 'fold'),
      ('khỏe', 2, 10, 14, 'exact'), ('manh', 3, 15, 19, 'fold'), ('mạnh', 3, 15, 19, 'exact'),
      ('khoe_manh', 2, 10, 19, 'compound'), ('thuy', 4, 21, 25, 'fold'), ('thúy', 4, 21, 25, 'exact'),
      ('uy', 5, 27, 29, 'fold'), ('ủy', 5, 27, 29, 'exact'), ('ban', 6, 30, 33, 'fold'),
      ('uy_ban', 5, 27, 33, 'compound')],
     SAME),
    ('exact spelling kept apart from the fold', 'đường và dương',
     [('duong', 0, 0, 5, 'fold'), ('đường', 0, 0, 5, 'exact'), ('va', 1, 6, 8, 'fold'),
      ('và', 1, 6, 8, 'exact'), ('duong', 2, 9, 14, 'fold'), ('dương', 2, 9, 14, 'exact')],
     SAME),
    ('i/y variants', 'kĩ sư, kỹ thuật, lí do, lý do',
     [('ki', 0, 0, 2, 'fold'), ('kĩ', 0, 0, 2, 'exact'), ('su', 1, 3, 5, 'fold'), ('sư', 1, 3, 5, 'exact'),
      ('ki_su', 0, 0, 5, 'compound'), ('ki', 2, 7, 9, 'fold'), ('kĩ', 2, 7, 9, 'exact'),
      ('thuat', 3, 10, 15, 'fold'), ('thuật', 3, 10, 15, 'exact'), ('ki_thuat', 2, 7, 15, 'compound'),
      ('li', 4, 17, 19, 'fold'), ('lí', 4, 17, 19, 'exact'), ('do', 5, 20, 22, 'fold'),
      ('li_do', 4, 17, 22, 'compound'), ('li', 6, 24, 26, 'fold'), ('lí', 6, 24, 26, 'exact'),
      ('do', 7, 27, 29, 'fold'), ('li_do', 6, 24, 29, 'compound')],
     SAME),
    ('compound', 'cán bộ trẻ',
     [('can', 0, 0, 3, 'fold'), ('cán', 0, 0, 3, 'exact'), ('bo', 1, 4, 6, 'fold'), ('bộ', 1, 4, 6, 'exact'),
      ('can_bo', 0, 0, 6, 'compound'), ('tre', 2, 7, 10, 'fold'), ('trẻ', 2, 7, 10, 'exact')],
     SAME),
    ('unaccented', 'can bo tre',
     [('can', 0, 0, 3, 'fold'), ('bo', 1, 4, 6, 'fold'), ('tre', 2, 7, 10, 'fold')],
     SAME),
    ('underscore', 'cán_bộ trẻ',
     [('can', 0, 0, 3, 'fold'), ('cán', 0, 0, 3, 'exact'), ('bo', 1, 4, 6, 'fold'), ('bộ', 1, 4, 6, 'exact'),
      ('can_bo', 0, 0, 6, 'compound'), ('tre', 2, 7, 10, 'fold'), ('trẻ', 2, 7, 10, 'exact')],
     SAME),
    ('mixed case', 'CÔNG AN Tỉnh Quảng Nam',
     [('cong', 0, 0, 4, 'fold'), ('công', 0, 0, 4, 'exact'), ('an', 1, 5, 7, 'fold'),
      ('cong_an', 0, 0, 7, 'compound'), ('tinh', 2, 8, 12, 'fold'), ('tỉnh', 2, 8, 12, 'exact'),
      ('quang', 3, 13, 18, 'fold'), ('quảng', 3, 13, 18, 'exact'), ('nam', 4, 19, 22, 'fold'),
      ('quang_nam', 3, 13, 22, 'compound')],
     SAME),
    ('TP.HCM', 'Bí thư Thành ủy TP.HCM',
     [('bi', 0, 0, 2, 'fold'), ('bí', 0, 0, 2, 'exact'), ('thu', 1, 3, 6, 'fold'), ('thư', 1, 3, 6, 'exact'),
      ('bi_thu', 0, 0, 6, 'compound'), ('thanh', 2, 7, 12, 'fold'), ('thành', 2, 7, 12, 'exact'),
      ('uy', 3, 13, 15, 'fold'), ('ủy', 3, 13, 15, 'exact'), ('thanh_uy', 2, 7, 15, 'compound'),
      ('tp', 4, 16, 18, 'fold'), ('hcm', 5, 19, 22, 'fold'), ('tphcm', 4, 16, 22, 'special')],
     SAME),
    ('TP. HCM', 'ở TP. HCM hôm nay',
     [('o', 0, 0, 1, 'fold'), ('ở', 0, 0, 1, 'exact'), ('tp', 1, 2, 4, 'fold'), ('hcm', 2, 6, 9, 'fold'),
      ('tphcm', 1, 2, 9, 'special'), ('hom', 3, 10, 13, 'fold'), ('hôm', 3, 10, 13, 'exact'),
      ('nay', 4, 14, 17, 'fold'), ('hom_nay', 3, 10, 17, 'compound')],
     SAME),
    ('TP HCM', 'ở TP HCM hôm nay',
     [('o', 0, 0, 1, 'fold'), ('ở', 0, 0, 1, 'exact'), ('tp', 1, 2, 4, 'fold'), ('hcm', 2, 5, 8, 'fold'),
      ('tphcm', 1, 2, 8, 'special'), ('hom', 3, 9, 12, 'fold'), ('hôm', 3, 9, 12, 'exact'),
      ('nay', 4, 13, 16, 'fold'), ('hom_nay', 3, 9, 16, 'compound')],
     SAME),
    ('TPHCM', 'ở TPHCM hôm nay',
     [('o', 0, 0, 1, 'fold'), ('ở', 0, 0, 1, 'exact'), ('tp', 1, 2, 7, 'special'),
      ('tphcm', 1, 2, 7, 'fold'), ('hcm', 2, 2, 7, 'fold'), ('hom', 3, 8, 11, 'fold'),
      ('hôm', 3, 8, 11, 'exact'), ('nay', 4, 12, 15, 'fold'), ('hom_nay', 3, 8, 15, 'compound')],
     SAME),
    ('tp.hcm lower case: joined in query mode only', 'ở tp.hcm hôm nay',
     [('o', 0, 0, 1, 'fold'), ('ở', 0, 0, 1, 'exact'), ('tp', 1, 2, 4, 'fold'), ('hcm', 2, 5, 8, 'fold'),
      ('hom', 3, 9, 12, 'fold'), ('hôm', 3, 9, 12, 'exact'), ('nay', 4, 13, 16, 'fold'),
      ('hom_nay', 3, 9, 16, 'compound')],
     [('o', 0, 0, 1, 'fold'), ('ở', 0, 0, 1, 'exact'), ('tp', 1, 2, 4, 'fold'), ('hcm', 2, 5, 8, 'fold'),
      ('tphcm', 1, 2, 8, 'special'), ('hom', 3, 9, 12, 'fold'), ('hôm', 3, 9, 12, 'exact'),
      ('nay', 4, 13, 16, 'fold'), ('hom_nay', 3, 9, 16, 'compound')]),
    ('tphcm lower case: split in query mode only', 'tphcm',
     [('tphcm', 0, 0, 5, 'fold')],
     [('tp', 0, 0, 5, 'special'), ('tphcm', 0, 0, 5, 'fold'), ('hcm', 1, 0, 5, 'fold')]),
    ('Tp.HCM mixed case', 'Tp.HCM',
     [('tp', 0, 0, 2, 'fold'), ('hcm', 1, 3, 6, 'fold'), ('tp_hcm', 0, 0, 6, 'compound')],
     [('tp', 0, 0, 2, 'fold'), ('hcm', 1, 3, 6, 'fold'), ('tphcm', 0, 0, 6, 'special')]),
    ('UBND.TP', 'UBND.TP Hà Nội',
     [('ubnd', 0, 0, 4, 'fold'), ('tp', 1, 5, 7, 'fold'), ('ubndtp', 0, 0, 7, 'special'),
      ('ha', 2, 8, 10, 'fold'), ('hà', 2, 8, 10, 'exact'), ('noi', 3, 11, 14, 'fold'),
      ('nội', 3, 11, 14, 'exact'), ('ha_noi', 2, 8, 14, 'compound')],
     [('ubnd', 0, 0, 4, 'fold'), ('tp', 1, 5, 7, 'fold'), ('ubndtp', 0, 0, 7, 'special'),
      ('ha', 2, 8, 10, 'fold'), ('hà', 2, 8, 10, 'exact'), ('tpha', 1, 5, 10, 'special'),
      ('noi', 3, 11, 14, 'fold'), ('nội', 3, 11, 14, 'exact'), ('ha_noi', 2, 8, 14, 'compound')]),
    ('date, short', 'ngày 18/1/2022',
     [('ngay', 0, 0, 4, 'fold'), ('ngày', 0, 0, 4, 'exact'), ('18', 1, 5, 7, 'fold'), ('1', 2, 8, 9, 'fold'),
      ('2022', 3, 10, 14, 'fold'), ('18/01/2022', 1, 5, 14, 'special')],
     SAME),
    ('date with dashes', 'ngày 18-01-2022',
     [('ngay', 0, 0, 4, 'fold'), ('ngày', 0, 0, 4, 'exact'), ('18', 1, 5, 7, 'fold'),
      ('1', 2, 8, 10, 'fold'), ('2022', 3, 11, 15, 'fold'), ('18/01/2022', 1, 5, 15, 'special')],
     SAME),
    ('impossible date', 'ngày 32/13/2022',
     [('ngay', 0, 0, 4, 'fold'), ('ngày', 0, 0, 4, 'exact'), ('32', 1, 5, 7, 'fold'),
      ('13', 2, 8, 10, 'fold'), ('2022', 3, 11, 15, 'fold')],
     SAME),
    ('NFD with abbreviation and date', nfd('Thành ủy TP.HCM ngày 18/01/2022'),
     [('thanh', 0, 0, 6, 'fold'), ('thành', 0, 0, 6, 'exact'), ('uy', 1, 7, 10, 'fold'),
      ('ủy', 1, 7, 10, 'exact'), ('thanh_uy', 0, 0, 10, 'compound'), ('tp', 2, 11, 13, 'fold'),
      ('hcm', 3, 14, 17, 'fold'), ('tphcm', 2, 11, 17, 'special'), ('ngay', 4, 18, 23, 'fold'),
      ('ngày', 4, 18, 23, 'exact'), ('18', 5, 24, 26, 'fold'), ('1', 6, 27, 29, 'fold'),
      ('2022', 7, 30, 34, 'fold'), ('18/01/2022', 5, 24, 34, 'special')],
     [('thanh', 0, 0, 6, 'fold'), ('thành', 0, 0, 6, 'exact'), ('uy', 1, 7, 10, 'fold'),
      ('ủy', 1, 7, 10, 'exact'), ('tp', 2, 11, 13, 'fold'), ('hcm', 3, 14, 17, 'fold'),
      ('tphcm', 2, 11, 17, 'special'), ('ngay', 4, 18, 23, 'fold'), ('ngày', 4, 18, 23, 'exact'),
      ('18', 5, 24, 26, 'fold'), ('1', 6, 27, 29, 'fold'), ('2022', 7, 30, 34, 'fold'),
      ('18/01/2022', 5, 24, 34, 'special')]),
    ('leading zeros', 'số 007 và 0 và 2022',
     [('so', 0, 0, 2, 'fold'), ('số', 0, 0, 2, 'exact'), ('7', 1, 3, 6, 'fold'), ('va', 2, 7, 9, 'fold'),
      ('và', 2, 7, 9, 'exact'), ('0', 3, 10, 11, 'fold'), ('va', 4, 12, 14, 'fold'),
      ('và', 4, 12, 14, 'exact'), ('2022', 5, 15, 19, 'fold')],
     SAME),
    ('numbers with dots', 'iPhone 15 giá 20.000.000 đồng',
     [('iphone', 0, 0, 6, 'fold'), ('15', 1, 7, 9, 'fold'), ('gia', 2, 10, 13, 'fold'),
      ('giá', 2, 10, 13, 'exact'), ('20', 3, 14, 16, 'fold'), ('0', 4, 17, 20, 'fold'),
      ('0', 5, 21, 24, 'fold'), ('dong', 6, 25, 29, 'fold'), ('đồng', 6, 25, 29, 'exact')],
     SAME),
    ('another script', 'Tokyo 東京',
     [('tokyo', 0, 0, 5, 'fold'), ('dongjing', 1, 6, 8, 'fold'), ('東京', 1, 6, 8, 'exact'),
      ('tokyo_dongjing', 0, 0, 8, 'compound')],
     SAME),
]


@pytest.mark.parametrize("why, text, index_terms, query_terms", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_terms_match_the_recorded_output(why, text, index_terms, query_terms):
    assert [tuple(t) for t in terms(text)] == index_terms
    expected = index_terms if query_terms is SAME else query_terms
    assert [tuple(t) for t in terms(text, segment=has_accents(text), query=True)] == expected


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
    "Uỷ ban hoà giải TPHCM, thuý",
])
def test_offsets_slice_the_original_text(text):
    found = terms(text)
    assert {COMPOUND, SPECIAL} <= {t.kind for t in found}  # every kind of term is checked
    for term in found:
        piece = text[term.start:term.end]
        # whole characters: a slice never starts or ends inside a base letter's marks
        assert piece and not unicodedata.combining(piece[0])
        assert term.end == len(text) or not unicodedata.combining(text[term.end])
        # the slice, analysed on its own, gives the term back
        alone = terms(piece, segment=False)
        if term.kind == COMPOUND:
            assert "_".join(t.text for t in alone if t.kind == FOLD) == term.text
        else:
            assert (term.text, term.kind) in {(t.text, t.kind) for t in alone}


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


def _folded_char(ch: str) -> str:
    if ch in "đĐ":
        return "d"
    base = unicodedata.normalize("NFD", ch)[0]
    if 0xC0 <= ord(ch) <= 0x1EF9 and base.isascii() and base.isalpha():
        return base.lower()
    return ch.lower() if "A" <= ch <= "Z" else ch


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF,
                                      blacklist_categories=()), max_size=120))
def test_aligned_folding_is_the_fold_table_character_by_character(text):
    """fold_aligned (a lookup array, for speed) folds every character the way
    the fold table says, keeps the length, and leaves other characters,
    astral ones and lone surrogates included, as they are."""
    expected = "".join(map(_folded_char, text))
    assert fold_aligned(text) == expected and len(fold_aligned(text)) == len(text)
    assert fold_aligned(text + "\ud800Đ") == expected + "\ud800d"


def test_fast_segmentation_equals_pyvi_on_real_text():
    """pyvi_model.tokenize is pyvi's ViTokenizer.tokenize without its
    overheads: on real articles (titles and bodies) the output is identical."""
    texts = [text for record in corpus_slice(120, start=7000) for text in (record["title"], record["body"])]
    texts += [json.loads(line)["body"] for line in DEMO.read_text(encoding="utf-8").splitlines()]
    texts += ["", "   ", "TP.HCM, ngày 18/1/2022: UBND.TP họp...", "Mr. Nguyễn -> Hà Nội ==> 3,5% a@b.vn"]
    reference = pyvi_model.tokenizer()
    assert [pyvi_model.tokenize(t) for t in texts] == [reference.tokenize(t) for t in texts]
    assert sum(t.count("_") for t in map(pyvi_model.tokenize, texts)) > 1000  # it really joins words
