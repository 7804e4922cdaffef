"""A response body's content codings undone as it arrives, bounded, and checked complete.

urllib3 decodes gzip and deflate itself, but a compressed stream cut short ends there
as if it were whole: a feed truncated mid-item parsed as the feed, its ETag kept, and
its missing items never seen until the feed changes. zlib says whether a stream
reached its end, so the fetcher decodes with it. Only what the request offered
(``Accept-Encoding: gzip, deflate``) is decoded; another coding (``br``, ``zstd``)
is refused rather than parsed as a feed.
"""

from __future__ import annotations

import zlib
from typing import Final

from wirewatch.core.errors import FeedError

ACCEPTED: Final = "gzip, deflate"
_WINDOW_BITS: Final = {"gzip": 31, "x-gzip": 31, "deflate": 15}  # 31: gzip header; 15: zlib header
_RAW_DEFLATE: Final = -15  # "deflate" sent without its zlib header, as some servers do
# Compressions this client does not decode: a body in one of them is no feed to parse.
_NOT_OFFERED: Final = frozenset({"br", "zstd", "compress", "x-compress", "pack200-gzip", "exi", "dcb", "dcz"})
_MOST_CODINGS: Final = 3


class _Stage:
    """One coding undone; a gzip body may hold several members one after the other."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.bits = _WINDOW_BITS[coding]
        self.inflater = zlib.decompressobj(self.bits)
        self.fresh = True  # nothing decoded by this inflater yet
        self.head = b""  # what a fresh deflate inflater was given: a raw stream starts again from it
        self.members = 0  # streams decoded to their end
        self.done = False  # the stream ended; what follows is padding or junk, ignored
        self.received = False  # any byte at all: an empty body (a 304's) has no stream to end
        self.fed = False  # the current inflater was given bytes: a member begun must end

    def decode(self, data: bytes, limit: int) -> bytes:
        out: list[bytes] = []
        size = 0
        self.received = self.received or bool(data)
        while data and not self.done:
            if self.fresh and self.bits == _WINDOW_BITS["deflate"]:
                self.head += data
            try:
                piece = self.inflater.decompress(data, limit + 1 - size)
            except zlib.error as exc:
                data = self._after_error(exc, data)
                continue
            self.fed = True
            self.fresh = self.fresh and not piece
            out.append(piece)
            size += len(piece)
            if size > limit:
                break  # the caller refuses the body as too large
            data = self.inflater.unconsumed_tail
            if self.inflater.eof:
                data = self._next_member(self.inflater.unused_data)
        return b"".join(out)

    def _after_error(self, exc: zlib.error, data: bytes) -> bytes:
        """What to decode next after ``data`` failed at the inflater's start, if anything."""
        if self.fresh and self.bits == _WINDOW_BITS["deflate"]:
            self.bits, self.inflater = _RAW_DEFLATE, zlib.decompressobj(_RAW_DEFLATE)
            return self.head  # from the first byte
        if self.fresh and self.members:
            self.done = True  # junk after a whole gzip member: ignored, as urllib3 does
            return b""
        raise FeedError("bad-encoding", f"{self.coding} body does not decode: {exc}") from exc

    def _next_member(self, rest: bytes) -> bytes:
        """After a stream's end: the next gzip member, which may follow in a later read;
        for deflate, nothing more (what follows is ignored)."""
        self.members += 1
        if self.bits != _WINDOW_BITS["gzip"]:
            self.done = True
            return b""
        self.inflater, self.fresh, self.fed = zlib.decompressobj(self.bits), True, False
        # NUL padding after a member is no member; bytes after it may still be one.
        return rest.lstrip(b"\0")

    def finish(self) -> bytes:
        if self.done or not self.received or (self.members and not self.fed):
            return b""
        if not self.inflater.eof:
            raise FeedError("unreachable", f"{self.coding} body ended before its end: the response was cut short")
        return self.inflater.flush()


class BodyDecoder:
    """The decoded body of a response whose ``Content-Encoding`` is ``header``.

    Raises:
        FeedError: ``bad-encoding`` for a coding the request did not offer, or bytes
            that do not decode; ``unreachable`` when the stream ends before its end.
    """

    def __init__(self, header: str | None) -> None:
        codings = [coding.strip().lower() for coding in (header or "").split(",")]
        refused = [coding for coding in codings if coding in _NOT_OFFERED]
        if refused:
            raise FeedError("bad-encoding", f"Content-Encoding {', '.join(refused)} was not offered ({ACCEPTED})")
        # Anything else that names no compression ("UTF-8", "none", "binary": servers set
        # charsets and the like there) leaves the bytes as they are, as urllib3 did.
        codings = [coding for coding in codings if coding in _WINDOW_BITS]
        if len(codings) > _MOST_CODINGS:
            raise FeedError("bad-encoding", f"{len(codings)} content codings in a row")
        # Codings are listed in the order applied: undone from the last.
        self._stages = [_Stage(coding) for coding in reversed(codings)]

    @property
    def identity(self) -> bool:
        return not self._stages

    def decode(self, data: bytes, limit: int) -> bytes:
        """``data`` decoded; more than ``limit`` bytes only when the body is too large anyway."""
        for stage in self._stages:
            data = stage.decode(data, limit)
        return data

    def finish(self, limit: int) -> bytes:
        """What the decoders still hold, once the body has arrived whole."""
        pending = b""
        for stage in self._stages:
            pending = (stage.decode(pending, limit) if pending else b"") + stage.finish()
        return pending


__all__ = ["ACCEPTED", "BodyDecoder"]
