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
    return ViTokenizer.ViTokenizer


# -- segmentation -------------------------------------------------------------
# pyvi's ViTokenizer.tokenize, computed the same way but without its costs:
# it rebuilt each token's lowercase and case tests up to five times (once for
# every neighbour's features), compiled its pattern on every call and built
# the output by repeated string concatenation (quadratic in the text's
# length). The features, the CRF and the joining rules are pyvi's own, so
# the output is identical (tests/test_analysis.py compares them on real text).

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


def _features(tokens: list[str], bi_grams: set[str], tri_grams: set[str]) -> list[dict[str, Any]]:
    """pyvi's word2features for every token, keys in pyvi's order."""
    lower = [t.lower() for t in tokens]
    upper = [t.isupper() for t in tokens]
    title = [t.istitle() for t in tokens]
    last = len(tokens) - 1
    features = []
    for i in range(len(tokens)):
        one: dict[str, Any] = {
            "bias": 1.0, "word.lower()": lower[i], "word.isupper()": upper[i],
            "word.istitle()": title[i], "word.isdigit()": tokens[i].isdigit(),
        }
        if i > 0:
            one["-1:word.lower()"] = lower[i - 1]
            one["-1:word.istitle()"] = title[i - 1]
            one["-1:word.isupper()"] = upper[i - 1]
            one["-1:word.bi_gram()"] = f"{lower[i - 1]} {lower[i]}" in bi_grams
            if i > 1:
                one["-2:word.tri_gram()"] = f"{lower[i - 2]} {lower[i - 1]} {lower[i]}" in tri_grams
        if i < last:
            one["+1:word.lower()"] = lower[i + 1]
            one["+1:word.istitle()"] = title[i + 1]
            one["+1:word.isupper()"] = upper[i + 1]
            one["+1:word.bi_gram()"] = f"{lower[i]} {lower[i + 1]}" in bi_grams
            if i < last - 1:
                one["+2:word.tri_gram()"] = f"{lower[i]} {lower[i + 1]} {lower[i + 2]}" in tri_grams
        features.append(one)
    return features
