"""One deadline over everything a fetch does on the network before the body: connecting
(every address a name resolves to), the TLS handshake, the status line and the headers.

urllib3's timeouts are per operation: a connect timeout per address tried, a read
timeout per socket read. A server that sends one header byte every second, or
``100 Continue`` interim responses without end, resets the read timeout at every
byte and holds the fetch (and the batch that waits for it) for as long as it likes.
So while a fetch opens its response, the sockets its connections use are watched:
at the deadline they are shut down, which ends any read blocked on them, and each
further address is tried only for the time that is left.

The connection classes (``address_guard``) report their sockets through
``watch_socket`` and ask ``remaining`` before each connect; the fetch opens a
``SocketDeadline`` around the request. Nothing is watched outside one: a
connection used by other code keeps urllib3's own timeouts.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
import time
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)
_ACTIVE = threading.local()  # the SocketDeadline of the fetch running in this thread, if any


class _Watcher:
    """One daemon thread for every deadline of the process, soonest first: a fetch costs a
    heap entry, not a thread of its own (a timer thread each cost some 60 µs of CPU, two
    per fetch)."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, SocketDeadline]] = []
        self._order = itertools.count()  # ties broken by arrival, never by comparing deadlines
        self._thread: threading.Thread | None = None

    def add(self, guard: SocketDeadline) -> None:
        with self._wake:
            heapq.heappush(self._due, (guard.deadline, next(self._order), guard))
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="fetch-deadlines", daemon=True)
                thread.start()
                self._thread = thread  # only once it runs: a failed start is tried again next time
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, guard = heapq.heappop(self._due)
            try:
                guard.expire()
            except Exception:
                # This thread serves every fetch: one guard failing must not leave the others unwatched.
                log.exception("a fetch deadline failed to interrupt its connection")


class SocketDeadline:
    """Shuts down the sockets handed to ``watch``, or calls the ``interrupt`` functions given,
    once ``deadline`` (``time.monotonic()``) passes, unless stopped first."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._interrupts: list[Callable[[], object]] = []
        self._lock = threading.Lock()
        self._stopped = False
        _WATCHER.add(self)

    def watch(self, sock: socket.socket) -> None:
        self.interrupt(lambda: sock.shutdown(socket.SHUT_RDWR))

    def interrupt(self, shutdown: Callable[[], object]) -> None:
        """Call ``shutdown`` at the deadline (at once if it has passed): it must end any read
        blocked in another thread, like a socket's or a urllib3 response's ``shutdown``."""
        with self._lock:
            if self._stopped:
                return
            if self.fired:
                _quietly(shutdown)  # too late already: whatever it was about to wait for, it will not
                return
            self._interrupts.append(shutdown)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def stop(self) -> None:
        """Stand down: the sockets now belong to the response (or back to the pool)."""
        with self._lock:
            self._stopped = True
            self._interrupts.clear()

    def expire(self) -> None:
        """The deadline has passed: interrupt what is watched, unless stopped before."""
        # Under the lock, so that a connection already handed back to the pool is never shut down.
        with self._lock:
            if self._stopped:
                return
            self.fired = True
            for shutdown in self._interrupts:
                _quietly(shutdown)


_WATCHER = _Watcher()


def _quietly(shutdown: Callable[[], object]) -> None:
    # Already closed or released by its owner means there is nothing left to interrupt.
    with suppress(ValueError, RuntimeError, OSError):
        shutdown()


@contextmanager
def socket_deadline(deadline: float) -> Iterator[SocketDeadline]:
    """Watch, until the block ends, the sockets this thread's connections use."""
    guard = SocketDeadline(deadline)
    outer = getattr(_ACTIVE, "guard", None)
    _ACTIVE.guard = guard
    try:
        yield guard
    finally:
        _ACTIVE.guard = outer
        guard.stop()


def watch_socket(sock: socket.socket | None) -> None:
    """Put ``sock`` under this thread's fetch deadline, if a fetch is opening a response."""
    guard: SocketDeadline | None = getattr(_ACTIVE, "guard", None)
    if guard is not None and sock is not None:
        guard.watch(sock)


def remaining() -> float | None:
    """Seconds left before this thread's fetch deadline; None outside a fetch."""
    guard: SocketDeadline | None = getattr(_ACTIVE, "guard", None)
    return None if guard is None else guard.remaining()


__all__ = ["SocketDeadline", "remaining", "socket_deadline", "watch_socket"]
