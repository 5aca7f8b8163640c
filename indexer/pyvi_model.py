"""pyvi's word segmenter, loaded without leaving its model in the temp folder.

pyvi unpickles its CRF model (sklearn-crfsuite) when ``pyvi.ViTokenizer`` is
imported. sklearn-crfsuite's unpickling writes the ~640 KB model to a
``model*.crfsuite`` temp file for pycrfsuite to open, and deletes it only
when the Python object is garbage-collected at a clean exit. Whoosh's
indexing workers end with ``os._exit`` and a killed run never cleans up, so
every process that segmented text left one behind.

Here the model bytes are caught during that unpickling and handed to
pycrfsuite's ``Tagger.open_inmemory``: no file is ever written. If pyvi was
imported before (by other code, so the temp file exists), the tagger is
opened from the file and the file deleted at once; that is safe because
crfsuite reads the whole model into memory on open (it keeps no descriptor
or mapping of the file).
"""

from __future__ import annotations

import gc
import re
import string
import threading
import unicodedata
from typing import Any

_lock = threading.Lock()
_tokenizer: Any = None
# crfsuite may tag straight from the buffer given to open_inmemory, so the
# bytes must live as long as the tagger, i.e. as long as the process.
_model_bytes: list[bytes] = []


def tokenizer() -> Any:
    """pyvi's ``ViTokenizer`` class, with its CRF tagger already open."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                _tokenizer = _load()
    return _tokenizer


def _load() -> Any:
    from sklearn_crfsuite._fileresource import FileResource

    captured: list[bytes] = []
    original = FileResource.__setstate__

    def keep_in_memory(self: Any, state: dict[str, Any]) -> None:
        state = dict(state)
        data = state.pop("__FILE_RESOURCE_DATA__", None)
        self.__dict__.update(state)  # name stays None: no file behind it
        if data is not None:
            captured.append(data)

    FileResource.__setstate__ = keep_in_memory
    try:
        from pyvi import ViTokenizer
    finally:
        FileResource.__setstate__ = original
    model = ViTokenizer.ViTokenizer.model
    if captured:
        import pycrfsuite

        tagger = pycrfsuite.Tagger()
        tagger.open_inmemory(captured[0])
        _model_bytes.append(captured[0])
        model._tagger = tagger  # what sklearn-crfsuite's ``tagger_`` property returns
    else:  # pyvi was already imported: its model file exists
        if model.tagger_ is None:
            raise RuntimeError("pyvi's CRF model has no data")
        model.modelfile.cleanup()  # closes and deletes the temp file
    # The model's n-gram sets and CRF tables live as long as the process.
    # Every full garbage collection walked all of them: 13-15% of the time of
    # indexing 2,000 articles in one process. Frozen, collections skip them
    # (and forked workers do not copy their pages to do so).
    gc.freeze()
    return ViTokenizer.ViTokenizer


# -- segmentation -------------------------------------------------------------
# pyvi's ViTokenizer.tokenize, computed the same way but without its costs:
# it rebuilt each token's lowercase and case tests up to five times (once for
# every neighbour's features), handed crfsuite dictionaries to convert,
# compiled its pattern on every call and built the output by repeated string
# concatenation (quadratic in the text's length). The features, the CRF and
# the joining rules are pyvi's own, so the output is identical
# (tests/test_analysis.py compares them on real text).

_PATTERN = re.compile("(" + "|".join([
    r"[A-ZĐ]+\.", r"Tp\.", r"Mr\.", r"Mrs\.", r"Ms\.", r"Dr\.", r"ThS\.",  # abbreviations
    "==>", "->", r"\.\.\.", ">>", "\n",  # specials
    r"\w+://[^\s]+", r"([a-zA-Z0-9_.+-]+@([a-zA-Z0-9-]+\.)+[a-zA-Z0-9-]+)",  # web, email
    r"\d+([\.,_]\d+)+", r"[^\w\s]", r"\w+",  # digits, non-word, word
]) + ")", re.UNICODE)


def tokenize(text: str) -> str:
    """pyvi's segmentation of ``text``: syllables of one word joined by "_"."""
    tokens = [found[0] for found in _PATTERN.findall(unicodedata.normalize("NFC", text))]
    if not tokens:
        return text
    segmenter = tokenizer()
    labels = segmenter.model.predict_single(_features(tokens, segmenter.bi_grams, segmenter.tri_grams))
    parts = [tokens[0]]
    for i in range(1, len(labels)):
        word, before = tokens[i], tokens[i - 1]
        joined = (labels[i] == "I_W" and word not in string.punctuation and before not in string.punctuation
                  and not word[0].isdigit() and not before[0].isdigit()
                  and not (word[0].istitle() and not before[0].istitle()))
        parts.append("_" if joined else " ")
        parts.append(word)
    return "".join(parts)


def _features(tokens: list[str], bi_grams: set[str], tri_grams: set[str]) -> list[list[str]]:
    """pyvi's word2features for every token, in the form crfsuite reads
    fastest: a list of feature names per token. pyvi's dicts say the same
    thing: a string value v of key k is the feature "k:v" with weight 1, a
    boolean is the feature k with weight 1 (True) or 0 (False, so it is
    left out here), and "bias" has weight 1."""
    lower = [t.lower() for t in tokens]
    upper = [t.isupper() for t in tokens]
    title = [t.istitle() for t in tokens]
    this_word = ["word.lower():" + w for w in lower]
    as_previous = ["-1:word.lower():" + w for w in lower]
    as_next = ["+1:word.lower():" + w for w in lower]
    last = len(tokens) - 1
    features = []
    for i, token in enumerate(tokens):
        one = ["bias", this_word[i]]
        if upper[i]:
            one.append("word.isupper()")
        if title[i]:
            one.append("word.istitle()")
        if token.isdigit():
            one.append("word.isdigit()")
        if i > 0:
            one.append(as_previous[i - 1])
            if title[i - 1]:
                one.append("-1:word.istitle()")
            if upper[i - 1]:
                one.append("-1:word.isupper()")
            if f"{lower[i - 1]} {lower[i]}" in bi_grams:
                one.append("-1:word.bi_gram()")
            if i > 1 and f"{lower[i - 2]} {lower[i - 1]} {lower[i]}" in tri_grams:
                one.append("-2:word.tri_gram()")
        if i < last:
            one.append(as_next[i + 1])
            if title[i + 1]:
                one.append("+1:word.istitle()")
            if upper[i + 1]:
                one.append("+1:word.isupper()")
            if f"{lower[i]} {lower[i + 1]}" in bi_grams:
                one.append("+1:word.bi_gram()")
            if i < last - 1 and f"{lower[i]} {lower[i + 1]} {lower[i + 2]}" in tri_grams:
                one.append("+2:word.tri_gram()")
        features.append(one)
    return features
