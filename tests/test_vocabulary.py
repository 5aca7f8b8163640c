"""The spelling vocabulary's two-edit search equals a plain optimal-string-
alignment distance computed word by word."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from search.vocabulary import Vocabulary

WORDS = ["can", "bo", "tre", "tren", "trong", "truong", "thanh", "thang", "tranh", "sinh", "xinh", "tinh",
         "nhin", "hoc", "hoac", "gioi", "giao", "duc", "dong", "ngoai", "nguoi", "viet", "nam", "ha", "noi",
         "2022", "18", "abc", "acb", "bca", "ab", "ba", "a"]


def reference_distance(a: str, b: str) -> int:
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


VOCABULARY = Vocabulary({w: i + 1 for i, w in enumerate(WORDS)})


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcdeghinortuvxy0128", min_size=1, max_size=9))
def test_within_two_edits_equals_the_reference(word):
    expected = {w for w in WORDS if reference_distance(word, w) <= 2}
    assert set(VOCABULARY.within_two_edits(word)) == expected


def test_known_misspellings():
    assert set(VOCABULARY.within_two_edits("trex")) >= {"tre", "tren"}
    assert "truong" in VOCABULARY.within_two_edits("truogn")  # a swap is one edit
    assert VOCABULARY.within_two_edits("xyzqwv") == []
    assert VOCABULARY.within_two_edits("Đà") == []  # not folded: nothing to compare
    assert VOCABULARY.frequency("tre") == 3 and "tre" in VOCABULARY and "trex" not in VOCABULARY
