"""The query language readers and journalists type, parsed tolerantly.

  cán bộ trẻ            plain words: all must match (relaxed when none match all)
  "cán bộ trẻ"          exact phrase (diacritic-insensitive, exact spelling ranks first)
  -word, NOT word       exclude
  a OR b, a AND b       boolean operators (upper case only: "or" is just a word)
  ( ... )               grouping
  title:x author:x category:x source:x   field scoping; the value may be a
                        word, a "phrase" or a (group)

Any string parses: unbalanced quotes and parentheses, stray operators and
unknown fields are read as plain words, nesting deeper than MAX_DEPTH is
flattened, and at most MAX_CLAUSES words and phrases are kept (the rest are
reported as dropped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeVar

MAX_DEPTH = 8
MAX_CLAUSES = 32
FIELDS = ("title", "author", "category", "source")
_N = TypeVar("_N", "Word", "Phrase")


@dataclass
class Word:
    text: str
    field: str | None = None


@dataclass
class Phrase:
    text: str
    field: str | None = None


@dataclass
class Not:
    node: QueryNode


@dataclass
class And:
    nodes: list[QueryNode] = field(default_factory=list)


@dataclass
class Or:
    nodes: list[QueryNode] = field(default_factory=list)


QueryNode = Word | Phrase | Not | And | Or


@dataclass
class ParsedQuery:
    root: QueryNode | None  # None: the empty query (browse)
    dropped: int = 0  # clauses beyond MAX_CLAUSES

    def is_plain(self) -> bool:
        """Only unscoped words and phrases, some maybe excluded: the case we relax."""
        nodes = self.root.nodes if isinstance(self.root, And) else [self.root]
        return all(isinstance(n, (Word, Phrase)) and n.field is None
                   or isinstance(n, Not) and isinstance(n.node, (Word, Phrase)) for n in nodes)


_TOKEN_RE = re.compile(
    r'(?P<field>\b(?:' + "|".join(FIELDS) + r'):(?=\S))'
    r'|(?P<phrase>"[^"]*")'
    r'|(?P<lparen>\()|(?P<rparen>\))'
    r'|(?P<word>[^\s()"]+|")'
)


def _lex(text: str) -> list[tuple[str, str]]:
    tokens = []
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup
        assert kind is not None  # every alternative is a named group
        value = m.group()
        if kind == "word" and value in ("AND", "OR", "NOT"):
            kind = value
        tokens.append((kind, value))
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.i = 0
        self.clauses = 0
        self.dropped = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse_or(self, depth: int) -> QueryNode | None:
        parsed = [self.parse_and(depth)]
        while self.peek() == "OR":
            self.take()
            parsed.append(self.parse_and(depth))
        nodes = [n for n in parsed if n is not None]
        if not nodes:
            return None
        return nodes[0] if len(nodes) == 1 else Or(nodes)

    def parse_and(self, depth: int) -> QueryNode | None:
        nodes: list[QueryNode] = []
        while True:
            kind = self.peek()
            if kind is None or kind == "OR" or (kind == "rparen" and depth > 0):
                break
            if kind == "AND" or (kind == "rparen"):
                self.take()  # AND is implied; a stray ")" at top level is noise
                continue
            node = self.parse_unary(depth)
            if node is not None:
                nodes.append(node)
        if not nodes:
            return None
        return nodes[0] if len(nodes) == 1 else And(nodes)

    def parse_unary(self, depth: int) -> QueryNode | None:
        kind, value = self.tokens[self.i]
        if kind == "NOT" or (kind == "word" and value.startswith("-") and len(value) > 1):
            if kind == "NOT":
                self.take()
                if self.peek() in (None, "OR", "AND", "rparen"):
                    return self._word("NOT")
                node = self.parse_unary(depth)
            else:
                self.take()
                node = self._word(value[1:])
            return Not(node) if node is not None else None
        return self.parse_primary(depth)

    def parse_primary(self, depth: int, scope: str | None = None) -> QueryNode | None:
        kind, value = self.take()
        if kind == "lparen":
            if depth >= MAX_DEPTH:
                return None  # flattened: its words are read at this level
            node = self.parse_or(depth + 1)
            if self.peek() == "rparen":
                self.take()
            return _scoped(node, scope)
        if kind == "phrase":
            return self._clause(Phrase(value[1:-1].strip(), scope)) if value.strip('" ') else None
        if kind == "field" and scope is None:
            if self.peek() in ("word", "phrase", "lparen"):
                return self.parse_primary(depth, scope=value[:-1])
            return self._word(value)
        if kind == "word" and value == '"':
            return None  # an unbalanced quote
        return self._word(value, scope)

    def _word(self, text: str, scope: str | None = None) -> Word | None:
        text = text.strip('"')
        return self._clause(Word(text, scope)) if text else None

    def _clause(self, node: _N) -> _N | None:
        if self.clauses >= MAX_CLAUSES:
            self.dropped += 1
            return None
        self.clauses += 1
        return node


def _scoped(node: QueryNode | None, scope: str | None) -> QueryNode | None:
    """Apply a field scope to every word and phrase of a (group)."""
    if scope is None or node is None:
        return node
    if isinstance(node, (Word, Phrase)):
        node.field = node.field or scope
    elif isinstance(node, Not):
        _scoped(node.node, scope)
    else:
        for child in node.nodes:
            _scoped(child, scope)
    return node


def parse(text: str) -> ParsedQuery:
    parser = _Parser(_lex(text or ""))
    root: QueryNode | None = None
    while parser.i < len(parser.tokens):
        node = parser.parse_or(0)
        if node is not None:
            root = node if root is None else And(_flatten(root) + [node])
        if parser.peek() is not None:
            parser.take()  # skip what could not start an expression
    return ParsedQuery(root, parser.dropped)


def _flatten(node: QueryNode) -> list[QueryNode]:
    return node.nodes if isinstance(node, And) else [node]
