"""Filter language, the terms: what each `key:value` matches, compiled to a closure.

See `inspector.filters.compile` for the language itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from inspector.filters.words import Fault, Predicate, Word
from inspector.flows.model import (
    APP_EXCEPTION,
    CLIENT_DISCONNECTED,
    ENDINGS,
    INCOMPLETE,
    Flow,
)

Test = Callable[[float], bool]
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_COMPARE = re.compile(r"[<>]=?|=")
_TESTS: dict[str, Callable[[float], Test]] = {
    ">": lambda x: lambda v: v > x, ">=": lambda x: lambda v: v >= x,
    "<": lambda x: lambda v: v < x, "<=": lambda x: lambda v: v <= x,
    "=": lambda x: lambda v: v == x,
}


def _between(lo: float, hi: float) -> Test:
    return lambda v: lo <= v <= hi


# Exact factors, so 50ms is the float nearest 0.05 and duration:=50ms can match.
_DURATION_UNITS = {"us": Fraction(1, 10**6), "µs": Fraction(1, 10**6), "ms": Fraction(1, 1000),
                   "s": Fraction(1), "m": Fraction(60)}
_SIZE_UNITS = {"b": Fraction(1), "kb": Fraction(10**3), "mb": Fraction(10**6),
               "gb": Fraction(10**9), "kib": Fraction(1 << 10), "mib": Fraction(1 << 20),
               "gib": Fraction(1 << 30)}


def _regex(word: Word) -> re.Pattern[str]:
    try:
        return re.compile(word.text, re.IGNORECASE)
    except re.error as exc:
        raise Fault(word.col(exc.pos or 0), f"bad regular expression: {exc.msg}") from None
    except (OverflowError, RecursionError) as exc:   # a{99999999999}, deep nesting
        raise Fault(word.start, f"bad regular expression: {exc}") from None


def _text_test(value: Word) -> Callable[[str], bool]:
    """Case-insensitive substring, or a regex (also case-insensitive) after an unquoted ~."""
    if value.marked("~"):
        search = _regex(value.tail(1, value.col(1))).search
        return lambda s: search(s) is not None
    needle = value.text.lower()
    return lambda s: needle in s.lower()


def _bytes_test(value: Word) -> Callable[[bytes], bool]:
    """`_text_test` for bytes, without decoding when the needle is ASCII.

    bytes.lower() folds ASCII only and costs less than the search itself, so nothing is
    cached: flows grow live and a cache would go stale.
    """
    if value.marked("~"):
        search = _regex(value.tail(1, value.col(1))).search
        return lambda b: search(b.decode("utf-8", "replace")) is not None
    needle = value.text.lower()
    if not needle.isascii():
        return lambda b: needle in b.decode("utf-8", "replace").lower()
    raw = needle.encode("ascii")
    # find(), not `in`: bytes.__contains__ first tries the needle as an int and builds a
    # TypeError, as long again as a short header test.
    if raw.upper() == raw:     # no letters: case cannot matter
        return lambda b: b.find(raw) >= 0
    return lambda b: b.lower().find(raw) >= 0


def _quantity(value: Word, i: int, j: int, units: dict[str, Fraction], default: Fraction,
              what: str, example: str) -> float:
    """The number and optional unit in value.text[i:j]."""
    number = _NUMBER.match(value.text, i, j)
    if number is None:
        raise Fault(value.col(i), f"expected a {what} like {example}")
    unit = value.text[number.end():j]
    factor = units.get(unit.lower()) if unit else default
    if factor is None:
        raise Fault(value.col(number.end()),
                     f"unknown {what} unit '{unit}'; use {', '.join(units)}")
    try:
        return float(Fraction(number.group()) * factor)
    except (ValueError, OverflowError):   # past 4300 digits, or past a float's range
        raise Fault(value.col(i), f"{what} too large") from None


def _comparison(value: Word, units: dict[str, Fraction], default: Fraction, what: str,
                example: str, bare: bool) -> Test:
    """`>x`, `>=x`, `<x`, `<=x`, `=x`, `x-y` (inclusive) and, if `bare`, `x` meaning `=x`."""
    text = value.text
    op = _COMPARE.match(text)
    if op is not None:
        x = _quantity(value, op.end(), len(text), units, default, what, example)
        return _TESTS[op.group()](x)
    dash = text.find("-")
    if dash > 0:
        lo = _quantity(value, 0, dash, units, default, what, example)
        hi = _quantity(value, dash + 1, len(text), units, default, what, example)
        if lo > hi:
            raise Fault(value.start, f"empty range: {text[:dash]} is above {text[dash + 1:]}")
        return _between(lo, hi)
    if not bare:
        raise Fault(value.start, f"expected a comparison like {example}")
    return _TESTS["="](_quantity(value, 0, len(text), units, default, what, example))


_STATUS = re.compile(r"(?:([<>]=?|=)?([0-9]{3})|([0-9])([0-9x])x|([0-9]{3})-([0-9]{3}))",
                     re.IGNORECASE)


def _status(value: Word) -> Predicate:
    m = _STATUS.fullmatch(value.text)
    if m is None:
        raise Fault(value.start, "expected a status like 404, 4xx or >=400")
    op, code, hundreds, tens, lo_text, hi_text = m.groups()
    # Statuses are integers, so every form is one inclusive range: one closure, no call.
    lo: float
    hi: float
    if code is not None:
        lo = hi = int(code)
        if op in (">", ">="):
            lo, hi = lo + (op == ">"), float("inf")
        elif op in ("<", "<="):
            lo, hi = float("-inf"), hi - (op == "<")
    elif hundreds is not None:
        lo = int(hundreds) * 100 + (0 if tens in "xX" else int(tens) * 10)
        hi = lo + (99 if tens in "xX" else 9)
    else:
        lo, hi = int(lo_text), int(hi_text)
        if lo > hi:
            raise Fault(value.start, f"empty range: {lo_text} is above {hi_text}")

    def status(f: Flow) -> bool:
        s = f.status
        return s is not None and lo <= s <= hi
    return status


def _method(value: Word) -> Predicate:
    method = value.text.upper()
    size = len(method)

    def same(f: Flow) -> bool:
        m = f.method
        return m == method or (len(m) == size and m.upper() == method)
    return same


def _path(value: Word) -> Predicate:
    test = _text_test(value)
    return lambda f: test(f.path)


def _host(value: Word) -> Predicate:
    """The Host header, else the server address: the host `Flow.url` shows."""
    test_bytes = _bytes_test(value)
    test_text = _text_test(value)

    def host(f: Flow) -> bool:
        for n, v in f.request_headers:
            if n == b"host" or (len(n) == 4 and n.lower() == b"host"):
                return test_bytes(v)
        return test_text(f"{f.server[0]}:{f.server[1]}" if f.server else "")
    return host


def _header(value: Word) -> Predicate:
    eq = value.text.find("=")
    name = (value.text if eq < 0 else value.text[:eq]).strip().lower().encode()
    if not name:
        raise Fault(value.start, "expected a header name, like header:x-request-id=abc")
    size = len(name)
    if eq < 0:
        def present(f: Flow) -> bool:
            for headers in (f.request_headers, f.response_headers, f.response_trailers):
                for n, _ in headers:
                    if n == name or (len(n) == size and n.lower() == name):
                        return True
            return False
        return present
    test = _bytes_test(value.tail(eq + 1, value.col(eq + 1)))

    def has_value(f: Flow) -> bool:
        for headers in (f.request_headers, f.response_headers, f.response_trailers):
            for n, v in headers:
                if (n == name or (len(n) == size and n.lower() == name)) and test(v):
                    return True
        return False
    return has_value


def _body(value: Word) -> Predicate:
    test_bytes = _bytes_test(value)
    test_text = _text_test(value)

    def body(f: Flow) -> bool:
        if test_bytes(f.request_body) or test_bytes(f.response_body):
            return True
        for m in f.messages:
            if m.text is not None:
                if test_text(m.text):
                    return True
            elif m.data is not None and test_bytes(m.data):
                return True
        return False
    return body


_TYPES: dict[str, Predicate] = {
    "http": lambda f: f.type == "http",
    "ws": lambda f: f.type == "websocket",
    "websocket": lambda f: f.type == "websocket",
    "sse": lambda f: f.type == "http" and f.is_sse,
    "lifespan": lambda f: f.type == "lifespan",
}


def _type(value: Word) -> Predicate:
    pred = _TYPES.get(value.text.lower())
    if pred is None:
        raise Fault(value.start, f"unknown type '{value.text}'; use {', '.join(_TYPES)}")
    return pred


def _is_error(f: Flow) -> bool:
    return f.exception is not None or f.state in (APP_EXCEPTION, INCOMPLETE) \
        or (f.status is not None and f.status >= 500)


def _ended(state: str) -> Predicate:
    return lambda f: f.state == state


_STATES: dict[str, Predicate] = {
    **{state: _ended(state) for state in ENDINGS},
    "disconnected": _ended(CLIENT_DISCONNECTED),
    "exception": _ended(APP_EXCEPTION),
    "raised": lambda f: f.exception is not None,
    "error": _is_error,
}


def _state(value: Word) -> Predicate:
    pred = _STATES.get(value.text.lower())
    if pred is None:
        raise Fault(value.start, f"unknown state '{value.text}'; use {', '.join(_STATES)}")
    return pred


def _timing(attribute: str) -> Callable[[Word], Predicate]:
    def build(value: Word) -> Predicate:
        test = _comparison(value, _DURATION_UNITS, Fraction(1, 1000), "duration",
                           ">100ms, <=2s or 100ms-1s", bare=False)
        if attribute == "duration":
            return lambda f: f.end is not None and test(f.end - f.start)
        return lambda f: f.response_start is not None and test(f.response_start - f.start)
    return build


def _size(direction: str) -> Callable[[Word], Predicate]:
    """Body bytes for HTTP; for a WebSocket, the bytes of its messages that way
    (`Flow.request_size` / `Flow.response_size`)."""
    def build(value: Word) -> Predicate:
        test = _comparison(value, _SIZE_UNITS, Fraction(1), "size",
                           ">1mb, <=10kib or 1kb-2mb", bare=True)
        if direction == "out":
            return lambda f: test(f.response_size)
        return lambda f: test(f.request_size)
    return build


# Findings and timeline terms read `Flow.analysis` (attached by `inspector.findings.analyse`
# where the events are at hand); a flow without one fails them, like a missing field.
_FINDING_LEVELS = {"error": 2, "warning": 1, "info": 0, "any": 0}


def _finding(value: Word) -> Predicate:
    """finding:error / finding:warning (or worse) / finding:info / finding:any."""
    rank = _FINDING_LEVELS.get(value.text.lower())
    if rank is None:
        raise Fault(value.start, f"unknown severity '{value.text}'; use "
                                 f"{', '.join(_FINDING_LEVELS)}")
    names = ("info", "warning", "error")[rank:]

    def finding(f: Flow) -> bool:
        analysis = f.analysis
        if analysis is None:
            return False
        for found in analysis.findings:
            if found.severity in names:
                return True
        return False
    return finding


def _rule(value: Word) -> Predicate:
    """rule:HM001, or a prefix of ids: rule:HM (every HTTP state machine rule)."""
    wanted = value.text.upper()

    def rule(f: Flow) -> bool:
        analysis = f.analysis
        if analysis is None:
            return False
        for found in analysis.findings:
            if found.rule.startswith(wanted):
                return True
        return False
    return rule


def _metric(name: str) -> Callable[[Word], Predicate]:
    """background:>100ms, wasted:>1s: a timeline metric, with the duration comparisons."""
    def build(value: Word) -> Predicate:
        test = _comparison(value, _DURATION_UNITS, Fraction(1, 1000), "duration",
                           ">100ms, <=2s or 100ms-1s", bare=False)

        def metric(f: Flow) -> bool:
            analysis = f.analysis
            if analysis is None:
                return False
            v = getattr(analysis.metrics, name)
            return v is not None and test(v)
        return metric
    return build


def _source(value: Word) -> Predicate:
    test = _text_test(value)
    return lambda f: test(f.source)


@dataclass(frozen=True, slots=True)
class _Key:
    build: Callable[[Word], Predicate]
    cost: int          # rough relative cost; cheap terms run first inside and/or
    example: str


TERMS: dict[str, _Key] = {
    "method": _Key(_method, 1, "method:POST"),
    "status": _Key(_status, 1, "status:5xx"),
    "type": _Key(_type, 1, "type:ws"),
    "state": _Key(_state, 1, "state:error"),
    "source": _Key(_source, 2, "source:worker-1"),
    "duration": _Key(_timing("duration"), 2, "duration:>100ms"),
    "ttfb": _Key(_timing("ttfb"), 2, "ttfb:>50ms"),
    "size": _Key(_size("out"), 2, "size:>1mb"),
    "reqsize": _Key(_size("in"), 2, "reqsize:>1mb"),
    "path": _Key(_path, 3, "path:/api"),
    "host": _Key(_host, 4, "host:example.com"),
    "header": _Key(_header, 5, "header:x-request-id"),
    "body": _Key(_body, 20, 'body:"two words"'),
    "finding": _Key(_finding, 3, "finding:error"),
    "rule": _Key(_rule, 3, "rule:HM001"),
    "background": _Key(_metric("background"), 3, "background:>100ms"),
    "wasted": _Key(_metric("wasted"), 3, "wasted:>1s"),
}
KEYS: tuple[str, ...] = tuple(sorted(TERMS))
KEY_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_]*:")


def url_term(value: Word) -> Predicate:
    test = _text_test(value)
    return lambda f: test(f.url)
