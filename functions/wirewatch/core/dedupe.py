"""Identity of items and stories, as hashed keys for the seen store.

An *item key* says "this entry of this feed was processed" and is the one key
read for every fetched item (one batched read per 100 items). *Story keys*
say "this is the same story": the same GUID, the same canonical link, or the
same normalised headline within the story window, in any feed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from wirewatch.core.links import identity_key
from wirewatch.core.normalize import normalized_title

if TYPE_CHECKING:
    from datetime import datetime

    from wirewatch.core.model import Item

# Below this many words a headline ("Live", "Briefing du jour") names a column,
# not a story, and two of them are not the same story.
_MIN_TITLE_WORDS = 4


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:40]


def item_key(item: Item) -> str:
    """Key of one entry of one feed: its GUID, else its link and headline."""
    # The link as shown, not its identity_key, so that an entry keeps the key it was
    # stored under: keyed anew, every stored GUID-less entry would look new after a
    # deploy, be matched and archived again, and re-alert wherever its story is forgotten.
    if item.guid:
        return "item#" + _digest(item.feed_id, "guid", item.guid)
    # Some feeds give every entry the same link (a home page) and no GUID: the
    # headline keeps their entries apart.
    return "item#" + _digest(item.feed_id, "link", item.link, normalized_title(item.title))


def edition(item: Item) -> str:
    """What makes an edit of an entry: its normalised headline, hashed short."""
    return _digest("edition", normalized_title(item.title))[:12]


def fingerprint(key: str, item_edition: str = "") -> str:
    """A short form of an item key and its edition (64 bits of a hash) for a feed's list of
    recent items: an entry edited under the same GUID no longer matches its fingerprint.

    Two entries of one feed sharing a fingerprint would take some 4 billion entries per
    feed to become likely; a feed lists at most a few hundred.
    """
    if not item_edition:
        return key.removeprefix("item#")[:16]
    return _digest(key, item_edition)[:16]


def update_key(key: str, item_edition: str) -> str:
    """The alert key of an edit: one update alert per (rule, story, edition)."""
    return f"{key}#edit-{item_edition}"


@dataclass(frozen=True)
class StoryKey:
    key: str
    kind: str  # "guid", "link" or "title"


_SOURCE_SEPARATORS = (" - ", " – ", " — ", " | ")


def _without_source_suffix(title: str, source: str) -> str:
    """A relayed headline without the outlet an aggregator appends to it: Google News
    relays "Austin speaks with Belousov - Reuters", naming Reuters in ``<source>``; the
    headline, and so the story, is Reuters' own. The title itself is left as listed: an
    entry's key and edition (``item_key``, ``edition``) must not change under it."""
    for separator in _SOURCE_SEPARATORS:
        suffix = separator + source
        if source and title.endswith(suffix) and title[: -len(suffix)].strip():
            return title[: -len(suffix)]
    return title


def story_keys(item: Item) -> list[StoryKey]:
    """The keys under which another feed's copy of this story would be found."""
    keys: list[StoryKey] = []
    # Links count by identity: the same article by http and https, with and without
    # www., tracked or not, is one story. Link keys stored before identity_key (under
    # the link as shown) are not found by it; title keys still are, and the old keys
    # expire with the story window.
    if item.guid and "://" in item.guid:
        # A URL GUID is the article's permalink: the same story as that link anywhere.
        permalink = identity_key(item.guid)
        if _is_article_link(permalink):
            keys.append(StoryKey("story#" + _digest("link", permalink), "guid"))
    elif item.guid:
        # A GUID that is a URI (urn:uuid:…, tag:…) or long is meant to be unique
        # everywhere; a short one ("123456") only within its feed.
        scope = "" if _globally_unique(item.guid) else item.feed_id
        keys.append(StoryKey("story#" + _digest("guid", scope, item.guid), "guid"))
    link = identity_key(item.link)
    if _is_article_link(link):
        link_key = StoryKey("story#" + _digest("link", link), "link")
        if all(key.key != link_key.key for key in keys):
            keys.append(link_key)
    headline = normalized_title(_without_source_suffix(item.title, item.source))
    if len(headline.split()) >= _MIN_TITLE_WORDS:
        keys.append(StoryKey("story#" + _digest("title", headline), "title"))
    return keys


def _globally_unique(guid: str) -> bool:
    return ":" in guid or len(guid) >= 24


def _is_article_link(identity: str) -> bool:
    """A home page link is shared by unrelated entries; it identifies nothing, also with a
    query that only sets the page's language or source (``/?lang=fr``, ``/?ref=rss``).
    A query naming an entry by number on the home page is an article: ``/?p=42``
    (WordPress's plain permalinks), ``/?id=1234``, ``/?page_id=7``."""
    if not identity:
        return False
    parts = urlsplit(identity)
    return parts.path != "/" or any(
        any(character.isdigit() for character in value) for _, value in parse_qsl(parts.query)
    )


def alert_key(rule_id: str, story_id: str) -> str:
    """One alert per (rule, story): the conditional write on this key is the dedupe."""
    return f"alert#{rule_id}#{story_id}"


def story_id_for(item: Item) -> str:
    """A new story's id: its first key, so the id is stable across retries of a cycle."""
    keys = story_keys(item)
    return keys[0].key.removeprefix("story#") if keys else item_key(item).removeprefix("item#")


def within_window(story_time: datetime, published: datetime | None, now: datetime, window_seconds: float) -> bool:
    """Whether an item published at ``published`` (or seen ``now``) and a story of the same
    headline published at ``story_time`` are close enough to be one story."""
    moment = published or now
    return abs((moment - story_time).total_seconds()) <= window_seconds
