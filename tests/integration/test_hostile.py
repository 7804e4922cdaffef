"""Hostile feeds through the real ingestion path: a local HTTP server, HttpFeedFetcher, parse_feed.

Every case of tests/fixtures/hostile/cases.yaml is served for real and fetched and
parsed as the poller does it. The only acceptable outcomes are the expected ones: a
parsed feed whose checks pass, or a FeedError of the expected kind. Any other
exception fails the case.
"""

from __future__ import annotations

import functools
import re
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import yaml

from wirewatch.adapters.http_fetcher import HttpFeedFetcher
from wirewatch.core.errors import FeedError
from wirewatch.core.feeds import ParsedFeed, parse_feed
from wirewatch.core.model import FeedSource
from wirewatch.core.ports import Validators

from .feed_server import FeedServer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from wirewatch.core.model import Item

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
BODIES = FIXTURES / "bodies"
# The test servers listen on loopback, which the address guard refuses by default.
LOCAL = ("127.0.0.0/8", "::1/128")
# After every date in the fixtures, so no item is dropped as implausibly dated.
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# The fetcher's clock, which Retry-After dates are measured against.
CLOCK = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)
RSS_TYPE = "application/rss+xml; charset=utf-8"
# C0 and C1 controls other than tab, newline and carriage return.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A small French item from the fixtures, reused by the generated bodies.
ITEM_A = (
    "<item><title>Premier entretien en un an entre les ministres US et russe de la Défense</title>"
    "<link>https://www.boursorama.com/bourse/actualites/premier-entretien-8c2a5f1e0f8b.html</link>"
    "<guid isPermaLink='false'>boursorama-8c2a5f1e0f8b</guid>"
    "<pubDate>Wed, 26 Jun 2024 01:29:00 +0200</pubDate></item>\n"
).encode()
HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Hostile</title>'
    b"<link>https://news.example.org/</link>\n"
)
TAIL = b"</channel></rss>\n"


@dataclass(frozen=True)
class Case:
    """One entry of cases.yaml, with its fields read once."""

    name: str
    spec: dict[str, Any]

    @property
    def expect(self) -> dict[str, Any]:
        return dict(self.spec["expect"])

    @property
    def serve(self) -> tuple[str, dict[str, Any]]:
        """The serving behaviour's name and parameters."""
        serve = self.spec.get("serve", "normal")
        if isinstance(serve, str):
            return serve, {}
        ((kind, params),) = serve.items()
        return str(kind), dict(params)


def load_cases() -> list[Case]:
    data = yaml.safe_load((FIXTURES / "cases.yaml").read_text(encoding="utf-8"))
    return [Case(str(spec["name"]), spec) for spec in data["cases"]]


CASES = load_cases()


def case_params() -> list[Any]:
    params = []
    for case in CASES:
        reason = case.spec.get("xfail")
        # strict: once parse_feed handles the case, the XPASS fails and the marker must go.
        marks = [pytest.mark.xfail(reason=str(reason), strict=True, raises=AssertionError)] if reason else []
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


# --- Generated bodies ---------------------------------------------------------------------


def filler(size: int) -> Callable[[], Iterable[bytes]]:
    def chunks() -> Iterator[bytes]:
        block = b" " * 65536
        remaining = size
        while remaining > 0:
            yield block[: min(remaining, len(block))]
            remaining -= len(block)

    return chunks


@functools.cache
def _gzip_bomb(decoded_size: int) -> bytes:
    # Compressed once per run, a megabyte at a time, so the decoded size is never in memory.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(decoded_size // len(block))]
    parts.append(compressor.flush())
    return b"".join(parts)


def gzip_bomb(decoded_size: int) -> Callable[[], Iterable[bytes]]:
    body = _gzip_bomb(decoded_size)
    return lambda: (body,)


def endless_items() -> Callable[[], Iterable[bytes]]:
    def chunks() -> Iterator[bytes]:
        yield HEAD
        block = ITEM_A * 256
        while True:
            yield block

    return chunks


def many_entries(count: int) -> bytes:
    items = b"".join(
        b"<item><title>D\xc3\xa9p\xc3\xaache %d</title><guid>g%d</guid></item>\n" % (i, i) for i in range(count)
    )
    return HEAD + items + TAIL


def long_title(size: int) -> bytes:
    title = ("Défense " * (size // 9 + 1)).encode()[:size].decode("utf-8", "ignore").encode()
    return (
        HEAD + b"<item><title>" + title + b"</title><link>https://news.example.org/long</link></item>\n" + ITEM_A + TAIL
    )


def deep_nesting(depth: int) -> bytes:
    return HEAD + b"<x>" * depth + ITEM_A + b"</x>" * depth + TAIL


def quadratic_blowup(entity_size: int, references: int) -> bytes:
    doctype = b'<!DOCTYPE rss [<!ENTITY a "' + b"a" * entity_size + b'">]>\n'
    description = b"&a;" * references
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + doctype
        + b'<rss version="2.0"><channel><title>Hostile</title><item><title>q</title><description>'
        + description
        + b"</description></item>\n"
        + ITEM_A
        + TAIL
    )


GENERATORS: dict[str, Callable[..., bytes | Callable[[], Iterable[bytes]]]] = {
    "filler": filler,
    "gzip-bomb": gzip_bomb,
    "endless-items": endless_items,
    "many-entries": many_entries,
    "long-title": long_title,
    "deep-nesting": deep_nesting,
    "quadratic-blowup": quadratic_blowup,
}


def generated_headers(spec: dict[str, Any]) -> dict[str, str]:
    params = dict(spec)
    name = params.pop("name")
    if name == "huge-header":
        return {"X-Padding": "a" * int(params["size"])}
    if name == "many-headers":
        return {f"X-Filler-{index}": "x" for index in range(int(params["count"]))}
    raise ValueError(f"unknown header generator {name!r}")


# --- Serving and checking ------------------------------------------------------------------


@dataclass
class Servers:
    internal: FeedServer  # 127.0.0.1: where "internal" services live
    origin: FeedServer  # where the case is served from (internal itself unless origin_host)

    def all(self) -> tuple[FeedServer, ...]:
        return (self.internal,) if self.origin is self.internal else (self.internal, self.origin)

    def substitute(self, text: str) -> str:
        return (
            text.replace("{origin}", self.origin.url("").rstrip("/"))
            .replace("{internal}", self.internal.url("").rstrip("/"))
            .replace("{internal_port}", str(self.internal.port))
        )


def body_of(case: Case, servers: Servers) -> tuple[bytes, Callable[[], Iterable[bytes]] | None]:
    spec = case.spec
    if "generate" in spec:
        params = dict(spec["generate"])
        made = GENERATORS[params.pop("name")](**params)
        return (made, None) if isinstance(made, bytes) else (b"", made)
    body = str(spec["text"]).encode() if "text" in spec else (BODIES / spec["body"]).read_bytes()
    if spec.get("template"):
        body = servers.substitute(body.decode("utf-8")).encode("utf-8")
    return body, None


def serve(case: Case, servers: Servers) -> str:
    """Set the case up on its server(s); returns the URL to fetch."""
    origin = servers.origin
    for path, text in (case.spec.get("also_serve") or {}).items():
        origin.route(path, str(text).encode(), content_type="text/plain")
    headers = {"Content-Type": RSS_TYPE, **{str(k): str(v) for k, v in (case.spec.get("headers") or {}).items()}}
    headers.update(generated_headers(case.spec["generate_headers"]) if "generate_headers" in case.spec else {})
    status = int(case.spec.get("status", 200))
    path = f"/{case.name}"
    kind, params = case.serve
    if kind == "redirect":
        location = servers.substitute(str(params["location"]))
        return origin.route(path, redirect_to=location, status=int(params.get("status", 302)))
    if kind == "redirect-loop":
        origin.route(f"{path}/b", redirect_to=f"{path}/a")
        return origin.route(f"{path}/a", redirect_to=f"{path}/b")
    if kind == "redirect-chain":
        hops = int(params["hops"])
        for hop in range(hops):
            origin.route(f"{path}/{hop}", redirect_to=f"{path}/{hop + 1}")
        origin.route(f"{path}/{hops}", b"<rss version='2.0'><channel/></rss>")
        return origin.url(f"{path}/0")
    body, stream = body_of(case, servers)
    options: dict[str, Any] = {"status": status, "content_type": None, "headers": headers}
    if kind == "gzip":
        options["gzip"] = True
    elif kind == "drip":
        options["drip"] = float(params["interval"])
        options["content_type"] = headers["Content-Type"]
    elif kind == "slow-headers":
        options["delay"] = float(params["delay"])
    elif kind == "header-drip":
        options["drip_headers"] = float(params["interval"])
    elif kind == "interim-flood":
        options["interim_flood"] = True
    elif kind == "content-length":
        options["declared_length"] = int(params.get("declared", len(body) + int(params.get("missing_bytes", 0))))
    elif kind != "normal":
        raise ValueError(f"{case.name}: unknown serving behaviour {kind!r}")
    if stream is not None:
        return origin.route(path, stream=stream, **options)
    return origin.route(path, body, **options)


def fetcher_for(case: Case) -> HttpFeedFetcher:
    # Generous defaults keep the good cases far from any limit; cases lower what they test.
    options: dict[str, Any] = {
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "total_timeout": 20.0,
        "allowed_networks": LOCAL,
        "clock": lambda: CLOCK,
    }
    options.update(case.spec.get("fetcher") or {})
    options["allowed_networks"] = tuple(options["allowed_networks"])
    return HttpFeedFetcher(**options)


def ingest(fetcher: HttpFeedFetcher, url: str, feed_id: str) -> ParsedFeed | FeedError:
    """Fetch and parse as the poller does; a FeedError is an outcome, anything else escapes."""
    try:
        result = fetcher.fetch(url, Validators())
        return parse_feed(
            result.body, FeedSource(id=feed_id, url=result.url), content_type=result.content_type, now=NOW
        )
    except FeedError as error:
        return error


def fields(item: Item) -> tuple[str, ...]:
    return (item.title, item.summary, item.content, item.link, item.guid or "")


def check(case: Case, outcome: ParsedFeed | FeedError, servers: Servers) -> None:
    expect = case.expect
    for path in expect.get("no_requests", []):
        for server in servers.all():
            assert server.hits[path] == 0, f"{server.host} was asked for {path}"
    if expect["outcome"] == "error":
        assert isinstance(outcome, FeedError), f"expected FeedError {expect['kind']}, got {len(outcome.items)} items"
        assert outcome.kind == expect["kind"], outcome
        if "retry_after" in expect:
            assert outcome.retry_after == pytest.approx(float(expect["retry_after"]))
        return
    assert isinstance(outcome, ParsedFeed), f"expected a parsed feed, got {outcome!r}"
    items = outcome.items
    if "items" in expect:
        assert len(items) == expect["items"]
    titles = {item.title for item in items}
    for title in expect.get("titles", []):
        assert title in titles, f"{title!r} not among {sorted(t[:120] for t in titles)}"
    for text in expect.get("absent", []):
        leaks = [value[:200] for item in items for value in fields(item) if text in value]
        assert not leaks, f"{text!r} found in {leaks}"
    if expect.get("links_http_only"):
        bad = [item.link for item in items if item.link and urlsplit(item.link).scheme not in ("http", "https")]
        assert not bad, f"non-http(s) links: {bad}"
    if expect.get("no_control_chars"):
        bad = [value[:200] for item in items for value in fields(item) if CONTROL.search(value)]
        assert not bad, f"control characters in {bad}"


@pytest.mark.parametrize("case", case_params())
def test_hostile_case(case: Case) -> None:
    with ExitStack() as stack:
        internal = stack.enter_context(FeedServer())
        origin_host = case.spec.get("origin_host")
        origin = stack.enter_context(FeedServer(host=str(origin_host))) if origin_host else internal
        servers = Servers(internal, origin)
        # An internal service a redirect might aim at; reaching it is what the guard prevents.
        internal.route("/internal/admin", b"SECRET", content_type="text/plain")
        url = serve(case, servers)
        # Entered last, so the client side closes first and the servers' handlers see EOF.
        fetcher = stack.enter_context(fetcher_for(case))

        outcome = ingest(fetcher, url, case.name)

        check(case, outcome, servers)


def test_manifest_is_complete() -> None:
    names = [case.name for case in CASES]
    assert len(names) >= 40
    assert len(set(names)) == len(names)
    used = {case.spec["body"] for case in CASES if "body" in case.spec}
    assert used == {path.name for path in BODIES.iterdir()}, "every body file is used, every used one exists"
    for case in CASES:
        assert case.expect["outcome"] in ("parsed", "error"), case.name
        assert (case.expect["outcome"] == "error") == ("kind" in case.expect), case.name


@pytest.mark.parametrize(
    "stall",
    [{"drip": 0.05}, {"drip_headers": 0.05}, {"interim_flood": True}],
    ids=["body-drip", "header-drip", "interim-flood"],
)
def test_one_stuck_feed_does_not_hold_up_the_others(stall: dict[str, Any]) -> None:
    """A feed that never finishes, in a concurrent batch: every good feed is done before it is,
    and it ends at its own time cap, whether its body or its headers never end."""
    good = 12
    completed: list[str] = []
    lock = threading.Lock()
    outcomes: dict[str, ParsedFeed | FeedError] = {}
    with FeedServer() as server:
        body = (BODIES / "french-utf8.xml").read_bytes()
        urls = {f"good-{index}": server.route(f"/good-{index}.xml", body) for index in range(good)}
        # Submitted first, so it holds a worker from the start.
        urls = {"stuck": server.route("/stuck.xml", body, **stall), **urls}

        def run(name: str, fetcher: HttpFeedFetcher) -> None:
            outcome = ingest(fetcher, urls[name], name)
            with lock:
                outcomes[name] = outcome
                completed.append(name)

        with (
            HttpFeedFetcher(total_timeout=3.0, allowed_networks=LOCAL) as fetcher,
            ThreadPoolExecutor(max_workers=4) as pool,
        ):
            futures = [pool.submit(run, name, fetcher) for name in urls]
            for future in futures:
                future.result()

    assert completed[-1] == "stuck"
    assert sorted(completed[:-1]) == sorted(name for name in urls if name != "stuck")
    stuck = outcomes["stuck"]
    assert isinstance(stuck, FeedError)
    assert stuck.kind == "timeout"
    for name in completed[:-1]:
        parsed = outcomes[name]
        assert isinstance(parsed, ParsedFeed)
        assert len(parsed.items) == 3
