"""JSON Feed 1.0 and 1.1 (jsonfeed.org) → the same items RSS and Atom give; stdlib json only.

Every field is checked for its type before use: a publisher's bug or a hostile
document costs the field or the item, reported in ``problems``, never the poll.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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
from wirewatch.core.model import Item

if TYPE_CHECKING:
    from wirewatch.core.model import FeedSource

# The spec's URLs are https; a few early generators wrote http. Later versions are
# read for the fields 1.1 defines.
_VERSION = re.compile(r"https?://jsonfeed\.org/version/")
# json.loads lets "\ud800" through as a lone surrogate, which no UTF-8 encoder (the
# dedupe hash, the archive, SNS) accepts.
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def parse_json_feed(body: bytes, feed: FeedSource, *, now: datetime) -> ParsedFeed:
    """Parse a JSON Feed's bytes (UTF-8, -16 or -32, BOM or not) into items.

    Raises:
        FeedError: ``unparseable`` (not JSON, or nested too deeply to decode),
            ``not-a-feed`` (JSON, but not a JSON Feed).
    """
    document = _load(body)
    entries = _entries(document)
    top = _Fields(document)
    lang = language(feed.lang or top.text("language"))
    # Either may be relative ("/"): resolved against where the feed was read.
    base = links_base(feed.url, top.text("home_page_url", "feed_url"))
    items, problems = _items(entries, feed, base, lang, now)
    if top.wrong:
        problems.insert(0, f"feed: ignored {', '.join(top.wrong)} (wrong type)")
    return ParsedFeed(items=unique_guids(items), problems=tuple(problems), lang=lang)


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError as exc:
        # The C decoder recurses once per nesting level: a body of ten million "["
        # would otherwise end the poll, not the feed.
        raise FeedError("unparseable", "JSON nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a 5000-digit number
        raise FeedError("unparseable", f"invalid JSON: {exc}"[:300]) from exc


def _entries(document: Any) -> list[Any]:
    if not isinstance(document, dict):
        raise FeedError("not-a-feed", f"JSON {_JSON_TYPES.get(type(document), 'null')}, not a JSON Feed")
    version = document.get("version")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise FeedError("not-a-feed", "JSON object without a jsonfeed.org version, not a JSON Feed")
    entries = document.get("items")
    if not isinstance(entries, list):
        raise FeedError("not-a-feed", "JSON Feed without an items list")
    return entries


def _items(entries: list[Any], feed: FeedSource, base: str, lang: str, now: datetime) -> tuple[list[Item], list[str]]:
    items: list[Item] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(f"item {index} skipped: a JSON {_JSON_TYPES.get(type(entry), 'null')}, not an object")
            continue
        fields = _Fields(entry)
        try:
            item = _item(fields, feed, base, lang, now)
        except ValueError as exc:
            # A url like "http://[::1" costs that item, not the feed.
            problems.append(f"item {index} skipped: {type(exc).__name__}: {exc}"[:300])
            continue
        if fields.wrong:
            problems.append(f"item {index}: ignored {', '.join(fields.wrong)} (wrong type)")
        if item is None:
            problems.append(f"item {index} skipped: no url, id or title")
        else:
            items.append(item)
    return items, problems


def _item(fields: _Fields, feed: FeedSource, base: str, lang: str, now: datetime) -> Item | None:
    title, summary, content = entry_texts(
        fields.text("title"),
        fields.text("summary", "content_text", "content_html"),
        fields.text("content_html", "content_text"),
    )
    raw_link = fields.text("url", "external_url")
    link = canonical_link(raw_link, base) if raw_link else ""
    guid = fields.identifier("id")
    if not title and not link and not guid:
        return None
    declared = fields.text("language")
    return Item(
        feed_id=feed.id,
        title=title,
        link=link,
        guid=guid,
        summary=summary,
        content=content,
        published=_published(fields, now),
        lang=language(declared) if declared else lang,
    )


def _published(fields: _Fields, now: datetime) -> datetime | None:
    # As for RSS: the modification date stands in only when there is no usable
    # publication date, and an implausible one leaves the item undated.
    for key in ("date_published", "date_modified"):
        moment = _rfc3339(fields.text(key))
        if moment is not None:
            return plausible(moment, now)
    return None


def _rfc3339(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().upper())
    except ValueError:
        return None
    if moment.tzinfo is None:
        # RFC 3339 requires an offset; without one, UTC, as for zoneless RSS dates.
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00
        return None


class _Fields:
    """Typed reads of one JSON object; a field of the wrong type is absent, and noted."""

    def __init__(self, source: dict[str, Any]) -> None:
        self._source = source
        self._wrong: dict[str, None] = {}

    @property
    def wrong(self) -> list[str]:
        """Fields present with a type the spec does not allow, in order of first read."""
        return list(self._wrong)

    def text(self, *keys: str) -> str:
        """The first of ``keys`` holding a non-blank string, or ``""``."""
        for key in keys:
            value = self._source.get(key)
            if isinstance(value, str):
                if value.strip():
                    return _LONE_SURROGATE.sub("\ufffd", value)
            elif value is not None:
                self._wrong[key] = None
        return ""

    def identifier(self, key: str) -> str | None:
        """A string id, or a number's decimal form (1.0 allowed numbers); None if blank."""
        value = self._source.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return _LONE_SURROGATE.sub("\ufffd", value).strip() or None
        if value is not None:
            self._wrong[key] = None
        return None
