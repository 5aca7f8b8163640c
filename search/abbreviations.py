"""Abbreviations of Vietnamese news (UBND, TP.HCM, HLV) and what they stand for.

Newsrooms write "UBND tỉnh Quảng Nam" in one article and "Ủy ban nhân dân
tỉnh Quảng Nam" in the next, so a reader who types either form should find
both. The pairs live in ``abbreviations.tsv`` (its header says the format),
so that an editor extends them without touching code; this module loads
the file once, refuses a bad one with every problem named by line, and
tells the compiler (compiler.py) which other forms a run of query
syllables has. What to do with them (an OR, weights) is the compiler's.

Everything is compared as folded syllables, the way the index stores its
FOLD terms (analysis.py): "UBND", "ubnd", "Ủy ban nhân dân", "uy ban nhan
dan" and "uỷ ban" (old tone placement) all meet. An abbreviation in several
parts (TP.HCM, GD-ĐT) is found as its parts, ("tp", "hcm"), or joined,
("tphcm",), as in "TPHCM": the index has both ways (analysis.py's joined
abbreviations and TP split).

``ENABLED`` (set it False in-process) lets a benchmark or a test compare
with the engine that knows no abbreviations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from indexer.analysis import syllable_forms, syllables
from indexer.textnorm import normalize

DATA = Path(__file__).with_name("abbreviations.tsv")
HEADER = ("abbreviation", "expansion", "comment")
ALTERNATIVES = " | "  # between spellings of one expansion
MAX_PARTS = 3  # written parts of an abbreviation (LĐ-TB&XH)
MAX_EXPANSIONS = 3  # spellings of one expansion: each is one more phrase in a query
MAX_SYLLABLES = 8  # of one expansion
ENABLED = True

Syllables = tuple[str, ...]


class TableError(ValueError):
    """The data file is not usable; the message names every bad line."""


@lru_cache(maxsize=4096)
def folded_syllables(text: str) -> Syllables:
    """The folded syllables of ``text``, as the index folds them (tone
    placement, i/y, đ, case): "Uỷ ban" -> ("uy", "ban"), "TP.HCM" -> ("tp", "hcm")."""
    return tuple(syllable_forms(s.text)[1] for s in syllables(normalize(text)))


@dataclass(frozen=True)
class Spelling:
    """A way to write an entry: ``syllables`` next to each other, or any of
    ``specials`` anywhere (the joined "tphcm" of an abbreviation in parts)."""
    syllables: Syllables
    specials: Syllables = ()


@dataclass(frozen=True)
class Entry:
    """One line of the table."""
    abbreviation: str  # as written there
    expansions: tuple[str, ...]
    parts: Syllables  # the abbreviation's folded parts: ("tp", "hcm")
    expanded: tuple[Syllables, ...]  # each expansion's folded syllables
    line: int

    @property
    def abbreviated(self) -> Spelling:
        """The abbreviation as a query alternative: its parts in a row, or joined in one word."""
        return Spelling(self.parts, ("".join(self.parts),) if len(self.parts) > 1 else ())

    def forms(self) -> list[Syllables]:
        """Every syllable sequence that names this entry."""
        joined = [("".join(self.parts),)] if len(self.parts) > 1 else []
        return [self.parts, *joined, *self.expanded]


class Table:
    """The entries, looked up by folded syllables."""

    def __init__(self, entries: Sequence[Entry] = ()) -> None:
        self.entries = list(entries)
        # form -> (entry, -1 for the abbreviation, else which expansion)
        self._forms: dict[Syllables, tuple[Entry, int]] = {}
        for entry in self.entries:
            for form in entry.forms():
                self._forms[form] = (entry, entry.expanded.index(form) if form in entry.expanded else -1)
        self.longest = max((len(form) for form in self._forms), default=0)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def others(self, typed: Sequence[str]) -> tuple[Spelling, ...]:
        """The other forms of an entry when ``typed`` is exactly one of its
        forms, the first expansion first: the expansions of an abbreviation
        (then, for one in parts, its other way: "GDĐT" for "GD-ĐT", which
        the index does not join itself); the abbreviation and the other
        spellings of an expansion. () when it is none."""
        found = self._forms.get(tuple(typed))
        if found is None:
            return ()
        entry, which = found
        if which < 0:
            other_way = () if len(entry.parts) == 1 else (
                (Spelling(("".join(entry.parts),)),) if tuple(typed) == entry.parts else (entry.abbreviated,))
            return (*(Spelling(e) for e in entry.expanded), *other_way)
        return (entry.abbreviated, *(Spelling(e) for i, e in enumerate(entry.expanded) if i != which))

    def alternatives(self, typed: Sequence[str]) -> tuple[Spelling, ...]:
        """``others`` when ``typed`` is one whole form; else, when forms
        stand inside it ("ủy ban nhân dân tỉnh"), ``typed`` once more with
        each (longest first, left to right) replaced by its first other form:
        one phrase, however many forms it holds."""
        whole = self.others(typed)
        if whole:
            return whole
        rewritten: list[str] = []
        changed = False
        i = 0
        while i < len(typed):
            for size in range(min(self.longest, len(typed) - i), 0, -1):
                replaced = self.others(typed[i:i + size])
                if replaced:
                    rewritten += replaced[0].syllables
                    changed = True
                    i += size
                    break
            else:
                rewritten.append(typed[i])
                i += 1
        return (Spelling(tuple(rewritten)),) if changed else ()


EMPTY = Table()


def parse(text: str, source: str = "abbreviations") -> Table:
    """A table from the data file's text; TableError lists every bad line."""
    problems: list[str] = []
    entries: list[Entry] = []
    owner: dict[Syllables, tuple[int, str]] = {}  # form -> (line, as written)
    header_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t", 2)]
        if not header_seen:
            header_seen = True
            if tuple(f.lower() for f in fields) not in (HEADER, HEADER[:2]):
                problems.append(f"{source}:{number}: the first line must be the header "
                                f"{chr(9).join(HEADER)!r} (tab-separated), not {line!r}")
            continue
        entry = _entry(fields, number, problems, source)
        if entry is None:
            continue
        written = [entry.abbreviation, *([entry.abbreviation] if len(entry.parts) > 1 else []),
                   *entry.expansions]
        clash = False
        for form, as_written in zip(entry.forms(), written, strict=True):
            if form in owner:
                first, other = owner[form]
                problems.append(f"{source}:{number}: {as_written!r} is spelt like {other!r} "
                                f"on line {first} ({' '.join(form)!r}): each spelling belongs to one line")
                clash = True
            else:
                owner[form] = (number, as_written)
        if not clash:
            entries.append(entry)
    if not header_seen:
        problems.append(f"{source}: no header line {chr(9).join(HEADER)!r}")
    if problems:
        raise TableError("bad abbreviation table:\n" + "\n".join(problems))
    return Table(entries)


def _entry(fields: list[str], number: int, problems: list[str], source: str) -> Entry | None:
    """One line's entry, or None with its problems added."""
    where = f"{source}:{number}"
    if len(fields) < 2:
        problems.append(f"{where}: expected 'abbreviation<TAB>expansion[<TAB>comment]', got {fields[0]!r}")
        return None
    abbreviation, expansion = fields[0], fields[1]
    bad = len(problems)
    if not abbreviation:
        problems.append(f"{where}: empty abbreviation")
    elif any(ch.isspace() for ch in abbreviation):
        problems.append(f"{where}: abbreviation {abbreviation!r} has a space: write it as one word "
                        "(TP.HCM); spaces between its parts are matched anyway")
    parts = folded_syllables(abbreviation)
    if abbreviation and not any(ch.isspace() for ch in abbreviation) and not 1 <= len(parts) <= MAX_PARTS:
        problems.append(f"{where}: abbreviation {abbreviation!r} has {len(parts)} parts (1 to {MAX_PARTS})")
    spellings = [s.strip() for s in expansion.split(ALTERNATIVES.strip())] if expansion else []
    if not expansion or not all(spellings):
        problems.append(f"{where}: empty expansion{' spelling' if expansion else ''} for {abbreviation!r}")
    elif len(spellings) > MAX_EXPANSIONS:
        problems.append(f"{where}: {len(spellings)} spellings of the expansion (at most {MAX_EXPANSIONS})")
    expanded = [folded_syllables(s) for s in spellings]
    for spelling, folded in zip(spellings, expanded, strict=True):
        if spelling and not 2 <= len(folded) <= MAX_SYLLABLES:
            problems.append(f"{where}: expansion {spelling!r} has {len(folded)} syllables (2 to {MAX_SYLLABLES})")
    if len(set(expanded)) < len(expanded):
        problems.append(f"{where}: two spellings of the expansion are the same once folded")
    if len(problems) > bad:
        return None
    return Entry(abbreviation, tuple(spellings), parts, tuple(expanded), number)


def load(path: Path = DATA) -> Table:
    return parse(path.read_text(encoding="utf-8"), source=path.name)


@lru_cache(maxsize=1)
def table() -> Table:
    """The shipped table, read and checked once per process."""
    return load()


def active() -> Table:
    """The table the compiler uses: empty when ENABLED is off."""
    return table() if ENABLED else EMPTY
