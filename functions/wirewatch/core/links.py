"""Links as alerts show them, and links as identities of stories.

A feed often links to a redirect service (a Google Alert, a Bing News click, a
Safe Link in a forwarded newsletter) rather than to the article. Everything here
is decided offline: a worker never fetches a link to learn where it leads, so a
wrapper whose target cannot be read from the link itself is left as it is.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import (
    parse_qsl,
    quote,
    quote_from_bytes,
    unquote_plus,
    unquote_to_bytes,
    urljoin,
    urlsplit,
    urlunsplit,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from urllib.parse import SplitResult

__all__ = ["LINK_LIMIT", "canonical_link", "identity_key", "is_web_url", "unwrap"]

_WEB_SCHEMES = frozenset({"http", "https"})

# Query parameters that only tell the publisher where a click came from; "name*" is
# a prefix. French publishers tag RSS links with xtor (AT Internet), the BBC with
# at_*/ns_*, the Guardian with CMP, the NYT with smid, MSN with ocid, Yahoo with ncid.
# Generic names (ref, cid, source, partner) are left alone: on some sites they choose
# the article.
_TRACKING = (
    *("utm_*", "_ga", "_gl", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "srsltid"),
    *("fbclid", "fb_*", "igshid", "msclkid", "twclid", "ttclid", "li_fat_id", "yclid", "_openstat"),
    *("ref_src", "__twitter_impression", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "__hs*", "mkt_tok"),
    *("xtor", "at_*", "wt_mc", "wt.*", "ns_*", "ocid", "cmpid", "cmp", "icid", "ito", "smid", "smtyp"),
    *("ncid", "soc_src", "soc_trk", "guccounter", "guce_*", "tblci", "dicbo"),
)
_TRACKING_PARAM = re.compile(
    "|".join(re.escape(name[:-1]) + ".*" if name.endswith("*") else re.escape(name) for name in _TRACKING),
    re.IGNORECASE | re.DOTALL,
)

# Leading host labels naming an edition of the same site, which serves the same
# article at the same path: amp.theguardian.com/x is www.theguardian.com/x.
_EDITION_LABELS = frozenset({"www", "m", "mobile", "amp"})
# Where AMP versions live: an "amp" path segment (/amp/x, /news/amp/x, /x/amp), an
# ".amp" suffix (x.amp, x.amp.html), or ?amp, ?amp=1, ?outputType=amp in the query.
_AMP_SEGMENT = "amp"
_AMP_SUFFIX = re.compile(r"\.amp(?=\.html?$|$)")
_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = "%!$&'()*+,;=:@"
# What a query may hold as it is: escapes, and every character RFC 3986 allows there.
_QUERY_KEPT = "%/?:@!$&'()*+,;=~"

# Longer links are refused by most servers (8 KiB of request line) and browsers' address
# bars; in a feed they are junk or hostile, and would swell every message carrying them.
LINK_LIMIT = 4_096

# A wrapper inside a wrapper is real (a Safe Link to a Google Alert); a deeper chain
# is not a publisher's link, and is left alone.
_MAX_DEPTH = 4


# ---------------------------------------------------------------- wrappers


@dataclass(frozen=True)
class _Wrapper:
    """A redirect service: its hosts and paths (whole matches), and how to read its target."""

    hosts: re.Pattern[str]
    path: re.Pattern[str]
    target: Callable[[SplitResult, re.Match[str]], str | None]


def _in_query(*names: str) -> Callable[[SplitResult, re.Match[str]], str | None]:
    """Target in the first of ``names`` the query has (google.com/url?q=…)."""

    def target(parts: SplitResult, _: re.Match[str]) -> str | None:
        params = dict(parse_qsl(parts.query))
        return next((params[name] for name in names if name in params), None)

    return target


def _in_path(parts: SplitResult, found: re.Match[str]) -> str | None:
    """Target written after the wrapper's path, ``s/`` meaning https (the AMP caches)."""
    scheme = "https" if found["secure"] else "http"
    return f"{scheme}://{found['target']}" + (f"?{parts.query}" if parts.query else "")


def _in_google_news_id(_: SplitResult, found: re.Match[str]) -> str | None:
    """Target inside a Google News article id: base64url of a protobuf message with
    the URL in field 4 (ids starting ``CBMi``/``CAIi``).

    Since mid-2024 that field holds an opaque ``AU_yqL…`` token instead, which only a
    request to Google turns into a URL; such links are left as they are.
    """
    article_id = found["id"]
    try:
        message = base64.urlsafe_b64decode(article_id + "=" * (-len(article_id) % 4))
        field = _protobuf_field(message, 4)
        return field.decode("utf-8") if field is not None else None
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None


def _protobuf_field(message: bytes, wanted: int) -> bytes | None:
    """The first length-delimited field numbered ``wanted``.

    Raises:
        ValueError: the bytes are not a protobuf message.
    """
    position = 0
    while position < len(message):
        key, position = _varint(message, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, position = _varint(message, position)
        elif wire_type in {1, 5}:
            position += 8 if wire_type == 1 else 4
        elif wire_type == 2:
            length, start = _varint(message, position)
            position = start + length
            if position > len(message):
                raise ValueError("truncated field")
            if number == wanted:
                return message[start:position]
        else:
            raise ValueError(f"wire type {wire_type}")
    return None


def _varint(data: bytes, position: int) -> tuple[int, int]:
    """A protobuf varint at ``position`` and the position after it.

    Raises:
        ValueError: the bytes end inside the varint, or it exceeds 64 bits.
    """
    value = 0
    for shift in range(0, 64, 7):
        if position >= len(data):
            break
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
    raise ValueError("bad varint")


def _wrapper(hosts: str, path: str, target: Callable[[SplitResult, re.Match[str]], str | None]) -> _Wrapper:
    return _Wrapper(re.compile(hosts), re.compile(path), target)


_GOOGLE = r"(?:www\.)?google\.(?:com?\.)?[a-z]{2,3}"  # google.com, google.fr, google.co.uk, google.com.au
_WRAPPERS = (
    _wrapper(_GOOGLE, r"/url", _in_query("url", "q")),  # Google Alerts, search results
    _wrapper(r"news\.google\.com", r"/news/url", _in_query("url")),  # Google News RSS before 2020
    _wrapper(
        r"news\.google\.com", r"(?:/__i)?(?:/rss)?(?:/rd)?/(?:articles|read)/(?P<id>[A-Za-z0-9_-]+)", _in_google_news_id
    ),
    _wrapper(_GOOGLE, r"/amp/(?P<secure>s/)?(?P<target>.+)", _in_path),  # AMP viewer
    _wrapper(r"[a-z0-9-]+\.cdn\.ampproject\.org", r"/[cv]/(?P<secure>s/)?(?P<target>.+)", _in_path),
    _wrapper(r"(?:www\.)?bing\.com", r"/news/apiclick\.aspx", _in_query("url")),
    _wrapper(r"lm?\.facebook\.com", r"/l\.php", _in_query("u")),
    _wrapper(r"[a-z0-9-]+\.safelinks\.protection\.outlook\.com", r"/?", _in_query("url")),
    _wrapper(r"(?:www\.)?linkedin\.com", r"/redir/redirect/?", _in_query("url")),
    _wrapper(r"(?:html\.)?duckduckgo\.com", r"/l/?", _in_query("uddg")),
    _wrapper(r"(?:www\.)?youtube\.com", r"/redirect", _in_query("q")),
    _wrapper(r"slack-redir\.net", r"/link", _in_query("url")),
    _wrapper(r"(?:m\.)?vk\.com", r"/away\.php", _in_query("to")),
)
# Not here, because the target is not in the link: t.co, bit.ly and other shorteners,
# Mailchimp's list-manage.com, and FeedBurner's feedproxy.google.com/~r/… (feeds
# carry the original in feedburner:origLink, which feeds.py prefers).


def unwrap(link: str) -> str:
    """The publisher's URL behind known redirect wrappers, else ``link`` unchanged.

    Only an http(s) target is taken (a wrapper may point at ``javascript:``); a chain
    of wrappers deeper than a few is left as it is.
    """
    current = link
    for _ in range(_MAX_DEPTH):
        target = _wrapped_target(current)
        if target is None:
            return current
        current = target
    return current if _wrapped_target(current) is None else link


def _wrapped_target(link: str) -> str | None:
    """The web URL a wrapper link leads to; None if ``link`` is no wrapper or leads elsewhere."""
    try:
        parts = urlsplit(link)
    except ValueError:  # "http://[::1" and such
        return None
    if parts.scheme.lower() not in _WEB_SCHEMES:
        return None
    host, path = parts.hostname or "", parts.path or "/"
    for wrapper in _WRAPPERS:
        found = wrapper.path.fullmatch(path) if wrapper.hosts.fullmatch(host) else None
        if found:
            return _web_url(wrapper.target(parts, found))
    return None


def is_web_url(text: str) -> bool:
    """An absolute http(s) URL with a host."""
    return _web_url(text) is not None


def _web_url(candidate: str | None) -> str | None:
    if candidate is None:
        return None
    candidate = candidate.strip()
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    return candidate if parts.scheme.lower() in _WEB_SCHEMES and parts.hostname else None


# ---------------------------------------------------------------- display


def canonical_link(link: str, base: str = "") -> str:
    """The link an alert shows: absolute, unwrapped, without fragment or tracking
    parameters; scheme and host lower-cased, but ``http``/``www.`` kept as published.

    Only web links are links: ``javascript:``, ``data:``, ``file:`` (also by way of
    an ``xml:base``) and the like give "", so no alert ever carries one; nor does a
    link longer than ``LINK_LIMIT``, which no server serves and no message should carry.

    Raises:
        ValueError: the link or base is not a URL (``http://[::1``).
    """
    absolute = urljoin(base, link.strip()) if base else link.strip()
    parts = urlsplit(unwrap(absolute))
    if parts.scheme.lower() not in _WEB_SCHEMES or not parts.netloc:
        return ""
    # Characters a URL cannot hold (a space, a quote) escaped; escapes already there kept.
    query = "&".join(quote(pair, safe=_QUERY_KEPT) for pair in _untracked(parts.query))
    shown = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))
    return shown if len(shown) <= LINK_LIMIT else ""


def _untracked(query: str) -> list[str]:
    """The query's parameters as published, tracking ones dropped.

    Kept byte for byte rather than decoded and encoded again: a query is not always
    ``key=value`` pairs (``index.php?/archives/123``, ``article.php?12345``), and old
    sites escape Latin-1 (``?mot=%E9t%E9``), which a UTF-8 round trip would garble.
    """
    return [pair for pair in query.split("&") if pair and not _TRACKING_PARAM.fullmatch(_parameter_name(pair))]


def _parameter_name(pair: str) -> str:
    return unquote_plus(pair.partition("=")[0], errors="replace")


# ---------------------------------------------------------------- identity


def identity_key(link: str) -> str:
    """One form for every spelling of a link to the same article; "" for no web link.

    Beyond :func:`canonical_link` it ignores http vs https, an edition host label
    (``www.``, ``m.``, ``mobile.``, ``amp.``), a default port, empty path segments
    and the trailing slash, AMP markers, percent-encoding case and the order of query
    parameters. Idempotent: normalising can reveal a wrapper (``www.l.facebook.com``
    is ``l.facebook.com``), so the form is recomputed until it settles.
    """
    current = link.strip()
    for _ in range(_MAX_DEPTH + 1):
        key = _identity_form(unwrap(current))
        if key in {current, ""}:
            return key
        current = key
    return ""


def _identity_form(link: str) -> str:
    try:
        parts = urlsplit(link)
        netloc = _identity_netloc(parts)
    except ValueError:  # a malformed host or port: nothing to identify
        return ""
    if parts.scheme.lower() not in _WEB_SCHEMES or not netloc:
        return ""
    query = sorted(_pair_identity(pair) for pair in _untracked(parts.query) if not _is_amp_marker(pair))
    # A URL, and an https one: a link already spelled this way keeps the story key it
    # had when keys hashed the link as shown, so a deploy forgets fewer stories.
    return urlunsplit(("https", netloc, _identity_path(parts.path), "&".join(query), ""))


def _identity_netloc(parts: SplitResult) -> str:
    """Host without edition labels or trailing dot, and the port unless the scheme's default.

    Raises:
        ValueError: the port is not a number in range.
    """
    labels = (parts.hostname or "").rstrip(".").split(".")
    while len(labels) > 2 and labels[0] in _EDITION_LABELS:
        labels.pop(0)
    host = ".".join(labels)
    if ":" in host:  # IPv6
        host = f"[{host}]"
    port = parts.port
    default = 443 if parts.scheme.lower() == "https" else 80
    return host if port in {None, default} or not host else f"{host}:{port}"


def _identity_path(path: str) -> str:
    segments = [_escaped(segment) for segment in path.split("/") if segment]
    if segments:
        segments[-1] = _AMP_SUFFIX.sub("", segments[-1])
    return "/" + "/".join(segment for segment in segments if segment and segment != _AMP_SEGMENT)


def _escaped(segment: str) -> str:
    """The segment percent-encoded one way: unreserved characters plain, other escapes
    upper-case, non-ASCII as UTF-8 escapes (``é``, ``%c3%a9`` and ``%C3%A9`` agree)."""

    def one_way(escape: re.Match[str]) -> str:
        character = chr(int(escape[1], 16))
        return character if character in _UNRESERVED else escape[0].upper()

    return quote(_PERCENT_ESCAPE.sub(one_way, segment), safe=_PATH_SAFE)


def _pair_identity(pair: str) -> str:
    """A query parameter one way, byte for byte: ``+`` and ``%20``, ``/`` and ``%2F``, ``x``
    and ``x=`` agree (a server decodes them alike), while ``%E9`` stays apart from ``%E8``."""
    name, _, value = pair.partition("=")
    return f"{_bytes_one_way(name)}={_bytes_one_way(value)}"


def _bytes_one_way(text: str) -> str:
    return quote_from_bytes(unquote_to_bytes(text.replace("+", " ")), safe="")


def _is_amp_marker(pair: str) -> bool:
    name, _, value = pair.partition("=")
    name = unquote_plus(name, errors="replace").lower()
    return name == "amp" or (name == "outputtype" and unquote_plus(value, errors="replace").lower() == "amp")
