"""What fetched bytes are, told from their first bytes: blank, binary, HTML or JSON.

The body decides, not the Content-Type: many publishers serve valid RSS as
``text/html`` or ``application/octet-stream``. A header only names what a body
that is no feed turned out to be.
"""

from __future__ import annotations

import codecs
import re

_HEAD_BYTES = 1024
# UTF-32 before UTF-16: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"%PDF-", "PDF document"),
    # A gzip body usually means a Content-Encoding nobody decoded, or a .gz URL.
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PK\x03\x04", "zip archive"),
    (b"PK\x05\x06", "zip archive"),
)
_BINARY_TYPES = re.compile(r"(?:image|audio|video)/|application/(?:pdf|zip|gzip|x-gzip)\b")
# NUL counts as blank: it is half of every character of a UTF-16 body.
_BLANK = re.compile(rb"[\s\x00]*")
# XHTML pages open with an XML declaration; comments and blanks may precede anything.
_HTML_START = re.compile(
    r"(?:\s|<!--.*?-->|<\?xml[^>]*>)*<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL
)


def head_text(body: bytes) -> str:
    """The body's first kilobyte as text, BOM dropped: enough to recognise a format.

    Without a BOM the bytes are read as Latin-1 with NULs dropped, which keeps the
    ASCII markup of any ASCII-compatible encoding and of BOM-less UTF-16.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) : len(bom) + _HEAD_BYTES].decode(codec, "ignore")
    return body[:_HEAD_BYTES].replace(b"\x00", b"").decode("latin-1")


def refusal(body: bytes, head: str, content_type: str | None) -> str | None:
    """Why the body cannot be a feed whatever a parser makes of it, or None if it may be."""
    if _is_blank(body):
        return "empty body"
    for magic, name in _MAGIC:
        if body.startswith(magic):
            return f"{name}, not a feed"
    media = media_type(content_type)
    if _BINARY_TYPES.match(media) and not head.lstrip().startswith(("<", "{")):
        return f"{media} content, not a feed"
    return None


def is_json(head: str, content_type: str | None) -> bool:
    """A JSON body, or one served as JSON that does not start like XML."""
    first = head.lstrip()[:1]
    if first in ("{", "["):
        return True
    media = media_type(content_type)
    return (media == "application/json" or media.endswith("+json")) and first != "<"


def looks_like_html(head: str) -> bool:
    """The body starts like an HTML page: a doctype, ``<html>``, ``<head>`` or ``<body>``."""
    return _HTML_START.match(head) is not None


def media_type(content_type: str | None) -> str:
    """``Text/HTML; charset=UTF-8`` → ``text/html``; no header → ``""``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_blank(body: bytes) -> bool:
    for bom, _ in _BOMS:
        if body.startswith(bom):
            return _BLANK.fullmatch(body, len(bom)) is not None
    return _BLANK.fullmatch(body) is not None
