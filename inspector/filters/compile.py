"""The filter language: one small query language for the dashboard, the CLI and the tap.

Text is parsed once into a tree of closures, so a filter costs a few hundred nanoseconds
per flow and can be re-run over the whole buffer on every keystroke. Like mitmproxy's
`~m POST & ~s 500`, but with `key:value` words people already type into GitHub and
Gmail search boxes:

    method:POST status:5xx -path:/health      (space = and; `-` or `not` negates)
    (type:ws or type:sse) body:"two words"     (`or` / `|` binds looser than and)
    duration:>100ms size:1kb-2mb header:x-request-id=abc

Matching is pure and never raises: a flow missing a field (an open flow's duration, a
WebSocket's status) fails the term, so `-term` matches it. Nothing here does I/O or
imports a UI. The grammar is summarised in `GRAMMAR` below; tests/inspector/filters/test_filters.py
pins every rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from inspector.filters.terms import KEY_PREFIX, KEYS, TERMS, url_term
from inspector.filters.words import Fault, FilterError, Predicate, Token, Word, caret_line, lex
from inspector.flows.model import Flow

__all__ = ["Filter", "FilterError", "GRAMMAR", "KEYS", "MAX_DEPTH", "caret_line",
           "compile_filter"]

GRAMMAR = """\
filter := or | nothing                     blank matches every flow
or     := and (("or" | "|") and)*          loosest
and    := unary (["and"] unary)*           a space means "and"
unary  := ("-" | "not") unary | "(" or ")" | term     "-" touches its term: -path:/x
term   := key ":" value | value            a bare value searches the URL
value  := text and "quoted \\"text\\"" glued together; a leading unquoted ~ makes a regex
"""

MAX_DEPTH = 64   # nested parentheses; the parser and the closures recurse once per level



# -- the tree -------------------------------------------------------------------------------

@dataclass(slots=True)
class _Term:
    source: str                # as written, quotes included
    pred: Predicate
    cost: int


@dataclass(slots=True)
class _Not:
    child: _Node


@dataclass(slots=True)
class _And:
    children: list[_Node] = field(default_factory=list)


@dataclass(slots=True)
class _Or:
    children: list[_Node] = field(default_factory=list)


_Node = _Term | _Not | _And | _Or


def _term(text: str, word: Word) -> _Term:
    source = text[word.start:word.end]
    key = KEY_PREFIX.match(word.text)
    # `http://host/x` is a URL, not key "http"; quoting any part of the key makes it text.
    if key is None or any(word.quoted[:key.end()]) or word.text.startswith("//", key.end()):
        return _Term(source, url_term(word), 6 + 2 * word.marked("~"))
    name = word.text[:key.end() - 1].lower()
    spec = TERMS.get(name)
    if spec is None:
        raise Fault(word.start, f"unknown key '{name}:'; use {', '.join(KEYS)} "
                                 f"(or quote the word to match URLs)")
    colon = word.cols[key.end() - 1]
    value = word.tail(key.end(), colon + 1)
    if not value.text and text[colon + 1:colon + 2] != '"':
        raise Fault(word.start, f"'{name}:' needs a value, like {spec.example}")
    return _Term(source, spec.build(value), spec.cost + 2 * value.marked("~"))


_ENDS = {"or", "|", "and", ")"}


class _Parser:
    """Recursive descent over tokens: or < and < unary; errors name the operator at fault."""

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> _Node | None:
        if not self.tokens:
            return None
        node = self.or_()
        stray = self.peek()
        if stray is not None:   # or_() stops early only at a ")"
            raise Fault(stray.col, "')' without a matching '('")
        return node

    def operand_after(self, op: Token) -> None:
        after = self.peek()
        if after is None or after.kind in _ENDS:
            raise Fault(op.col, f"'{op.kind}' needs a term after it")

    def or_(self) -> _Node:
        children = [self.and_()]
        while (op := self.peek()) is not None and op.kind in ("or", "|"):
            self.i += 1
            self.operand_after(op)
            children.append(self.and_())
        return children[0] if len(children) == 1 else _Or(_flat(_Or, children))

    def and_(self) -> _Node:
        children = [self.unary()]
        while (op := self.peek()) is not None and op.kind not in ("or", "|", ")"):
            if op.kind == "and":
                self.i += 1
                self.operand_after(op)
            children.append(self.unary())
        return children[0] if len(children) == 1 else _And(_flat(_And, children))

    def unary(self) -> _Node:
        negations = 0
        while (op := self.peek()) is not None and op.kind in ("-", "not"):
            self.i += 1
            self.operand_after(op)
            negations += 1
        tok = self.peek()
        assert tok is not None   # callers and operand_after() saw a token here
        if tok.kind == ")":
            raise Fault(tok.col, "')' without a matching '('")
        if tok.kind in _ENDS:
            raise Fault(tok.col, f"'{tok.kind}' needs a term before it")
        node = self.atom(tok)
        return _Not(node) if negations % 2 else node

    def atom(self, tok: Token) -> _Node:
        self.i += 1
        if tok.word is not None:
            return _term(self.text, tok.word)
        # tok is "(": the lexer makes no other token kind that gets here.
        if self.depth >= MAX_DEPTH:
            raise Fault(tok.col, f"more than {MAX_DEPTH} nested parentheses")
        after = self.peek()
        if after is None:
            raise Fault(tok.col, "unclosed '('")
        if after.kind == ")":
            raise Fault(tok.col, "empty parentheses")
        self.depth += 1
        node = self.or_()
        self.depth -= 1
        if self.peek() is None:
            raise Fault(tok.col, "unclosed '('")
        self.i += 1   # the ")"
        return node


def _flat(kind: type[_And | _Or], children: list[_Node]) -> list[_Node]:
    out: list[_Node] = []
    for child in children:
        out.extend(child.children if isinstance(child, kind) else [child])
    return out


def _render(node: _Node) -> str:
    """Canonical text: every and/or spelled out, every group parenthesised."""
    if isinstance(node, _Term):
        return node.source
    if isinstance(node, _Not):
        inner = _render(node.child)
        return "-" + inner if isinstance(node.child, _Term) else f"-({inner})"
    joiner = " and " if isinstance(node, _And) else " or "
    return joiner.join(f"({_render(c)})" if isinstance(c, (_And, _Or)) else _render(c)
                       for c in node.children)


def _compile(node: _Node) -> tuple[Predicate, int]:
    """The node as one closure, and its cost. Predicates are pure and never raise, so
    and/or may test their children cheapest first without changing the result."""
    if isinstance(node, _Term):
        return node.pred, node.cost
    if isinstance(node, _Not):
        pred, cost = _compile(node.child)
        return (lambda f: not pred(f)), cost
    parts = sorted((_compile(child) for child in node.children), key=lambda part: part[1])
    preds = [pred for pred, _ in parts]
    cost = sum(c for _, c in parts)
    if isinstance(node, _And):
        if len(preds) == 2:
            a, b = preds
            return (lambda f: a(f) and b(f)), cost
        if len(preds) == 3:
            a, b, c = preds
            return (lambda f: a(f) and b(f) and c(f)), cost

        def every(f: Flow) -> bool:
            for pred in preds:
                if not pred(f):
                    return False
            return True
        return every, cost
    if len(preds) == 2:
        a, b = preds
        return (lambda f: a(f) or b(f)), cost
    if len(preds) == 3:
        a, b, c = preds
        return (lambda f: a(f) or b(f) or c(f)), cost

    def some(f: Flow) -> bool:
        for pred in preds:
            if pred(f):
                return True
        return False
    return some, cost


def _everything(flow: Flow) -> bool:
    return True


class Filter:
    """A compiled filter: `flt(flow) -> bool`. Immutable and pure, so one serves every view."""

    __slots__ = ("_pred", "canonical", "text")

    def __init__(self, text: str, tree: _Node | None) -> None:
        self.text = text
        self.canonical = "" if tree is None else _render(tree)   # "a b or c" -> "(a and b) or c"
        self._pred = _everything if tree is None else _compile(tree)[0]

    def __call__(self, flow: Flow) -> bool:
        return self._pred(flow)

    @property
    def matches_all(self) -> bool:
        """True for a blank filter, so a view can skip filtering altogether."""
        return self._pred is _everything

    def select(self, flows: Iterable[Flow]) -> list[Flow]:
        """The matching flows, in order; faster than calling the filter in a loop."""
        return list(flows) if self._pred is _everything else list(filter(self._pred, flows))

    def __repr__(self) -> str:
        return f"Filter({self.text!r})"


def compile_filter(text: str) -> Filter:
    """Parse `text` once into a `Filter`; a blank text matches every flow.

    Raises FilterError (a ValueError) with the column of the first fault found.
    """
    try:
        return Filter(text, _Parser(text, lex(text)).parse())
    except Fault as fault:
        raise FilterError(text, fault.column, fault.reason) from None
