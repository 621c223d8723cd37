"""Filter language, the words: errors that point at a column, and the lexer.

See `inspector.filters.compile` for the language itself.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from inspector.flows.model import Flow
from inspector.text import visible

Predicate = Callable[[Flow], bool]


class FilterError(ValueError):
    """Filter text that does not parse, and where: `column` is a 0-based index into `text`.

    The message counts columns from 1, as editors and compilers do, so
    `status:>=4x0` says "column 8" while `.column` is 7.
    """

    def __init__(self, text: str, column: int, reason: str) -> None:
        super().__init__(f"column {column + 1}: {reason}")
        self.text = text
        self.column = column
        self.reason = reason

    def __reduce__(self) -> tuple[type[FilterError], tuple[str, int, str]]:
        return FilterError, (self.text, self.column, self.reason)   # survives pickling


def caret_line(text: str, column: int) -> str:
    """`text` over a `^` under `column`, for a terminal: controls escaped, wide chars 2 cells."""
    shown: list[str] = []
    offset = 0
    for i, char in enumerate(text):
        cell = visible(char)
        shown.append(cell)
        if i < column:
            offset += sum(0 if unicodedata.combining(c) else
                          2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in cell)
    return "".join(shown) + "\n" + " " * offset + "^"


class Fault(Exception):
    """Raised inside the parser; `compile_filter` turns it into a FilterError with the text."""

    def __init__(self, column: int, reason: str) -> None:
        self.column = column
        self.reason = reason


# -- lexing ---------------------------------------------------------------------------------

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_OPERATORS = {"or", "and", "not"}


@dataclass(frozen=True, slots=True)
class Word:
    """A word after unquoting, with each character's source column and whether it was quoted.

    The columns let any later stage (a bad unit, a regex error) point into the source; the
    quoted flags let `"~x"` and `"a:b"` stay literal.
    """

    text: str
    cols: tuple[int, ...]
    quoted: tuple[bool, ...]
    start: int                 # source column where the word begins
    end: int                   # source column just after it

    def col(self, i: int) -> int:
        return self.cols[i] if i < len(self.cols) else self.end

    def tail(self, i: int, start: int) -> Word:
        return Word(self.text[i:], self.cols[i:], self.quoted[i:], start, self.end)

    def marked(self, char: str) -> bool:
        """Whether the word starts with an unquoted `char`."""
        return self.text[:1] == char and not self.quoted[0]


@dataclass(frozen=True, slots=True)
class Token:
    kind: str                  # "(", ")", "|", "-", "or", "and", "not", "word"
    col: int
    word: Word | None = None


def lex(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()|":
            tokens.append(Token(char, i))
            i += 1
        elif char == "-":
            after = text[i + 1:i + 2]
            if not after or after.isspace() or after in ")|":
                raise Fault(i, "'-' needs a term right after it, like -status:2xx")
            tokens.append(Token("-", i))
            i += 1
        else:
            word = lex_word(text, i)
            i = word.end
            lowered = word.text.lower()
            if lowered in _OPERATORS and not any(word.quoted):
                tokens.append(Token(lowered, word.start))
            else:
                tokens.append(Token("word", word.start, word))
    return tokens


def lex_word(text: str, i: int) -> Word:
    """Unquoted runs and quoted strings glued together, up to whitespace, ( ) or |.

    A "(" inside a word (not first) is text, and so are "|" and its matching ")" after
    it, so regexes such as path:~^/(v1|v2)/ need no quotes, while (a b) still groups.
    Such a "(" must close within the word, so a word never swallows a group's ")"; and
    `not(`, `or(`, `and(` are still the operator and a group.
    """
    start, n = i, len(text)
    chars: list[str] = []
    cols: list[int] = []
    quoted: list[bool] = []
    opened: list[int] = []     # columns of the word's own unclosed "("
    while i < n:
        char = text[i]
        if char == "(" and i > start:
            if text[start:i].lower() in _OPERATORS:
                break
            opened.append(i)
        elif char == ")" and opened:
            opened.pop()
        elif char.isspace() or char in "()|" and not (opened and char == "|"):
            break
        if char != '"':
            chars.append(char)
            cols.append(i)
            quoted.append(False)
            i += 1
            continue
        opening = i
        i += 1
        while True:
            if i >= n:
                raise Fault(opening, "unclosed quote")
            char = text[i]
            if char == '"':
                i += 1
                break
            escaped = _ESCAPES.get(text[i + 1:i + 2]) if char == "\\" else None
            # Unknown escapes keep their backslash, so a quoted regex like "\d+" works.
            chars.append(char if escaped is None else escaped)
            cols.append(i)
            quoted.append(True)
            i += 1 if escaped is None else 2
    if opened:
        raise Fault(opened[0], "unclosed '(' inside a word; quote the value if it is text")
    return Word("".join(chars), tuple(cols), tuple(quoted), start, i)
