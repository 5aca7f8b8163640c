"""search/syllables.py: which strings are Vietnamese syllables, and where a
tone goes."""

import unicodedata

import pytest

from search.syllables import HOI, HUYEN, NANG, NGA, SAC, is_valid_syllable, place_tone

VALID = [
    # initials, including the three-letter ngh and đ
    "thành", "phố", "hồ", "chí", "minh", "việt", "nam", "đại", "học", "đường", "nghiêng", "nghĩ", "khuya",
    "trường", "phạt", "nhà", "xã", "ra", "sao", "vì", "lúa", "mười", "bụng", "pin",
    # the spelling rules' allowed sides: k/gh/ngh before i e ê y, c/g/ng elsewhere
    "kê", "kỹ", "kĩ", "kiếm", "ghế", "ghi", "nghe", "cá", "gà", "ngủ", "ngoài",
    # qu and gi as initials
    "quý", "qui", "quốc", "quyết", "quên", "quà", "quắp", "gia", "giữa", "giếng", "gì", "gìn", "giũ", "gieo",
    # no initial: iê is written yê
    "yêu", "yên", "ý", "uyên", "oán", "ăn", "ơi", "ừ", "ở", "ỉa", "ích", "uể",
    # medial glides, three-vowel rhymes, loan rhymes
    "hoàn", "khoắc", "khuỷu", "huých", "người", "rượu", "xoong", "soóc", "tuýp", "thuở",
    # old and new tone placement of open oa, oe, uy
    "hòa", "hoà", "khỏe", "khoẻ", "thủy", "thuỷ", "tòa", "toà", "ủy", "uỷ",
    # stop finals with sắc or nặng
    "tốt", "cấp", "lịch", "bạc", "đất",
    # no tone, and unaccented shapes as typed without a Vietnamese keyboard
    "ăn", "đi", "thanh", "duong", "viet", "bat", "nguoi", "quoc", "gi", "ki", "khuyu", "yeu",
]

INVALID = [
    # garbled and foreign text
    "dãä", "đáa", "daa", "facebook", "google", "iphone", "email", "covid", "coffee", "tp", "ubnd", "x",
    # not letters
    "2022", "u23", "18/01/2022", "", "việt nam",
    # spelling rules: c/g/ng before front vowels, k/gh/ngh elsewhere, q without u, c + glide
    "ci", "ce", "ge", "ngi", "nghu", "ka", "gho", "kuy", "coa", "qa", "quu",
    # rhymes that do not exist: a bare ă/â, open uô/ươ, iê after no initial
    "ă", "bă", "tâ", "nguô", "ngươ", "iên", "thanhh", "tyên",
    # two tones, a tone on the wrong vowel, a tone on the gi/qu letters
    "tóàn", "tòan", "ngừơi", "gía", "qúy",
    # stop finals take only sắc or nặng, and take a tone once written with accents
    "bàt", "cảp", "lĩch", "ãc", "viêt", "đat", "ăt",
]


@pytest.mark.parametrize("word", VALID)
def test_valid_syllables(word):
    assert is_valid_syllable(word), word


@pytest.mark.parametrize("word", INVALID)
def test_invalid_syllables(word):
    assert not is_valid_syllable(word), word


@pytest.mark.parametrize("word", ["Việt", "ĐƯỜNG", "Hòa", "thuỷ", "Nghiêng", "quốc"])
def test_nfd_and_uppercase_input_is_normalised(word):
    nfd = unicodedata.normalize("NFD", word)
    assert nfd != word or word.isascii()
    assert is_valid_syllable(nfd) and is_valid_syllable(word.upper()) and is_valid_syllable(word.lower())


def test_nfd_garbage_stays_invalid():
    assert not is_valid_syllable(unicodedata.normalize("NFD", "dãä"))
    assert not is_valid_syllable("a\u0301\u0300")  # two tone marks on one letter


@pytest.mark.parametrize(("base", "tone", "expected"), [
    ("hoa", HUYEN, "hòa"),  # open oa: the placement indexer.textnorm.normalize writes
    ("thuy", HOI, "thủy"),
    ("khoe", HOI, "khỏe"),
    ("hoan", HUYEN, "hoàn"),  # closed: on the last vowel
    ("nguơi", HUYEN, None),  # no such rhyme
    ("ngươi", HUYEN, "người"),  # ươ: on ơ
    ("quy", SAC, "quý"),  # the u of qu is no vowel of the rhyme
    ("gia", SAC, "giá"),
    ("gi", HUYEN, "gì"),
    ("khuyu", HOI, "khuỷu"),  # three vowels: the middle one
    ("mia", SAC, "mía"),
    ("viêt", NANG, "việt"),
    ("nguyên", NGA, "nguyễn"),
    ("thanh", None, "thanh"),
    ("thanhh", SAC, None),
])
def test_place_tone(base, tone, expected):
    assert place_tone(base, tone) == expected


def test_every_rhyme_with_every_tone_is_placed_validly_or_refused():
    """place_tone and is_valid_syllable agree: a stop final refuses three tones."""
    for base in ["ba", "hoa", "toan", "bat", "khuyu", "nguyên", "yêu", "quy", "gio", "ươn"]:
        for tone in (SAC, HUYEN, HOI, NGA, NANG):
            placed = place_tone(base, tone)
            assert placed is not None
            assert is_valid_syllable(placed) == (tone in (SAC, NANG) or not base.endswith("t")), placed
