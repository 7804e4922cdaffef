"""Feed bytes → normalised items, with feedparser; a broken feed is data, not a crash."""

from __future__ import annotations

import calendar
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from wirewatch.core.errors import FeedError
from wirewatch.core.model import FeedSource, Item
from wirewatch.core.normalize import html_to_text

if TYPE_CHECKING:
    import time

# Query parameters that only tell the publisher where a click came from.
_TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|xtor|wt_mc|at_medium|at_campaign|"
    r"ocid|cmpid|ito|ns_mchannel|ns_source|ns_campaign|ns_linkname|ns_fee|_ga|igshid)$",
    re.IGNORECASE,
)
# Dates before RSS existed or more than a day ahead are feed bugs (meduza's scraper
# stamps every item 1970-01-01); such items are treated as undated.
_EARLIEST_PLAUSIBLE = datetime(1995, 1, 1, tzinfo=UTC)
_FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class ParsedFeed:
    items: tuple[Item, ...]
    problems: tuple[str, ...]
    lang: str


def canonical_link(link: str, base: str = "") -> str:
    """Absolute link without fragment or tracking parameters; scheme and host lower-cased."""
    absolute = urljoin(base, link.strip()) if base else link.strip()
    parts = urlsplit(absolute)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), ""))


def parse_feed(body: bytes, feed: FeedSource, *, content_type: str | None = None, now: datetime) -> ParsedFeed:
    """Parse fetched feed bytes into items.

    feedparser only ever sees the bytes (wrapped in BytesIO), never a URL or
    path, so parsing cannot trigger network or file access.

    Raises:
        FeedError: the bytes are not a feed at all (HTML page, binary, empty, broken XML
            with nothing recoverable).
    """
    import feedparser

    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(
        io.BytesIO(body), response_headers=headers, resolve_relative_uris=False, sanitize_html=False
    )
    problems: list[str] = []
    if parsed.bozo:
        problems.append(f"{type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}")
    if not parsed.entries and not parsed.version:
        raise FeedError("not-a-feed", problems[0] if problems else "no RSS, RDF or Atom content")
    channel = parsed.feed
    declared = channel.get("language") or channel.get("title_detail", {}).get("language") or ""
    lang = _language(feed.lang or declared)
    base = channel.get("link") or feed.url
    items = []
    for entry in parsed.entries:
        item = _item(entry, feed, base, lang, now)
        if item is None:
            problems.append("an entry with neither title nor link was skipped")
        else:
            items.append(item)
    return ParsedFeed(items=tuple(items), problems=tuple(problems), lang=lang)


def _item(entry: Any, feed: FeedSource, base: str, lang: str, now: datetime) -> Item | None:
    title = html_to_text(entry.get("title", ""))
    # FeedBurner hides the publisher's URL behind a redirect; the original is the story.
    raw_link = entry.get("feedburner_origlink") or entry.get("link") or ""
    if not title and not raw_link:
        return None
    content_parts = [part.get("value", "") for part in entry.get("content", [])]
    summary = html_to_text(entry.get("summary", ""))
    content = html_to_text(" ".join(content_parts))
    return Item(
        feed_id=feed.id,
        title=title,
        link=canonical_link(raw_link, base) if raw_link else "",
        guid=(entry.get("id") or "").strip() or None,
        summary=summary,
        content="" if content == summary else content,
        published=_published(entry, now),
        lang=_language(entry.get("language") or "") if entry.get("language") else lang,
    )


def _published(entry: Any, now: datetime) -> datetime | None:
    stamp: time.struct_time | None = entry.get("published_parsed") or entry.get("updated_parsed")
    if stamp is None:
        return None
    moment = datetime.fromtimestamp(calendar.timegm(stamp), tz=UTC)
    if moment < _EARLIEST_PLAUSIBLE or moment > now + _FUTURE_SLACK:
        return None
    return moment


def _language(code: str) -> str:
    """``en_US`` / ``fr-FR`` / ``FR`` → ``en`` / ``fr``; unknown → ``und`` (BCP 47)."""
    primary = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else "und"
