"""HttpFeedFetcher against a real local HTTP server: validators, limits, redirects, failures."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest
import urllib3

from wirewatch import __version__
from wirewatch.adapters.http_fetcher import DEFAULT_USER_AGENT, HttpFeedFetcher
from wirewatch.core.errors import FeedError
from wirewatch.core.ports import Validators

from .feed_server import FeedServer

if TYPE_CHECKING:
    from collections.abc import Iterator

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
LAST_MODIFIED = "Wed, 27 Nov 2024 09:00:00 GMT"
NO_VALIDATORS = Validators()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as feed_server:
        yield feed_server


@pytest.fixture
def pool(server: FeedServer) -> Iterator[urllib3.PoolManager]:
    # Depends on server so the client side closes first and server handlers see EOF.
    manager = urllib3.PoolManager(maxsize=1)
    yield manager
    manager.clear()


@pytest.fixture
def fetcher(pool: urllib3.PoolManager) -> HttpFeedFetcher:
    # Small limits keep every failure case quick without asserting on durations.
    return HttpFeedFetcher(connect_timeout=2, read_timeout=2, total_timeout=5, max_bytes=64 * 1024, pool=pool)


def kind_of(fetcher: HttpFeedFetcher, url: str, validators: Validators = NO_VALIDATORS) -> str:
    with pytest.raises(FeedError) as caught:
        fetcher.fetch(url, validators)
    return caught.value.kind


def idle_connections(pool: urllib3.PoolManager, url: str) -> int:
    """Free slots in the host's pool: maxsize when every connection was given back."""
    queue = pool.connection_from_url(url).pool
    assert queue is not None
    return queue.qsize()


def test_ok_returns_body_validators_content_type_and_url(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/feed.xml", RSS, etag='"v1"', last_modified=LAST_MODIFIED)

    result = fetcher.fetch(url, NO_VALIDATORS)

    assert result.status == 200
    assert not result.not_modified
    assert result.body == RSS
    assert result.validators == Validators(etag='"v1"', last_modified=LAST_MODIFIED)
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.url == url


def test_ok_without_validators_gives_empty_validators(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/feed.xml", RSS)

    assert fetcher.fetch(url, NO_VALIDATORS).validators == Validators()


def test_headers_sent(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/feed.xml", RSS)

    fetcher.fetch(url, NO_VALIDATORS)

    headers = server.last_request("/feed.xml").headers
    assert headers["user-agent"] == DEFAULT_USER_AGENT
    assert DEFAULT_USER_AGENT.startswith(f"wirewatch/{__version__} (+https://")
    assert headers["accept"].startswith("application/rss+xml")
    assert headers["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in headers
    assert "if-modified-since" not in headers


def test_custom_user_agent(server: FeedServer, pool: urllib3.PoolManager) -> None:
    url = server.route("/feed.xml", RSS)

    HttpFeedFetcher(user_agent="probe/1", pool=pool).fetch(url, NO_VALIDATORS)

    assert server.last_request("/feed.xml").headers["user-agent"] == "probe/1"


def test_conditional_get_with_etag_gives_304(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/feed.xml", RSS, etag='"v1"', last_modified=LAST_MODIFIED)

    result = fetcher.fetch(url, Validators(etag='"v1"', last_modified=LAST_MODIFIED))

    assert result.status == 304
    assert result.not_modified
    assert result.body == b""
    assert result.validators == Validators(etag='"v1"', last_modified=LAST_MODIFIED)
    seen = server.last_request("/feed.xml").headers
    assert seen["if-none-match"] == '"v1"'
    assert seen["if-modified-since"] == LAST_MODIFIED


def test_conditional_get_with_last_modified_gives_304(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/feed.xml", RSS, last_modified=LAST_MODIFIED)

    result = fetcher.fetch(url, Validators(last_modified=LAST_MODIFIED))

    assert result.not_modified
    assert result.validators == Validators(last_modified=LAST_MODIFIED)


def test_304_keeps_sent_validators_the_response_lacks(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/feed.xml", RSS, etag='"v1"')
    sent = Validators(etag='"v1"', last_modified=LAST_MODIFIED)

    result = fetcher.fetch(url, sent)

    assert result.not_modified
    assert result.validators == sent


def test_changed_feed_gives_200_with_new_validators(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/feed.xml", RSS, etag='"v2"')

    result = fetcher.fetch(url, Validators(etag='"v1"'))

    assert result.status == 200
    assert result.body == RSS
    assert result.validators == Validators(etag='"v2"')


@pytest.mark.parametrize("status", [404, 410, 500, 503])
def test_http_error_status(server: FeedServer, fetcher: HttpFeedFetcher, status: int) -> None:
    url = server.route("/feed.xml", b"secret error page", status=status)

    with pytest.raises(FeedError) as caught:
        fetcher.fetch(url, NO_VALIDATORS)

    assert caught.value.kind == f"http-{status}"
    assert "secret error page" not in str(caught.value)


def test_unknown_path_is_http_404(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    assert kind_of(fetcher, server.url("/nope.xml")) == "http-404"


def test_declared_too_large(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/big.xml", b"x" * (64 * 1024 + 1))

    assert kind_of(fetcher, url) == "too-large"


def test_body_exactly_at_limit_is_fine(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/edge.xml", b"x" * (64 * 1024))

    assert len(fetcher.fetch(url, NO_VALIDATORS).body) == 64 * 1024


def test_gzip_body_is_decoded(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/feed.xml", RSS, gzip=True)

    assert fetcher.fetch(url, NO_VALIDATORS).body == RSS


def test_gzip_bomb_stops_at_decoded_limit(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    # ~50 KB on the wire, 50 MB decoded: only counting decoded bytes catches it.
    url = server.route("/bomb.xml", bytes(50 * 1024 * 1024), gzip=True)

    assert kind_of(fetcher, url) == "too-large"


def test_undecodable_gzip_is_bad_encoding(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/feed.xml", b"this is not gzip", headers={"Content-Encoding": "gzip"})

    assert kind_of(fetcher, url) == "bad-encoding"


@pytest.mark.parametrize("interval", [0.01, 1.0])
def test_slow_drip_times_out(server: FeedServer, pool: urllib3.PoolManager, interval: float) -> None:
    # 0.01: each read returns a byte and the loop sees the deadline pass.
    # 1.0: one read outlasts the whole budget, so the watchdog has to interrupt it.
    url = server.route("/drip.xml", RSS, drip=interval)
    fetcher = HttpFeedFetcher(read_timeout=5, total_timeout=0.3, pool=pool)

    assert kind_of(fetcher, url) == "timeout"


def test_slow_headers_time_out(server: FeedServer, pool: urllib3.PoolManager) -> None:
    url = server.route("/slow.xml", RSS, delay=5)
    fetcher = HttpFeedFetcher(read_timeout=0.2, pool=pool)

    assert kind_of(fetcher, url) == "timeout"


def test_redirect_followed_and_final_url_reported(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    final = server.route("/feed.xml", RSS, etag='"v1"')
    old = server.route("/old.xml", redirect_to="/feed.xml", status=301)

    result = fetcher.fetch(old, NO_VALIDATORS)

    assert result.url == final
    assert result.body == RSS
    assert result.validators == Validators(etag='"v1"')
    assert server.hits == {"/old.xml": 1, "/feed.xml": 1}


def test_redirect_chain_up_to_limit(server: FeedServer, pool: urllib3.PoolManager) -> None:
    server.route("/feed.xml", RSS)
    for hop in range(3):
        server.route(f"/r{hop}", redirect_to=f"/r{hop + 1}" if hop < 2 else "/feed.xml")

    assert HttpFeedFetcher(max_redirects=3, pool=pool).fetch(server.url("/r0"), NO_VALIDATORS).body == RSS
    assert kind_of(HttpFeedFetcher(max_redirects=2, pool=pool), server.url("/r0")) == "too-many-redirects"


def test_redirect_loop(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/a", redirect_to="/b")
    server.route("/b", redirect_to=url)

    assert kind_of(fetcher, url) == "too-many-redirects"
    assert server.hits == {"/a": 1, "/b": 1}


def test_redirect_to_other_scheme_is_bad_url(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/a", redirect_to="file:///etc/passwd")

    assert kind_of(fetcher, url) == "bad-url"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/feed.xml", "feed.xml", "http://", "https:///feed.xml"]
)
def test_bad_url(fetcher: HttpFeedFetcher, url: str) -> None:
    assert kind_of(fetcher, url) == "bad-url"


def test_connection_refused_is_unreachable(fetcher: HttpFeedFetcher) -> None:
    # A port that was just free and has nothing listening on it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    assert kind_of(fetcher, f"http://127.0.0.1:{port}/feed.xml") == "unreachable"


def test_connections_go_back_to_the_pool(
    server: FeedServer, fetcher: HttpFeedFetcher, pool: urllib3.PoolManager
) -> None:
    ok = server.route("/feed.xml", RSS, etag='"v1"')
    server.route("/big.xml", b"x" * (64 * 1024 + 1))
    server.route("/old.xml", redirect_to="/feed.xml")

    fetcher.fetch(ok, NO_VALIDATORS)
    fetcher.fetch(ok, Validators(etag='"v1"'))
    fetcher.fetch(server.url("/old.xml"), NO_VALIDATORS)
    for path in ("/big.xml", "/missing.xml"):
        with pytest.raises(FeedError):
            fetcher.fetch(server.url(path), NO_VALIDATORS)

    assert idle_connections(pool, ok) == 1


def test_owned_pool_is_closed_by_context_manager(server: FeedServer) -> None:
    url = server.route("/feed.xml", RSS)

    with HttpFeedFetcher() as fetcher:
        assert fetcher.fetch(url, NO_VALIDATORS).body == RSS


def test_invalid_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        HttpFeedFetcher(max_bytes=0)
    with pytest.raises(ValueError, match="negative"):
        HttpFeedFetcher(max_redirects=-1)
