"""Is this a Vietnamese syllable? A check precise enough to keep garbled text
("dãä", "đáa") and foreign words out of suggestions, and to tell Telex/VNI
keystrokes that decode to a real syllable from ones that do not.

A written syllable is: an optional initial consonant, then a rhyme (vần) of
an optional medial glide (o/u), a nucleus vowel (or diphthong) and an
optional final (c ch m n ng nh p t, or the glides i/y o/u), with at most one
tone mark. Rather than combining those parts by rules that overgenerate
("uơng", "ăi"), the rhymes are listed (``RHYMES``, about 150 of them, the
table of any Vietnamese spelling primer) and the rules are about which
initial may stand before which rhyme:

* k, gh, ngh only before the front vowels i e ê y, and c, g, ng never before
  them (the same sound is spelled two ways, decided by the next vowel);
* /k/ before a glide is spelled qu, never c/k + o/u ("qua", not "coa"), and q
  only ever appears as qu; after qu the glide is the u of "qu" itself;
* gi is an initial before another vowel ("gia", "giếng" where the i of iê
  merges with it), but g + i when the i is the nucleus ("gì", "gìn");
* with no initial, iê is written yê ("yên", "yêu"), never "iên".

Tones: at most one, on the vowel the spelling rules put it (both the old
"hòa", "thủy" and the new "hoà", "thuỷ" placements of open oa/oe/uy are
valid), and a syllable ending in a stop (c ch p t) takes only sắc or nặng.

Unaccented text (plain ASCII, as typed without a Vietnamese keyboard) is a
valid syllable when some accented spelling of it is: "duong" (dương,
đường), "viet" (việt). Tone and stop-final rules cannot apply to it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from indexer.textnorm import fold, normalize

# Combining tone marks: sắc, huyền, hỏi, ngã, nặng.
SAC, HUYEN, HOI, NGA, NANG = "\u0301", "\u0300", "\u0309", "\u0303", "\u0323"
TONE_MARKS = (SAC, HUYEN, HOI, NGA, NANG)
STOP_TONES = (SAC, NANG)  # the only tones a syllable ending in c ch p t can carry

VOWELS = "aăâeêioôơuưy"
MODIFIED_VOWELS = "ăâêôơư"  # a tone sits on these first (người: on ơ)
LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzđ" + VOWELS)
INITIALS = ("ngh", "ng", "nh", "ch", "gh", "gi", "kh", "ph", "qu", "th", "tr",
            "b", "c", "d", "đ", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "x", "")
STOPS = ("ch", "c", "p", "t")
MAX_LENGTH = 7  # "nghiêng"

# Every written rhyme (medial + nucleus + final) without tone, by nucleus.
RHYMES = frozenset("""
    a ac ach ai am an ang anh ao ap at au ay   ăc ăm ăn ăng ăp ăt   âc âm ân âng âp ât âu ây
    e ec em en eng eo ep et   ê êch êm ên ênh êp êt êu
    i ia ich im in inh ip it iu   iêc iêm iên iêng iêp iêt iêu   y
    o oc oi om on ong op ot oong ooc   ô ôc ôi ôm ôn ông ôp ôt   ơ ơi ơm ơn ơp ơt
    u ua uc ui um un ung up ut   uôc uôi uôm uôn uông uôt
    ư ưa ưc ưi ưm ưng ưt ưu   ươc ươi ươm ươn ương ươp ươt ươu
    oa oac oach oai oam oan oang oanh oao oap oat oay   oăc oăm oăn oăng oăt   oe oen oeo oet
    uân uâng uât uây   uê uêch uênh   uơ   uy uych uyn uynh uyp uyt uyu uya uyên uyêt
""".split())
_MEDIALS = ("oa", "oă", "oe", "uâ", "uê", "uơ", "uy")  # rhymes that open with the o/u glide
_FRONT = "ieêy"


def _medial(rhyme: str) -> bool:
    return rhyme[:2] in _MEDIALS


def _rhymes_after(initial: str) -> frozenset[str]:
    """The rhymes the spelling rules (module docstring) allow after ``initial``."""
    front = {r for r in RHYMES if r[0] in _FRONT}
    back = RHYMES - front
    if initial == "":  # iê is written yê at the start of a word
        return frozenset(re.sub("^iê", "yê", r) for r in RHYMES)
    if initial in ("k",):
        return frozenset(front)
    if initial in ("gh", "ngh"):
        return frozenset(r for r in front if r[0] != "y")
    if initial == "c":
        return frozenset(r for r in back if not _medial(r))
    if initial == "ng":
        return frozenset(back)
    if initial == "g":  # g + i when i is the nucleus: gì, gìn, gịt
        return frozenset(back | {r for r in front if r[0] == "i" and (len(r) == 1 or r[1] not in VOWELS)})
    if initial == "gi":  # the i merges with a following i/iê: gi + a, gi + êng (giếng)
        return frozenset({r for r in RHYMES if r[0] not in "iy" and not _medial(r)}
                         | {"ê" + r[2:] for r in RHYMES if r.startswith("iê")})
    if initial == "qu":  # the u of qu is the glide: qu + a (as in oa), qu + y (as in uy)
        return frozenset({r[1:] for r in RHYMES if _medial(r)}
                         | {"ôc", "i", "it", "ăp", "ên", "êt", "au"})  # quốc, qui/quít, quắp, quên, quệt, quạu
    return RHYMES


ALLOWED = {initial: _rhymes_after(initial) for initial in INITIALS}
# Unaccented spellings: d stands for d and đ, a for a ă â, and so on.
FOLDED_ALLOWED: dict[str, frozenset[str]] = {}
for _initial, _rhymes in ALLOWED.items():
    FOLDED_ALLOWED[fold(_initial)] = FOLDED_ALLOWED.get(fold(_initial), frozenset()) | {fold(r) for r in _rhymes}


def _build_untone() -> dict[str, tuple[str, str]]:
    """Each toned lowercase vowel -> (the vowel without its tone, the tone mark)."""
    table = {}
    for base in VOWELS:
        for mark in TONE_MARKS:
            table[unicodedata.normalize("NFC", base + mark)] = (base, mark)
    return table


_UNTONE = _build_untone()


def split_tone(word: str) -> tuple[str, str | None, int] | None:
    """(the word without its tone, the tone mark or None, the index of the
    toned letter or -1) for a lowercase NFC word; None when it carries two
    tones or a character that is no Vietnamese letter (ä, ñ, digits)."""
    letters, tone, at = [], None, -1
    for i, ch in enumerate(word):
        if ch in _UNTONE:
            if tone is not None:
                return None
            ch, tone = _UNTONE[ch]
            at = i
        elif ch not in LETTERS:
            return None
        letters.append(ch)
    return "".join(letters), tone, at


def tone_slots(rhyme: str) -> tuple[int, int]:
    """(old-style, new-style) index in ``rhyme`` of the vowel that carries
    the tone. A modified vowel takes it (the last one: ươ -> ơ); before a
    final consonant, the last vowel (hoàn, quyết); in an open syllable the
    first of two vowels (mía, tài), the middle of three (ngoài, khuỷu). The
    two styles differ only for open oa, oe, uy: hòa/hoà, khỏe/khoẻ, thủy/thuỷ."""
    end = len(rhyme)
    while end and rhyme[end - 1] not in VOWELS:
        end -= 1
    run, closed = rhyme[:end], end < len(rhyme)
    modified = [i for i, ch in enumerate(run) if ch in MODIFIED_VOWELS]
    if modified:
        return modified[-1], modified[-1]
    if closed or len(run) == 1:
        return len(run) - 1, len(run) - 1
    if len(run) == 2:
        return 0, (1 if run in ("oa", "oe", "uy") else 0)
    return 1, 1


def parses(base: str) -> list[tuple[str, str]]:
    """Every (initial, rhyme) split of an untoned lowercase syllable that the
    spelling rules allow (usually one; "gin" is g + in)."""
    return [(initial, base[len(initial):]) for initial in INITIALS
            if base.startswith(initial) and base[len(initial):] in ALLOWED[initial]]


@lru_cache(maxsize=16384)
def is_valid_syllable(s: str) -> bool:
    """True when ``s`` (any case, NFC or NFD) is one Vietnamese syllable: a
    known initial and rhyme that may stand together, at most one tone, on a
    vowel where the old or the new placement puts it, and only sắc or nặng
    after a stop final. Plain ASCII is valid when some accented spelling is."""
    word = normalize(s).lower()
    if not word or len(word) > MAX_LENGTH:
        return False
    if word.isascii():
        return word.isalpha() and any(word.startswith(initial) and word[len(initial):] in rhymes
                                      for initial, rhymes in FOLDED_ALLOWED.items())
    split = split_tone(word)
    if split is None:
        return False
    base, tone, at = split
    for initial, rhyme in parses(base):
        if tone is None:
            if not rhyme.endswith(STOPS):
                return True
            continue
        if at - len(initial) in tone_slots(rhyme) and (tone in STOP_TONES or not rhyme.endswith(STOPS)):
            return True
    return False


def place_tone(base: str, tone: str | None) -> str | None:
    """The untoned lowercase syllable ``base`` with ``tone`` (a mark of
    TONE_MARKS, or None) on the vowel the rules choose, in the placement
    indexer.textnorm.normalize writes (hòa, thủy); None when ``base`` is no
    syllable."""
    found = parses(base)
    if not found:
        return None
    if tone is None:
        return base
    initial, rhyme = found[0]
    at = len(initial) + tone_slots(rhyme)[0]
    return unicodedata.normalize("NFC", base[:at + 1] + tone + base[at + 1:])
