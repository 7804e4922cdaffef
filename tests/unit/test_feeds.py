"""Feed bytes → items: every bundled capture, its quirks (SOURCES.md), links, dates, and non-feeds."""

from __future__ import annotations

import gzip
import json
import re
import shlex
import socket
import urllib.request
import warnings
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import pytest
from pytest_socket import SocketBlockedError

from wirewatch.core.dedupe import item_key, story_keys
from wirewatch.core.errors import FeedError
from wirewatch.core.feeds import ParsedFeed, canonical_link, parse_feed
from wirewatch.core.model import Item

from .helpers import (
    FEEDS_DIR,
    NOW,
    REAL_FEEDS,
    SEED_FEEDS,
    feed_id_of,
    make_feed,
    repo_root,
)

if TYPE_CHECKING:
    from pathlib import Path

ALL_SAMPLES = sorted(path.name for path in FEEDS_DIR.iterdir())
# <item>/<entry> counts from SOURCES.md, plus the two seed feeds.
ITEM_COUNTS = {
    "bbc-news.xml": 53,
    "boursorama-reuters.xml": 2,
    "golem.rdf": 1,
    "guardian-us.rss": 55,
    "heise-developer.atom": 15,
    "ilmessaggero-mondo.xml": 1,
    "jornal-de-noticias.rss": 40,
    "lemonde-idees.xml": 20,
    "lemonde-une.xml": 21,
    "meduza-scraped.xml": 24,
    "nbc-newyork.xml": 1,
    "sciencesetavenir-espace.xml": 46,
    "talkingpointsmemo.atom": 20,
    "uol-noticias.rss": 15,
    "zonebourse-reuters.xml": 1,
}
TRACKING = ("utm_", "xtor", "wt_mc", "at_medium", "at_campaign")
# Small written feeds, each carrying a "Description:" and an "Expect:" line.
FEED_FIXTURES = repo_root() / "tests" / "fixtures" / "feeds"
ALL_FIXTURES = sorted(path.name for path in FEED_FIXTURES.iterdir())
HOSTILE_FIXTURES = [name for name in ALL_FIXTURES if name.startswith("hostile-")]


@cache
def parsed(name: str) -> ParsedFeed:
    feed = make_feed(feed_id_of(FEEDS_DIR / name), lang="ru" if name.startswith("meduza") else None)
    return parse_feed((FEEDS_DIR / name).read_bytes(), feed, now=NOW)


def rss(items: str, *, language: str = "fr") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Test</title>'
        f"<link>https://news.example.org/</link><language>{language}</language>{items}</channel></rss>"
    ).encode()


def test_unit_tests_cannot_open_sockets() -> None:
    with pytest.warns(UserWarning, match="socket"), pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_every_sample_is_bundled_and_counted() -> None:
    assert set(ALL_SAMPLES) == set(REAL_FEEDS) | set(SEED_FEEDS) == set(ITEM_COUNTS)


# ---------------------------------------------------------------- every bundled feed


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_sample_feed_parses_every_item(name: str) -> None:
    result = parsed(name)
    assert len(result.items) == ITEM_COUNTS[name]
    assert all(item.feed_id == feed_id_of(FEEDS_DIR / name) for item in result.items)
    assert all(item.title for item in result.items)


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_sample_links_are_absolute_canonical_and_untracked(name: str) -> None:
    for item in parsed(name).items:
        parts = urlsplit(item.link)
        assert parts.scheme in {"http", "https"}, item.link
        assert parts.netloc, item.link
        assert parts.fragment == "", item.link
        assert not any(key.lower().startswith(TRACKING) for key, _ in parse_qsl(parts.query)), item.link
        assert item.link == item.link.strip()
        assert canonical_link(item.link) == item.link  # canonical form is a fixed point


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_sample_dates_are_utc_aware(name: str) -> None:
    for item in parsed(name).items:
        if item.published is not None:
            assert item.published.utcoffset() == timedelta(0)
            assert item.published.tzinfo is UTC
            assert datetime(1995, 1, 1, tzinfo=UTC) <= item.published <= NOW


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_sample_texts_are_plain(name: str) -> None:
    for item in parsed(name).items:
        for text in (item.title, item.summary, item.content):
            assert "<p>" not in text
            assert "</" not in text
            assert "&amp;" not in text
            assert "&lt;" not in text
            assert "\ufffd" not in text  # no undecodable bytes
            assert text == text.strip()
            assert "  " not in text
            assert "\n" not in text


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_sample_item_keys_are_distinct(name: str) -> None:
    items = parsed(name).items
    assert len({item_key(item) for item in items}) == len(items)


# ---------------------------------------------------------------- quirks from SOURCES.md


def test_seed_feed_link_drops_utm_params_and_fragment() -> None:
    seed = parsed("boursorama-reuters.xml").items[0]
    assert seed.link == (
        "https://www.boursorama.com/bourse/actualites/"
        "premier-entretien-en-un-an-entre-les-ministres-us-et-russe-de-la-defense-8c2a5f1e0f8b.html"
    )
    assert seed.guid == "boursorama-8c2a5f1e0f8b"
    assert seed.published == datetime(2024, 6, 25, 23, 29, tzinfo=UTC)  # 01:29 +0200
    assert seed.lang == "fr"
    assert seed.summary.startswith("Le secrétaire américain à la Défense, Lloyd Austin")
    assert "péninsule de Crimée" in seed.content
    # The paragraphs of content:encoded do not run into each other.
    assert "responsables. Il s'agit du premier entretien" in seed.content


def test_lemonde_une_drops_xtor_and_keeps_the_tiny_guid() -> None:
    items = parsed("lemonde-une.xml").items
    assert all("xtor" not in item.link for item in items)
    first = items[0]
    assert first.link == (
        "https://www.lemonde.fr/mondial-2018/live/2018/06/27/"
        "serbie-bresil-et-suisse-costa-rica-suivez-les-matchs-decisifs-du-groupe-e-de-la-coupe-du-monde-2018"
        "_5322162_5193650.html"
    )
    assert first.guid == "https://www.lemonde.fr/tiny/5322162/"
    assert first.title == "Serbie-Brésil en direct : les Brésiliens mènent grâce à Paulinho et Thiago Silva"


def test_heise_drops_wt_mc_from_alternate_links() -> None:
    first = parsed("heise-developer.atom").items[0]
    assert first.link == (
        "http://www.heise.de/developer/meldung/Java-Anwendungsserver-Red-Hat-gibt-WildFly-10-frei-3088438.html"
    )
    assert first.published == datetime(2016, 2, 1, 16, 22, tzinfo=UTC)


def test_bbc_drops_at_campaign_params() -> None:
    first = parsed("bbc-news.xml").items[0]
    assert first.link == "https://www.bbc.co.uk/news/business-58610561"
    assert first.lang == "en"


def test_talkingpointsmemo_relative_links_are_resolved_against_the_alternate_link() -> None:
    items = parsed("talkingpointsmemo.atom").items
    assert items[0].link == (
        "http://talkingpointsmemo.com/livewire/hannity-announces-fox-hired-sebastian-gorka-national-security-strategist"
    )
    assert {urlsplit(item.link).netloc for item in items} == {"talkingpointsmemo.com"}
    assert all(item.guid and item.guid.startswith("tag:talkingpointsmemo.com,2005:") for item in items)


def test_jornal_de_noticias_uses_feedburner_orig_link() -> None:
    items = parsed("jornal-de-noticias.rss").items
    assert (
        items[0].link == "https://www.jn.pt/nacional/interior/sonia-laig-e-a-nova-presidente-da-rarissimas-9021600.html"
    )
    assert {urlsplit(item.link).netloc for item in items} == {"www.jn.pt"}
    assert all(item.guid is None for item in items)
    assert items[0].title == "Mãe de utente é a nova presidente da Raríssimas"  # declared ISO-8859-1


def test_jornal_de_noticias_dates_with_padding_parse() -> None:
    assert all(item.published is not None for item in parsed("jornal-de-noticias.rss").items)
    assert parsed("jornal-de-noticias.rss").items[0].published == datetime(2018, 1, 3, 13, 47, tzinfo=UTC)


def test_uol_latin1_without_declaration_keeps_portuguese_accents() -> None:
    result = parsed("uol-noticias.rss")
    titles = [item.title for item in result.items]
    assert any("ç" in title or "ã" in title for title in titles), titles
    assert "Líder na pesquisa Ibope" in result.items[0].summary
    text = " ".join(f"{item.title} {item.summary}" for item in result.items)
    assert "Ã" not in text  # no UTF-8-read-as-Latin-1 mojibake
    assert "\ufffd" not in text
    # The wrong guess is recorded, not fatal.
    assert any("encoding" in problem.lower() for problem in result.problems)


def test_uol_items_without_guid_link_to_several_hosts() -> None:
    items = parsed("uol-noticias.rss").items
    assert all(item.guid is None for item in items)
    assert len({urlsplit(item.link).netloc for item in items}) > 1
    assert all(urlsplit(item.link).scheme == "https" for item in items)


def test_meduza_epoch_dates_are_rejected() -> None:
    items = parsed("meduza-scraped.xml").items
    assert len(items) == 24
    assert all(item.published is None for item in items)


def test_meduza_identical_links_still_give_distinct_item_keys() -> None:
    items = parsed("meduza-scraped.xml").items
    assert {item.link for item in items} == {"https://meduza.io/"}
    assert all(item.guid is None for item in items)
    assert len({item_key(item) for item in items}) == len(items)
    assert all(item.lang == "ru" for item in items)  # from the watch file, the feed declares nothing useful


def test_meduza_description_duplicating_the_title_is_kept_as_summary() -> None:
    first = parsed("meduza-scraped.xml").items[0]
    assert first.title.startswith("Сто лет назад родилась Майя Плисецкая")
    assert first.summary.startswith(first.title[:40])


def test_nbc_new_york_non_rfc_date_parses() -> None:
    item = parsed("nbc-newyork.xml").items[0]
    assert item.published is not None
    assert item.published.date() == datetime(2023, 12, 16, tzinfo=UTC).date()
    assert item.guid == "4956764"
    assert item.lang == "en"  # declared en_US


def test_nbc_new_york_pm_date_keeps_the_afternoon() -> None:
    item = parsed("nbc-newyork.xml").items[0]
    assert item.published in {
        datetime(2023, 12, 16, 14, 2, 33, tzinfo=UTC),
        datetime(2023, 12, 16, 19, 2, 33, tzinfo=UTC),
    }


def test_ilmessaggero_cdata_whitespace_is_trimmed_and_italian_date_is_not_misread() -> None:
    item = parsed("ilmessaggero-mondo.xml").items[0]
    assert item.title == "Missili Polonia, cosa è successo? Tensione Nato-Russia, Mosca: non siamo stati noi"
    assert item.summary.startswith("Non sono ancora le 16 di ieri pomeriggio")
    assert item.lang == "it"  # declared IT-it
    # "mer, 16 nov 2022 00:38:15 +0100": Italian names, read by core.feeds.parse_loose_date.
    assert item.published == datetime(2022, 11, 15, 23, 38, 15, tzinfo=UTC)


def test_lemonde_idees_summary_is_plain_text() -> None:
    items = parsed("lemonde-idees.xml").items
    first = items[0]
    assert first.summary.startswith("On aurait tort de croire toute l’énergie du Kremlin")
    assert "« Monde »" in first.summary  # no-break spaces inside guillemets become plain spaces
    for item in items:
        assert "<" not in item.summary
        assert "\u00a0" not in item.summary
    assert items[0].lang == "fr"


def test_guardian_escaped_html_description_becomes_separated_text() -> None:
    first = parsed("guardian-us.rss").items[0]
    assert first.summary.startswith("The president’s ‘new American moment’ speech")
    assert "contempt Donald Trump has promised" in first.summary  # was </p><p> between the two words
    assert "<" not in first.summary


def test_sciencesetavenir_links_padded_with_newlines_are_trimmed() -> None:
    first = parsed("sciencesetavenir-espace.xml").items[0]
    assert (
        first.link == "https://www.sciencesetavenir.fr/espace/planetes/les-vents-de-venus-modifient-sa-rotation_125251"
    )
    assert first.guid == first.link


def test_golem_rdf_latin1_is_decoded() -> None:
    (item,) = parsed("golem.rdf").items
    assert item.title == "Digitalministerium: Neue Glasfaserförderung mit Schnellkasse"
    assert item.published == datetime(2023, 1, 25, 18, 3, 2, tzinfo=UTC)


def test_declared_languages_are_reduced_to_primary_subtags() -> None:
    assert parsed("guardian-us.rss").lang == "en"  # en-gb
    assert parsed("nbc-newyork.xml").lang == "en"  # en_US
    assert parsed("ilmessaggero-mondo.xml").lang == "it"  # IT-it
    assert parsed("jornal-de-noticias.rss").lang == "pt"


@pytest.mark.parametrize("name", ["uol-noticias.rss", "ilmessaggero-mondo.xml"])
def test_parsing_a_feed_with_unparseable_dates_emits_no_warning(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_feed((FEEDS_DIR / name).read_bytes(), make_feed(), now=NOW)


# ---------------------------------------------------------------- canonical links


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://x.example/a?utm_source=rss&utm_medium=feed&id=3", "https://x.example/a?id=3"),
        ("https://x.example/a?UTM_Campaign=x", "https://x.example/a"),
        ("https://x.example/a.html?xtor=RSS-3208", "https://x.example/a.html"),
        ("http://www.heise.de/a.html?wt_mc=rss.developer.beitrag.atom", "http://www.heise.de/a.html"),
        ("https://x.example/a?at_medium=RSS&at_campaign=KARANGA", "https://x.example/a"),
        ("https://x.example/a?fbclid=1&gclid=2", "https://x.example/a"),
        ("https://x.example/a#comments", "https://x.example/a"),
        ("https://x.example/a?b=2&a=1#top", "https://x.example/a?b=2&a=1"),  # order kept
        ("HTTPS://WWW.Example.ORG/Path/Case", "https://www.example.org/Path/Case"),  # path case kept
        ("https://x.example", "https://x.example/"),
        ("  https://x.example/a\n", "https://x.example/a"),
    ],
)
def test_canonical_link(link: str, expected: str) -> None:
    assert canonical_link(link) == expected


@pytest.mark.parametrize(
    ("link", "base", "expected"),
    [
        ("/livewire/story", "http://talkingpointsmemo.com", "http://talkingpointsmemo.com/livewire/story"),
        ("story.html", "https://x.example/news/", "https://x.example/news/story.html"),
        ("https://other.example/s", "https://x.example/", "https://other.example/s"),
        ("/a?utm_term=1#x", "https://x.example/feed", "https://x.example/a"),
    ],
)
def test_canonical_link_resolves_relative_links(link: str, base: str, expected: str) -> None:
    assert canonical_link(link, base) == expected


# ---------------------------------------------------------------- synthetic feeds


@pytest.mark.parametrize(
    ("title", "source", "expected"),
    [
        (
            "Austin speaks with Belousov in a phone call - Reuters",
            "Reuters",
            "Austin speaks with Belousov in a phone call",
        ),
        ("Frappe de missiles sur la Crimée – Le Monde", "Le Monde", "Frappe de missiles sur la Crimée"),
        ("Austin speaks with Belousov in a phone call - Reuters", "AP", None),
        ("Austin speaks with Belousov in a phone call - Reuters", "", None),
    ],
)
def test_an_aggregators_relayed_headline_is_the_publishers_story(title: str, source: str, expected: str | None) -> None:
    # Google News: "<headline> - <outlet>", the outlet also in <source>. The story key leaves
    # the outlet out, so the relay is the publisher's own story; the title stays as listed,
    # so that the entry's key and edition are those it was stored under before.
    body = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>{title}</title>'
        f"<link>https://news.google.com/rss/articles/CBMiqAFBVV95cUxN?oc=5</link>"
        f'<source url="https://www.reuters.com">{source}</source></item></channel></rss>'
    ).encode()
    (item,) = parse_feed(body, make_feed("gnews"), now=NOW).items
    assert (item.title, item.source) == (title, source)
    headline = title.rsplit(" - ", 1)[0].rsplit(" – ", 1)[0]  # as the publisher's own feed lists it
    publishers = Item("reuters", headline, "https://www.reuters.com/a")
    same = {key.key for key in story_keys(item)} & {key.key for key in story_keys(publishers)}
    assert bool(same) is (expected is not None)


def test_relative_links_fall_back_to_the_feed_url_without_channel_link() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>Une</title><link>/une.html</link></item></channel></rss>"
    )
    feed = make_feed("x")
    (item,) = parse_feed(body, feed, now=NOW).items
    assert item.link == "https://feeds.example.org/une.html"


def test_a_relative_channel_link_is_resolved_against_the_feed_url() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>/</link>'
        b"<item><title>Une</title><link>/article/1</link></item></channel></rss>"
    )
    (item,) = parse_feed(body, make_feed("x"), now=NOW).items
    assert item.link == "https://feeds.example.org/article/1"


def test_a_json_feed_relative_home_page_is_resolved_against_the_feed_url() -> None:
    body = json_feed({"id": "1", "title": "Une", "url": "a/1.html"}, home_page_url="/news/")
    (item,) = parse_feed(body, make_feed(), now=NOW).items
    assert item.link == "https://feeds.example.org/news/a/1.html"


@pytest.mark.parametrize("guid", ["123456", "/article/1"])
def test_a_guid_that_is_no_web_address_is_not_taken_for_a_link(guid: str) -> None:
    # feedparser fills a missing <link> with the GUID; resolved against the channel,
    # "123456" would become a page that does not exist.
    body = rss(f"<item><title>Une frappe en Crimée</title><guid>{guid}</guid></item>")
    (item,) = parse_feed(body, make_feed(), now=NOW).items
    assert (item.link, item.guid) == ("", guid)


def test_a_relative_link_equal_to_its_guid_is_still_the_link() -> None:
    body = rss("<item><title>Une</title><link>/news/1</link><guid isPermaLink='false'>/news/1</guid></item>")
    (item,) = parse_feed(body, make_feed(), now=NOW).items
    assert item.link == "https://news.example.org/news/1"


@pytest.mark.parametrize("byte", [b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"])
def test_a_latin1_feed_with_a_byte_windows_1252_lacks_stays_latin1(byte: bytes) -> None:
    # Python's windows-1252 has no character there: relabelled, the whole feed would be
    # read in another code page (Voilà → Voilŕ).
    body = _FRENCH_RSS.format(encoding="ISO-8859-1").replace("…", "").encode("latin-1").replace(b"No", b"No" + byte)
    titles = [item.title for item in parse_feed(body, make_feed(), now=NOW).items]
    assert titles[0].startswith("Arrêtés à No")


def test_a_permalink_guid_without_link_is_the_link() -> None:
    body = rss("<item><title>Une frappe en Crimée</title><guid>https://news.example.org/1</guid></item>")
    (item,) = parse_feed(body, make_feed(), now=NOW).items
    assert item.link == "https://news.example.org/1"


_FRENCH_RSS = (
    '<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>T</title>'
    "<item><title>Arrêtés à Noël…</title><link>https://news.example.org/1</link></item></channel></rss>"
)


@pytest.mark.parametrize("encoding", ["utf-16", "UTF-16LE", "utf-32"])
def test_a_utf8_body_declaring_a_wide_encoding_is_read_as_utf8(encoding: str) -> None:
    # .NET's StringWriter declares utf-16 on what it writes out as UTF-8.
    parsed = parse_feed(_FRENCH_RSS.format(encoding=encoding).encode(), make_feed(), content_type="text/xml", now=NOW)
    assert [item.title for item in parsed.items] == ["Arrêtés à Noël…"]
    assert any(f"declared {encoding}" in problem for problem in parsed.problems)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_read_as_declared(codec: str) -> None:
    body = _FRENCH_RSS.format(encoding="UTF-16").encode(codec)
    assert [item.title for item in parse_feed(body, make_feed(), now=NOW).items] == ["Arrêtés à Noël…"]


@pytest.mark.parametrize(
    ("encoding", "content_type"),
    [("ISO-8859-1", None), ("latin1", "text/xml"), ("us-ascii", None)],
)
def test_a_latin1_label_is_read_as_windows_1252(encoding: str, content_type: str | None) -> None:
    # Publishers who say Latin-1 write the code page's "…" (0x85), which Latin-1 reads as a
    # line break, as browsers do not (the WHATWG Encoding Standard).
    body = _FRENCH_RSS.format(encoding=encoding).encode("cp1252")
    titles = [item.title for item in parse_feed(body, make_feed(), content_type=content_type, now=NOW).items]
    assert titles == ["Arrêtés à Noël…"]


def test_a_latin1_header_on_an_undeclared_document_is_read_as_windows_1252() -> None:
    body = _FRENCH_RSS.split("?>", 1)[1].encode("cp1252")
    parsed = parse_feed(body, make_feed(), content_type="application/rss+xml; charset=ISO-8859-1", now=NOW)
    assert [item.title for item in parsed.items] == ["Arrêtés à Noël…"]


def test_an_entry_listed_twice_is_one_entry_that_keeps_its_guid() -> None:
    # A story in two sections of one feed: dropping its GUID would change its key
    # whenever the copy came and went, and process it as new each time.
    entry = "<item><title>Une frappe en Crimée</title><link>https://news.example.org/1</link><guid>g-1</guid></item>"
    other = "<item><title>Autre</title><link>https://news.example.org/2</link><guid>g-2</guid></item>"
    twice = parse_feed(rss(entry + other + entry), make_feed(), now=NOW).items
    once = parse_feed(rss(entry + other), make_feed(), now=NOW).items
    assert [item.guid for item in twice] == ["g-1", "g-2"]
    assert [item_key(item) for item in twice] == [item_key(item) for item in once]


def test_different_entries_sharing_a_guid_lose_it() -> None:
    body = rss(
        "<item><title>Une</title><link>https://news.example.org/1</link><guid>same</guid></item>"
        "<item><title>Deux</title><link>https://news.example.org/2</link><guid>same</guid></item>"
    )
    assert [item.guid for item in parse_feed(body, make_feed(), now=NOW).items] == [None, None]


def test_implausible_dates_are_treated_as_undated() -> None:
    body = rss(
        "<item><title>Epoch</title><link>https://news.example.org/1</link>"
        "<pubDate>Thu, 01 Jan 1970 00:00:00 +0000</pubDate></item>"
        "<item><title>Far future</title><link>https://news.example.org/2</link>"
        "<pubDate>Sat, 03 Jan 2026 00:00:00 +0000</pubDate></item>"
        "<item><title>Within a day</title><link>https://news.example.org/3</link>"
        "<pubDate>Thu, 01 Jan 2026 20:00:00 +0000</pubDate></item>"
        "<item><title>Ordinary</title><link>https://news.example.org/4</link>"
        "<pubDate>Wed, 26 Jun 2024 01:29:00 +0200</pubDate></item>"
    )
    items = parse_feed(body, make_feed(), now=NOW).items
    assert [item.published for item in items] == [
        None,
        None,
        datetime(2026, 1, 1, 20, tzinfo=UTC),
        datetime(2024, 6, 25, 23, 29, tzinfo=UTC),
    ]


def test_atom_updated_date_is_used_without_published() -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">'
        b"<title>T</title><id>urn:t</id><updated>2024-06-26T00:00:00Z</updated>"
        b'<entry><title>Crim&#233;e</title><id>urn:1</id><link href="https://x.example/1"/>'
        b"<updated>2024-06-25T22:00:00+02:00</updated></entry></feed>"
    )
    (item,) = parse_feed(body, make_feed(), now=NOW).items
    assert item.published == datetime(2024, 6, 25, 20, tzinfo=UTC)
    assert item.title == "Crimée"
    assert item.guid == "urn:1"
    assert item.lang == "fr"


def test_entry_without_title_or_link_is_skipped_and_reported() -> None:
    body = rss("<item><description>nothing else</description></item><item><title>Kept</title></item>")
    result = parse_feed(body, make_feed(), now=NOW)
    assert [item.title for item in result.items] == ["Kept"]
    assert result.items[0].link == ""
    assert "entry 0 skipped: neither title nor link" in result.problems


def test_content_equal_to_summary_is_not_repeated() -> None:
    body = rss(
        '<item xmlns:content="http://purl.org/rss/1.0/modules/content/"><title>T</title>'
        "<link>https://x.example/1</link><description>Même texte</description>"
        "<content:encoded><![CDATA[<p>Même texte</p>]]></content:encoded></item>"
    ).replace(b'<rss version="2.0">', b'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">')
    (item,) = parse_feed(body, make_feed(), now=NOW).items
    assert item.summary == "Même texte"
    assert item.content == ""


def test_watch_file_language_overrides_the_declared_one() -> None:
    body = rss("<item><title>T</title><link>https://x.example/1</link></item>", language="en-US")
    assert parse_feed(body, make_feed(), now=NOW).items[0].lang == "en"
    assert parse_feed(body, make_feed(lang="fr-CA"), now=NOW).items[0].lang == "fr"


@pytest.mark.parametrize(("declared", "expected"), [("", "und"), ("français", "und"), ("FR", "fr"), ("pt_BR", "pt")])
def test_unusable_declared_language_is_undetermined(declared: str, expected: str) -> None:
    body = rss("<item><title>T</title><link>https://x.example/1</link></item>", language=declared)
    assert parse_feed(body, make_feed(), now=NOW).lang == expected


def test_truncated_feed_keeps_what_was_recoverable() -> None:
    body = (FEEDS_DIR / "boursorama-reuters.xml").read_bytes()
    cut = body[: body.index(b"<title>La BCE")]
    result = parse_feed(cut, make_feed(), now=NOW)
    assert [item.guid for item in result.items] == ["boursorama-8c2a5f1e0f8b"]
    assert any("SAXParseException" in problem for problem in result.problems)


def test_feed_without_items_is_a_feed() -> None:
    result = parse_feed(rss(""), make_feed(), now=NOW)
    assert result.items == ()
    assert result.lang == "fr"


# ---------------------------------------------------------------- not feeds


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            b"<!DOCTYPE html><html><head><title>Boursorama</title></head><body><p>Actualit\xc3\xa9s</p></body></html>",
            "HTML page, not a feed",
        ),
        (b"<html><body><h1>503 Service Unavailable</h1></body></html>", "HTML page, not a feed"),
        (
            b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN"><HTML><BODY>Erreur</BODY></HTML>',
            "HTML page, not a feed",
        ),
        (b"\xef\xbb\xbf\n  <!-- cache: miss -->\n<!-- -->\r\n<head><title>x</title></head>", "HTML page, not a feed"),
        (b"<body><p>Acc\xc3\xa8s refus\xc3\xa9</p></body>", "HTML page, not a feed"),
        (
            b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
            b'"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd"><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
            "HTML page, not a feed",
        ),
        ("<!DOCTYPE html><html><body>Page introuvable</body></html>".encode("utf-16"), "HTML page, not a feed"),
        (bytes(range(256)) * 4, "no RSS, RDF or Atom content"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG image, not a feed"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(64), "JPEG image, not a feed"),
        (b"GIF89a" + bytes(64), "GIF image, not a feed"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF document, not a feed"),
        (
            gzip.compress(b'<rss version="2.0"><channel><title>T</title></channel></rss>'),
            "gzip-compressed data, not a feed",
        ),
        (b"PK\x03\x04\x14\x00" + bytes(64), "zip archive, not a feed"),
        (b'{"items": [{"title": "Crimea"}]}', "JSON object without a jsonfeed.org version, not a JSON Feed"),
        (b"Not Found", "no RSS, RDF or Atom content"),
        (b"", "empty body"),
        (b"   \n", "empty body"),
        (b"\xef\xbb\xbf \r\n\t", "empty body"),
        (" \n\n ".encode("utf-16"), "empty body"),
        (b'<?xml version="1.0"?><catalog><book>Crimea</book></catalog>', "no RSS, RDF or Atom content"),
    ],
    ids=[
        "html-page",
        "html-error",
        "html-4-uppercase",
        "html-bom-comments",
        "html-body-only",
        "xhtml",
        "html-utf16",
        "binary",
        "png",
        "jpeg",
        "gif",
        "pdf",
        "gzip",
        "zip",
        "json",
        "text",
        "empty",
        "blank",
        "bom-and-blanks",
        "blank-utf16",
        "other-xml",
    ],
)
def test_bytes_that_are_not_a_feed_raise_feed_error_saying_what_they_are(body: bytes, detail: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(body, make_feed(), now=NOW)
    assert caught.value.kind == "not-a-feed"
    assert str(caught.value).startswith("not-a-feed: ")
    assert caught.value.detail.startswith(detail), caught.value.detail


@pytest.mark.parametrize("content_type", ["text/html", "text/html; charset=utf-8", "application/rss+xml", None])
def test_html_page_is_reported_whatever_it_is_served_as(content_type: str | None) -> None:
    body = (FEED_FIXTURES / "html-page-fr.html").read_bytes()
    with pytest.raises(FeedError) as caught:
        parse_feed(body, make_feed(), content_type=content_type, now=NOW)
    assert (caught.value.kind, caught.value.detail) == ("not-a-feed", "HTML page, not a feed")


@pytest.mark.parametrize(
    "content_type", ["image/png", "image/webp", "audio/mpeg", "video/mp4", "application/pdf", "Application/ZIP"]
)
def test_binary_content_type_names_the_type(content_type: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(b"\x00\x01RIFF\x00\x00WEBPVP8 " + bytes(range(256)), make_feed(), content_type=content_type, now=NOW)
    assert caught.value.kind == "not-a-feed"
    assert caught.value.detail == f"{content_type.lower()} content, not a feed"


@pytest.mark.parametrize("content_type", ["image/png", "application/octet-stream", "application/json"])
def test_a_feed_served_with_a_wrong_content_type_still_parses(content_type: str) -> None:
    body = rss("<item><title>Crim\u00e9e</title><link>https://x.example/1</link></item>")
    assert [item.title for item in parse_feed(body, make_feed(), content_type=content_type, now=NOW).items] == [
        "Crimée"
    ]


@pytest.mark.parametrize("content_type", ["text/html", "application/octet-stream", "application/json", "text/plain"])
@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_every_sample_served_with_a_wrong_content_type_gives_the_same_items(name: str, content_type: str) -> None:
    # Publishers serve RSS as text/html or octet-stream: the body decides, not the header.
    body = (FEEDS_DIR / name).read_bytes()
    served = parse_feed(body, make_feed(), content_type=content_type, now=NOW)
    assert served.items == parse_feed(body, make_feed(), now=NOW).items
    assert served.items


def test_text_served_as_json_is_unparseable_json() -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(b"Not Found", make_feed(), content_type="application/json", now=NOW)
    assert caught.value.kind == "unparseable"
    assert caught.value.detail.startswith("invalid JSON: ")


# ---------------------------------------------------------------- dates


def test_uol_portuguese_dates_are_read() -> None:
    items = parsed("uol-noticias.rss").items
    assert all(item.published is not None for item in items)
    assert all(item.published.year == 2018 and item.published.month == 9 for item in items if item.published)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Seg, 24 Set 2018 19:34:00 -0300", datetime(2018, 9, 24, 22, 34, tzinfo=UTC)),
        ("mer, 16 nov 2022 12:50:18 +0100", datetime(2022, 11, 16, 11, 50, 18, tzinfo=UTC)),
        ("lun., 3 févr. 2025 08:00:00 +0100", datetime(2025, 2, 3, 7, 0, tzinfo=UTC)),
        ("Sat, Dec 16 2023 02:02:33 PM", datetime(2023, 12, 16, 14, 2, 33, tzinfo=UTC)),
        ("Sat, Dec 16 2023 12:15:00 AM", datetime(2023, 12, 16, 0, 15, tzinfo=UTC)),
    ],
)
def test_loose_dates_are_read(text: str, expected: datetime) -> None:
    from wirewatch.core.feeds import parse_loose_date

    stamp = parse_loose_date(text)
    assert stamp is not None
    assert datetime(*stamp[:6], tzinfo=UTC) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "32 Foo 2020 10:00", "Mon, 24 Sep 2018"])
def test_unreadable_loose_dates_give_none(text: str) -> None:
    from wirewatch.core.feeds import parse_loose_date

    assert parse_loose_date(text) is None


# ---------------------------------------------------------------- written fixtures and their expectations

_EXPECT = re.compile(r"Expect:[ \t]*(.*?)[ \t]*(?:-->|\"|$)", re.MULTILINE)
_EXPECT_KEYS = {"items", "lang", "ttl", "problems", "error", "detail"}


def expectation(name: str) -> dict[str, str]:
    """The fixture's ``Expect:`` line as keys and values: ``items=2 lang=fr``, ``error=not-a-feed detail='…'``."""
    text = (FEED_FIXTURES / name).read_bytes().decode("utf-8", "replace")
    assert "Description:" in text, f"{name} says not what it tests"
    found = _EXPECT.search(text)
    assert found, f"{name} has no Expect: line"
    return dict(token.split("=", 1) for token in shlex.split(found[1]))


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_fixture_declares_a_usable_expectation(name: str) -> None:
    expect = expectation(name)
    assert set(expect) <= _EXPECT_KEYS, set(expect) - _EXPECT_KEYS
    assert ("items" in expect) != ("error" in expect)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_fixture_meets_its_expectation(name: str) -> None:
    expect = expectation(name)
    body = (FEED_FIXTURES / name).read_bytes()
    if "error" in expect:
        with pytest.raises(FeedError) as caught:
            parse_feed(body, make_feed(), now=NOW)
        assert caught.value.kind == expect["error"]
        assert caught.value.detail == expect.get("detail", caught.value.detail)
        return
    result = parse_feed(body, make_feed(), now=NOW)
    assert len(result.items) == int(expect["items"])
    assert result.lang == expect.get("lang", result.lang)
    if "ttl" in expect:
        assert result.ttl == (None if expect["ttl"] == "none" else timedelta(minutes=int(expect["ttl"])))
    if "problems" in expect:
        assert len(result.problems) == int(expect["problems"]), result.problems


def fixture(name: str, *, content_type: str | None = None) -> ParsedFeed:
    return parse_feed((FEED_FIXTURES / name).read_bytes(), make_feed(), content_type=content_type, now=NOW)


# ---------------------------------------------------------------- JSON Feed


def json_feed(*items: object, version: str = "https://jsonfeed.org/version/1.1", **top: object) -> bytes:
    return json.dumps({"version": version, "title": "Test", **top, "items": list(items)}).encode()


def test_json_feed_1_1_in_french_gives_the_items_rss_would() -> None:
    first, english, third = fixture("jsonfeed-1.1-fr.json").items
    assert first.title == "Péninsule de Crimée : premier entretien en un an entre ministres de la Défense"
    # Relative url resolved against home_page_url; tracking parameters and fragment dropped.
    assert first.link == "https://depeches.example.fr/europe/2024/06/26/crimee.html"
    assert first.guid == "https://depeches.example.fr/europe/2024/06/26/crimee"
    assert first.summary == "Le secrétaire américain à la Défense a appelé son homologue russe."
    assert first.content == "L’entretien a duré près d'une heure. Il s’agit du premier depuis mars 2023."
    assert first.published == datetime(2024, 6, 25, 23, 29, tzinfo=UTC)
    assert first.lang == "fr"
    assert first.feed_id == "test-feed"
    assert english.lang == "en"  # item-level language (1.1)
    assert english.summary == "Talks between delegations resumed on Wednesday."
    assert english.content == ""  # content_text is the summary already
    assert english.published == datetime(2024, 6, 26, 8, tzinfo=UTC)  # date_modified alone
    assert third.title == "La BCE & l’inflation : « prudence » de mise"
    assert third.published == datetime(2024, 6, 25, 16, 45, 12, 500000, tzinfo=UTC)


def test_json_feed_1_0_in_english_stringifies_numeric_ids() -> None:
    result = fixture("jsonfeed-1.0-en.json")
    first, second = result.items
    assert (first.guid, second.guid) == ("1234", "1235.5")
    assert first.link == "https://wire.example.com/world/sanctions"
    assert first.summary == "Ministers agreed a new package of sanctions on Tuesday."
    assert second.link == "https://other.example.org/analysis"  # external_url when there is no url
    assert second.published == datetime(2024, 6, 25, 17, 30, tzinfo=UTC)
    assert result.lang == "und"  # 1.0 declares no language


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_json_feed_in_any_utf_encoding_with_or_without_bom_parses_the_same(encoding: str) -> None:
    text = (FEED_FIXTURES / "jsonfeed-1.1-bom-fr.json").read_bytes().decode("utf-8-sig")
    (item,) = parse_feed(text.encode(encoding), make_feed(), now=NOW).items
    assert item.title == "Entretien téléphonique avec le président ukrainien"
    assert item.summary == "Le président de la République s’est entretenu ce mercredi avec son homologue."
    assert item.lang == "fr"


@pytest.mark.parametrize(
    "content_type",
    [None, "application/feed+json", "application/json; charset=utf-8", "text/html", "application/octet-stream"],
)
def test_json_feed_is_recognised_by_its_body_whatever_it_is_served_as(content_type: str | None) -> None:
    result = fixture("jsonfeed-1.1-fr.json", content_type=content_type)
    assert [item.guid for item in result.items] == [item.guid for item in fixture("jsonfeed-1.1-fr.json").items]
    assert len(result.items) == 3


def test_json_feed_with_leading_blanks_and_http_version_url_is_read() -> None:
    body = b"\n\t " + json_feed({"id": "1", "title": "Crue de la Seine"}, version="http://jsonfeed.org/version/1")
    assert [item.title for item in parse_feed(body, make_feed(), now=NOW).items] == ["Crue de la Seine"]


def test_malformed_json_feed_keeps_usable_items_and_reports_the_rest() -> None:
    result = fixture("jsonfeed-malformed-fr.json")
    first, second = result.items
    assert first.title == "Réforme des retraites : le texte adopté"
    assert first.summary == "Le texte a été adopté en première lecture."  # summary was a number
    assert first.lang == "fr"  # item language was a list
    assert first.published is None  # "hier soir"
    assert (second.guid, second.link) == ("ok-2", "")
    assert second.published is None  # 1970: implausible, as in RSS
    assert result.problems == (
        "feed: ignored home_page_url (wrong type)",
        "item 0 skipped: a JSON string, not an object",
        "item 1 skipped: a JSON number, not an object",
        "item 2 skipped: a JSON null, not an object",
        "item 3 skipped: a JSON array, not an object",
        "item 4: ignored title, url, id (wrong type)",
        "item 4 skipped: no url, id or title",
        "item 5 skipped: no url, id or title",
        "item 6: ignored summary, language (wrong type)",
    )


@pytest.mark.parametrize(
    "value",
    [42, 4.2e300, True, None, [], {}, ["Crimée"], {"fr": "Crimée"}, [[[[[["deep"]]]]]], "", "   "],
    ids=repr,
)
@pytest.mark.parametrize("key", ["title", "url", "external_url", "summary", "content_html", "content_text", "language"])
def test_json_feed_field_of_any_wrong_type_never_crashes(key: str, value: object) -> None:
    body = json_feed({"id": "kept", key: value, "date_published": value})
    (item,) = parse_feed(body, make_feed(), now=NOW).items
    assert item.guid == "kept"
    assert item.published is None


def test_json_feed_item_without_url_id_or_title_is_skipped_and_reported() -> None:
    body = json_feed({"content_text": "Seulement du texte"}, {"title": "Gardé"})
    result = parse_feed(body, make_feed(), now=NOW)
    assert [item.title for item in result.items] == ["Gardé"]
    assert "item 0 skipped: no url, id or title" in result.problems


@pytest.mark.parametrize("item", [{"id": "1"}, {"url": "https://x.example/1"}, {"title": "Seul le titre"}])
def test_json_feed_item_with_any_one_of_url_id_or_title_is_kept(item: dict[str, str]) -> None:
    assert len(parse_feed(json_feed(item), make_feed(), now=NOW).items) == 1


def test_json_feed_unusable_url_costs_that_item_only() -> None:
    body = json_feed({"id": "1", "url": "http://[::1", "title": "Cassé"}, {"id": "2", "title": "Intact"})
    result = parse_feed(body, make_feed(), now=NOW)
    assert [item.guid for item in result.items] == ["2"]
    assert result.problems[0].startswith("item 0 skipped: ValueError")


def test_json_feed_guids_shared_by_several_items_are_dropped() -> None:
    body = json_feed(
        {"id": "same", "url": "https://x.example/1", "title": "Un"},
        {"id": "same", "url": "https://x.example/2", "title": "Deux"},
        {"id": 7, "url": "https://x.example/3", "title": "Trois"},
    )
    assert [item.guid for item in parse_feed(body, make_feed(), now=NOW).items] == [None, None, "7"]


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ({"home_page_url": "https://site.example/news/", "feed_url": "https://cdn.example/feed.json"}, "site.example"),
        ({"feed_url": "https://cdn.example/feeds/main.json"}, "cdn.example"),
        ({}, "feeds.example.org"),  # the URL the watch file names
    ],
)
def test_json_feed_relative_urls_resolve_against_home_page_then_feed_url(top: dict[str, str], expected: str) -> None:
    (item,) = parse_feed(json_feed({"id": "1", "url": "/a/b.html"}, **top), make_feed(), now=NOW).items
    assert item.link == f"https://{expected}/a/b.html"


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        ({"date_published": "2024-06-26T01:29:00+02:00"}, datetime(2024, 6, 25, 23, 29, tzinfo=UTC)),
        ({"date_published": "2024-06-26t01:29:00z"}, datetime(2024, 6, 26, 1, 29, tzinfo=UTC)),
        ({"date_published": "2024-06-26T10:00:00"}, datetime(2024, 6, 26, 10, tzinfo=UTC)),  # no offset: UTC
        ({"date_modified": "2024-06-26T08:00:00Z"}, datetime(2024, 6, 26, 8, tzinfo=UTC)),
        (
            {"date_published": "mercredi dernier", "date_modified": "2024-06-26T08:00:00Z"},
            datetime(2024, 6, 26, 8, tzinfo=UTC),
        ),
        ({"date_published": "1970-01-01T00:00:00Z"}, None),
        ({"date_published": "2026-01-03T00:00:00Z"}, None),  # two days after NOW
        ({"date_published": "0001-01-01T00:00:00+01:00"}, None),  # before year 1 in UTC
        ({"date_published": "2024-06-26T23:59:60Z"}, None),  # leap second: datetime has none
        ({"date_published": 1719360000}, None),
    ],
)
def test_json_feed_dates_follow_the_rss_rules(dates: dict[str, object], expected: datetime | None) -> None:
    (item,) = parse_feed(json_feed({"id": "1", **dates}), make_feed(), now=NOW).items
    assert item.published == expected
    assert item.published is None or item.published.tzinfo is UTC


@pytest.mark.parametrize(
    ("watch_lang", "feed_lang", "item_lang", "expected"),
    [
        (None, "fr-CA", None, "fr"),
        (None, None, None, "und"),
        ("en", "fr", None, "en"),  # the watch file overrides the feed, as for RSS
        ("en", "fr", "pt-BR", "pt"),  # an item's own language overrides both, as for RSS
        (None, "français", None, "und"),
    ],
)
def test_json_feed_language_follows_the_rss_rules(
    watch_lang: str | None, feed_lang: str | None, item_lang: str | None, expected: str
) -> None:
    item: dict[str, object] = {"id": "1", "title": "T"}
    if item_lang:
        item["language"] = item_lang
    body = json_feed(item, **({"language": feed_lang} if feed_lang else {}))
    (parsed_item,) = parse_feed(body, make_feed(lang=watch_lang), now=NOW).items
    assert parsed_item.lang == expected


def test_json_feed_lone_surrogate_becomes_a_replacement_character() -> None:
    body = json_feed({"id": "a\ud800", "title": "Crim\udc00\u00e9e"})  # json.dumps escapes them as \\uXXXX
    (item,) = parse_feed(body, make_feed(), now=NOW).items
    assert item.title == "Crim\ufffdée"
    assert item.guid == "a\ufffd"
    assert item_key(item)  # hashes UTF-8: a lone surrogate would raise UnicodeEncodeError


def test_json_feed_has_no_ttl_and_no_items_is_still_a_feed() -> None:
    result = parse_feed(json_feed(language="fr"), make_feed(), now=NOW)
    assert (result.items, result.lang, result.ttl) == ((), "fr", None)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[]", "JSON array, not a JSON Feed"),
        (b'[{"version": "https://jsonfeed.org/version/1.1", "items": []}]', "JSON array, not a JSON Feed"),
        (b'"Not Found"', "JSON string, not a JSON Feed"),
        (b"42", "JSON number, not a JSON Feed"),
        (b"null", "JSON null, not a JSON Feed"),
        (b"true", "JSON boolean, not a JSON Feed"),
        (b'{"version": "1.1", "items": []}', "JSON object without a jsonfeed.org version, not a JSON Feed"),
        (b'{"version": 1, "items": []}', "JSON object without a jsonfeed.org version, not a JSON Feed"),
        (
            b'{"version": "https://example.org/version/1", "items": []}',
            "JSON object without a jsonfeed.org version, not a JSON Feed",
        ),
        (b'{"version": "https://jsonfeed.org/version/1.1"}', "JSON Feed without an items list"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": "none"}', "JSON Feed without an items list"),
    ],
)
def test_json_that_is_not_a_json_feed_is_not_a_feed(body: bytes, detail: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(body, make_feed(), content_type="application/json", now=NOW)
    assert (caught.value.kind, caught.value.detail) == ("not-a-feed", detail)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 200_000,
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [' + b'{"a": ' * 200_000,
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"title": ' + b"[" * 200_000 + b"]" * 200_000,
    ],
    ids=["arrays", "objects", "inside-a-title"],
)
def test_json_nested_too_deeply_is_unparseable(body: bytes) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(body, make_feed(), now=NOW)
    assert (caught.value.kind, caught.value.detail) == ("unparseable", "JSON nested too deeply")


@pytest.mark.parametrize(
    "body",
    [
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [}',
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": ' + b"1" * 5000 + b"}]}",
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"title": "Cr\xc3\x28e"}]}',
    ],
    ids=["syntax", "huge-number", "undecodable"],
)
def test_invalid_json_is_unparseable(body: bytes) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(body, make_feed(), now=NOW)
    assert caught.value.kind == "unparseable"
    assert caught.value.detail.startswith("invalid JSON: ")


# ---------------------------------------------------------------- publishers' polling hints


def rss_with(channel_extra: str, *, namespaces: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"{namespaces}><channel><title>T</title>'
        f"<link>https://news.example.org/</link>{channel_extra}"
        "<item><title>Une</title><link>https://news.example.org/1</link></item></channel></rss>"
    ).encode()


SY = ' xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'


def test_bbc_ttl_is_read_and_no_other_sample_declares_one() -> None:
    assert {name: parsed(name).ttl for name in ALL_SAMPLES if parsed(name).ttl} == {
        "bbc-news.xml": timedelta(minutes=15)
    }


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        ("60", timedelta(minutes=60)),
        (" 15 ", timedelta(minutes=15)),
        ("0060", timedelta(hours=1)),
        ("10080", timedelta(days=7)),
        ("10081", timedelta(days=7)),  # capped at a week
        ("99999999999999999999999999", timedelta(days=7)),
        ("0", None),
        ("-5", None),
        ("1.5", None),
        ("une heure", None),
        ("", None),
        ("٦٠", None),  # Arabic-Indic digits: str.isdigit says yes, the RSS spec says no
    ],
)
def test_rss_ttl_minutes_become_the_feed_ttl(ttl: str, expected: timedelta | None) -> None:
    assert parse_feed(rss_with(f"<ttl>{ttl}</ttl>"), make_feed(), now=NOW).ttl == expected


def test_the_syndication_modules_update_period_is_not_a_floor() -> None:
    # WordPress writes <sy:updatePeriod>hourly</sy:updatePeriod> into every feed.
    body = rss_with("<sy:updatePeriod>hourly</sy:updatePeriod>", namespaces=SY)
    assert parse_feed(body, make_feed(), now=NOW).ttl is None
    with_ttl = rss_with("<ttl>10</ttl><sy:updatePeriod>daily</sy:updatePeriod>", namespaces=SY)
    assert parse_feed(with_ttl, make_feed(), now=NOW).ttl == timedelta(minutes=10)


def test_feed_without_hints_has_no_ttl() -> None:
    assert parse_feed(rss(""), make_feed(), now=NOW).ttl is None
    assert parsed("heise-developer.atom").ttl is None


# ---------------------------------------------------------------- XML safety


def texts(result: ParsedFeed) -> str:
    return " ".join(f"{item.title} {item.summary} {item.content} {item.link}" for item in result.items) + " ".join(
        result.problems
    )


@pytest.fixture
def url_fetches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """URLs anything tried to open through urllib (how xml.sax fetches external entities)."""
    opened: list[str] = []

    def refuse(url: object, *args: object, **kwargs: object) -> None:
        opened.append(str(url))
        raise AssertionError(f"urlopen({url!r})")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return opened


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("name", HOSTILE_FIXTURES)
def test_hostile_xml_neither_expands_nor_fetches_nor_reads_files(
    name: str, encoding: str, url_fetches: list[str]
) -> None:
    text = (FEED_FIXTURES / name).read_text(encoding="utf-8")
    body = text.replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"').encode(encoding)
    result = parse_feed(body, make_feed(), now=NOW)
    assert len(result.items) == 1
    # No entity multiplies text: whatever an item says, the body said at least as long.
    assert all(len(item.title) + len(item.summary) + len(item.content) <= len(text) for item in result.items)
    assert "root:" not in texts(result)  # /etc/passwd
    assert url_fetches == []


@pytest.mark.parametrize(
    "layout",
    [
        '<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{uri}">\n]>',
        '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{uri}">]>',
        '<!DOCTYPE rss [\n  <!ENTITY   xxe\n  SYSTEM "{uri}" >\n]>',
        '<!DOCTYPE rss [\n<!ENTITY % p SYSTEM "{uri}">\n%p;\n]>',
    ],
    ids=["own-line", "one-line", "spread", "parameter-entity"],
)
def test_external_entity_never_reads_a_local_file(tmp_path: Path, layout: str, url_fetches: list[str]) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-0451 <!ENTITY xxe 'SECRET-0451'>", encoding="utf-8")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + layout.format(uri=secret.as_uri())
        + '\n<rss version="2.0"><channel><title>T</title><link>https://x.example/</link>'
        "<item><title>Fuite : &xxe;</title><link>https://x.example/1</link><description>&xxe;</description></item>"
        "</channel></rss>"
    ).encode()
    result = parse_feed(body, make_feed(), now=NOW)
    assert [item.link for item in result.items] == ["https://x.example/1"]
    assert "SECRET-0451" not in texts(result)
    assert url_fetches == []


def test_quadratic_blowup_is_not_expanded_in_any_parser_path() -> None:
    body = (FEED_FIXTURES / "hostile-quadratic-blowup.xml").read_bytes()
    # Unclosed channel: expat gives up at once, and feedparser's fallback parser,
    # which has no amplification guard of its own, reads everything.
    for variant in (body, body.replace(b"</channel>", b"")):
        (item,) = parse_feed(variant, make_feed(), now=NOW).items
        assert "AAAAAAAAAA" not in item.summary
        assert len(item.summary) < len(body)


def test_entity_declared_with_literal_text_is_no_longer_expanded() -> None:
    # The price of the defence: a feed declaring <!ENTITY site "Le Monde"> shows "&site;".
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY site "Le Monde">\n<!ENTITY eacute "&#233;">\n]>\n'
        b'<rss version="2.0"><channel><title>T</title><item><title>&site; : l&eacute;gislatives</title>'
        b"<link>https://x.example/1</link></item></channel></rss>"
    )
    (item,) = parse_feed(body, make_feed(), now=NOW).items
    assert item.title == "&site; : législatives"


def test_character_entity_declarations_still_expand() -> None:
    (item,) = fixture("character-entities-fr.xml").items
    assert item.title == "L’Europe et la Crimée : déclaration"


def test_character_entity_declarations_expand_in_a_broken_feed_too() -> None:
    # No </channel>: expat gives up and feedparser's fallback parser reads the entities.
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY eacute "&#233;">\n<!ENTITY inf "&#60;">\n'
        b'<!ENTITY et "&#x26;">\n]>\n<rss version="2.0"><channel><title>T</title>'
        b"<item><title>Pr&eacute;sidentielle : &inf;50 % &et; recours</title><link>https://x.example/1</link>"
        b"</item></rss>"
    )
    result = parse_feed(body, make_feed(), now=NOW)
    assert result.problems  # the broken structure is reported
    assert [item.title for item in result.items] == ["Présidentielle : <50 % & recours"]
