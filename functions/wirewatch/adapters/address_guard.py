"""Refuse connections to internal addresses (SSRF), judged on the address actually connected to.

A feed URL comes from a watch file, and every redirect hop from whoever runs the
feed's server, so either could point wirewatch at a service only reachable from
inside: the cloud metadata endpoint, a database on 10.0.0.5, an admin page on
localhost. Resolving the name and checking the answer before connecting is not
enough: the name can resolve again, differently, when the connection is made (DNS
rebinding). The check therefore runs on the connected socket itself
(``getpeername()``), after the TCP handshake and before a byte of the request or of a
TLS handshake is sent; the hostname stays what SNI and certificate checks use. An IP
literal in the URL is refused before connecting, so no packet at all goes to it.

``GuardedPoolManager`` is a urllib3 ``PoolManager`` whose pools make guarded
connections; each connection carries the manager's ``AddressPolicy``.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, LocationParseError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from wirewatch.adapters.socket_deadline import remaining, watch_socket

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata services hand out credentials to anything that asks from inside.
# Most sit in ranges refused anyway; 192.0.0.192 (Oracle) counts as global otherwise.
_METADATA: Final = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
_SHARED: Final = ipaddress.IPv4Network("100.64.0.0/10")
# Well-known NAT64 prefix: the IPv4 address in its last 32 bits is the real destination.
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``("127.0.0.0/8", "::1/128")`` → networks; a bare address is a one-address network.

    Raises:
        ValueError: a string is not a network, or has host bits set ("10.0.0.1/8").
    """
    networks = []
    for cidr in cidrs:
        if not isinstance(cidr, str):
            raise ValueError(f"allowed network {cidr!r} is not a string")
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=True))
        except ValueError as exc:
            raise ValueError(f"allowed network {cidr!r}: {exc}") from exc
    return tuple(networks)


@dataclass(frozen=True)
class AddressPolicy:
    """Which peer addresses a connection may have: any globally routable one, plus ``allowed``."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def allowing(cls, cidrs: Iterable[str]) -> AddressPolicy:
        """A policy that also permits ``cidrs``; raises ValueError for an invalid one."""
        return cls(parse_networks(cidrs))

    def refusal(self, address: str) -> str | None:
        """Why a connection to ``address`` is refused ("loopback", ...), or None if it is permitted."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            # Not an IP (an AF_UNIX peer, a future family): nothing here can vouch for it.
            return "not an IP address"
        judged = _judged_forms(ip)
        if any(form in network for form in (ip, *judged) for network in self.allowed):
            return None
        for form in judged:
            reason = _category(form)
            if reason is not None:
                return reason
        return None


def _judged_forms(ip: IPAddress) -> tuple[IPAddress, ...]:
    """The addresses whose kind decides: an IPv6 form that carries an IPv4 one is judged by it.

    ``::ffff:127.0.0.1`` reaches 127.0.0.1 through a dual-stack socket, and the IPv6
    forms are "reserved" to ipaddress whatever they carry, so only the IPv4 one counts.
    """
    if isinstance(ip, ipaddress.IPv4Address):
        return (ip,)
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip in _NAT64:
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip.sixtofour is not None:
        return (ip, ip.sixtofour)
    return (ip,)


# Ordered from most to least specific, so the detail names the real concern.
_CATEGORIES: Final[tuple[tuple[str, Callable[[IPAddress], bool]], ...]] = (
    ("cloud metadata", lambda ip: ip in _METADATA),
    ("unspecified", lambda ip: ip.is_unspecified),
    ("loopback", lambda ip: ip.is_loopback),
    ("link-local", lambda ip: ip.is_link_local),
    ("shared address space (CGNAT)", lambda ip: ip in _SHARED),
    ("multicast", lambda ip: ip.is_multicast),
    ("private", lambda ip: ip.is_private),
    ("reserved", lambda ip: ip.is_reserved),
    ("site-local", lambda ip: isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
    ("not globally routable", lambda ip: not ip.is_global),
)


def _category(ip: IPAddress) -> str | None:
    return next((label for label, applies in _CATEGORIES if applies(ip)), None)


class ForbiddenAddressError(NewConnectionError):
    """A connection reached (or would reach) an address the policy refuses.

    A NewConnectionError, so urllib3 treats it like any failed connect: the
    connection is discarded, never pooled.
    """

    def __init__(self, conn: HTTPConnection, host: str, address: str, reason: str) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        super().__init__(conn, f"{host} is at {address} ({reason}), which is not allow-listed")


def _check_literal(conn: HTTPConnection, policy: AddressPolicy) -> None:
    # An IP literal is refused before any packet goes out; a name has to be connected first.
    literal = conn.host.strip("[]")
    try:
        ipaddress.ip_address(literal)
    except ValueError:
        return
    reason = policy.refusal(literal)
    if reason is not None:
        raise ForbiddenAddressError(conn, conn.host, literal, reason)


def _check_peer(conn: HTTPConnection, policy: AddressPolicy, sock: socket.socket) -> None:
    try:
        address = str(sock.getpeername()[0])
    except OSError:
        # The peer hung up in between; nothing was sent, so refusing costs nothing.
        address = "unknown"
    reason = policy.refusal(address)
    if reason is not None:
        sock.close()
        raise ForbiddenAddressError(conn, conn.host, address, reason)


# Name lookups, each waited for only as long as its fetch has left. A lookup that outlives
# its wait keeps a thread until the resolver gives up. More threads than a batch has fetches
# at once (POLL_CONCURRENCY, 50), so that a few feeds on slow name servers, and lookups
# still stuck from the batch before, cannot make the others' lookups wait out their time.
_RESOLVER = ThreadPoolExecutor(max_workers=128, thread_name_prefix="resolve")


_MOST_INTERIM: Final = 10  # interim responses skipped before the final one (100 Continue aside)
_MOST_INTERIM_HEADER_LINES: Final = 100
_MOST_LINE_BYTES: Final = 65_536


class FinalResponse(http.client.HTTPResponse):
    """The response after any interim ones. http.client skips ``100 Continue`` only; RFC
    9110 has a client skip every 1xx but 101, and a feed behind a server that sends ``103
    Early Hints`` or ``102 Processing`` first must not fail every poll."""

    def _read_status(self) -> tuple[str, int, str]:
        for _ in range(_MOST_INTERIM):
            # http.client's own status reader (begin() calls it), which its stubs leave out.
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if status in {100, 101} or not 100 <= status < 200:
                return version, status, reason
            self._skip_interim_headers()
        raise http.client.HTTPException(f"more than {_MOST_INTERIM} interim responses")

    def _skip_interim_headers(self) -> None:
        for _ in range(_MOST_INTERIM_HEADER_LINES):
            line = self.fp.readline(_MOST_LINE_BYTES + 1)
            if len(line) > _MOST_LINE_BYTES:
                raise http.client.LineTooLong("interim header line")
            if line in {b"\r\n", b"\n", b""}:
                return
        raise http.client.HTTPException(f"more than {_MOST_INTERIM_HEADER_LINES} interim header lines")


class GuardedHTTPConnection(HTTPConnection):
    """Checked against the address policy once connected; within a fetch's deadline
    (``socket_deadline``) from the first connect to the last header."""

    response_class = FinalResponse

    def __init__(self, *args: Any, address_policy: AddressPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # No policy means the strictest one: a connection made outside a guarded manager is still guarded.
        self.address_policy = address_policy or AddressPolicy()

    def _new_conn(self) -> socket.socket:
        # For HTTPS, connect() gets its TCP socket here and only then starts TLS (SNI and
        # certificate checks with the hostname), so the check precedes the handshake.
        _check_literal(self, self.address_policy)
        sock = self._connect_in_time()
        _check_peer(self, self.address_policy, sock)
        watch_socket(sock)  # the TLS handshake and the response's headers are read on it
        return sock

    def _connect_in_time(self) -> socket.socket:
        """urllib3's connect, one resolved address at a time, each for no longer than the
        fetch has left: urllib3 gives every address the whole connect timeout."""
        if remaining() is None or _is_address(self._dns_host):
            return super()._new_conn()  # nothing to look up: urllib3 connects within its timeout
        name, timeout = self._dns_host, self.timeout
        lookup = _RESOLVER.submit(
            socket.getaddrinfo, name.strip("[]"), self.port, allowed_gai_family(), socket.SOCK_STREAM
        )
        try:
            # getaddrinfo has no timeout of its own: a feed's domain whose name server
            # answers slowly would hold the fetch for the resolver's retries, at every hop.
            addresses = lookup.result(timeout=max(remaining() or 0.0, 0.0))
        except FutureTimeout:
            lookup.cancel()  # if it has not started; a started lookup ends on the resolver's own timeout
            raise ConnectTimeoutError(self, f"resolving {self.host} ran out of the fetch's time") from None
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except UnicodeError:
            # What urllib3's own connect says of a name IDNA cannot encode (an empty label).
            raise LocationParseError(f"'{name}', label empty or too long") from None
        failure: ConnectTimeoutError | None = None
        try:
            for address in dict.fromkeys(str(info[4][0]) for info in addresses):
                left = remaining() or 0.0
                if left <= 0:
                    break
                # An address, not a name: urllib3 resolves nothing more and tries it alone.
                self._dns_host = address
                self.timeout = min(timeout, left) if isinstance(timeout, (int, float)) else left
                try:
                    return super()._new_conn()
                except ConnectTimeoutError as exc:  # NewConnectionError included: refused, unreachable
                    failure = exc
        finally:
            self._dns_host, self.timeout = name, timeout
        raise failure or ConnectTimeoutError(self, f"Connection to {self.host} ran out of the fetch's time")

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        # A reused connection was connected by an earlier fetch: its socket is watched here.
        watch_socket(self.sock)
        return super().getresponse(*args, **kwargs)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class GuardedHTTPSConnection(GuardedHTTPConnection, HTTPSConnection):
    """The same guard before TLS (the method order puts it ahead of HTTPSConnection's)."""


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedPoolManager(PoolManager):
    """A PoolManager whose every connection is checked against ``policy`` once connected.

    Other keyword arguments are PoolManager's (``maxsize``, ``num_pools``, ...). Proxies
    are not supported: behind one, the connected peer is the proxy, not the feed.
    """

    def __init__(self, policy: AddressPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.address_policy = policy or AddressPolicy()
        self.pool_classes_by_scheme = {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        # Set on the pool, not in connection_pool_kw: urllib3 builds its pool keys from
        # those and refuses names it does not know.
        pool.conn_kw["address_policy"] = self.address_policy
        return pool
