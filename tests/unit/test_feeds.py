"""Feed bytes → items: every bundled capture, its quirks (SOURCES.md), links, dates, and non-feeds."""

from __future__ import annotations

import socket
import warnings
from datetime import UTC, datetime, timedelta
from functools import cache
from urllib.parse import parse_qsl, urlsplit

import pytest
from pytest_socket import SocketBlockedError

from wirewatch.core.dedupe import item_key
from wirewatch.core.errors import FeedError
from wirewatch.core.feeds import ParsedFeed, canonical_link, parse_feed

from .helpers import (
    FEEDS_DIR,
    NOW,
    REAL_FEEDS,
    SEED_FEEDS,
    feed_id_of,
    make_feed,
)

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


def test_relative_links_fall_back_to_the_feed_url_without_channel_link() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>Une</title><link>/une.html</link></item></channel></rss>"
    )
    feed = make_feed("x")
    (item,) = parse_feed(body, feed, now=NOW).items
    assert item.link == "https://feeds.example.org/une.html"


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
    "body",
    [
        b"<!DOCTYPE html><html><head><title>Boursorama</title></head><body><p>Actualit\xc3\xa9s</p></body></html>",
        b"<html><body><h1>503 Service Unavailable</h1></body></html>",
        bytes(range(256)) * 4,
        b"\x89PNG\r\n\x1a\n" + bytes(64),
        b'{"items": [{"title": "Crimea"}]}',
        b"Not Found",
        b"   \n",
        b'<?xml version="1.0"?><catalog><book>Crimea</book></catalog>',
    ],
    ids=["html-page", "html-error", "binary", "png", "json", "text", "blank", "other-xml"],
)
def test_bytes_that_are_not_a_feed_raise_feed_error(body: bytes) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(body, make_feed(), now=NOW)
    assert caught.value.kind == "not-a-feed"
    assert str(caught.value).startswith("not-a-feed: ")


def test_empty_body_raises_feed_error() -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(b"", make_feed(), now=NOW)
    assert caught.value.kind == "not-a-feed"


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
