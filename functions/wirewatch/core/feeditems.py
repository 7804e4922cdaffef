"""What every feed format's entries share on their way to items: links, dates, languages, GUIDs."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from wirewatch.core.links import canonical_link
from wirewatch.core.normalize import html_to_text

if TYPE_CHECKING:
    from wirewatch.core.model import Item

# canonical_link lives in links.py with the rest of what links mean; both feed parsers
# take it from here, with the other steps their entries share.
__all__ = [
    "CONTENT_LIMIT",
    "SUMMARY_LIMIT",
    "TITLE_LIMIT",
    "ParsedFeed",
    "bounded",
    "canonical_link",
    "entry_texts",
    "language",
    "links_base",
    "plausible",
    "unique_guids",
]

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


# Alerts carry the text to email and SMS: one item must not make a message bigger
# than SNS accepts (256 KB), nor matching slow. Real headlines are under 300
# characters; summaries and articles are cut long after anything a rule looks for.
TITLE_LIMIT = 1_000
SUMMARY_LIMIT = 20_000
CONTENT_LIMIT = 100_000


def links_base(feed_url: str, declared: str) -> str:
    """What an entry's relative links resolve against: the link the feed declares for
    itself (often relative, "/"), resolved against where the feed was read."""
    try:
        return urljoin(feed_url, declared.strip())
    except ValueError:  # "http://[::1" and such: not a base
        return feed_url


def bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def entry_texts(title: str, summary: str, content: str) -> tuple[str, str, str]:
    """An entry's title, summary and content (HTML or text) as bounded plain text; the
    content is left empty when it only repeats the summary. The same for every format."""
    summary_text = bounded(html_to_text(summary), SUMMARY_LIMIT)
    content_text = bounded(html_to_text(content), CONTENT_LIMIT)
    return (
        bounded(html_to_text(title), TITLE_LIMIT),
        summary_text,
        "" if content_text == summary_text else content_text,
    )


def plausible(moment: datetime, now: datetime) -> datetime | None:
    """``moment`` if a publisher could really have stamped it, else None."""
    if moment < _EARLIEST_PLAUSIBLE or moment > now + _FUTURE_SLACK:
        return None
    return moment


def language(code: str) -> str:
    """``en_US`` / ``fr-FR`` / ``FR`` → ``en`` / ``fr``; unknown → ``und`` (BCP 47)."""
    primary = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else "und"


def unique_guids(items: list[Item]) -> tuple[Item, ...]:
    """One entry per repeated copy, and no GUID where different entries share one.

    An entry listed twice (the same GUID, title and link: a feed that puts a story in
    two of its sections) is one entry; were its GUID dropped, its key would change
    whenever the copy came and went, and it would be processed as new each time.
    Different entries sharing a GUID identify nothing by it.
    """
    seen: set[tuple[str | None, str, str]] = set()
    copies_dropped = []
    for item in items:
        copy = (item.guid, item.title, item.link)
        if item.guid and copy in seen:
            continue
        seen.add(copy)
        copies_dropped.append(item)
    counts = Counter(item.guid for item in copies_dropped if item.guid)
    return tuple(replace(item, guid=None) if item.guid and counts[item.guid] > 1 else item for item in copies_dropped)
