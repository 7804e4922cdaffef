"""HttpFeedFetcher against a real local HTTP server: validators, limits, redirects, failures,
the address guard, and the caching and retry headers."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

import pytest
import urllib3

from wirewatch import __version__
from wirewatch.adapters.address_guard import AddressPolicy, GuardedPoolManager
from wirewatch.adapters.http_fetcher import DEFAULT_USER_AGENT, PROJECT_URL, HttpFeedFetcher, user_agent
from wirewatch.core.errors import FeedError
from wirewatch.core.ports import Validators

from .feed_server import FeedServer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
LAST_MODIFIED = "Wed, 27 Nov 2024 09:00:00 GMT"
NO_VALIDATORS = Validators()
# The feed server listens on loopback, which the address guard refuses by default.
LOCAL = ("127.0.0.0/8", "::1/128")


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as feed_server:
        yield feed_server


@pytest.fixture
def pool(server: FeedServer) -> Iterator[GuardedPoolManager]:
    # Depends on server so the client side closes first and server handlers see EOF.
    manager = GuardedPoolManager(AddressPolicy.allowing(LOCAL), maxsize=1)
    yield manager
    manager.clear()


@pytest.fixture
def fetcher(pool: GuardedPoolManager) -> HttpFeedFetcher:
    # Small limits keep every failure case quick without asserting on durations.
    return HttpFeedFetcher(connect_timeout=2, read_timeout=2, total_timeout=5, max_bytes=64 * 1024, pool=pool)


def kind_of(fetcher: HttpFeedFetcher, url: str, validators: Validators = NO_VALIDATORS) -> str:
    with pytest.raises(FeedError) as caught:
        fetcher.fetch(url, validators)
    return caught.value.kind


def idle_connections(pool: GuardedPoolManager, url: str) -> int:
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
    assert headers["user-agent"] == DEFAULT_USER_AGENT == f"wirewatch/{__version__} (+{PROJECT_URL})"
    with_contact = user_agent("mailto:desk@example.org")
    assert with_contact == f"wirewatch/{__version__} (+{PROJECT_URL}; mailto:desk@example.org)"
    assert headers["accept"].startswith("application/rss+xml")
    assert headers["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in headers
    assert "if-modified-since" not in headers


def test_custom_user_agent(server: FeedServer, pool: GuardedPoolManager) -> None:
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
def test_slow_drip_times_out(server: FeedServer, pool: GuardedPoolManager, interval: float) -> None:
    # 0.01: each read returns a byte and the loop sees the deadline pass.
    # 1.0: one read outlasts the whole budget, so the watchdog has to interrupt it.
    url = server.route("/drip.xml", RSS, drip=interval)
    fetcher = HttpFeedFetcher(read_timeout=5, total_timeout=0.3, pool=pool)

    assert kind_of(fetcher, url) == "timeout"


def test_slow_headers_time_out(server: FeedServer, pool: GuardedPoolManager) -> None:
    url = server.route("/slow.xml", RSS, delay=5)
    fetcher = HttpFeedFetcher(read_timeout=0.2, pool=pool)

    assert kind_of(fetcher, url) == "timeout"


@pytest.mark.parametrize("stall", [{"drip_headers": 0.05}, {"interim_flood": True}], ids=["drip", "100-continue"])
def test_headers_that_never_end_time_out_at_the_total_cap(
    server: FeedServer, pool: GuardedPoolManager, stall: dict[str, Any]
) -> None:
    # Every byte resets urllib3's read timeout; only the fetch's own deadline ends these.
    url = server.route("/endless.xml", RSS, **stall)
    fetcher = HttpFeedFetcher(read_timeout=5, total_timeout=0.5, pool=pool)

    assert kind_of(fetcher, url) == "timeout"


def test_each_address_of_a_name_is_tried_only_for_the_time_left(
    pool: GuardedPoolManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name resolving to six addresses that never answer: urllib3 alone gives each the
    # whole connect timeout, six seconds here against a total of 2.5.
    resolve = socket.getaddrinfo
    addresses = [f"127.0.0.{last}" for last in range(2, 8)]

    def six_addresses(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "feeds.example.test":
            return resolve(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

    tried: list[tuple[str, float]] = []

    def silent(address: tuple[str, int], timeout: float, *args: Any, **kwargs: Any) -> socket.socket:
        tried.append((address[0], timeout))
        time.sleep(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "getaddrinfo", six_addresses)
    monkeypatch.setattr(urllib3.connection.connection, "create_connection", silent)
    fetcher = HttpFeedFetcher(connect_timeout=1, total_timeout=2.5, pool=pool)

    assert kind_of(fetcher, "http://feeds.example.test/feed.xml") == "timeout"
    assert [address for address, _ in tried] == addresses[: len(tried)]
    assert 2 <= len(tried) < len(addresses)
    assert all(timeout <= 1 for _, timeout in tried)
    assert sum(timeout for _, timeout in tried) <= 2.5


def test_a_name_server_that_does_not_answer_costs_the_fetch_its_cap_only(
    pool: GuardedPoolManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # getaddrinfo has no timeout: without a wait of its own, the fetch would sit out the
    # resolver's retries (here: until the test lets the lookup go).
    release = threading.Event()
    answered: list[str] = []
    resolve = socket.getaddrinfo

    def stuck(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "stuck.example.test":
            return resolve(host, port, *args, **kwargs)
        release.wait(10)
        answered.append(host)
        return resolve("127.0.0.1", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    try:
        fetcher = HttpFeedFetcher(total_timeout=0.5, pool=pool)
        assert kind_of(fetcher, "http://stuck.example.test/feed.xml") == "timeout"
        assert answered == []  # the fetch gave up while the lookup was still waiting
    finally:
        release.set()


@pytest.mark.parametrize("url", ["http://a..example.com/feed", "http://.example.com/", f"http://{'x' * 64}.example/"])
def test_a_name_idna_cannot_encode_is_a_bad_url(pool: GuardedPoolManager, url: str) -> None:
    fetcher = HttpFeedFetcher(total_timeout=2, pool=pool)
    assert kind_of(fetcher, url) == "bad-url"


def test_redirect_followed_and_final_url_reported(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    final = server.route("/feed.xml", RSS, etag='"v1"')
    old = server.route("/old.xml", redirect_to="/feed.xml", status=301)

    result = fetcher.fetch(old, NO_VALIDATORS)

    assert result.url == final
    assert result.body == RSS
    assert result.validators == Validators(etag='"v1"')
    assert server.hits == {"/old.xml": 1, "/feed.xml": 1}


def test_redirect_chain_up_to_limit(server: FeedServer, pool: GuardedPoolManager) -> None:
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
    server: FeedServer, fetcher: HttpFeedFetcher, pool: GuardedPoolManager
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

    with HttpFeedFetcher(allowed_networks=LOCAL) as fetcher:
        assert fetcher.fetch(url, NO_VALIDATORS).body == RSS


def test_invalid_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        HttpFeedFetcher(max_bytes=0)
    with pytest.raises(ValueError, match="negative"):
        HttpFeedFetcher(max_redirects=-1)


# --- Address guard (SSRF) ------------------------------------------------------------------


def refusal(fetcher: HttpFeedFetcher, url: str) -> FeedError:
    with pytest.raises(FeedError) as caught:
        fetcher.fetch(url, NO_VALIDATORS)
    assert caught.value.kind == "forbidden-address", caught.value
    return caught.value


@pytest.fixture
def resolve_to(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make names resolve to chosen addresses, as a hostile DNS server (or rebinding) would."""
    real = socket.getaddrinfo
    answers: dict[str, tuple[int, tuple[Any, ...]]] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            family, address = answers[host]
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def add(name: str, family: int, address: tuple[Any, ...]) -> None:
        answers[name] = (family, address)

    return add


def test_loopback_refused_by_default_before_any_request(server: FeedServer) -> None:
    url = server.route("/feed.xml", RSS)

    with HttpFeedFetcher() as fetcher:
        error = refusal(fetcher, url)

    assert "127.0.0.1" in error.detail
    assert "loopback" in error.detail
    assert server.hits == {}


def test_loopback_allowed_when_allow_listed(server: FeedServer) -> None:
    url = server.route("/feed.xml", RSS)

    with HttpFeedFetcher(allowed_networks=["127.0.0.1/32"]) as fetcher:
        assert fetcher.fetch(url, NO_VALIDATORS).body == RSS


def test_allow_list_only_opens_what_it_names(server: FeedServer) -> None:
    url = server.route("/feed.xml", RSS)

    with HttpFeedFetcher(allowed_networks=["10.0.0.0/8", "::1/128"]) as fetcher:
        refusal(fetcher, url)


def test_name_resolving_to_loopback_is_refused_on_the_connected_address(server: FeedServer) -> None:
    # "localhost" is no IP literal: only the socket's peer address shows where it went.
    url = f"http://localhost:{server.port}/feed.xml"
    server.route("/feed.xml", RSS)

    with HttpFeedFetcher() as fetcher:
        error = refusal(fetcher, url)
    with HttpFeedFetcher(allowed_networks=LOCAL) as fetcher:
        body = fetcher.fetch(url, NO_VALIDATORS).body

    assert "localhost" in error.detail
    assert body == RSS
    assert server.hits == {"/feed.xml": 1}


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "0177.0.0.1"])
def test_odd_spellings_of_loopback_are_refused(server: FeedServer, host: str) -> None:
    # Not IP literals to ipaddress, but the resolver reads them as 127.0.0.1 (inet_aton).
    server.route("/feed.xml", RSS)

    with HttpFeedFetcher() as fetcher:
        error = refusal(fetcher, f"http://{host}:{server.port}/feed.xml")

    assert "127.0.0.1" in error.detail
    assert server.hits == {}


def test_rebound_name_is_judged_by_where_it_connects(server: FeedServer, resolve_to: Any) -> None:
    # A public-looking name whose DNS answer is loopback at connection time.
    resolve_to("feeds.example.com", socket.AF_INET, ("127.0.0.1", server.port))
    server.route("/feed.xml", RSS)
    url = f"http://feeds.example.com:{server.port}/feed.xml"

    with HttpFeedFetcher() as fetcher:
        error = refusal(fetcher, url)
    with HttpFeedFetcher(allowed_networks=LOCAL) as fetcher:
        body = fetcher.fetch(url, NO_VALIDATORS).body

    assert "feeds.example.com" in error.detail
    assert "127.0.0.1" in error.detail
    assert body == RSS
    # The name, not the address, is what the request carried.
    assert server.last_request("/feed.xml").headers["host"] == f"feeds.example.com:{server.port}"


def test_ipv4_mapped_ipv6_literal_is_judged_as_ipv4(server: FeedServer) -> None:
    server.route("/feed.xml", RSS)
    url = f"http://[::ffff:127.0.0.1]:{server.port}/feed.xml"

    with HttpFeedFetcher() as fetcher:
        error = refusal(fetcher, url)
    with HttpFeedFetcher(allowed_networks=["127.0.0.0/8"]) as fetcher:
        body = fetcher.fetch(url, NO_VALIDATORS).body

    assert "loopback" in error.detail
    assert body == RSS


def test_name_resolving_to_ipv4_mapped_loopback_is_refused(server: FeedServer, resolve_to: Any) -> None:
    # Connected over an IPv6 socket, the peer reads ::ffff:127.0.0.1: still loopback.
    resolve_to("mapped.example", socket.AF_INET6, ("::ffff:127.0.0.1", server.port, 0, 0))
    server.route("/feed.xml", RSS)
    url = f"http://mapped.example:{server.port}/feed.xml"

    with HttpFeedFetcher(allowed_networks=["::1/128"]) as fetcher:
        error = refusal(fetcher, url)
    with HttpFeedFetcher(allowed_networks=["127.0.0.0/8"]) as fetcher:
        body = fetcher.fetch(url, NO_VALIDATORS).body

    assert "::ffff:127.0.0.1" in error.detail
    assert body == RSS


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
    ],
)
def test_metadata_endpoint_refused_before_connecting(url: str) -> None:
    with HttpFeedFetcher(allowed_networks=LOCAL) as fetcher:
        error = refusal(fetcher, url)

    assert "cloud metadata" in error.detail


def test_redirect_hop_to_internal_address_is_refused() -> None:
    # The feed's own server is allow-listed; the internal service it points at is not.
    with FeedServer() as internal, FeedServer(host="127.0.0.2") as public:
        internal.route("/admin", b"SECRET")
        url = public.route("/feed.xml", redirect_to=internal.url("/admin"), status=302)

        with HttpFeedFetcher(allowed_networks=["127.0.0.2/32"]) as fetcher:
            error = refusal(fetcher, url)

        assert "127.0.0.1" in error.detail
        assert public.hits == {"/feed.xml": 1}
        assert internal.hits == {}


def test_redirect_hop_to_metadata_is_refused(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/feed.xml", redirect_to="http://169.254.169.254/latest/meta-data/", status=301)

    error = refusal(fetcher, url)

    assert "169.254.169.254" in error.detail


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%1", "link-local"),
        ("100.64.0.1", "shared address space (CGNAT)"),
        ("100.127.255.254", "shared address space (CGNAT)"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 form of 169.254.169.254
        ("2002:7f00:1::1", "loopback"),  # 6to4 form of 127.0.0.1
        ("93.184.215.14", None),
        ("::ffff:93.184.215.14", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_policy(address: str, reason: str | None) -> None:
    assert AddressPolicy().refusal(address) == reason


def test_address_policy_allow_list() -> None:
    policy = AddressPolicy.allowing(["127.0.0.0/8", "fd00::/8"])

    assert policy.refusal("127.0.0.5") is None
    assert policy.refusal("::ffff:127.0.0.5") is None
    assert policy.refusal("fd00:ec2::254") is None
    assert policy.refusal("::1") == "loopback"
    assert policy.refusal("10.0.0.1") == "private"


@pytest.mark.parametrize("networks", [["not-a-cidr"], ["10.0.0.1/8"], ["127.0.0.0/33"], ["::1/129"], "127.0.0.0/8"])
def test_invalid_allowed_networks_are_rejected(networks: Any) -> None:
    with pytest.raises(ValueError, match="allowed"):
        HttpFeedFetcher(allowed_networks=networks)


def test_only_a_guarded_pool_is_accepted() -> None:
    plain = urllib3.PoolManager()
    with pytest.raises(TypeError, match="GuardedPoolManager"):
        HttpFeedFetcher(pool=plain)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="allowed_networks"):
        HttpFeedFetcher(pool=GuardedPoolManager(), allowed_networks=LOCAL)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the name "localhost" only (no IP address in it)."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = tmp_path / "cert.pem"
    key_path = tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tls_files: tuple[Path, Path]) -> Iterator[tuple[FeedServer, list[str | None]]]:
    """An HTTPS feed server, and the SNI names its clients sent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    names: list[str | None] = []
    context.sni_callback = lambda _socket, name, _context: names.append(name)
    with FeedServer(tls=context) as https:
        yield https, names


def test_https_keeps_sni_and_certificate_checks_on_the_hostname(
    tls_server: tuple[FeedServer, list[str | None]], tls_files: tuple[Path, Path]
) -> None:
    https, names = tls_server
    https.route("/feed.xml", RSS)
    ca = str(tls_files[0])

    with HttpFeedFetcher(pool=GuardedPoolManager(AddressPolicy.allowing(LOCAL), ca_certs=ca)) as fetcher:
        result = fetcher.fetch(f"https://localhost:{https.port}/feed.xml", NO_VALIDATORS)
        # The certificate names localhost only: verified against the address, it fails.
        assert kind_of(fetcher, f"https://127.0.0.1:{https.port}/feed.xml") == "unreachable"

    assert result.body == RSS
    assert "localhost" in names


def test_https_headers_that_never_end_time_out_at_the_total_cap(
    tls_server: tuple[FeedServer, list[str | None]], tls_files: tuple[Path, Path]
) -> None:
    # Over TLS the socket the headers are read from is the wrapped one, not the one
    # connected first: it is the one watched.
    https, _ = tls_server
    https.route("/endless.xml", RSS, drip_headers=0.05)
    pool = GuardedPoolManager(AddressPolicy.allowing(LOCAL), ca_certs=str(tls_files[0]))

    with HttpFeedFetcher(read_timeout=5, total_timeout=1.0, pool=pool) as fetcher:
        assert kind_of(fetcher, f"https://localhost:{https.port}/endless.xml") == "timeout"


def test_https_refused_before_the_tls_handshake(
    tls_server: tuple[FeedServer, list[str | None]], tls_files: tuple[Path, Path]
) -> None:
    https, names = tls_server
    https.route("/feed.xml", RSS)

    with HttpFeedFetcher(pool=GuardedPoolManager(AddressPolicy(), ca_certs=str(tls_files[0]))) as fetcher:
        refusal(fetcher, f"https://localhost:{https.port}/feed.xml")

    assert names == []
    assert https.hits == {}


# --- Cache-Control, permanent moves, Retry-After ----------------------------------------------


@pytest.mark.parametrize(
    ("headers", "max_age"),
    [
        ({"Cache-Control": "public, max-age=600"}, 600.0),
        ({"Cache-Control": 'max-age="300"'}, 300.0),
        # A cache's Age is not subtracted: it differs on every response and would change
        # the feed's state (a write) at every poll.
        ({"Cache-Control": "max-age=600", "Age": "100"}, 600.0),
        ({"Cache-Control": "max-age=60", "Age": "100"}, 60.0),
        ({"Cache-Control": "max-age=600, no-cache"}, None),
        ({"Cache-Control": "no-store, max-age=600"}, None),
        ({"Cache-Control": 'private, no-cache="Set-Cookie", max-age=120'}, 120.0),
        ({"Cache-Control": "max-age=60, max-age=120"}, None),
        ({"Cache-Control": "max-age=soon"}, None),
        ({"Cache-Control": "s-maxage=600"}, None),
        ({"Cache-Control": "max-age=99999999999999999999"}, float(2**31)),
        ({}, None),
    ],
)
def test_max_age(server: FeedServer, fetcher: HttpFeedFetcher, headers: dict[str, str], max_age: float | None) -> None:
    url = server.route("/feed.xml", RSS, headers=headers)

    assert fetcher.fetch(url, NO_VALIDATORS).max_age == max_age


def test_max_age_of_a_304(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    url = server.route("/feed.xml", RSS, etag='"v1"', headers={"Cache-Control": "max-age=900"})

    result = fetcher.fetch(url, Validators(etag='"v1"'))

    assert result.not_modified
    assert result.max_age == 900.0


def test_moved_to_after_permanent_redirects_only(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    final = server.route("/feed.xml", RSS)
    server.route("/b", redirect_to="/feed.xml", status=308)
    old = server.route("/a", redirect_to="/b", status=301)

    result = fetcher.fetch(old, NO_VALIDATORS)

    assert result.url == final
    assert result.moved_to == final


@pytest.mark.parametrize("temporary", [302, 303, 307])
def test_no_move_when_any_hop_is_temporary(server: FeedServer, fetcher: HttpFeedFetcher, temporary: int) -> None:
    final = server.route("/feed.xml", RSS)
    server.route("/b", redirect_to="/feed.xml", status=301)
    old = server.route("/a", redirect_to="/b", status=temporary)

    result = fetcher.fetch(old, NO_VALIDATORS)

    assert result.url == final
    assert result.moved_to is None


def test_no_move_without_redirects(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    assert fetcher.fetch(server.route("/feed.xml", RSS), NO_VALIDATORS).moved_to is None


def test_moved_to_on_a_304(server: FeedServer, fetcher: HttpFeedFetcher) -> None:
    final = server.route("/feed.xml", RSS, etag='"v1"')
    old = server.route("/old.xml", redirect_to="/feed.xml", status=301)

    result = fetcher.fetch(old, Validators(etag='"v1"'))

    assert result.not_modified
    assert result.moved_to == final


CLOCK = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, "120", 120.0),
        (503, "0", 0.0),
        (503, format_datetime(CLOCK + timedelta(seconds=90), usegmt=True), 90.0),
        (429, "Wednesday, 26-Jun-24 06:05:00 GMT", 300.0),  # obsolete RFC 850 form
        (503, format_datetime(CLOCK - timedelta(hours=1), usegmt=True), 0.0),
        (429, "-30", 0.0),
        (429, "in a while", None),
        (503, "1.5", None),
        (429, "", None),
        (429, None, None),
        (500, "120", None),  # Retry-After means nothing on other statuses
    ],
)
def test_retry_after(
    server: FeedServer, pool: GuardedPoolManager, status: int, retry_after: str | None, expected: float | None
) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    url = server.route("/feed.xml", b"busy", status=status, headers=headers)
    fetcher = HttpFeedFetcher(pool=pool, clock=lambda: CLOCK)

    with pytest.raises(FeedError) as caught:
        fetcher.fetch(url, NO_VALIDATORS)

    assert caught.value.kind == f"http-{status}"
    assert caught.value.retry_after == expected


# ---------------------------------------------------------------- large bodies


class _Waits:
    """An ``on_large_body`` hook that records its calls, and can refuse."""

    def __init__(self, refuse: bool = False) -> None:
        self.deadlines: list[float] = []
        self.refuse = refuse

    def __call__(self, deadline: float) -> None:
        self.deadlines.append(deadline)
        if self.refuse:
            raise LookupError("no memory free")


def large_body_fetcher(pool: GuardedPoolManager) -> HttpFeedFetcher:
    return HttpFeedFetcher(total_timeout=5, max_bytes=1024 * 1024, large_body=64 * 1024, pool=pool)


def test_a_body_growing_past_large_body_asks_the_hook_once(server: FeedServer, pool: GuardedPoolManager) -> None:
    body = RSS + b" " * (300 * 1024)
    url = server.route("/big.xml", stream=lambda: (body[i : i + 16384] for i in range(0, len(body), 16384)))
    hook = _Waits()
    result = large_body_fetcher(pool).fetch(url, NO_VALIDATORS, on_large_body=hook)
    assert result.body == body
    assert len(hook.deadlines) == 1


def test_a_declared_large_body_asks_the_hook_before_reading(server: FeedServer, pool: GuardedPoolManager) -> None:
    url = server.route("/declared.xml", body=RSS + b" " * (100 * 1024))
    hook = _Waits(refuse=True)
    with pytest.raises(LookupError):
        large_body_fetcher(pool).fetch(url, NO_VALIDATORS, on_large_body=hook)
    assert len(hook.deadlines) == 1
    # The connection given up on is not reused half-read: the next fetch gets its own answer.
    assert large_body_fetcher(pool).fetch(server.route("/small.xml", body=RSS), NO_VALIDATORS).body == RSS


def test_a_small_body_never_asks_the_hook(server: FeedServer, pool: GuardedPoolManager) -> None:
    hook = _Waits(refuse=True)
    url = server.route("/small.xml", body=RSS + b" " * (60 * 1024))
    assert large_body_fetcher(pool).fetch(url, NO_VALIDATORS, on_large_body=hook).status == 200
    assert hook.deadlines == []


def test_waiting_for_memory_does_not_count_against_the_fetch_time(server: FeedServer, pool: GuardedPoolManager) -> None:
    def slow_large_body() -> Iterator[bytes]:
        yield RSS + b" " * (100 * 1024)  # past large_body: the hook is asked here
        for _ in range(20):
            time.sleep(0.1)  # 20 MB at 10 MB/s: more than the socket buffers hold while it waits
            yield b" " * (1024 * 1024)

    url = server.route("/slow-big.xml", stream=slow_large_body)
    fetcher = HttpFeedFetcher(total_timeout=3, max_bytes=32 * 1024 * 1024, large_body=64 * 1024, pool=pool)
    # The hook waits 2.8 s of the 3 s cap for another feed to free memory; the body's
    # last megabytes then take more than the 0.2 s left, unless the wait is not counted.
    result = fetcher.fetch(url, NO_VALIDATORS, on_large_body=lambda deadline: time.sleep(2.8))
    assert result.status == 200
    assert len(result.body) == len(RSS) + 100 * 1024 + 20 * 1024 * 1024
