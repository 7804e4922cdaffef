"""What a server's framing says about a body, read off the wire: compressed streams cut
short, content codings nobody asked for, interim responses, validators too large to keep,
and redirect targets in UTF-8 (a raw TCP server writes each response byte for byte)."""

from __future__ import annotations

import gzip
import zlib
from typing import TYPE_CHECKING

import pytest

from wirewatch.adapters.http_fetcher import HttpFeedFetcher
from wirewatch.core.errors import FeedError
from wirewatch.core.ports import Validators

from .raw_server import RawServer

if TYPE_CHECKING:
    from collections.abc import Iterator

RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    + b"".join(b"<item><guid>g%d</guid><title>Headline number %d</title></item>" % (n, n) for n in range(200))
    + b"</channel></rss>"
)


@pytest.fixture
def server() -> Iterator[RawServer]:
    raw = RawServer()
    yield raw
    raw.close()


def fetch(server: RawServer, path: str = "/feed") -> object:
    return HttpFeedFetcher(total_timeout=5, allowed_networks=("127.0.0.0/8",)).fetch(server.base + path, Validators())


def ok(body: bytes, *headers: bytes, length: bool = True) -> bytes:
    framing = [b"Content-Length: %d" % len(body)] if length else [b"Connection: close"]
    return b"\r\n".join([b"HTTP/1.1 200 OK", *headers, *framing]) + b"\r\n\r\n" + body


@pytest.mark.parametrize(("coding", "pack"), [(b"gzip", gzip.compress), (b"deflate", zlib.compress)])
@pytest.mark.parametrize("length", [True, False])
def test_a_compressed_body_cut_short_is_no_feed(server: RawServer, coding: bytes, pack: object, length: bool) -> None:
    # Its framing says the body is whole (or the server just closes): only the stream's own
    # end tells. Taken for the feed, its ETag kept, the items cut off would never be seen.
    packed = pack(RSS)  # type: ignore[operator]
    server.reply = lambda _: ok(
        packed[: len(packed) // 2], b'ETag: "v7"', b"Content-Encoding: " + coding, length=length
    )
    with pytest.raises(FeedError) as caught:
        fetch(server)
    assert caught.value.kind == "unreachable"
    assert "cut short" in str(caught.value)


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        (b"gzip", gzip.compress(RSS[:500]) + gzip.compress(RSS[500:])),  # two members, one body
        (b"deflate", zlib.compress(RSS)[2:-4]),  # raw deflate, without the zlib header some servers leave out
        (b"gzip, gzip", gzip.compress(gzip.compress(RSS))),
        (b"x-gzip", gzip.compress(RSS) + b"\0\0\0\0"),  # padding after the stream
    ],
)
def test_whole_compressed_bodies_decode(server: RawServer, coding: bytes, body: bytes) -> None:
    server.reply = lambda _: ok(body, b"Content-Encoding: " + coding)
    assert fetch(server).body == RSS  # type: ignore[attr-defined]


@pytest.mark.parametrize("coding", [b"br", b"zstd", b"gzip, br"])
def test_a_content_coding_not_asked_for_is_refused_not_parsed(server: RawServer, coding: bytes) -> None:
    server.reply = lambda _: ok(b"\x1b\x03\x00\xf8\x8d\x94n\xde\x00\x00", b"Content-Encoding: " + coding)
    with pytest.raises(FeedError) as caught:
        fetch(server)
    assert caught.value.kind == "bad-encoding"


@pytest.mark.parametrize("interim", [b"102 Processing\r\n", b"103 Early Hints\r\nLink: </a.css>; rel=preload\r\n"])
def test_interim_responses_before_the_answer_are_skipped(server: RawServer, interim: bytes) -> None:
    # RFC 9110: a client skips any 1xx but 101; http.client skips 100 Continue only.
    server.reply = lambda _: b"HTTP/1.1 " + interim + b"\r\n" + ok(RSS)
    assert fetch(server).status == 200  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "etag_lines",
    [
        [b'ETag: "' + b"a" * 65_000 + b'"'] * 90,  # joined by urllib3 into megabytes
        [b'ETag: "' + b"a" * 2_000 + b'"'],
        [b'ETag: "v1"', b'ETag: "v2"'],
    ],
)
def test_a_validator_no_server_sends_in_good_faith_is_not_kept(server: RawServer, etag_lines: list[bytes]) -> None:
    # Kept, it would make the feed's state too large for DynamoDB and its job for SQS.
    server.reply = lambda _: ok(RSS, *etag_lines, b"Last-Modified: Wed, 26 Jun 2024 05:00:00 GMT")
    validators = fetch(server).validators  # type: ignore[attr-defined]
    assert validators == Validators(None, "Wed, 26 Jun 2024 05:00:00 GMT")


def test_a_redirect_target_in_utf8_is_followed_as_sent(server: RawServer) -> None:
    moved = b"HTTP/1.1 301 Moved\r\nLocation: /actualit\xc3\xa9s.xml\r\nContent-Length: 0\r\n\r\n"
    server.reply = lambda path: moved if path == b"/feed" else ok(RSS)
    result = fetch(server)
    assert server.paths == [b"/feed", b"/actualit%C3%A9s.xml"]
    assert result.moved_to == server.base + "/actualit%C3%A9s.xml"  # type: ignore[attr-defined]


def test_a_redirect_to_a_url_longer_than_any_link_is_refused(server: RawServer) -> None:
    # Followed, it would be stored as the feed's URL and carried in every job of the feed.
    target = b"/" + b"x" * 5_000
    server.reply = lambda _: b"HTTP/1.1 301 Moved\r\nLocation: " + target + b"\r\nContent-Length: 0\r\n\r\n"
    with pytest.raises(FeedError) as caught:
        fetch(server)
    assert caught.value.kind == "bad-url"


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def test_gzip_members_each_in_its_own_chunk_are_one_body(server: RawServer) -> None:
    # A member ending exactly where a read ends is no end of the body.
    members = [gzip.compress(RSS[start : start + 2_000]) for start in range(0, len(RSS), 2_000)]
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
    server.reply = lambda _: head + chunked(*members)
    assert fetch(server).body == RSS  # type: ignore[attr-defined]


def test_a_304_naming_its_content_coding_is_a_304(server: RawServer) -> None:
    server.reply = lambda _: b'HTTP/1.1 304 Not Modified\r\nETag: "v7"\r\nContent-Encoding: gzip\r\n\r\n'
    assert fetch(server).status == 304  # type: ignore[attr-defined]


@pytest.mark.parametrize("coding", [b"UTF-8", b"none", b"binary"])
def test_a_content_encoding_naming_no_compression_leaves_the_body_as_it_is(server: RawServer, coding: bytes) -> None:
    server.reply = lambda _: ok(RSS, b"Content-Encoding: " + coding)
    assert fetch(server).body == RSS  # type: ignore[attr-defined]


def test_a_validator_sent_twice_alike_is_kept(server: RawServer) -> None:
    server.reply = lambda _: ok(RSS, b'ETag: "v7"', b'ETag: "v7"')
    assert fetch(server).validators.etag == '"v7"'  # type: ignore[attr-defined]
