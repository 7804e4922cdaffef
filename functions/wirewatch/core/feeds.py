"""Feed bytes → normalised items, with feedparser; a broken feed is data, not a crash."""

from __future__ import annotations

import calendar
import functools
import io
import re
import time as _time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from wirewatch.core.errors import FeedError
from wirewatch.core.model import FeedSource, Item
from wirewatch.core.normalize import fold, html_to_text

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
    ttl: timedelta | None = None  # RSS <ttl>: the publisher asks for no more frequent polls


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
    feedparser = _feedparser()

    headers = {"content-type": content_type} if content_type else {}
    try:
        parsed = _parse(feedparser, body, headers)
    except Exception as exc:
        # feedparser recovers from almost anything, but not from everything: lone
        # surrogates, out-of-range character references... A feed is data; say so.
        raise FeedError("unparseable", f"{type(exc).__name__}: {exc}"[:300]) from exc
    problems: list[str] = []
    if parsed.bozo:
        problems.append(f"{type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}")
    if not parsed.entries and not parsed.get("version"):
        raise FeedError("not-a-feed", problems[0] if problems else "no RSS, RDF or Atom content")
    channel = parsed.feed
    declared = channel.get("language") or channel.get("title_detail", {}).get("language") or ""
    lang = _language(feed.lang or declared)
    base = channel.get("link") or feed.url
    items = []
    for index, entry in enumerate(parsed.entries):
        try:
            item = _item(entry, feed, base, lang, now)
        except (ValueError, OverflowError, AssertionError, UnicodeError) as exc:
            # One malformed entry (a link like "http://[::1", a date past year 9999)
            # costs that entry, not the feed.
            problems.append(f"entry {index} skipped: {type(exc).__name__}: {exc}"[:300])
            continue
        if item is None:
            problems.append(f"entry {index} skipped: neither title nor link")
        else:
            items.append(item)
    return ParsedFeed(items=tuple(_unique_guids(items)), problems=tuple(problems), lang=lang)


def _parse(feedparser: Any, body: bytes, headers: dict[str, str]) -> Any:
    return feedparser.parse(
        io.BytesIO(body), response_headers=headers, resolve_relative_uris=False, sanitize_html=False
    )


def _unique_guids(items: list[Item]) -> list[Item]:
    """Drop GUIDs that several entries of one fetch share: they identify nothing."""
    counts = Counter(item.guid for item in items if item.guid)
    return [replace(item, guid=None) if item.guid and counts[item.guid] > 1 else item for item in items]


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


@functools.cache
def _feedparser() -> Any:
    """feedparser, imported on first use, with the date formats real feeds use added."""
    import feedparser

    feedparser.registerDateHandler(parse_loose_date)
    return feedparser


# Month and weekday names of feeds that localise RFC 822 dates (uol: "Seg, 24 Set 2018",
# Il Messaggero: "mer, 16 nov 2022"), mapped to English; weekdays are dropped.
_MONTHS = {
    "jan": "Jan",
    "janv": "Jan",
    "janeiro": "Jan",
    "gen": "Jan",
    "ene": "Jan",
    "januar": "Jan",
    "fev": "Feb",
    "fevr": "Feb",
    "fevereiro": "Feb",
    "feb": "Feb",
    "febbraio": "Feb",
    "februar": "Feb",
    "mar": "Mar",
    "mars": "Mar",
    "marco": "Mar",
    "marzo": "Mar",
    "marz": "Mar",
    "maerz": "Mar",
    "abr": "Apr",
    "avr": "Apr",
    "avril": "Apr",
    "abril": "Apr",
    "apr": "Apr",
    "aprile": "Apr",
    "mai": "May",
    "maio": "May",
    "mag": "May",
    "maggio": "May",
    "may": "May",
    "mayo": "May",
    "jun": "Jun",
    "juin": "Jun",
    "junho": "Jun",
    "giu": "Jun",
    "giugno": "Jun",
    "juni": "Jun",
    "jul": "Jul",
    "juil": "Jul",
    "juillet": "Jul",
    "julho": "Jul",
    "lug": "Jul",
    "luglio": "Jul",
    "juli": "Jul",
    "ago": "Aug",
    "aout": "Aug",
    "agosto": "Aug",
    "aug": "Aug",
    "set": "Sep",
    "sep": "Sep",
    "sept": "Sep",
    "setembro": "Sep",
    "settembre": "Sep",
    "out": "Oct",
    "oct": "Oct",
    "outubro": "Oct",
    "ott": "Oct",
    "ottobre": "Oct",
    "okt": "Oct",
    "nov": "Nov",
    "novembro": "Nov",
    "novembre": "Nov",
    "dez": "Dec",
    "dec": "Dec",
    "dezembro": "Dec",
    "dic": "Dec",
    "dicembre": "Dec",
    "dezember": "Dec",
}
_LOOSE_DATE = re.compile(
    r"^\s*(?:[^\W\d]+\.?,?\s+)?"  # weekday, any language
    r"(?:(?P<day>\d{1,2})\s+(?P<month>[^\W\d]+)\.?|(?P<month2>[^\W\d]+)\.?\s+(?P<day2>\d{1,2}))"
    r",?\s+(?P<year>\d{4})\s+(?P<time>\d{1,2}:\d{2}(?::\d{2})?)\s*(?P<ampm>[AaPp][Mm])?\s*(?P<zone>\S+)?\s*$"
)


def parse_loose_date(text: str) -> time.struct_time | None:
    """Dates feedparser does not read: localised month names, ``Dec 16 2023 02:02:33 PM``.

    A date without a zone is read as UTC. Returns None for anything else.
    """
    from email.utils import mktime_tz, parsedate_tz

    found = _LOOSE_DATE.match(text)
    if not found:
        return None
    month_name = fold(found.group("month") or found.group("month2"))
    month = _MONTHS.get(month_name) or _MONTHS.get(month_name[:3])
    if month is None:
        return None
    day = found.group("day") or found.group("day2")
    clock = found.group("time")
    if found.group("ampm"):
        hour, rest = clock.split(":", 1)
        hour_24 = int(hour) % 12 + (12 if found.group("ampm").lower() == "pm" else 0)
        clock = f"{hour_24:02d}:{rest}"
    parsed = parsedate_tz(f"{day} {month} {found.group('year')} {clock} {found.group('zone') or '+0000'}")
    if parsed is None:
        return None
    return _time.gmtime(mktime_tz(parsed))


def _published(entry: Any, now: datetime) -> datetime | None:
    # dict.get: FeedParserDict.get("updated_parsed") falls back to "published" with a
    # DeprecationWarning (feedparser issue 310); the plain dict lookup does not.
    stamp: time.struct_time | None = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    if stamp is None:
        return None
    try:
        moment = datetime.fromtimestamp(calendar.timegm(stamp), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    if moment < _EARLIEST_PLAUSIBLE or moment > now + _FUTURE_SLACK:
        return None
    return moment


def _language(code: str) -> str:
    """``en_US`` / ``fr-FR`` / ``FR`` → ``en`` / ``fr``; unknown → ``und`` (BCP 47)."""
    primary = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else "und"
