"""Bodies shown by type: JSON pretty-printed, forms decoded, text, hex, images summarised.

Pure (no Textual): `render_body` turns bytes and headers into `BodyView` lines, plain
strings that the viewer makes safe (`visible`) and highlights one visible line at a time.
Lines are built lazily where that matters: a hex dump is a sequence that formats a line
when asked, so a 1 MiB binary body costs nothing until it is scrolled.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload
from urllib.parse import parse_qsl

from inspector.text import human_size

HEX_WIDTH = 16
LONG_LINE = 2000        # text lines longer than this are split (the viewer does not wrap)
PRETTY_LIMIT = 4 << 20  # bigger JSON is shown as text: pretty-printing it would stall
INFLATE_LIMIT = 8 << 20


class HexLines(Sequence[str]):
    """A hex dump of `data`, one line per 16 bytes, formatted on demand."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __len__(self) -> int:
        return (len(self.data) + HEX_WIDTH - 1) // HEX_WIDTH

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        chunk = self.data[i * HEX_WIDTH:(i + 1) * HEX_WIDTH]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7f else "." for b in chunk)
        return f"{i * HEX_WIDTH:08x}  {hexes:<{HEX_WIDTH * 3 - 1}}  {text}"


@dataclass(frozen=True, slots=True)
class BodyView:
    """How to show a body: a one-line summary, the lines, and how to highlight them."""

    summary: str
    lines: Sequence[str]
    syntax: str = "text"            # "json", "text", "hex", "form", "none"


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    """The first value of header `name` (lower case), decoded as latin-1, or ""."""
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def split_long(lines: list[str], limit: int = LONG_LINE) -> list[str]:
    """Lines longer than `limit` cut into pieces (a minified body is one huge line)."""
    if all(len(line) <= limit for line in lines):
        return lines
    out: list[str] = []
    for line in lines:
        if len(line) <= limit:
            out.append(line)
        else:
            out.extend(line[i:i + limit] for i in range(0, len(line), limit))
    return out


def text_lines(text: str) -> list[str]:
    """`text` split into lines (a CR before LF dropped: CRLF is one line end), long ones cut."""
    lines = text.split("\n")
    if "\r" in text:
        lines = [line.removesuffix("\r") for line in lines]
    return split_long(lines)


def _inflate(data: bytes, encoding: str) -> bytes | None:
    try:
        if encoding in ("gzip", "x-gzip"):
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            d = zlib.decompressobj()
        else:
            return None
        return d.decompress(data, INFLATE_LIMIT)
    except zlib.error:
        return None


def _image_size(data: bytes, subtype: str) -> tuple[int, int] | None:
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data.startswith(b"\xff\xd8"):
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    return None
                marker = data[i + 1]
                length = struct.unpack(">H", data[i + 2:i + 4])[0]
                if marker in (0xC0, 0xC1, 0xC2):
                    h, w = struct.unpack(">HH", data[i + 5:i + 9])
                    return w, h
                i += 2 + length
    except struct.error:
        return None
    return None


def _is_text(data: bytes) -> bool:
    try:
        text = data[:8192].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(data[:8192]) - 4:   # not just a character cut at the sample's end
            return False
        text = data[:exc.start].decode("utf-8")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\r\n")
    return controls <= len(text) // 100


def _multipart(data: bytes, ctype: str) -> list[str]:
    boundary = ""
    for part in ctype.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        return []
    lines = []
    for n, chunk in enumerate(data.split(b"--" + boundary.encode("latin-1"))[1:], 1):
        if chunk.startswith(b"--"):
            break
        head, _, body = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        lines.append(f"part {n}: {human_size(len(body))}")
        lines.extend("  " + h.decode("latin-1") for h in head.split(b"\r\n") if h)
        if body and _is_text(body) and len(body) <= 2000:
            lines.extend("    " + line for line in body.decode("utf-8", "replace").split("\n"))
    return lines


def render_body(data: bytes, headers: list[tuple[bytes, bytes]], *, size: int,
                truncated: bool) -> BodyView:
    """`data` (the captured part of a body of `size` bytes) shown by its content type."""
    ctype = header(headers, b"content-type")
    media = ctype.split(";")[0].strip().lower()
    encoding = header(headers, b"content-encoding").strip().lower()
    notes = []
    if not data and not size:
        return BodyView("no body", [], "none")
    if truncated or len(data) < size:
        notes.append(f"cut at capture: {human_size(len(data))} of {human_size(size)} kept")
    if encoding and encoding != "identity":
        inflated = None if truncated else _inflate(data, encoding)
        if inflated is None:
            notes.insert(0, f"{encoding}-encoded, shown as captured")
        else:
            notes.insert(0, f"{encoding}-encoded {human_size(len(data))}, "
                            f"decoded {human_size(len(inflated))}")
            data = inflated

    def view(kind: str, lines: Sequence[str], syntax: str) -> BodyView:
        return BodyView("; ".join([f"{kind}, {human_size(size)}", *notes]), lines, syntax)

    if media.startswith("image/"):
        dims = _image_size(data, media)
        lines = [f"{media} image, {human_size(size)}"
                 + (f", {dims[0]}×{dims[1]} pixels" if dims else "")]
        return BodyView("; ".join([f"image, {human_size(size)}", *notes]), lines, "none")
    if media == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(data.decode("latin-1"), keep_blank_values=True)
        except ValueError:
            pairs = []
        if pairs:
            width = min(30, max(len(k) for k, _ in pairs))
            return view("form", [f"{k:<{width}} = {v}" for k, v in pairs], "form")
    if media.startswith("multipart/"):
        lines = _multipart(data, ctype)
        if lines:
            return view("multipart", lines, "text")
    if media.endswith(("json", "+json")) or (
            not media and data[:1] in (b"{", b"[")):
        if not truncated and len(data) <= PRETTY_LIMIT:
            try:
                obj = json.loads(data)
            except (ValueError, RecursionError):
                obj = ...
            if obj is not ...:
                pretty = json.dumps(obj, indent=2, ensure_ascii=False)
                return view("JSON", split_long(pretty.split("\n")), "json")
        if _is_text(data):
            text = data.decode("utf-8", "backslashreplace")
            return view("JSON (not parsed" + (": cut)" if truncated else ")"),
                        text_lines(text), "json")
    if media.startswith("text/") or media in ("application/xml", "application/javascript") \
            or media.endswith("+xml"):
        # Declared text: shown as text whatever it holds (controls are made visible).
        text = data.decode("utf-8", "backslashreplace")
        return view("text", text_lines(text), "text")
    if _is_text(data) and media not in ("application/octet-stream",):
        text = data.decode("utf-8", "backslashreplace")
        return view("text", text_lines(text), "text")
    return view("binary", HexLines(data), "hex")
