"""A local HTTP server for the bundled sample feeds, with real conditional GET.

``/<feed-id>`` serves ``<feed-id>.*`` from the samples folder, with an ETag
and Last-Modified, and answers 304 when the client sends them back.
"""

from __future__ import annotations

import hashlib
import threading
from email.utils import formatdate
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

_CONTENT_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
}


class _Handler(BaseHTTPRequestHandler):
    def __init__(self, *args: Any, folder: Path, **kwargs: Any) -> None:
        self.folder = folder
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        name = self.path.strip("/").split("?", 1)[0]
        matches = sorted(self.folder.glob(f"{name}.*")) if name and "/" not in name and ".." not in name else []
        if not matches:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        path = matches[0]
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        modified = formatdate(path.stat().st_mtime, usegmt=True)
        if self.headers.get("If-None-Match") == etag:
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", _CONTENT_TYPES.get(path.suffix, "application/xml"))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo prints alerts, not access logs."""


class SampleFeedServer:
    """Serves a folder of feed files on 127.0.0.1 on a free port, in a thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, folder=folder))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, feed_id: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{feed_id}"

    def has(self, feed_id: str) -> bool:
        return any(self.folder.glob(f"{feed_id}.*"))

    def __enter__(self) -> SampleFeedServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
