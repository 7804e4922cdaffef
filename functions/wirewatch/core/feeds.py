"""Feed bytes → normalised items: RSS, RDF and Atom with feedparser, JSON Feed with json.

A broken feed is data, not a crash: what a parser recovers is kept, what it
could not is reported in ``problems``.
"""

from __future__ import annotations

import calendar
import functools
import html
import io
import re
import time as _time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from wirewatch.core import sniff
from wirewatch.core.errors import FeedError
from wirewatch.core.feeditems import (
    ParsedFeed,
    canonical_link,
    entry_texts,
    language,
    links_base,
    plausible,
    unique_guids,
)
from wirewatch.core.jsonfeed import parse_json_feed
from wirewatch.core.links import is_web_url
from wirewatch.core.mending import charset_read_as, mend
from wirewatch.core.model import FeedSource, Item
from wirewatch.core.normalize import fold, html_to_text

if TYPE_CHECKING:
    import time
    from collections.abc import Callable

    # feedparser's replace_doctype: bytes → (RSS version or None, bytes, entities for its fallback parser)
    DoctypeRewrite = Callable[[bytes], tuple[str | None, bytes, dict[str, str]]]

__all__ = ["ParsedFeed", "canonical_link", "parse_feed", "parse_loose_date"]

# RSS <ttl> is a floor on the poll interval. Beyond a week the value is a typo
# (ttl=999999) or a feed that no longer wants to be read; the scheduler caps hints
# lower still, this only keeps the arithmetic sane. The syndication module's
# sy:updatePeriod is not read: WordPress writes "hourly" into every feed it
# serves, whatever the site publishes, and a news site polled hourly is no use to
# an alerting service.
_LONGEST_TTL = timedelta(days=7)
# Entity declarations feedparser keeps ("safe" ones: a literal without "&") are
# expanded by its fallback parser with no limit: 100 kB declared once and referenced
# 50 000 times became a 5 GB title. Only declarations of one character reference
# (<!ENTITY nbsp "&#160;">, what real feeds declare) survive; every other one,
# wherever it is, becomes a space, which cannot join two halves into a new one.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY[^>]*>?")
_CHARACTER_ENTITY = re.compile(rb'<!ENTITY\s+\w+\s+"&#(?:[0-9]{1,7}|x[0-9a-fA-F]{1,6});"\s*>')


def parse_feed(body: bytes, feed: FeedSource, *, content_type: str | None = None, now: datetime) -> ParsedFeed:
    """Parse fetched feed bytes into items; the body decides the format, not the header.

    feedparser only ever sees the bytes (wrapped in BytesIO), never a URL or
    path, so parsing cannot trigger network or file access; entity declarations
    are defused first, so no entity yields more text than the body holds.

    Raises:
        FeedError: ``not-a-feed`` (empty body, HTML page, image or other binary, JSON
            that is not a JSON Feed, XML that is not RSS, RDF or Atom);
            ``unparseable`` (bytes no parser can read at all, JSON nested too deeply).
    """
    head = sniff.head_text(body)
    refusal = sniff.refusal(body, head, content_type)
    if refusal is not None:
        raise FeedError("not-a-feed", refusal)
    if sniff.is_json(head, content_type):
        return parse_json_feed(body, feed, now=now)
    return _parse_xml(body, feed, content_type, head, now)


def _parse_xml(body: bytes, feed: FeedSource, content_type: str | None, head: str, now: datetime) -> ParsedFeed:
    content_type = charset_read_as(content_type, body)
    headers = {"content-type": content_type} if content_type else {}
    body, problems = mend(body, content_type)
    try:
        parsed = _parse(_feedparser(), body, headers)
    except Exception as exc:
        # feedparser recovers from almost anything, but not from everything: lone
        # surrogates, out-of-range character references... A feed is data; say so.
        raise FeedError("unparseable", f"{type(exc).__name__}: {exc}"[:300]) from exc
    if parsed.bozo:
        problems.append(f"{type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}")
    if not parsed.entries and not parsed.get("version"):
        raise FeedError("not-a-feed", _not_a_feed(head, content_type, problems))
    channel = parsed.feed
    declared = channel.get("language") or channel.get("title_detail", {}).get("language") or ""
    lang = language(feed.lang or declared)
    # A channel link may be relative ("/"): it is resolved against where the feed was read.
    base = links_base(feed.url, channel.get("link") or "")
    items, skipped = _items(parsed.entries, feed, base, lang, now)
    return ParsedFeed(items=unique_guids(items), problems=(*problems, *skipped), lang=lang, ttl=_ttl(channel))


def _parse(feedparser: Any, body: bytes, headers: dict[str, str]) -> Any:
    return feedparser.parse(
        io.BytesIO(body), response_headers=headers, resolve_relative_uris=False, sanitize_html=False
    )


def _not_a_feed(head: str, content_type: str | None, problems: list[str]) -> str:
    if sniff.looks_like_html(head):
        return "HTML page, not a feed"
    media = sniff.media_type(content_type)
    detail = f"{media} content" if media and "xml" not in media else "no RSS, RDF or Atom content"
    return f"{detail} ({problems[0]})"[:300] if problems else detail


def _items(entries: list[Any], feed: FeedSource, base: str, lang: str, now: datetime) -> tuple[list[Item], list[str]]:
    items: list[Item] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
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
    return items, problems


def _item(entry: Any, feed: FeedSource, base: str, lang: str, now: datetime) -> Item | None:
    # feedparser gives None, not "", for an element it opened and lost ("<description>/description>").
    content_parts = [part.get("value") or "" for part in entry.get("content") or []]
    title, summary, content = entry_texts(entry.get("title") or "", entry.get("summary") or "", " ".join(content_parts))
    # FeedBurner hides the publisher's URL behind a redirect; the original is the story.
    raw_link = entry.get("feedburner_origlink") or entry.get("link") or ""
    if not entry.get("links") and not is_web_url(raw_link):
        # feedparser takes a GUID for the link when there is no <link>; "123456" is no
        # page, and resolved against the channel it would become one that does not exist.
        raw_link = ""
    link = canonical_link(raw_link, base) if raw_link else ""
    if not title and not link:
        return None
    return Item(
        feed_id=feed.id,
        title=title,
        link=link,
        guid=(entry.get("id") or "").strip() or None,
        summary=summary,
        content=content,
        published=_published(entry, now),
        lang=language(entry.get("language") or "") if entry.get("language") else lang,
        source=_source_name(entry),
    )


def _source_name(entry: Any) -> str:
    """The outlet an aggregator names for a relayed entry: RSS ``<source>`` (Google News)."""
    source = entry.get("source")
    return html_to_text(str(source.get("title") or ""))[:200] if hasattr(source, "get") else ""


def _ttl(channel: Any) -> timedelta | None:
    """How often the publisher asks to be polled at most: the RSS 2.0 ttl."""
    minutes = _whole_number(channel.get("ttl"))
    return min(timedelta(minutes=minutes), _LONGEST_TTL) if minutes else None


def _whole_number(text: object) -> int | None:
    """A positive decimal integer written alone; None for anything else, zero included.

    Seven digits and more (over 19 years of minutes) read as 10**6: beyond any cap,
    and no int() of a megabyte of digits.
    """
    if not isinstance(text, str) or not re.fullmatch(r"\s*[0-9]+\s*", text):
        return None
    digits = text.strip().lstrip("0")
    if not digits:
        return None
    return int(digits) if len(digits) <= 6 else 10**6


def _defuse_entities(data: bytes) -> bytes:
    """The document with every entity declaration but single-character ones blanked."""

    def keep_characters(declaration: re.Match[bytes]) -> bytes:
        return declaration[0] if _CHARACTER_ENTITY.fullmatch(declaration[0]) else b" "

    return _ENTITY_DECLARATION.sub(keep_characters, data)


@functools.cache
def _feedparser() -> Any:
    """feedparser, imported on first use, with the date formats real feeds use added."""
    import feedparser
    import feedparser.api

    feedparser.registerDateHandler(parse_loose_date)
    # feedparser turns any encoding into UTF-8, then rewrites the DOCTYPE with
    # replace_doctype: the one point where every body, UTF-16 included, is bytes
    # a pattern can read before an XML parser sees them. An AttributeError here,
    # after a feedparser upgrade, is wanted: the hook must not vanish silently.
    feedparser.api.replace_doctype = _defused(feedparser.api.replace_doctype)
    return feedparser


def _defused(replace_doctype: DoctypeRewrite) -> DoctypeRewrite:
    """feedparser's DOCTYPE rewrite, given a document whose only entities name one character."""

    def rewrite(data: bytes) -> tuple[str | None, bytes, dict[str, str]]:
        version, rewritten, entities = replace_doctype(_defuse_entities(data))
        # The fallback parser looks a declared "&#233;" up as an entity named "#233"
        # and writes "&&#233;;"; the character itself it copies as is.
        characters = {name: html.escape(html.unescape(value), quote=False) for name, value in entities.items()}
        return version, rewritten, characters

    return rewrite


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
    return plausible(moment, now)
