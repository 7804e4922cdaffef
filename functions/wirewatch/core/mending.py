"""Repairs of real-world feed bytes that would otherwise cost a whole feed.

- A UTF-8 feed with a few invalid bytes (an item pasted in from windows-1252, a
  cut multi-byte sequence) makes feedparser decode the *whole* document as
  windows-1252, and every accented title becomes mojibake ("arrÃªtÃ©s"). Here
  the document is decoded as UTF-8 and only the invalid bytes are read as
  windows-1252 (or U+FFFD where that code page has no character).
- A declaration of UTF-16 or UTF-32 on a body that has neither a BOM nor the NUL
  bytes of a wide encoding (.NET's StringWriter writes "utf-16" on UTF-8 output)
  makes feedparser refuse the whole feed; such a body is read as UTF-8.
- ISO-8859-1 and US-ASCII labels are read as windows-1252, as browsers read them
  (the WHATWG Encoding Standard): publishers who say Latin-1 write "…" and "’"
  from the code page, and feedparser would take 0x85 for a line break.
- A character reference to a surrogate (``&#xD800;``) makes feedparser fail on
  the whole feed; an emoji written as a pair of them (``&#xD83D;&#xDE00;``) is
  common. Pairs become the one character they stand for, lone ones U+FFFD.
"""

from __future__ import annotations

import codecs
import re

_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_UTF8_NAMES = frozenset({"utf-8", "utf8"})
_WIDE_NAME = re.compile(r"(?:utf|ucs)-?(?:16|32|2|4)(?:[-_]?[lb]e)?", re.IGNORECASE)
# The labels the WHATWG Encoding Standard reads as windows-1252.
_LATIN1_NAMES = frozenset(
    {"ascii", "us-ascii", "iso-8859-1", "iso8859-1", "iso88591", "iso_8859-1", "iso-ir-100", "latin1", "l1"}
    | {"csisolatin1", "cp819", "ibm819", "iso_8859-1:1987", "x-cp1252", "cp1252", "windows-1252", "ansi_x3.4-1968"}
)
_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_REFERENCE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")
_HIGH = range(0xD800, 0xDC00)
_LOW = range(0xDC00, 0xE000)


def _windows_1252_bytes(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start : error.end]
    return bad.decode("cp1252", errors="replace"), error.end


codecs.register_error("wirewatch-cp1252", _windows_1252_bytes)


def mend(body: bytes, content_type: str | None) -> tuple[bytes, list[str]]:
    """The body with its invalid UTF-8 bytes (if it is UTF-8) and surrogate references
    repaired, and what was repaired, for the feed's problems."""
    if body.startswith(_WIDE_BOMS) or b"\x00" in body[:4]:
        # UTF-16 or UTF-32, with a BOM or without (XML's "<" is then next to a NUL, which
        # no other encoding of a document has): references and markup are not
        # byte-for-byte ASCII there.
        return body, []
    problems = []
    body, relabelled = _relabelled(body)
    if relabelled:
        problems.append(relabelled)
    if _meant_as_utf8(body, content_type):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"encoding: bytes that are not UTF-8 (first at {exc.start}) read as windows-1252")
            body = body.decode("utf-8", errors="wirewatch-cp1252").encode("utf-8")
    if b"&#" in body:
        mended = _mend_references(body)
        if mended != body:
            problems.append("character references to surrogates replaced")
            body = mended
    return body, problems


def _declaration(body: bytes) -> re.Match[bytes] | None:
    """The XML declaration's encoding, positioned in ``body`` (after a UTF-8 BOM)."""
    offset = len(codecs.BOM_UTF8) if body.startswith(codecs.BOM_UTF8) else 0
    return _DECLARED.match(body, offset, offset + 200)


def _relabelled(body: bytes) -> tuple[bytes, str]:
    """The body with its declared encoding replaced where it cannot be, or is read
    otherwise than, what it says; and the problem to report, "" if none."""
    declared = _declaration(body)
    if declared is None:
        return body, ""
    name = declared.group(1).decode("ascii")
    if _WIDE_NAME.fullmatch(name):
        replacement, problem = b"utf-8", f"encoding: declared {name} without a BOM or wide characters; read as UTF-8"
    elif name.lower() in _LATIN1_NAMES and name.lower() not in {"windows-1252", "cp1252"} and _reads_as_1252(body):
        replacement, problem = b"windows-1252", ""
    else:
        return body, ""
    return body[: declared.start(1)] + replacement + body[declared.end(1) :], problem


def charset_read_as(content_type: str | None, body: bytes) -> str | None:
    """``content_type`` with a Latin-1 or ASCII charset read as windows-1252, as browsers do,
    if the document declares no encoding of its own. Where it does, feedparser weighs the
    two (Apache's default ISO-8859-1 on a document declaring UTF-8) and is left to."""
    if not content_type or _declaration(body):
        return content_type
    media, separator, charset = content_type.lower().partition("charset=")
    label = charset.strip(" \"';")
    if separator and label in _LATIN1_NAMES and _reads_as_1252(body):
        return f"{content_type[: len(media)]}charset=windows-1252"
    return content_type


def _reads_as_1252(body: bytes) -> bool:
    """Whether Python's windows-1252 decodes ``body``: it has no character for five bytes
    (0x81, 0x8D, 0x8F, 0x90, 0x9D) that Latin-1 reads, and feedparser would fall back
    to another code page for the whole document."""
    try:
        body.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def _meant_as_utf8(body: bytes, content_type: str | None) -> bool:
    """The document says UTF-8, or says nothing and the header says nothing else."""
    declared = _declaration(body)
    if declared:
        return declared.group(1).decode("ascii").lower() in _UTF8_NAMES
    charset = (content_type or "").lower().partition("charset=")[2].strip(" \"';")
    return not charset or charset in _UTF8_NAMES


def _mend_references(body: bytes) -> bytes:
    parts: list[bytes] = []
    last = 0
    matches = list(_REFERENCE.finditer(body))
    skip_next = False
    for index, found in enumerate(matches):
        if skip_next:
            skip_next = False
            continue
        value = _value(found)
        if value not in _HIGH and value not in _LOW:
            continue
        replacement = 0xFFFD
        following = matches[index + 1] if index + 1 < len(matches) else None
        if value in _HIGH and following is not None and following.start() == found.end():
            low = _value(following)
            if low in _LOW:
                replacement = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                skip_next = True
        parts += [body[last : found.start()], b"&#x%X;" % replacement]
        last = matches[index + 1].end() if skip_next else found.end()
    parts.append(body[last:])
    return b"".join(parts)


def _value(reference: re.Match[bytes]) -> int:
    hexadecimal, decimal = reference.groups()
    return int(hexadecimal, 16) if hexadecimal else int(decimal)


__all__ = ["charset_read_as", "mend"]
