"""What every feed format's entries share on their way to items: links, dates, languages, GUIDs."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from wirewatch.core.normalize import html_to_text

if TYPE_CHECKING:
    from wirewatch.core.model import Item

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


# Alerts carry the text to email and SMS: one item must not make a message bigger
# than SNS accepts (256 KB), nor matching slow. Real headlines are under 300
# characters; summaries and articles are cut long after anything a rule looks for.
TITLE_LIMIT = 1_000
SUMMARY_LIMIT = 20_000
CONTENT_LIMIT = 100_000
_WEB_SCHEMES = frozenset({"http", "https"})


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


def canonical_link(link: str, base: str = "") -> str:
    """Absolute link without fragment or tracking parameters; scheme and host lower-cased.

    Only web links are links: ``javascript:``, ``data:``, ``file:`` (also by way of
    an ``xml:base``) and the like give "", so no alert ever carries one.

    Raises:
        ValueError: the link or base is not a URL (``http://[::1``).
    """
    absolute = urljoin(base, link.strip()) if base else link.strip()
    parts = urlsplit(absolute)
    if parts.scheme.lower() not in _WEB_SCHEMES or not parts.netloc:
        return ""
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), ""))


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
    """Drop GUIDs that several entries of one fetch share: they identify nothing."""
    counts = Counter(item.guid for item in items if item.guid)
    return tuple(replace(item, guid=None) if item.guid and counts[item.guid] > 1 else item for item in items)
