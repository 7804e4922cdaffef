"""A TCP server that answers each request with bytes written as they are: the replies an
HTTP server library would never send (cut-short bodies, broken framing, odd headers)."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class RawServer:
    """Answers each request with ``reply`` (bytes, or bytes made from the request's path),
    then closes the connection; ``paths`` are the paths asked for, in order."""

    def __init__(self) -> None:
        self.reply: bytes | Callable[[bytes], bytes] = b""
        self.paths: list[bytes] = []
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=16)
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/feed.xml"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            with conn, suppress(OSError):
                conn.settimeout(2)
                request = conn.recv(65536)
                while b"\r\n\r\n" not in request and len(request) < 65536:
                    more = conn.recv(65536)
                    if not more:
                        break
                    request += more
                parts = request.split(b" ")
                path = parts[1] if len(parts) > 1 else b""
                self.paths.append(path)
                conn.sendall(self.reply(path) if callable(self.reply) else self.reply)
                conn.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
