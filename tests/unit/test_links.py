"""Links: redirect wrappers undone offline, the link alerts show, and a link's identity."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from wirewatch.core.feeds import parse_feed
from wirewatch.core.links import LINK_LIMIT, canonical_link, identity_key, unwrap

from .helpers import NOW, make_feed

PURE = settings(database=None, deadline=None)

LEMONDE = "https://www.lemonde.fr/international/article/2024/06/26/ukraine_6243210_3210.html"
BBC = "https://www.bbc.com/news/articles/cjjjnxdv188o"
REUTERS = "https://www.reuters.com/world/europe/us-russia-defense-chiefs-talk-2024-06-25/"
GUARDIAN = (
    "https://www.theguardian.com/world/2024/jun/26/"
    "us-and-russian-defence-ministers-hold-first-talks-in-more-than-a-year-lloyd-austin-andrei-belousov"
)
GOOGLE_ALERT = "https://www.google.com/url?rct=j&sa=t&url=" + LEMONDE + "&ct=ga&cd=CAIyGjc0NmJmNmE&usg=AOvVaw1Xy2"


# ---------------------------------------------------------------- unwrap


@pytest.mark.parametrize(
    ("wrapped", "publisher"),
    [
        pytest.param(GOOGLE_ALERT, LEMONDE, id="google-alerts"),
        pytest.param(
            "https://www.google.co.uk/url?sa=t&source=web&rct=j&q=" + quote(BBC, safe="") + "&ved=2ahUKEwi",
            BBC,
            id="google-search-q",
        ),
        pytest.param(
            "http://news.google.com/news/url?sa=t&fd=R&ct2=us&usg=AFQjCNE&clid=c3a7d30bb8a4878e06b80cf16b898331&url="
            + quote(REUTERS, safe=""),
            REUTERS,
            id="google-news-2019",
        ),
        pytest.param(
            "https://news.google.com/rss/articles/CBMiLmh0dHBzOi8vd3d3LmJiYy5jb20vbmV3cy9hcnRpY2xlcy9jampqbnhkdjE4OG"
            "_SATJodHRwczovL3d3dy5iYmMuY29tL25ld3MvYXJ0aWNsZXMvY2pqam54ZHYxODhvLmFtcA?oc=5",
            BBC,
            id="google-news-id-with-amp-field",
        ),
        pytest.param(
            "https://news.google.com/rss/articles/CBMiUWh0dHBzOi8vd3d3LmxlbW9uZGUuZnIvaW50ZXJuYXRpb25hbC9hcnRpY2xlLz"
            "IwMjQvMDYvMjYvdWtyYWluZV82MjQzMjEwXzMyMTAuaHRtbNIBAA?oc=5&hl=fr&gl=FR&ceid=FR:fr",
            LEMONDE,
            id="google-news-id",
        ),
        pytest.param(
            "https://news.google.com/__i/rss/rd/articles/CBMiLmh0dHBzOi8vd3d3LmJiYy5jb20vbmV3cy9hcnRpY2xlcy9jampqbnhkdj"
            "E4OG_SATJodHRwczovL3d3dy5iYmMuY29tL25ld3MvYXJ0aWNsZXMvY2pqam54ZHYxODhvLmFtcA?oc=5",
            BBC,
            id="google-news-id-redirect-path",
        ),
        pytest.param(
            "https://news.google.com/articles/CBMikAFodHRwczovL3d3dy50aGVndWFyZGlhbi5jb20vd29ybGQvMjAyNC9qdW4vMjYvdXMtY"
            "W5kLXJ1c3NpYW4tZGVmZW5jZS1taW5pc3RlcnMtaG9sZC1maXJzdC10YWxrcy1pbi1tb3JlLXRoYW4tYS15ZWFyLWxsb3lkLWF1c3Rpbi"
            "1hbmRyZWktYmVsb3Vzb3bSAQA",
            GUARDIAN,
            id="google-news-id-two-byte-length",
        ),
        pytest.param("https://www.google.com/amp/s/www.bbc.com/news/articles/cjjjnxdv188o.amp", BBC + ".amp", id="amp"),
        pytest.param(
            "https://www-lemonde-fr.cdn.ampproject.org/c/s/www.lemonde.fr/international/article/2024/06/26/"
            "ukraine_6243210_3210.html",
            LEMONDE,
            id="amp-cache",
        ),
        pytest.param(
            "http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=667B4C2A&url="
            + quote(REUTERS, safe="").lower()  # Bing writes %3a%2f%2f
            + "&c=1461&mkt=en-us",
            REUTERS,
            id="bing-news",
        ),
        pytest.param(
            "https://l.facebook.com/l.php?u=" + quote(GUARDIAN + "?CMP=fb_gu", safe="") + "&h=AT0xYz",
            GUARDIAN + "?CMP=fb_gu",
            id="facebook",
        ),
        pytest.param("https://lm.facebook.com/l.php?u=" + quote(BBC, safe=""), BBC, id="facebook-mobile"),
        pytest.param(
            "https://eur02.safelinks.protection.outlook.com/?url="
            + quote(LEMONDE, safe="")
            + "&data=05%7C02%7C%7Cab12%7C84df9e7f&sdata=k2Lq%2BZ0%3D&reserved=0",
            LEMONDE,
            id="outlook-safelinks",
        ),
        pytest.param(
            "https://www.linkedin.com/redir/redirect?url=" + quote(REUTERS, safe="") + "&urlhash=aB3d&trk=public_post",
            REUTERS,
            id="linkedin",
        ),
        pytest.param("https://duckduckgo.com/l/?uddg=" + quote(BBC, safe="") + "&rut=9f1c", BBC, id="duckduckgo"),
        pytest.param(
            "https://www.youtube.com/redirect?event=video_description&redir_token=QUFF&q=" + quote(BBC, safe=""),
            BBC,
            id="youtube",
        ),
        pytest.param("https://slack-redir.net/link?url=" + quote(BBC, safe=""), BBC, id="slack"),
        pytest.param("https://vk.com/away.php?to=" + quote(LEMONDE, safe="") + "&cc_key=", LEMONDE, id="vk"),
    ],
)
def test_unwrap_recovers_the_publisher_url(wrapped: str, publisher: str) -> None:
    assert unwrap(wrapped) == publisher


@pytest.mark.parametrize(
    ("wrapped", "publisher"),
    [
        pytest.param(
            "https://nam12.safelinks.protection.outlook.com/?url=" + quote(GOOGLE_ALERT, safe="") + "&data=05",
            LEMONDE,
            id="safe-link-to-google-alert",
        ),
        pytest.param(
            "https://l.facebook.com/l.php?u="
            + quote("https://www.google.com/amp/s/www.bbc.com/news/articles/cjjjnxdv188o", safe=""),
            BBC,
            id="facebook-to-amp-viewer",
        ),
    ],
)
def test_unwrap_follows_nested_wrappers(wrapped: str, publisher: str) -> None:
    assert unwrap(wrapped) == publisher


def _wrapped(link: str, times: int) -> str:
    for _ in range(times):
        link = "https://www.google.com/url?q=" + quote(link, safe="")
    return link


def test_unwrap_gives_up_on_a_deep_chain() -> None:
    assert unwrap(_wrapped(BBC, 4)) == BBC
    assert unwrap(_wrapped(BBC, 5)) == _wrapped(BBC, 5)


@pytest.mark.parametrize(
    "link",
    [
        pytest.param(
            # Since mid-2024 the id holds an opaque token: only a request to Google resolves it.
            "https://news.google.com/rss/articles/CBMiVkFVX3lxTE4zaGU2bTY2ZGkzdTRkSkJ0cFpsTGlDUjkxU2FBRURaTWU0c3QzVWZ1MHZZ"
            "NkZ5Vzk1ZVBnTDFHY2R6ZmdCUkpUTUJsS1pqQTlCRzlzbHV3?oc=5",
            id="google-news-opaque-id",
        ),
        pytest.param("https://news.google.com/rss/articles/CBMiUWh0d?oc=5", id="base64-of-impossible-length"),
        pytest.param("https://news.google.com/rss/articles/CBMiUWh0dHBzOi8vd3d3", id="truncated-protobuf"),
        pytest.param("https://news.google.com/rss/articles/_____________w", id="not-protobuf"),
        pytest.param(
            "https://news.google.com/rss/articles/CBMiE2phdmFzY3JpcHQ6YWxlcnQoMSnSAQA", id="javascript-inside"
        ),
        pytest.param("https://www.google.com/url?q=javascript:alert(document.cookie)", id="javascript"),
        pytest.param("https://l.facebook.com/l.php?u=data:text/html;base64,PHNjcmlwdD4", id="data"),
        pytest.param("https://eur02.safelinks.protection.outlook.com/?url=file:///etc/passwd", id="file"),
        pytest.param("https://www.google.com/url?q=ftp://ftp.example.org/pub", id="ftp"),
        pytest.param("https://www.google.com/url?q=/search%3Fq%3Dnews", id="relative"),
        pytest.param("https://www.google.com/url?q=https://", id="no-host"),
        pytest.param("https://www.google.com/url?sa=t", id="no-target"),
        pytest.param("https://www.google.com/url?q=http://[::1", id="malformed-target"),
        pytest.param("https://www.google.com/search?q=" + quote(BBC, safe=""), id="search-page-not-a-wrapper"),
        pytest.param("https://www.bing.com/search?url=" + quote(BBC, safe=""), id="bing-search-not-a-wrapper"),
        pytest.param(LEMONDE, id="publisher"),
        pytest.param("http://[::1", id="malformed"),
        pytest.param("not a link", id="text"),
    ],
)
def test_unwrap_leaves_what_it_cannot_resolve_to_a_web_url(link: str) -> None:
    assert unwrap(link) == link


def test_feedparser_entries_are_unwrapped_to_the_publisher() -> None:
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Google Alert - Belousov</title>'
        f"<item><title>Austin et Belousov se parlent</title><link>{GOOGLE_ALERT.replace('&', '&amp;')}</link>"
        "<guid isPermaLink='false'>tag:google.com,2013:googlealerts/feed:1</guid></item></channel></rss>"
    ).encode()
    (item,) = parse_feed(body, make_feed("google-alert"), now=NOW).items
    assert item.link == LEMONDE


# ---------------------------------------------------------------- the link alerts show


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        (GOOGLE_ALERT, LEMONDE),
        ("http://www.lemonde.fr/a.html?xtor=RSS-3208#xtor=RSS-3208", "http://www.lemonde.fr/a.html"),  # http, www kept
        (GUARDIAN + "?CMP=share_btn_tw&page=2", GUARDIAN + "?page=2"),
        (
            "https://www.nytimes.com/2024/06/25/us/x.html?smid=tw-share&smtyp=cur",
            "https://www.nytimes.com/2024/06/25/us/x.html",
        ),
        ("https://www.msn.com/fr-fr/a/ar-BB1oY?ocid=msedgntp&cvid=1", "https://www.msn.com/fr-fr/a/ar-BB1oY?cvid=1"),
        ("https://www.bbc.co.uk/news/x?at_medium=RSS&at_campaign=rss&at_link_id=1", "https://www.bbc.co.uk/news/x"),
        ("https://x.example/a?_hsenc=p2A&_hsmi=1&__hstc=2&mc_cid=3&mc_eid=4&igshid=5", "https://x.example/a"),
        ("https://x.example/a?WT.mc_id=rss&ns_source=x&__twitter_impression=true", "https://x.example/a"),
        ("https://x.example/a/?b=2&a=1", "https://x.example/a/?b=2&a=1"),  # slash and order as published
        # Queries that are no key=value pairs, and Latin-1 escapes, kept byte for byte.
        (
            "https://x.example/index.php?/archives/123-titre.html",
            "https://x.example/index.php?/archives/123-titre.html",
        ),
        ("https://x.example/article.php?12345&xtor=RSS-1", "https://x.example/article.php?12345"),
        ("https://x.example/recherche.php?mot=%E9t%E9&utm_source=rss", "https://x.example/recherche.php?mot=%E9t%E9"),
        ("https://x.example/a?q=a+b&r=a%20b", "https://x.example/a?q=a+b&r=a%20b"),
        ('https://x.example/a?q=a b&r="x"', "https://x.example/a?q=a%20b&r=%22x%22"),  # no raw space in a link
    ],
)
def test_canonical_link_is_the_publisher_url_as_published(link: str, shown: str) -> None:
    assert canonical_link(link) == shown
    assert canonical_link(shown) == shown


def test_a_link_longer_than_any_server_serves_is_no_link() -> None:
    base = "https://news.example.org/a?id="
    assert canonical_link(base + "1" * (LINK_LIMIT - len(base))) != ""
    assert canonical_link(base + "1" * (LINK_LIMIT - len(base) + 1)) == ""


# ---------------------------------------------------------------- identity


ARTICLE = "https://lemonde.fr/international/article/2024/06/26/ukraine_6243210_3210.html"


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(ARTICLE, id="itself"),
        pytest.param(LEMONDE, id="www"),
        pytest.param(LEMONDE.replace("https:", "http:"), id="http"),
        pytest.param("HTTP://WWW.LeMonde.FR." + ARTICLE.removeprefix("https://lemonde.fr"), id="case-and-dot"),
        pytest.param(LEMONDE.replace("lemonde.fr", "lemonde.fr:443"), id="default-port"),
        pytest.param("http://lemonde.fr:80" + ARTICLE.removeprefix("https://lemonde.fr"), id="default-http-port"),
        pytest.param(LEMONDE + "/", id="trailing-slash"),
        pytest.param(LEMONDE + "#xtor=RSS-3208", id="fragment"),
        pytest.param(LEMONDE + "?xtor=RSS-3208", id="xtor"),
        pytest.param(LEMONDE + "?utm_source=twitter&utm_medium=social&fbclid=IwAR3", id="utm-fbclid"),
        pytest.param(LEMONDE.replace("www.", "m."), id="mobile-host"),
        pytest.param(LEMONDE.replace("/international/", "/amp/international/"), id="amp-path"),
        pytest.param(LEMONDE + "?amp=1", id="amp-query"),
        pytest.param(LEMONDE.replace("_3210.html", "_3210.amp.html"), id="amp-suffix"),
        pytest.param(LEMONDE.replace("ukraine_", "%75kraine_"), id="needless-escape"),
        pytest.param(GOOGLE_ALERT, id="google-alert"),
    ],
)
def test_identity_ignores_how_the_link_is_spelled(spelling: str) -> None:
    assert identity_key(spelling) == ARTICLE


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("https://x.example/a?b=2&a=1", "https://x.example/a?a=1&b=2"),
        ("https://x.example/caf%c3%a9", "https://x.example/café"),
        ("https://x.example/caf%c3%a9", "https://x.example/caf%C3%A9"),
        ("https://x.example/news//a/", "https://x.example/news/a"),
        (
            "https://www.washingtonpost.com/world/2024/06/25/x/?outputType=amp",
            "https://washingtonpost.com/world/2024/06/25/x",
        ),
        ("https://www.bbc.co.uk/news/amp/world-europe-1", "https://www.bbc.co.uk/news/world-europe-1"),
        ("https://amp.theguardian.com/world/2024/jun/26/x", "https://www.theguardian.com/world/2024/jun/26/x"),
        ("https://blog.example.org/2024/06/x/amp/", "https://blog.example.org/2024/06/x/"),
        ("https://x.example/a.php?t=%e9&xtor=RSS-1", "https://x.example/a.php?t=%E9"),
        ("http://www.blog.example.fr/?p=42&utm_medium=rss", "https://blog.example.fr/?p=42"),
        # Spellings a server decodes alike.
        ("https://x.example/a?q=b+c", "https://x.example/a?q=b%20c"),
        ("https://x.example/a?x", "https://x.example/a?x="),
        ("https://x.example/a?u=/x", "https://x.example/a?u=%2Fx"),
        ("https://x.example/a?t=a:b", "https://x.example/a?t=a%3Ab"),
    ],
)
def test_identity_of_equivalent_links(first: str, second: str) -> None:
    assert identity_key(first) == identity_key(second) != ""


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("https://x.example/Story", "https://x.example/story"),  # paths are case-sensitive
        ("https://x.example/a?id=1", "https://x.example/a?id=2"),
        ("https://x.example/a?id=1", "https://x.example/a"),
        ("https://x.example/a", "https://y.example/a"),
        ("https://news.x.example/a", "https://x.example/a"),  # only edition labels are dropped
        ("https://www2.x.example/a", "https://x.example/a"),
        ("https://x.example:8443/a", "https://x.example/a"),
        ("https://x.example/a%2Fb", "https://x.example/a/b"),  # an escaped slash is not a slash
        ("https://x.example/a.php?t=%E9", "https://x.example/a.php?t=%E8"),  # Latin-1 escapes: é is not è
        ("https://x.example/index.php?/archives/1", "https://x.example/index.php?/archives/2"),
        ("https://x.example/a.php?12345", "https://x.example/a.php?12346"),
        ("https://x.example/a?q=a%2Bb", "https://x.example/a?q=a+b"),  # an escaped plus is a plus
    ],
)
def test_identity_keeps_what_names_another_page(first: str, second: str) -> None:
    assert identity_key(first) != identity_key(second)


@pytest.mark.parametrize(
    "link", ["", "javascript:alert(1)", "mailto:desk@example.org", "/relative/path", "http://[::1", "http://x:port/a"]
)
def test_identity_of_what_is_no_web_link_is_empty(link: str) -> None:
    assert identity_key(link) == ""


def test_edition_labels_never_leave_a_bare_suffix() -> None:
    assert identity_key("https://m.co/a") == "https://m.co/a"
    assert identity_key("https://www.m.example.org/a") == "https://example.org/a"


# ---------------------------------------------------------------- properties

_HOSTS = st.sampled_from(
    ["example.org", "www.example.org", "m.example.org", "WWW.Example.ORG", "l.facebook.com", "www.google.com"]
)
_PIECES = st.sampled_from(
    ["a", "b", "A", "0", "-", "_", ".", "~", "%", "é", " ", "amp", ".amp", "%2f", "%7E", "%c3%a9"]
)
_SEGMENT = st.lists(_PIECES, max_size=6).map("".join)
_PARAM = st.sampled_from(["id", "page", "utm_source", "xtor", "amp", "q", "u", "url", "outputType", "A"])
_QUERY = st.lists(st.tuples(_PARAM, st.text(max_size=8)), max_size=4)


@st.composite
def web_links(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTPS"]))
    path = "/".join(draw(st.lists(_SEGMENT, max_size=4)))
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in draw(_QUERY))
    fragment = draw(st.sampled_from(["", "#top", "#xtor=RSS-1"]))
    return f"{scheme}://{draw(_HOSTS)}/{path}" + (f"?{query}" if query else "") + fragment


@PURE
@given(link=st.text(max_size=200) | web_links())
def test_identity_key_is_idempotent(link: str) -> None:
    key = identity_key(link)
    assert identity_key(key) == key


@PURE
@given(link=web_links(), www=st.booleans(), secure=st.booleans(), slash=st.booleans())
@example(link="http://www.google.com/amp/a", www=True, secure=False, slash=False)
def test_identity_key_ignores_scheme_www_and_trailing_slash(link: str, www: bool, secure: bool, slash: bool) -> None:
    # Space around a link is layout and is stripped; inside one it is part of the path.
    assume(link == link.strip())
    parts = urlsplit(link)
    # "www." once: www.www.google.com is another host, not Google's AMP viewer.
    host = ("www." if www and not parts.netloc.startswith("www.") else "") + parts.netloc
    variant = parts._replace(
        scheme="https" if secure else "http", netloc=host, path=parts.path + ("/" if slash else "")
    )
    assert identity_key(variant.geturl()) == identity_key(link)


@PURE
@given(link=st.text(max_size=300) | web_links() | web_links().map(lambda link: _wrapped(link, 1)))
def test_unwrap_never_raises_and_gives_the_input_or_a_web_url(link: str) -> None:
    result = unwrap(link)
    assert result == link or urlsplit(result).scheme.lower() in {"http", "https"}
