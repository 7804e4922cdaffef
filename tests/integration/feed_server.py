"""A real local HTTP server for feed tests: routes, cache validators, delays, drips, redirects, streams.

Usage::

    with FeedServer() as server:
        url = server.route("/feed.xml", body=b"<rss/>", etag='"v1"')
        ...
        assert server.hits["/feed.xml"] == 1
        assert server.last_request("/feed.xml").headers["if-none-match"] == '"v1"'
"""

from __future__ import annotations

import gzip as gzip_codec
import itertools
import socket
import ssl
import threading
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

RSS_TYPE = "application/rss+xml; charset=utf-8"
# Headers a 304 carries over from the full response it stands for (RFC 9110 15.4.5).
_NOT_MODIFIED_HEADERS = frozenset({"cache-control", "expires", "vary", "content-location", "date", "age"})


@dataclass(frozen=True)
class Route:
    """How the server answers one path; ``body`` is already gzipped when ``gzip`` is set."""

    body: bytes
    status: int
    etag: str | None
    last_modified: str | None
    content_type: str | None
    delay: float
    drip: float | None
    gzip: bool
    redirect_to: str | None
    headers: tuple[tuple[str, str], ...] = ()
    stream: Callable[[], Iterable[bytes]] | None = None
    declared_length: int | None = None
    drip_headers: float | None = None
    interim_flood: bool = False


@dataclass(frozen=True)
class SeenRequest:
    """A request the server received; header names are lower-cased."""

    path: str
    headers: dict[str, str]


class FeedServer:
    """HTTP/1.1 server on 127.0.0.1 (free port) in a daemon thread; a context manager.

    Unknown paths get 404. A route with validators answers a matching
    If-None-Match / If-Modified-Since with 304. Request logging is silenced.
    ``host`` is another local IPv4 address to listen on (any of 127.0.0.0/8 on Linux).
    ``tls`` (a server-side SSLContext) serves HTTPS; the handshake happens in the
    connection's handler thread, so a client that never starts one blocks nothing.
    """

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.scheme = "https" if tls is not None else "http"
        self.hits: Counter[str] = Counter()
        self.requests: list[SeenRequest] = []
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._handler_threads: list[threading.Thread] = []
        self._httpd = _Server(self, host, tls)
        # A short poll interval keeps shutdown, and so every test's teardown, quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="feed-server", daemon=True
        )

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and end every open connection, dripping ones included."""
        self._stopping.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        with self._lock:
            connections = list(self._connections)
            threads = list(self._handler_threads)
        # Shutting the sockets down wakes handlers blocked on idle keep-alive reads.
        for conn in connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)
        self._httpd.server_close()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def route(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        etag: str | None = None,
        last_modified: str | None = None,
        content_type: str | None = RSS_TYPE,
        delay: float = 0.0,
        drip: float | None = None,
        gzip: bool = False,
        redirect_to: str | None = None,
        headers: dict[str, str] | None = None,
        stream: Callable[[], Iterable[bytes]] | None = None,
        declared_length: int | None = None,
        drip_headers: float | None = None,
        interim_flood: bool = False,
    ) -> str:
        """Serve ``path``; returns its URL. Replaces an earlier route for the same path.

        ``delay`` waits before the status line (for read timeouts). ``drip`` sends
        the body one byte per ``drip`` seconds, then whitespace until the client or
        the server goes away. ``redirect_to`` (absolute, or a path on this server)
        answers with ``status`` if it is a 3xx, else 302. ``gzip`` compresses the
        body and labels it Content-Encoding: gzip. ``headers`` are added to a full
        (not redirect or drip) response and win over the ones set from arguments; a
        304 gets only those a 304 repeats (Cache-Control, Expires, Vary, ...).

        ``stream`` makes the body per request, sent chunk by chunk as the iterable
        yields it (for bodies too big to hold, or endless): no Content-Length, the
        connection closing ends it. ``declared_length`` is sent as Content-Length
        instead of the real length, and the connection closes after the body, so a
        larger value makes a truncated response.

        Two ways never to finish the headers, each resetting a client's read timeout
        at every byte: ``drip_headers`` sends the status line, then one byte of an
        endless header line per ``drip_headers`` seconds; ``interim_flood`` sends
        ``100 Continue`` interim responses without end.
        """
        if drip is not None and gzip:
            raise ValueError("drip sends raw bytes; it cannot be combined with gzip")
        if stream is not None and (gzip or drip is not None or body):
            raise ValueError("stream makes the body; it cannot be combined with body, gzip or drip")
        encoded = gzip_codec.compress(body, compresslevel=6) if gzip else body
        extra = tuple((headers or {}).items())
        route = Route(
            encoded,
            status,
            etag,
            last_modified,
            content_type,
            delay,
            drip,
            gzip,
            redirect_to,
            extra,
            stream,
            declared_length,
            drip_headers,
            interim_flood,
        )
        with self._lock:
            self._routes[path] = route
        return self.url(path)

    def last_request(self, path: str) -> SeenRequest:
        """The most recent request for ``path``; raises LookupError if there was none."""
        with self._lock:
            for seen in reversed(self.requests):
                if seen.path == path:
                    return seen
        raise LookupError(f"no request for {path}")

    def _received(self, path: str, headers: dict[str, str]) -> Route | None:
        with self._lock:
            self.hits[path] += 1
            self.requests.append(SeenRequest(path, headers))
            return self._routes.get(path)

    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
            self._handler_threads.append(threading.current_thread())

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, feeds: FeedServer, host: str, tls: ssl.SSLContext | None) -> None:
        super().__init__((host, 0), _Handler)
        self.feeds = feeds
        if tls is not None:
            # Not on connect: accept() runs in the serving thread, the handshake should not.
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections give up on their own if a client never closes them.
    timeout = 10

    @property
    def feeds(self) -> FeedServer:
        return cast("_Server", self.server).feeds

    def setup(self) -> None:
        super().setup()
        self.feeds._opened(self.connection)

    def finish(self) -> None:
        self.feeds._closed(self.connection)
        super().finish()

    def handle(self) -> None:
        # Clients hanging up mid-response (the point of drip and size tests) is expected,
        # and so are TLS clients giving up on the handshake.
        with suppress(OSError):
            if isinstance(self.connection, ssl.SSLSocket):
                self.connection.do_handshake()
            super().handle()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        headers = {name.lower(): value for name, value in self.headers.items()}
        route = self.feeds._received(path, headers)
        if route is None:
            self._reply(404, b"not found", {"Content-Type": "text/plain"})
            return
        if route.delay and self.feeds._stopping.wait(route.delay):
            self.close_connection = True
            return
        if route.drip_headers is not None:
            self._endless(b"HTTP/1.1 200 OK\r\nX-Never-Ends: ", b"a", route.drip_headers)
        elif route.interim_flood:
            self._endless(b"", b"HTTP/1.1 100 Continue\r\n\r\n" * 50, 0.01)
        elif route.redirect_to is not None:
            status = route.status if 300 <= route.status < 400 else 302
            self._reply(status, b"", {"Location": route.redirect_to})
        elif route.status == 200 and _not_modified(route, headers):
            kept = {name: value for name, value in route.headers if name.lower() in _NOT_MODIFIED_HEADERS}
            self._reply(304, b"", {**_validator_headers(route), **kept}, body_allowed=False)
        elif route.drip is not None:
            self._drip(route, route.drip)
        else:
            extra = _validator_headers(route)
            if route.content_type:
                extra["Content-Type"] = route.content_type
            if route.gzip:
                extra["Content-Encoding"] = "gzip"
            extra.update(route.headers)
            if route.stream is not None or route.declared_length is not None:
                self._stream(route, extra)
            else:
                self._reply(route.status, route.body, extra)

    def _reply(self, status: int, body: bytes, headers: dict[str, str], *, body_allowed: bool = True) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if body_allowed:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body_allowed:
            self.wfile.write(body)

    def _stream(self, route: Route, headers: dict[str, str]) -> None:
        # The body's end is the connection's end: no keep-alive after a made-up or missing length.
        self.close_connection = True
        self.send_response(route.status)
        for name, value in headers.items():
            self.send_header(name, value)
        if route.declared_length is not None:
            self.send_header("Content-Length", str(route.declared_length))
        self.send_header("Connection", "close")
        self.end_headers()
        chunks = route.stream() if route.stream is not None else (route.body,)
        for chunk in chunks:
            if self.feeds._stopping.is_set():
                return
            self.wfile.write(chunk)
        self.wfile.flush()

    def _endless(self, head: bytes, piece: bytes, interval: float) -> None:
        # Raw bytes, not send_response: these are responses http.server would never write.
        self.close_connection = True
        self.wfile.write(head)
        while True:
            self.wfile.write(piece)
            self.wfile.flush()
            if self.feeds._stopping.wait(interval):
                return

    def _drip(self, route: Route, interval: float) -> None:
        # No Content-Length: the body ends when the connection does, which is never on its own.
        self.close_connection = True
        self.send_response(route.status)
        if route.content_type:
            self.send_header("Content-Type", route.content_type)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        for byte in itertools.chain(route.body, itertools.repeat(ord(" "))):
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            if self.feeds._stopping.wait(interval):
                return


def _validator_headers(route: Route) -> dict[str, str]:
    headers = {}
    if route.etag:
        headers["ETag"] = route.etag
    if route.last_modified:
        headers["Last-Modified"] = route.last_modified
    return headers


def _not_modified(route: Route, headers: dict[str, str]) -> bool:
    # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 13.2.2).
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if route.etag is None:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or route.etag.removeprefix("W/") in tags
    since = headers.get("if-modified-since")
    if since is None or route.last_modified is None:
        return False
    try:
        return parsedate_to_datetime(route.last_modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return since == route.last_modified
