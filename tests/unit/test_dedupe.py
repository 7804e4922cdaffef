"""Item and story identity: what makes two entries the same entry, or the same story."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wirewatch.core.dedupe import alert_key, item_key, story_id_for, story_keys, within_window
from wirewatch.core.feeds import parse_feed

from .helpers import FEEDS_DIR, NOW, make_feed, make_item

if TYPE_CHECKING:
    from wirewatch.core.model import Item

_KEY = re.compile(r"^story#[0-9a-f]{40}$")
PURE = settings(database=None, deadline=None)


def seed_copies() -> tuple[Item, Item]:
    """The 26/06/2024 Reuters wire as carried by two sites: different links and GUIDs, same headline."""
    copies = []
    for name in ("boursorama-reuters.xml", "zonebourse-reuters.xml"):
        feed = make_feed(name.split(".", 1)[0])
        items = parse_feed((FEEDS_DIR / name).read_bytes(), feed, now=NOW).items
        copies.append(next(item for item in items if "ministres US et russe" in item.title))
    return copies[0], copies[1]


def keys_of(item: Item, kind: str) -> list[str]:
    return [key.key for key in story_keys(item) if key.kind == kind]


# ---------------------------------------------------------------- item keys


def test_item_key_differs_per_feed_for_the_same_entry() -> None:
    item = make_item("Premier entretien en un an", guid="reuters-123", feed_id="boursorama-reuters")
    other = replace(item, feed_id="zonebourse-reuters")
    assert item_key(item) != item_key(other)


def test_item_key_is_stable() -> None:
    item = make_item("Premier entretien en un an", guid="reuters-123")
    assert item_key(item) == item_key(make_item("Premier entretien en un an", guid="reuters-123"))
    assert item_key(item).startswith("item#")


def test_item_key_with_guid_survives_an_edited_headline_and_link() -> None:
    item = make_item("Premier entretien", guid="reuters-123")
    edited = replace(item, title="Premier entretien en un an (MAJ)", link="https://news.example.org/v2")
    assert item_key(item) == item_key(edited)


def test_item_key_without_guid_uses_link_and_normalised_headline() -> None:
    item = make_item("Сто лет назад родилась Майя Плисецкая", link="https://meduza.io/")
    assert item_key(item) == item_key(replace(item, title="  сто лет назад, родилась майя плисецкая! "))
    assert item_key(item) != item_key(replace(item, title="Три фильма об убийствах"))
    assert item_key(item) != item_key(replace(item, link="https://meduza.io/news/1"))


def test_seed_copies_have_distinct_item_keys() -> None:
    boursorama, zonebourse = seed_copies()
    assert item_key(boursorama) != item_key(zonebourse)


# ---------------------------------------------------------------- story keys


def test_same_wire_in_two_feeds_shares_only_the_title_story_key() -> None:
    boursorama, zonebourse = seed_copies()
    assert boursorama.link != zonebourse.link
    shared = {k.key: k.kind for k in story_keys(boursorama)}.items() & {
        k.key: k.kind for k in story_keys(zonebourse)
    }.items()
    assert [kind for _, kind in shared] == ["title"]


def test_title_key_ignores_case_accents_and_punctuation() -> None:
    first = make_item("Premier entretien en un an entre les ministres US et russe de la Défense", feed_id="a")
    second = make_item(
        "PREMIER ENTRETIEN en un an entre les ministres US et russe de la defense.",
        feed_id="b",
        link="https://other.example.org/x",
    )
    assert keys_of(first, "title") == keys_of(second, "title")
    assert len(keys_of(first, "title")) == 1


def test_short_headlines_give_no_title_key() -> None:
    assert keys_of(make_item("Live"), "title") == []
    assert keys_of(make_item("Briefing du jour"), "title") == []
    assert keys_of(make_item("Briefing du jour matin"), "title") != []  # four words


@pytest.mark.parametrize("link", ["https://meduza.io/", "https://meduza.io", "https://www.lemonde.fr/"])
def test_home_page_links_give_no_link_key(link: str) -> None:
    item = make_item("Сто лет назад родилась Майя Плисецкая", link=link)
    assert keys_of(item, "link") == []
    assert [key.kind for key in story_keys(item)] == ["title"]


def test_meduza_items_do_not_share_story_keys() -> None:
    feed = make_feed("meduza-scraped", lang="ru")
    items = parse_feed((FEEDS_DIR / "meduza-scraped.xml").read_bytes(), feed, now=NOW).items
    all_keys = [key.key for item in items for key in story_keys(item)]
    assert len(all_keys) == len(set(all_keys))


def test_article_link_gives_a_link_key_shared_across_feeds() -> None:
    first = make_item("Drone attack", link="https://news.example.org/2024/06/26/crimea.html", feed_id="a")
    second = make_item("Une attaque", link="https://news.example.org/2024/06/26/crimea.html", feed_id="b")
    assert keys_of(first, "link") == keys_of(second, "link") != []


def test_url_guid_is_the_same_story_as_that_link_elsewhere() -> None:
    # A permalink GUID (tracking params and all) names the article another feed links to.
    with_guid = make_item(
        "x",
        feed_id="bbc-news",
        guid="https://www.bbc.co.uk/news/world-europe-1?at_medium=RSS#top",
        link="https://www.bbc.co.uk/news/world-europe-1?mobile",
    )
    plain = make_item("y", feed_id="aggregator", link="https://www.bbc.co.uk/news/world-europe-1")
    assert keys_of(with_guid, "guid") == keys_of(plain, "link")


def test_opaque_guid_is_only_meaningful_within_its_feed() -> None:
    first = make_item("x", guid="12345", feed_id="a")
    second = make_item("x", guid="12345", feed_id="b")
    assert keys_of(first, "guid") != keys_of(second, "guid")
    assert keys_of(first, "guid") == keys_of(replace(first, title="edited"), "guid")


def test_story_keys_are_stable_hashes() -> None:
    boursorama, _ = seed_copies()
    keys = story_keys(boursorama)
    assert keys == story_keys(seed_copies()[0])
    assert [key.kind for key in keys] == ["guid", "link", "title"]
    assert all(_KEY.match(key.key) for key in keys)


def test_story_id_is_the_first_key_or_else_the_item_key() -> None:
    boursorama, _ = seed_copies()
    assert story_id_for(boursorama) == story_keys(boursorama)[0].key.removeprefix("story#")
    keyless = make_item("Live", link="https://meduza.io/")
    assert story_keys(keyless) == []
    assert story_id_for(keyless) == item_key(keyless).removeprefix("item#")


def test_story_keys_have_no_duplicate_key() -> None:
    item = make_item(
        "Four more small energy firms could go bust next week",
        guid="https://www.bbc.co.uk/news/business-58610561",
        link="https://www.bbc.co.uk/news/business-58610561",
    )
    keys = [key.key for key in story_keys(item)]
    assert len(keys) == len(set(keys)), story_keys(item)


# ---------------------------------------------------------------- alert keys and the story window


def test_alert_key_is_unique_per_rule_and_story() -> None:
    assert alert_key("crimea-strike", "abc") == "alert#crimea-strike#abc"
    assert alert_key("crimea-strike", "abc") != alert_key("defense-minister-contact", "abc")


WINDOW = timedelta(hours=48).total_seconds()
FIRST = datetime(2024, 6, 26, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("published", "now", "expected"),
    [
        (FIRST + timedelta(hours=1), FIRST + timedelta(days=30), True),  # the item's own date counts
        (FIRST + timedelta(hours=48), FIRST, True),  # boundary included
        (FIRST + timedelta(hours=48, seconds=1), FIRST, False),
        (FIRST - timedelta(hours=47), FIRST, True),  # an older copy is also the same story
        (FIRST - timedelta(hours=49), FIRST, False),
        (None, FIRST + timedelta(hours=2), True),  # undated: compared at "now"
        (None, FIRST + timedelta(days=3), False),
    ],
)
def test_within_window(published: datetime | None, now: datetime, expected: bool) -> None:
    assert within_window(FIRST, published, now, WINDOW) is expected


# ---------------------------------------------------------------- properties

_LETTERS = st.sampled_from(list("abcdefghijklmnopqrstuvwxyzéèêàâçîïôûùëü"))
_WORDS = st.lists(st.text(_LETTERS, min_size=1, max_size=10), min_size=4, max_size=12)


@PURE
@given(words=_WORDS, separator=st.sampled_from([" ", " - ", ", ", "  ", " : "]))
def test_title_key_is_invariant_under_case_and_punctuation(words: list[str], separator: str) -> None:
    plain = make_item(" ".join(words))
    shouted = make_item(
        separator.join(word.upper() for word in words) + " !", feed_id="other", link="https://elsewhere.example.org/a"
    )
    assert keys_of(plain, "title") == keys_of(shouted, "title")
    assert keys_of(plain, "title")


@PURE
@given(
    title=st.text(max_size=80),
    guid=st.none() | st.text(min_size=1, max_size=40),
    feed_a=st.sampled_from(["a", "b"]),
    feed_b=st.sampled_from(["c", "d"]),
)
def test_item_keys_never_collide_across_feeds(title: str, guid: str | None, feed_a: str, feed_b: str) -> None:
    first = make_item(title, guid=guid, feed_id=feed_a)
    assert item_key(first) != item_key(replace(first, feed_id=feed_b))
    assert item_key(first) == item_key(replace(first))


# ---------------------------------------------------------------- link identity

_ARTICLE = "https://www.lemonde.fr/international/article/2024/06/26/ukraine_6243210_3210.html"


@pytest.mark.parametrize(
    "spelling",
    [
        _ARTICLE.replace("https:", "http:"),
        _ARTICLE.replace("www.", ""),
        _ARTICLE + "/",
        _ARTICLE + "?xtor=RSS-3208",
        _ARTICLE + "?utm_source=twitter&at_medium=RSS#comments",
        "HTTP://WWW.LEMONDE.FR" + _ARTICLE.removeprefix("https://www.lemonde.fr"),
        "https://www.google.com/url?rct=j&sa=t&url=" + _ARTICLE + "&ct=ga&usg=AOvVaw1",
    ],
)
def test_spellings_of_one_article_share_the_link_story_key(spelling: str) -> None:
    published = make_item("Ukraine", link=_ARTICLE, feed_id="lemonde-une")
    respelled = make_item("Guerre en Ukraine", link=spelling, feed_id="aggregator")
    assert keys_of(published, "link") == keys_of(respelled, "link") != []


def test_query_order_does_not_make_a_new_story() -> None:
    first = make_item("x", link="https://x.example/article?id=42&page=2", feed_id="a")
    second = make_item("y", link="https://x.example/article?page=2&id=42", feed_id="b")
    assert keys_of(first, "link") == keys_of(second, "link") != []


def test_url_guid_matches_the_link_whatever_its_spelling() -> None:
    with_guid = make_item("x", feed_id="lemonde-une", guid=_ARTICLE.replace("https://www.", "http://"), link="")
    plain = make_item("y", feed_id="aggregator", link=_ARTICLE + "?xtor=RSS-3208")
    assert keys_of(with_guid, "guid") == keys_of(plain, "link") != []


def test_a_query_on_the_home_page_names_an_article() -> None:
    # WordPress's plain permalinks: the article is in the query, the path is "/".
    first = make_item("Frappe en Crimée", link="http://blog.example.fr/?p=42", feed_id="a")
    respelled = make_item("Crimée : une frappe", link="https://www.blog.example.fr/?p=42&utm_source=rss", feed_id="b")
    other = make_item("Autre chose", link="https://blog.example.fr/?p=43", feed_id="a")
    assert keys_of(first, "link") == keys_of(respelled, "link") != []
    assert keys_of(other, "link") != keys_of(first, "link")
    assert keys_of(make_item("x", link="https://blog.example.fr/?utm_source=rss"), "link") == []


@pytest.mark.parametrize("query", ["lang=fr", "ref=rss", "source=feed&lang=en"])
def test_a_query_that_names_no_entry_leaves_a_home_page_link_a_home_page(query: str) -> None:
    # Every entry of such a feed links there: one link key would make them one story.
    assert keys_of(make_item("Frappe en Crimée", link=f"https://site.example/?{query}"), "link") == []


def test_amp_home_page_gives_no_link_key() -> None:
    assert keys_of(make_item("x", link="https://amp.lemonde.fr/amp/"), "link") == []


def test_item_key_keeps_the_link_as_shown() -> None:
    # An entry keeps the key it is stored under across deploys: no identity here.
    item = make_item("Ukraine", link=_ARTICLE)
    assert item_key(item) != item_key(replace(item, link=_ARTICLE.replace("https:", "http:")))
