"""Building the completion table (search/autocomplete.py) from the
archive, and rebuilding it, per process, as the archive changes.

Building reads the stored headline and the first ``LEAD_SYLLABLES`` of the
lead of the newest articles, up to ``MAX_TOKENS`` syllables in all, and
counts every phrase at once with 64-bit rolling hashes over the syllables
(numpy: one pass per phrase length, sort-based counting, an article once per
phrase); only the phrases kept become strings. The table keeps at most
``MAX_PHRASES`` phrases (the heaviest) and ``MAX_HEADLINES`` headlines (the
newest), about 62 bytes an entry: 6.0 MiB for VNTC's 33,711 articles
(100,230 entries, every headline read), and at most about 20 MiB whatever
the archive's size. Up to the bounds it grows with the headlines read; past
them it stays the same size, covering the newest ``MAX_TOKENS`` syllables
(all of VNTC's headlines are 427,650), and the least used phrases drop out.
A build takes time in proportion to the syllables read (4-6 s for VNTC on
2 busy cores, of which ~3.5 s is Whoosh decompressing stored articles) and
about 160 transient bytes a syllable (67 MiB for VNTC, at most ~100 MiB),
freed when it ends.

Each process builds its table in a background thread (like the spelling
vocabulary, generation.Generation.build_vocabulary), through its own
searcher, when a request finds the table older than the generation it
reads; meanwhile the older table answers. Unlike the vocabulary it reads
stored articles (pure Python, holding the GIL), so a process builds at
most once per ``max(MIN_INTERVAL, INTERVAL_FACTOR x the last build's
time)``: an article written or deleted shows in (or leaves) the completions
within that (about a minute on VNTC), and rebuilding takes at most a tenth
of a core while writes keep coming. The first request of a process waits
for the first table up to ``FIRST_BUILD_WAIT``, then gets none until it is
there; later requests never wait.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np

from indexer.analysis import syllable_forms
from indexer.textnorm import normalize
from search.autocomplete import MAX_COMPLETIONS, Completion, CompletionTable
from search.index_view import NO_DATE

log = logging.getLogger(__name__)

MIN_WORDS, MAX_WORDS = 2, 6  # syllables in a phrase
MAX_PHRASES = 200_000  # the table's bounds...
MAX_HEADLINES = 50_000
HEADLINE_CHARS = 120  # ...longer headlines are cut at a syllable, with "…"
MAX_TOKENS = 600_000  # syllables read per build, newest articles first (VNTC's headlines: 427,650)
LEAD_SYLLABLES = 20  # of a lead, only the start (its first sentence or so)
RECENCY_BOOST = 3.0  # a new article counts 1 + 3 = 4, one a half-life older 2.5
RECENCY_HALF_LIFE_DAYS = 365.0
HEADLINE_FACTOR = 0.5  # a headline counts half its article
DOMINANCE = 0.8  # a phrase whose one continuation has this share of its weight gives way to it
# Words that end no phrase worth completing to: auxiliaries, prepositions,
# conjunctions, classifiers (as written, lowercase; "Đà" is not "đã").
FUNCTION_WORDS = frozenset(
    "đã sẽ đang vừa sắp vẫn còn cũng thì là và với của cho có không được bị tại trong trên dưới từ đến tới "
    "về để vì do khi nếu mà nhưng hay hoặc các những một này ở theo qua như lại nên rằng rất đều chỉ bằng "
    "cùng vào ra".split())
COMPOUND_FIELDS = ("title", "lead")  # whose compound words (the index's segmentation) phrases keep whole
COMPOUND_SHARE = 0.5  # two syllables are one word where the segmentation joins them this often
MIN_INTERVAL = 5.0  # seconds between builds, at least...
INTERVAL_FACTOR = 10.0  # ...and at least 10x the last build's time
FIRST_BUILD_WAIT = 1.0  # seconds the first request of a process waits for the first table


_PARTS = re.compile(r"([^\W_]+)")  # split: gaps and syllables in turn
_GLUE = frozenset(".-/,'&+:")  # one of these between two syllables joins them ("TP.HCM", "0,5", "10:30")
_BREAK, _SPACE = -1, 0  # gap codes; glue strings get codes 1, 2, ...
_MIX = np.uint64(0x9E3779B97F4A7C15)  # the rolling hash's multiplier (odd)
_DAY = 86_400_000_000  # Whoosh's date longs are microseconds


# -- building -------------------------------------------------------------------
class _Stream:
    """The syllables of the texts read, as parallel arrays: folded and
    written forms (ids), the gap before each (a code), and the article
    (its rank, newest first); and the headlines."""

    def __init__(self) -> None:
        self.fold_index: dict[str, int] = {}
        self.form_index: dict[str, int] = {}
        self.glue_index: dict[str, int] = {" ": _SPACE}  # code -> what joins two syllables
        self.gap_codes: dict[str, int] = {}
        self.folds = array("i")
        self.forms = array("i")
        self.gaps = array("i")
        self.docs = array("i")
        self.guessed = array("b")  # 1: the written form's case was guessed (a sentence's first word)
        self.headlines: dict[bytes, tuple[str, float]] = {}

    def __len__(self) -> int:
        return len(self.folds)

    def _gap(self, gap: str) -> int:
        code = self.gap_codes.get(gap)
        if code is None:
            if not gap.strip():
                code = _SPACE
            elif len(gap) == 1 and gap in _GLUE:
                code = self.glue_index.setdefault(gap, len(self.glue_index))
            else:
                code = _BREAK
            self.gap_codes[gap] = code
        return code

    def add(self, text: str, doc: int, limit: int | None = None) -> tuple[str, list[tuple[int, int, str]]]:
        """Append a text's syllables (the first ``limit``); returns the
        normalised text and its syllables: (start, end, folded form)."""
        norm = normalize(text)
        parts = _PARTS.split(norm)  # gap, syllable, gap, ..., syllable, gap
        found: list[tuple[str, str, int, int, str]] = []  # written, folded, start, end, gap before
        at, gap = len(parts[0]), parts[0]
        for k in range(1, len(parts), 2):
            written, after = parts[k], parts[k + 1]
            folded = syllable_forms(written)[1]
            if folded:
                found.append((written, folded, at, at + len(written), gap))
                if limit is not None and len(found) >= limit:
                    break
                gap = after
            else:  # nothing of it is left folded: a gap
                gap += written + after
            at += len(written) + len(after)
        if not found:
            return norm, []
        written = found[0][0]
        guessed = len(found) > 1 and written[:1].isupper() and written[1:] == written[1:].lower() \
            and found[1][0][:1].islower()
        folds, forms = self.fold_index, self.form_index
        self.folds.extend([folds.setdefault(f, len(folds)) for _, f, _, _, _ in found])
        if guessed:  # a sentence's capital is not the word's (probably)
            found[0] = (written[:1].lower() + written[1:], *found[0][1:])
        self.forms.extend([forms.setdefault(w, len(forms)) for w, _, _, _, _ in found])
        self.gaps.append(_BREAK)
        self.gaps.extend([self._gap(g) for _, _, _, _, g in found[1:]])
        self.guessed.append(guessed)
        self.guessed.extend(bytes(len(found) - 1))
        self.docs.extend([doc] * len(found))
        return norm, [(start, end, folded) for _, folded, start, end, _ in found]

    def add_headline(self, norm: str, syllables: list[tuple[int, int, str]], weight: float) -> None:
        """A headline (its key from its first syllable); a long one cut after
        the last syllable that ends within HEADLINE_CHARS."""
        kept = [s for s in syllables if s[1] <= HEADLINE_CHARS] or syllables[:1]
        if not kept:
            return
        if len(kept) == len(syllables):
            shown = " ".join(norm.split())
        else:
            shown = " ".join(norm[:kept[-1][1]].split()) + "…"
        key = " ".join(f for _, _, f in kept).encode("ascii", "ignore")
        if key not in self.headlines:  # a repeated headline: the newest article's wording
            self.headlines[key] = (shown, weight * HEADLINE_FACTOR)

    def phrases(self, starts: list[int], words: list[int]) -> tuple[list[bytes], list[str]]:
        """The keys and the written texts of the phrases at ``starts``."""
        folds, forms, glue = _names(self.fold_index), _names(self.form_index), _names(self.glue_index)
        keys, shown = [], []
        for start, size in zip(starts, words, strict=True):
            keys.append(" ".join(folds[self.folds[j]] for j in range(start, start + size)).encode("ascii", "ignore"))
            parts = [forms[self.forms[start]]]
            for j in range(start + 1, start + size):
                parts.append(glue[self.gaps[j]])
                parts.append(forms[self.forms[j]])
            shown.append("".join(parts))
        return keys, shown


def _names(index: dict[str, int]) -> list[str]:
    names = [""] * len(index)
    for name, i in index.items():
        names[i] = name
    return names


def recency_weights(dates: np.ndarray) -> np.ndarray:
    """1 + RECENCY_BOOST * 2^(-age / half-life) per article (Whoosh date
    longs, NO_DATE for none: weight 1), the age from the newest date."""
    weights = np.ones(len(dates), dtype=np.float64)
    dated = dates != NO_DATE
    if dated.any():
        age_days = (dates[dated].max() - dates[dated]).astype(np.float64) / _DAY
        weights[dated] += RECENCY_BOOST * np.exp2(-age_days / RECENCY_HALF_LIFE_DAYS)
    return weights


def newest_first(live: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Live document numbers, newest first: the dated ones by date, then
    the undated ones, the last added first."""
    docs = np.flatnonzero(live)
    when = dates[docs]
    dated = when != NO_DATE
    by_date = docs[dated][np.lexsort((-docs[dated], -when[dated]))]
    return np.concatenate([by_date, docs[~dated][::-1]])


def compound_words(view: Any) -> dict[str, int]:
    """The compound words of the headlines and leads with their document
    frequencies (deleted articles included), from the segments' term tables
    (a segment without arrays adds none)."""
    found: dict[str, int] = {}
    for leaf in view.leaves:
        if leaf.arrays is not None:
            for field in COMPOUND_FIELDS:
                for word, df in leaf.arrays.compound_terms(field):
                    found[word] = found.get(word, 0) + df
    return found


def build(view: Any, max_tokens: int = MAX_TOKENS, max_phrases: int = MAX_PHRASES,
          max_headlines: int = MAX_HEADLINES) -> CompletionTable:
    """The completion table of the generation an IndexView reads."""
    started = time.perf_counter()
    dates = view.dates()
    order = newest_first(view.live, dates)
    weights = recency_weights(dates[order])
    stream = _Stream()
    read = 0
    for rank, docnum in enumerate(order.tolist()):
        if len(stream) >= max_tokens:
            break
        doc = view.stored(docnum)
        title, lead = doc.get("title") or "", doc.get("lead") or ""
        if title:
            norm, syllables = stream.add(title, rank)
            if rank < max_headlines and not doc.get("title_derived"):
                stream.add_headline(norm, syllables, float(weights[rank]))
        if lead:
            stream.add(lead, rank, LEAD_SYLLABLES)
        read += 1
    keys, shown, weight = _phrases(stream, weights[:read], max_phrases, compound_words(view))
    taken = set(keys)
    for key, (text, headline_weight) in stream.headlines.items():
        if key not in taken:
            keys.append(key)
            shown.append(text)
            weight.append(headline_weight)
    return CompletionTable(keys, shown, np.array(weight, dtype=np.float64), generation=view.shared.number,
                           seconds=time.perf_counter() - started, articles=read, syllables=len(stream))


def _phrases(stream: _Stream, doc_weight: np.ndarray, limit: int,
             compounds: dict[str, int]) -> tuple[list[bytes], list[str], list[float]]:
    """The ``limit`` heaviest phrases, among those that neither start nor
    end inside a compound word nor give way to a continuation."""
    count = len(stream)
    if count < MIN_WORDS:
        return [], [], []
    rng = np.random.default_rng(20260313)  # any fixed 64-bit codes per syllable, form and gap

    def codes(size: int) -> np.ndarray:
        return rng.integers(1, 2**63, size=max(size, 1), dtype=np.uint64)

    gaps = np.frombuffer(stream.gaps, dtype=np.int32)
    fold_code = codes(len(stream.fold_index))
    fold_hash = fold_code[np.frombuffer(stream.folds, dtype=np.int32)]
    written_hash = codes(len(stream.form_index))[np.frombuffer(stream.forms, dtype=np.int32)]
    # a syllable with what joins it to the one before: "TP.HCM" and "TP HCM" are two written forms
    form_hash = written_hash ^ codes(len(stream.glue_index) + 1)[gaps + 1]
    docs = np.frombuffer(stream.docs, dtype=np.int32).astype(np.int64)
    votes = 2 - np.frombuffer(stream.guessed, dtype=np.int8).astype(np.int64)  # a guessed case, half a vote
    span = np.cumsum(gaps == _BREAK)  # the syllables of one stretch without a break share a number
    glued = gaps > _SPACE
    # the gap after each syllable is inside a word: joined ("TP.HCM") or a compound ("thành ủy")
    inside = np.append(glued[1:] | _in_compounds(stream, fold_code, fold_hash, span, docs, compounds), False)

    # nor end on a function word ("Hà Nội đã", "bị thương do")
    weak = np.array([w.lower() in FUNCTION_WORDS for w in _names(stream.form_index)] or [False])
    ends_ok = ~inside & ~weak[np.frombuffer(stream.forms, dtype=np.int32)]

    levels: list[dict[str, Any]] = []
    key_hash, shape_hash, previous_hash = fold_hash, written_hash, fold_hash
    starts_ok = ~np.insert(inside[:-1], 0, False)
    for words in range(MIN_WORDS, MAX_WORDS + 1):
        n = count - words + 1
        if n <= 0:
            break
        key_hash = key_hash[:n] * _MIX + fold_hash[words - 1:]
        shape_hash = shape_hash[:n] * _MIX + form_hash[words - 1:]
        starts = np.flatnonzero((span[words - 1:] == span[:n]) & starts_ok[:n] & ends_ok[words - 1:])
        level = _level(words, starts, key_hash[starts], shape_hash[starts], docs[starts], votes[starts], doc_weight)
        level["words"] = words
        if words > MIN_WORDS:  # the phrase one syllable shorter, for DOMINANCE below
            level["parent"] = previous_hash[level["start"]]
        levels.append(level)
        previous_hash = key_hash
    # a phrase gives way to a continuation used by several articles that
    # carries nearly all of its weight ("bí thư thành" to "bí thư thành ủy")
    for shorter, longer in zip(levels, levels[1:], strict=False):
        if not len(longer["hash"]) or not len(shorter["hash"]):
            continue
        where = np.minimum(np.searchsorted(shorter["hash"], longer["parent"]), len(shorter["hash"]) - 1)
        known = (shorter["hash"][where] == longer["parent"]) & (longer["articles"] >= 2)
        most = np.zeros(len(shorter["hash"]))
        np.maximum.at(most, where[known], longer["weight"][known])
        shorter["keep"] &= most < DOMINANCE * shorter["weight"]

    starts_kept = np.concatenate([lv["start"][lv["keep"]] for lv in levels])
    words_kept = np.concatenate([np.full(int(lv["keep"].sum()), lv["words"]) for lv in levels])
    weight = np.concatenate([lv["weight"][lv["keep"]] for lv in levels])
    if len(weight) > limit:  # the heaviest; at equal weight the shorter
        top = np.lexsort((words_kept, -weight))[:limit]
        starts_kept, words_kept, weight = starts_kept[top], words_kept[top], weight[top]
    keys, shown = stream.phrases(starts_kept.tolist(), words_kept.tolist())
    return keys, shown, weight.tolist()


def _in_compounds(stream: _Stream, fold_code: np.ndarray, fold_hash: np.ndarray, span: np.ndarray,
                  docs: np.ndarray, compounds: dict[str, int]) -> np.ndarray:
    """Per pair of neighbouring syllables (n - 1 of them): whether the
    index's word segmentation joins them into one word in at least
    COMPOUND_SHARE of the articles where they meet (segmentation depends on
    the context: "viet_nam_hoi" is one of pyvi's mistakes, rare beside the
    "việt nam" that ends before "hội")."""
    joined: dict[int, int] = {}
    index = stream.fold_index
    for word, df in compounds.items():
        parts = word.split("_")
        for a, b in zip(parts, parts[1:], strict=False):
            if a in index and b in index:
                with np.errstate(over="ignore"):
                    pair = int(fold_code[index[a]] * _MIX + fold_code[index[b]])
                joined[pair] = joined.get(pair, 0) + df
    result = np.zeros(max(len(fold_hash) - 1, 0), dtype=bool)
    if not joined or not len(result):
        return result
    pairs = fold_hash[:-1] * _MIX + fold_hash[1:]
    known = np.array(sorted(joined), dtype=np.uint64)
    met = (span[1:] == span[:-1]) & np.isin(pairs, known)
    where = np.flatnonzero(met)
    if not len(where):
        return result
    # in how many articles each candidate pair meets
    unique, inverse = np.unique(pairs[where], return_inverse=True)
    width = int(docs.max()) + 1
    articles = np.bincount(np.unique(inverse.astype(np.int64) * width + docs[where]) // width,
                           minlength=len(unique))
    share = np.array([joined[int(p)] for p in unique.tolist()], dtype=np.float64) / np.maximum(articles, 1)
    result[where] = share[inverse] >= COMPOUND_SHARE
    return result


def _level(words: int, starts: np.ndarray, keys: np.ndarray, shapes: np.ndarray, docs: np.ndarray,
           votes: np.ndarray, doc_weight: np.ndarray) -> dict[str, Any]:
    """Per distinct phrase of one length: its hash (sorted), its weight and
    number of articles (each article once), and where its most used written
    form occurs."""
    if not len(starts):
        return {"hash": np.zeros(0, dtype=np.uint64), "weight": np.zeros(0), "articles": np.zeros(0, dtype=np.int64),
                "start": np.zeros(0, dtype=np.int64), "keep": np.zeros(0, dtype=bool)}
    unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    if words > MIN_WORDS:
        # a phrase of more than two syllables must be used twice (by two articles,
        # or by one in its headline and lead): used once, it is the headline's
        repeated = counts[inverse] >= 2
        starts, keys, shapes, docs, votes = (a[repeated] for a in (starts, keys, shapes, docs, votes))
        unique, inverse = np.unique(keys, return_inverse=True)
        if not len(unique):
            return _level(words, starts, keys, shapes, docs, votes, doc_weight)
    width = int(docs.max()) + 1
    pairs = np.unique(inverse.astype(np.int64) * width + docs)  # each article once per phrase
    weight = np.bincount(pairs // width, weights=doc_weight[pairs % width], minlength=len(unique))
    articles = np.bincount(pairs // width, minlength=len(unique))
    # runs of (phrase, written form); per phrase the run with most votes, and where it occurs
    order = np.lexsort((shapes, inverse))
    phrase, shape = inverse[order], shapes[order]
    new_run = np.ones(len(order), dtype=bool)
    new_run[1:] = (phrase[1:] != phrase[:-1]) | (shape[1:] != shape[:-1])
    run_start = np.flatnonzero(new_run)
    run_votes = np.add.reduceat(votes[order], run_start)
    run_phrase = phrase[run_start]
    best = np.lexsort((-run_votes, run_phrase))
    first = np.ones(len(best), dtype=bool)
    first[1:] = run_phrase[best][1:] != run_phrase[best][:-1]
    chosen = best[first]
    start = np.empty(len(unique), dtype=np.int64)
    start[run_phrase[chosen]] = starts[order[run_start[chosen]]]
    return {"hash": unique, "weight": weight, "articles": articles, "start": start,
            "keep": np.ones(len(unique), dtype=bool)}


# -- per process: the current table, rebuilt in the background ---------------
class Completer:
    """The completion table of a process, for the generation its views read.

    ``open_view`` gives the calling thread's IndexView of the current
    generation (Engine._state().view); the build thread calls it too, so it
    reads through its own searcher, as request threads do."""

    def __init__(self, open_view: Callable[[], Any], min_interval: float = MIN_INTERVAL,
                 interval_factor: float = INTERVAL_FACTOR) -> None:
        self.open_view = open_view
        self.min_interval = min_interval
        self.interval_factor = interval_factor
        self.table: CompletionTable | None = None
        self._building: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_end = float("-inf")
        self._first = threading.Event()

    def complete(self, typed: str, generation: int, limit: int = MAX_COMPLETIONS) -> list[Completion]:
        table = self.current(generation)
        return table.complete(typed, limit) if table is not None else []

    def current(self, generation: int, wait: float = FIRST_BUILD_WAIT) -> CompletionTable | None:
        """The table for ``generation``, or the last one built while a new
        one is made (the first call waits for the first, up to ``wait`` s)."""
        table = self.table
        if table is None or table.generation != generation:
            self._start_build()  # at most once per interval: see _start_build
        if self.table is None:
            self._first.wait(wait)
        return self.table

    def _start_build(self) -> None:
        with self._lock:
            if self._building is not None and self._building.is_alive():
                return
            seconds = self.table.seconds if self.table is not None else 0.0
            if time.monotonic() - self._last_end < max(self.min_interval, self.interval_factor * seconds):
                return
            self._building = threading.Thread(target=self._build, name="vnsearch-completions", daemon=True)
            self._building.start()

    def _build(self) -> None:
        try:
            self.table = build(self.open_view())
        except Exception:  # the old table keeps answering; the next interval tries again
            log.exception("building the completion table failed")
        finally:
            self._last_end = time.monotonic()
            self._first.set()
