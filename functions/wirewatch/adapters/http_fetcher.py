"""Feeds over HTTP(S) with urllib3: conditional GETs, counted redirects, bounded size and time, no internal hosts."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import TYPE_CHECKING, Final
from urllib.parse import quote, urljoin, urlsplit

import urllib3
from urllib3.exceptions import (
    DecodeError,
    HTTPError,
    LocationValueError,
    NewConnectionError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from wirewatch import __version__
from wirewatch.adapters.address_guard import AddressPolicy, ForbiddenAddressError, GuardedPoolManager
from wirewatch.adapters.content_coding import ACCEPTED, BodyDecoder
from wirewatch.adapters.socket_deadline import SocketDeadline, socket_deadline
from wirewatch.core.errors import FeedError
from wirewatch.core.links import LINK_LIMIT
from wirewatch.core.ports import FetchResult, Validators

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType

    from urllib3.response import BaseHTTPResponse

PROJECT_URL: Final = "https://github.com/wirewatch/wirewatch"


def user_agent(contact: str | None = None) -> str:
    """``wirewatch/<version> (+<project URL>; <contact>)``: publishers see what polls them and
    whom to tell (the operator's ``FeedContact``, if set) before they block it."""
    return f"wirewatch/{__version__} (+{PROJECT_URL}" + (f"; {contact})" if contact else ")")


DEFAULT_USER_AGENT: Final = user_agent()

# Feed types first, generic XML next, anything last: many publishers serve feeds as
# text/html or octet-stream, and the parser, not the header, decides what a feed is.
_ACCEPT: Final = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
# Only codings urllib3 decodes without optional packages (br and zstd need extras).
_URL_CHARACTERS: Final = "%:/?#[]@!$&'()*+,;=~"  # RFC 3986 reserved, and escapes kept
_VALIDATOR_LIMIT: Final = 1024  # characters: real ETags are hashes, real dates 29 characters
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_PERMANENT_STATUSES: Final = frozenset({301, 308})
_RETRY_AFTER_STATUSES: Final = frozenset({429, 503})
# RFC 9111 1.2.2: a delta-seconds too large to represent is taken as 2^31.
_MAX_DELTA_SECONDS: Final = 2**31
_SCHEMES: Final = frozenset({"http", "https"})
_CHUNK: Final = 64 * 1024


class HttpFeedFetcher:
    """Fetches feeds over HTTP(S); implements the FeedFetcher port.

    One instance keeps a connection pool, so a warm Lambda reuses connections across
    invocations. Requests are never retried here: the next poll cycle is the retry,
    and retrying inside a cycle would multiply the worst-case time per feed.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        total_timeout: float = 30.0,
        max_bytes: int = 10 * 1024 * 1024,
        large_body: int = 1024 * 1024,
        max_redirects: int = 5,
        user_agent: str = DEFAULT_USER_AGENT,
        allowed_networks: Sequence[str] = (),
        pool: GuardedPoolManager | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Configure limits and the address guard.

        Connections to loopback, private, link-local, CGNAT, multicast, reserved and
        cloud-metadata addresses are refused unless in ``allowed_networks`` (CIDR
        strings: ``("127.0.0.0/8", "::1/128")`` for a local feed server). ``pool`` is
        for tests and sharing: its owner closes it, and it carries its own
        ``AddressPolicy``, so it comes without ``allowed_networks``. ``clock`` (UTC
        now) turns a Retry-After date into seconds. A body is *large* past
        ``large_body`` bytes: ``fetch``'s ``on_large_body`` is called then.

        Raises:
            ValueError: a timeout or ``max_bytes`` is not positive, ``max_redirects`` is
                negative, an allowed network is not a CIDR, or both ``pool`` and
                ``allowed_networks`` are given.
            TypeError: ``pool`` is not a GuardedPoolManager (it would bypass the guard).
        """
        if min(connect_timeout, read_timeout, total_timeout) <= 0 or min(max_bytes, large_body) <= 0:
            raise ValueError("timeouts, max_bytes and large_body must be positive")
        if max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        if isinstance(allowed_networks, str):
            # A lone string would be read as a sequence of one-character networks.
            raise ValueError("allowed_networks is a sequence of CIDR strings, not one string")
        policy = AddressPolicy.allowing(allowed_networks)
        if pool is not None:
            if not isinstance(pool, GuardedPoolManager):
                raise TypeError("pool must be a GuardedPoolManager: a plain PoolManager connects anywhere")
            if policy.allowed:
                raise ValueError("pass allowed_networks to the GuardedPoolManager, not with it")
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._total_timeout = total_timeout
        self._max_bytes = max_bytes
        self._large_body = large_body
        self._max_redirects = max_redirects
        self._user_agent = user_agent
        self._clock = clock or _utc_now
        self._owns_pool = pool is None
        self._pool = pool if pool is not None else GuardedPoolManager(policy, num_pools=128, maxsize=4)

    def close(self) -> None:
        """Close pooled connections, unless the pool was passed in."""
        if self._owns_pool:
            self._pool.clear()

    def __enter__(self) -> HttpFeedFetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def fetch(
        self, url: str, validators: Validators, *, on_large_body: Callable[[float], None] | None = None
    ) -> FetchResult:
        """Fetch ``url`` conditionally on ``validators``, following redirects.

        A 304 gives an empty body and the validators the server sent back, or the
        ones passed in where it sent none. ``FetchResult.url`` is the final URL;
        ``moved_to`` is that URL too when every hop to it was a 301 or 308, and
        ``max_age`` the response's freshness lifetime (``_max_age``).
        ``on_large_body(deadline)`` is called once, before the body is read past
        ``large_body`` bytes (or at once if its Content-Length says it will be),
        with the fetch's deadline; what it raises comes out of ``fetch``.

        Raises:
            FeedError: with kind ``bad-url`` (not http/https, also after a redirect),
                ``forbidden-address`` (connected, or would connect, to an internal
                address not allow-listed, at any hop), ``too-many-redirects`` (more
                than ``max_redirects``, or a loop), ``timeout`` (connect, read or total
                time), ``unreachable`` (DNS, refused, reset, TLS), ``too-large``
                (decoded body over ``max_bytes``), ``bad-encoding`` (undecodable
                gzip/deflate) or ``http-<status>`` (with ``retry_after`` on 429 and 503).
        """
        deadline = time.monotonic() + self._total_timeout
        headers = self._headers(validators)
        current = _checked_url(url)
        visited = {current}
        permanent = True
        for hop in range(self._max_redirects + 1):
            response = self._open(current, headers, deadline)
            try:
                target = _redirect_target(response, current)
            except FeedError:
                _discard(response)
                raise
            if target is None:
                moved_to = current if hop and permanent else None
                return self._finish(response, current, validators, deadline, moved_to, on_large_body=on_large_body)
            permanent = permanent and response.status in _PERMANENT_STATUSES
            # A redirect's body is never wanted; closing beats draining an unbounded one.
            _discard(response)
            target = _checked_url(target)
            if target in visited:
                raise FeedError("too-many-redirects", f"redirect loop back to {target}")
            visited.add(target)
            current = target
        raise FeedError("too-many-redirects", f"more than {self._max_redirects} redirects from {url}")

    def _headers(self, validators: Validators) -> dict[str, str]:
        headers = {
            "User-Agent": self._user_agent,
            "Accept": _ACCEPT,
            "Accept-Encoding": ACCEPTED,
        }
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        return headers

    def _open(self, url: str, headers: dict[str, str], deadline: float) -> BaseHTTPResponse:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FeedError("timeout", f"no response within {self._total_timeout}s")
        timeout = urllib3.Timeout(
            connect=min(self._connect_timeout, remaining),
            read=min(self._read_timeout, remaining),
            total=remaining,
        )
        too_slow = FeedError("timeout", f"no complete response headers within {self._total_timeout}s")
        # urllib3's timeouts are per address and per socket read: a server dripping its headers
        # (or "100 Continue" without end) would hold the fetch forever without this.
        with socket_deadline(deadline) as guard:
            try:
                # redirect=False: redirects are followed in fetch() so each hop is counted,
                # loops are caught and every hop's scheme is checked.
                response = self._pool.urlopen(
                    "GET",
                    url,
                    headers=headers,
                    preload_content=False,
                    decode_content=False,  # BodyDecoder: it knows a cut-short stream from a whole one
                    redirect=False,
                    retries=False,
                    timeout=timeout,
                )
            except (HTTPError, OSError, HTTPException) as exc:
                raise (too_slow if guard.fired else _translated(exc)) from exc
            guard.stop()
        if guard.fired:
            _discard(response)
            raise too_slow
        return response

    def _finish(
        self,
        response: BaseHTTPResponse,
        url: str,
        sent: Validators,
        deadline: float,
        moved_to: str | None,
        *,
        on_large_body: Callable[[float], None] | None,
    ) -> FetchResult:
        status = response.status
        complete = False
        try:
            if status != 304 and not 200 <= status < 300:
                retry_after = None
                if status in _RETRY_AFTER_STATUSES:
                    retry_after = _retry_after(response.headers.get("Retry-After"), self._clock())
                # The body of an error page is deliberately not read or reported.
                raise FeedError(
                    f"http-{status}", f"HTTP {status} {response.reason or ''}".rstrip(), retry_after=retry_after
                )
            # A 304 has no body, but reading it to the end lets the connection be reused.
            body = self._read_body(response, deadline, on_large_body)
            complete = True
        finally:
            if not complete:
                response.close()
            response.release_conn()
        etag = _validator(response, "ETag")
        last_modified = _validator(response, "Last-Modified")
        max_age = _max_age(response.headers.get("Cache-Control"))
        if status == 304:
            return FetchResult(
                url=url,
                status=304,
                body=b"",
                validators=Validators(etag or sent.etag, last_modified or sent.last_modified),
                content_type=response.headers.get("Content-Type"),
                max_age=max_age,
                moved_to=moved_to,
            )
        return FetchResult(
            url=url,
            status=status,
            body=body,
            validators=Validators(etag, last_modified),
            content_type=response.headers.get("Content-Type"),
            max_age=max_age,
            moved_to=moved_to,
        )

    def _read_body(
        self, response: BaseHTTPResponse, deadline: float, on_large_body: Callable[[float], None] | None
    ) -> bytes:
        """Read the decoded body, stopping at ``max_bytes`` or the deadline.

        Raises:
            FeedError: ``too-large``, ``timeout``, ``unreachable`` or ``bad-encoding``.
        """
        declared = _declared_length(response)
        if declared is not None and declared > self._max_bytes:
            raise FeedError("too-large", f"Content-Length {declared} exceeds {self._max_bytes} bytes")
        too_slow = FeedError("timeout", f"body still arriving after {self._total_timeout}s")
        if on_large_body is not None and declared is not None and declared > self._large_body:
            deadline = _waited_for_memory(on_large_body, deadline)
            on_large_body = None
        decoder = BodyDecoder(response.headers.get("Content-Encoding"))
        watchdog = _watchdog(response, deadline)
        chunks: list[bytes] = []
        size = 0
        try:
            # read1 returns whatever one socket read yields (read() would block until a
            # whole chunk arrived), so a slow drip comes back here and meets the deadline.
            while raw := response.read1(_CHUNK, decode_content=False):
                # Counting decoded bytes is what stops a gzip bomb: its compressed size is tiny.
                chunk = decoder.decode(raw, self._max_bytes - size)
                size += len(chunk)
                if size > self._max_bytes:
                    raise FeedError("too-large", f"body exceeds {self._max_bytes} bytes")
                if on_large_body is not None and size > self._large_body:
                    # May wait for memory; the server is held back by TCP meanwhile, and the
                    # watchdog stands down: the wait is not the server's time.
                    watchdog.stop()
                    deadline = _waited_for_memory(on_large_body, deadline)
                    watchdog = _watchdog(response, deadline)
                    on_large_body = None
                if time.monotonic() > deadline:
                    raise too_slow
                chunks.append(chunk)
        except (HTTPError, OSError) as exc:
            raise (too_slow if watchdog.fired else _translated(exc)) from exc
        finally:
            watchdog.stop()
        if watchdog.fired:
            # The watchdog's shutdown reads as end of body; the body is truncated, not done.
            raise too_slow
        chunks.append(decoder.finish(self._max_bytes - size))
        if size + len(chunks[-1]) > self._max_bytes:
            raise FeedError("too-large", f"body exceeds {self._max_bytes} bytes")
        return b"".join(chunks)


def _watchdog(response: BaseHTTPResponse, deadline: float) -> SocketDeadline:
    """Shuts the response down at ``deadline`` if a single read is still blocked then.

    The deadline check in the read loop only runs between reads; urllib3 can keep
    reading inside one call (a compressed stream that decodes to nothing, dripped),
    so this makes ``total_timeout`` hold for the body whatever the server sends.
    """
    watchdog = SocketDeadline(deadline)
    watchdog.interrupt(response.shutdown)
    return watchdog


def _waited_for_memory(on_large_body: Callable[[float], None], deadline: float) -> float:
    """Call the hook; the fetch's deadline, moved on by however long it waited.

    Waiting for another feed to free memory is not this server being slow, so it does
    not count against the fetch's time cap (the hook itself waits no later than
    ``deadline``, and the caller's own deadline bounds it too).
    """
    started = time.monotonic()
    on_large_body(deadline)
    return deadline + (time.monotonic() - started)


def _checked_url(url: str) -> str:
    """The URL itself, if wirewatch may fetch it.

    Raises:
        FeedError: ``bad-url`` for a scheme other than http/https or a missing host.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise FeedError("bad-url", f"unparseable URL {url!r}") from exc
    if parts.scheme.lower() not in _SCHEMES:
        raise FeedError("bad-url", f"only http and https are fetched, not {url!r}")
    if not host:
        raise FeedError("bad-url", f"no host in {url!r}")
    return url


def _redirect_target(response: BaseHTTPResponse, url: str) -> str | None:
    location = response.headers.get("Location")
    if response.status not in _REDIRECT_STATUSES or not location:
        return None
    # http.client reads header bytes as Latin-1: "/actualités.xml" sent as UTF-8 arrives
    # as "/actualitÃ©s.xml". Its bytes, escaped, are the URL the server meant.
    try:
        meant = quote(location.strip().encode("latin-1"), safe=_URL_CHARACTERS)
    except UnicodeEncodeError:  # not from the wire: already text
        meant = quote(location.strip(), safe=_URL_CHARACTERS)
    if len(meant) > LINK_LIMIT:
        # It would be stored as the feed's URL and carried in every job: no feed lives there.
        raise FeedError("bad-url", f"redirect target of {len(meant)} characters")
    # Location may be relative (RFC 9110); resolve it against the URL that answered.
    try:
        return urljoin(url, meant)
    except ValueError as exc:
        raise FeedError("bad-url", f"unparseable redirect target {location[:200]!r}") from exc


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _delta_seconds(text: str) -> int | None:
    """A non-negative integer of seconds, capped at 2^31; None if ``text`` is not one."""
    text = text.strip().strip('"')
    if not text.isdigit() or not text.isascii():
        return None
    # Cap on the digit count too: int() of a thousand-digit string is slow by design.
    return _MAX_DELTA_SECONDS if len(text) > 10 else min(int(text), _MAX_DELTA_SECONDS)


def _max_age(cache_control: str | None) -> float | None:
    """Seconds the publisher asks responses to be reused for: Cache-Control max-age.

    Not less the Age a cache added: that is a freshness question for caches, while
    here max-age is the publisher's wish about how often to ask, and a CDN's Age,
    different on every response, would change the feed's state (a write) every poll.
    None without a valid max-age, with several different ones (RFC 9111 4.2.1 lets a
    recipient treat that as stale), or with no-store or (unqualified) no-cache: those
    ask for every poll to go to the origin, so there is no lower bound to honour.
    """
    if not cache_control:
        return None
    values: set[int | None] = set()
    for directive in _directives(cache_control):
        name, equals, value = directive.partition("=")
        name = name.strip().lower()
        # no-cache="Set-Cookie" only withholds the fields it names; bare no-cache is all of it.
        if name == "no-store" or (name == "no-cache" and not equals):
            return None
        if name == "max-age":
            values.add(_delta_seconds(value))
    if len(values) != 1:
        return None
    (seconds,) = values
    return None if seconds is None else float(seconds)


def _directives(header: str) -> list[str]:
    """Comma-separated directives, commas inside quoted strings kept (``no-cache="a, b"``).

    A hand-written scan: headers come from the feed's server and run to 64 KB, where a
    backtracking regex could be made to take quadratic time.
    """
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in header:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP-date; past → 0, junk → None."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.startswith("-") and _delta_seconds(text[1:]) is not None:
        return 0.0
    seconds = _delta_seconds(text)
    if seconds is not None:
        return float(seconds)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # "-0000" means UTC with an unknown local zone (RFC 5322); HTTP-dates are GMT anyway.
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def _validator(response: BaseHTTPResponse, name: str) -> str | None:
    """A validator to send back next time, or None for one no server sends in good faith.

    It is kept in the feed's state and in every poll job: one header repeated ninety
    times (joined into megabytes) or one over a kilobyte would make the state too large
    for DynamoDB and the job too large for SQS, and the feed fail for ever.
    """
    values = {value.strip() for value in response.headers.getlist(name)}
    if len(values) != 1:
        return None  # none, or several: no single one to send back
    value = values.pop()
    if not value or len(value) > _VALIDATOR_LIMIT or any(ord(char) < 0x20 or char == "\x7f" for char in value):
        return None
    return value


def _declared_length(response: BaseHTTPResponse) -> int | None:
    """Content-Length, when it is also the decoded size (no content coding)."""
    coding = response.headers.get("Content-Encoding", "").strip().lower()
    if coding not in ("", "identity"):
        return None
    try:
        return int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None


def _discard(response: BaseHTTPResponse) -> None:
    # Closing drops the unread body with the connection; releasing frees the pool slot.
    response.close()
    response.release_conn()


# First match wins: ForbiddenAddressError subclasses NewConnectionError, which
# subclasses ConnectTimeoutError in urllib3 2, so the order matters.
_KINDS: Final[tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...]] = (
    (LocationValueError, "bad-url"),
    (NewConnectionError, "unreachable"),
    ((Urllib3TimeoutError, TimeoutError), "timeout"),
    (DecodeError, "bad-encoding"),
)


def _translated(exc: HTTPError | OSError | HTTPException) -> FeedError:
    """The FeedError for a urllib3 or socket failure; the detail never holds a body."""
    if isinstance(exc, ForbiddenAddressError):
        return FeedError("forbidden-address", f"{exc.host} connects to {exc.address} ({exc.reason}); not allow-listed")
    if isinstance(exc, SSLError):
        return FeedError("unreachable", f"TLS: {exc}")
    kind = next((kind for types, kind in _KINDS if isinstance(exc, types)), "unreachable")
    return FeedError(kind, str(exc))
