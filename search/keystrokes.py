"""Queries typed as Telex or VNI keystrokes without a Vietnamese keyboard:
"thanhf phoos" is "thành phố", "tha2nh pho61" too. ``decode`` turns such
words back into syllables.

Telex: aa ee oo -> â ê ô, aw ow uw -> ă ơ ư (uow -> ươ), dd -> đ, a lone w
-> ư, and the tone keys s f r x j (sắc huyền hỏi ngã nặng); z clears a tone.
VNI: 6 (â ê ô), 7 (ơ ư), 8 (ă), 9 (đ) after their letter, and the tone
digits 1 2 3 4 5.

A decoding is searched or offered when the literal query finds nothing, so
a false one costs more than a missed one. A word is decoded only when all
of these hold (each rule names the words it keeps out):

* it is 2 to 12 letters (or letters and digits), not all capitals (UBND,
  TW "trung ương", VW), not a number, with no punctuation inside (TP.HCM,
  18/01/2022);
* it carries a marker, exactly one tone key (coffee, boss, U23 have two),
  and decodes to a valid syllable (syllables.py): add, google, email,
  facebook, iphone, covid do not;
* it is not already a valid syllable as typed (xoong, boong: oo is also
  plain spelling);
* a Telex tone key ends the word, unless another marker vouches for it
  ("vieejt", "nguowfi"): a tone letter followed by more letters is how
  taxi, visa, test and turn are spelled. VNI digits may stand anywhere
  after the vowel ("tha2nh", "d9a5i");
* a lone w (no u/o/a before it) is the whole vowel, and needs a tone key,
  a final or a two-letter initial beside it ("tws", "nhwng", "thw"; not
  "tw", "sw", nor was, war, web);
* a one-letter result needs a vowel marker ("owr" -> ở): plain vowel plus
  tone is as, is, of, us, or, and A4, U2 in VNI;
* in the whole query, decoded words are at least as many as the words
  that are neither syllables nor keystrokes ("iphone gias" -> "iphone
  giá", but "cats and dogs" stays English).

What is left ambiguous by design: a short English word that is also exact
Telex ("bus" -> bú, "cats" -> cát, "how" -> hơ) decodes; callers decide,
e.g. by keeping the words the archive knows as typed (suggest.py).
"""

from __future__ import annotations

import re
from functools import lru_cache

from indexer.textnorm import normalize
from search.syllables import HOI, HUYEN, NANG, NGA, SAC, is_valid_syllable, place_tone

MAX_WORD = 12
MAX_WORDS = 30
_VOWELS = "aeiouyăâêôơư"
_FINALS = ("ch", "c", "m", "ng", "nh", "n", "p", "t")
TELEX_TONES = {"s": SAC, "f": HUYEN, "r": HOI, "x": NGA, "j": NANG}
VNI_TONES = {"1": SAC, "2": HUYEN, "3": HOI, "4": NGA, "5": NANG}
HAT = {"a": "â", "e": "ê", "o": "ô"}  # Telex aa ee oo, VNI 6
HORN = {"a": "ă", "o": "ơ", "u": "ư"}  # Telex w (a -> ă too), VNI 7 (o u) and 8 (a)
_EDGES = "\"'“”‘’«»()[]{}.,;:!?…"


def _last_run(out: list[str]) -> range:
    """Indexes of the last run of vowels in ``out`` (empty when none)."""
    end = len(out)
    while end and out[end - 1] not in _VOWELS:
        end -= 1
    start = end
    while start and out[start - 1] in _VOWELS:
        start -= 1
    return range(start, end)


def _mark(out: list[str], table: dict[str, str], letters: str) -> bool:
    """Put the mark of ``table`` on the last vowel of ``letters`` in the last
    vowel run, "uo" taking the horn together (ươ); False when none is there."""
    run = _last_run(out)
    text = "".join(out[i] for i in run)
    if table is HORN and "uo" in text and "o" in letters:
        at = run.start + text.index("uo")
        out[at:at + 2] = ["ư", "ơ"]
        return True
    for i in reversed(run):
        if out[i] in letters:
            out[i] = table[out[i]]
            return True
    return False


def _telex(word: str) -> tuple[str, str | None] | None:
    """(untoned syllable, tone) of a lowercase Telex word, or None when it
    breaks a rule of the module docstring or carries no marker."""
    out: list[str] = []
    tone: str | None = None
    tone_at = -1
    markers = 0
    lone_w = False
    for i, ch in enumerate(word):
        vowel_seen = any(c in _VOWELS for c in out)  # before it, s x r are initials (sao, xa, ra)
        if ch in TELEX_TONES and vowel_seen:
            if tone_at >= 0:
                return None
            tone, tone_at = TELEX_TONES[ch], i
        elif ch == "z":  # clears the tone typed before it
            if tone_at < 0:
                return None
            tone = None
            markers += 1
        elif ch == "d" and i == 1 and out == ["d"]:
            out[0] = "đ"
            markers += 1
        elif ch in HAT and out and out[-1] == ch and word[i - 1] == ch:
            out[-1] = HAT[ch]
            markers += 1
        elif ch == "w":
            if not _mark(out, HORN, "aou"):
                if vowel_seen:
                    return None
                out.append("ư")
                lone_w = True
            markers += 1
        else:
            out.append(ch)
    base = "".join(out)
    if tone_at < 0 and not markers:
        return None
    if 0 <= tone_at < len(word) - 1 and not markers:
        return None  # taxi, visa, test
    if lone_w:
        after = base[base.index("ư") + 1:]
        onset = base[:base.index("ư")]
        if after not in ("", *_FINALS) or not (tone_at >= 0 or after or len(onset) >= 2):
            return None
    return base, tone


def _vni(word: str) -> tuple[str, str | None] | None:
    """(untoned syllable, tone) of a lowercase VNI word, or None."""
    out: list[str] = []
    tone: str | None = None
    for ch in word:
        if ch in VNI_TONES:
            if tone is not None or not any(c in _VOWELS for c in out):
                return None
            tone = VNI_TONES[ch]
        elif ch == "6":
            if not _mark(out, HAT, "aeo"):
                return None
        elif ch in "78":
            if not _mark(out, HORN, "ou" if ch == "7" else "a"):
                return None
        elif ch == "9":
            if out != ["d"]:
                return None
            out[0] = "đ"
        elif ch.isdigit():
            return None
        else:
            out.append(ch)
    return "".join(out), tone


@lru_cache(maxsize=8192)
def decode_word(word: str) -> str | None:
    """The syllable a Telex or VNI word was typed for, in the word's case
    (first letter), NFC with the tone where indexer.textnorm puts it; None
    when the word is no keystrokes or its decoding no syllable."""
    if not 2 <= len(word) <= MAX_WORD or not word.isascii() or not word.isalnum() or word.isdigit():
        return None
    letters = [ch for ch in word if ch.isalpha()]
    if len(letters) >= 2 and all(ch.isupper() for ch in letters):
        return None  # an abbreviation: UBND, TW, U23
    lower = word.lower()
    if lower.isalpha() and is_valid_syllable(lower):
        return None
    parsed = _vni(lower) if any(ch.isdigit() for ch in lower) else _telex(lower)
    if parsed is None:
        return None
    base, tone = parsed
    if len(base) == 1 and base in "aeiouy":
        return None  # as, is, of; A4, U2
    # uow / u7o7 give ươ, but thuở, huơ, quơ have uơ: the one that is a syllable
    syllable = place_tone(base, tone) or place_tone(base.replace("ươ", "uơ"), tone)
    if syllable is None or not is_valid_syllable(syllable):
        return None
    syllable = normalize(syllable)
    return syllable[0].upper() + syllable[1:] if word[0].isupper() else syllable


def _foreign(word: str) -> bool:
    """A word of Latin letters that is no syllable (and, the caller knows,
    no keystrokes): English, a brand. Numbers and capitals are not counted."""
    return word.isascii() and word.isalpha() and not word.isupper() and not is_valid_syllable(word)


def decode(query: str) -> str | None:
    """``query`` with every word typed as Telex or VNI keystrokes decoded
    ("thanhf phoos" -> "thành phố"), spacing and other words kept; None when
    no word was decoded (or the query is too long to bother)."""
    if len(query.split()) > MAX_WORDS:
        return None
    parts = re.split(r"(\s+)", query)  # words at even indexes, the spacing between them kept
    decoded, foreign = 0, 0
    for i in range(0, len(parts), 2):
        core = parts[i].strip(_EDGES)
        if not core:
            continue
        word = decode_word(core)
        if word is None:
            foreign += _foreign(core)
            continue
        start = parts[i].index(core)
        parts[i] = parts[i][:start] + word + parts[i][start + len(core):]
        decoded += 1
    if not decoded or foreign > decoded:
        return None
    return "".join(parts)
