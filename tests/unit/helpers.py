"""Paths and builders shared by the unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from wirewatch.core.model import FeedSource, Item

# The bundled captures span 2016-2025; "now" after all of them keeps every date plausible.
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@cache
def repo_root() -> Path:
    """The directory holding pyproject.toml, found upwards from this file."""
    for directory in Path(__file__).resolve().parents:
        if (directory / "pyproject.toml").is_file():
            return directory
    raise RuntimeError(f"no pyproject.toml above {__file__}")


ROOT = repo_root()
FEEDS_DIR = ROOT / "examples" / "feeds"
EXAMPLE_WATCH = ROOT / "examples" / "watch.yaml"
RULE_FIXTURES = ROOT / "tests" / "fixtures" / "rules"

# The real captures of /work/shared/feeds/real/, renamed as examples/feeds/<feed id>.<ext>.
REAL_FEEDS = (
    "bbc-news.xml",
    "golem.rdf",
    "guardian-us.rss",
    "heise-developer.atom",
    "ilmessaggero-mondo.xml",
    "jornal-de-noticias.rss",
    "lemonde-idees.xml",
    "lemonde-une.xml",
    "meduza-scraped.xml",
    "nbc-newyork.xml",
    "sciencesetavenir-espace.xml",
    "talkingpointsmemo.atom",
    "uol-noticias.rss",
)

# Feeds written for the seed event (French Reuters wire of 26/06/2024).
SEED_FEEDS = ("boursorama-reuters.xml", "zonebourse-reuters.xml")


def feed_id_of(path: Path) -> str:
    return path.name.split(".", 1)[0]


def make_feed(
    feed_id: str = "test-feed",
    tags: frozenset[str] = frozenset(),
    lang: str | None = None,
    *,
    url: str | None = None,
    poll_every: timedelta | None = None,
) -> FeedSource:
    return FeedSource(
        id=feed_id, url=url or f"https://feeds.example.org/{feed_id}.xml", tags=tags, lang=lang, poll_every=poll_every
    )


def make_item(
    title: str = "",
    summary: str = "",
    content: str = "",
    *,
    feed_id: str = "test-feed",
    link: str = "https://news.example.org/2024/06/26/story.html",
    guid: str | None = None,
    published: datetime | None = None,
    lang: str = "en",
) -> Item:
    return Item(
        feed_id=feed_id,
        title=title,
        link=link,
        guid=guid,
        summary=summary,
        content=content,
        published=published,
        lang=lang,
    )
