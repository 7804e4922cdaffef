"""Alert texts: email, subject, SMS, and the SNS payload built from a match."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wirewatch.core.feeds import parse_feed
from wirewatch.core.matching import match_item
from wirewatch.core.messages import SMS_LIMIT, SUBJECT_LIMIT, message_attributes, render, shorten, sms_text, sns_message
from wirewatch.core.model import Delivery, Match, Rule, Severity
from wirewatch.core.watchfile import compile_group, load_watch

from .helpers import EXAMPLE_WATCH, FEEDS_DIR, NOW, make_feed, make_item

if TYPE_CHECKING:
    from wirewatch.core.model import FeedSource

PURE = settings(database=None, deadline=None)
LINK = "https://www.boursorama.com/bourse/actualites/premier-entretien-8c2a5f1e0f8b.html"


@pytest.fixture(scope="module")
def seed_matches() -> dict[str, Match]:
    """The example rules' matches on the French Reuters wire, by rule id."""
    config = load_watch(EXAMPLE_WATCH.read_text("utf-8"))
    feed = config.feed("boursorama-reuters")
    items = parse_feed((FEEDS_DIR / "boursorama-reuters.xml").read_bytes(), feed, now=NOW).items
    return {match.rule.id: match for match in match_item(items[0], feed, config.rules)}


def seed_feed() -> FeedSource:
    return load_watch(EXAMPLE_WATCH.read_text("utf-8")).feed("boursorama-reuters")


# ---------------------------------------------------------------- shorten


def test_shorten_leaves_short_text_alone() -> None:
    assert shorten("Crimée", 6) == "Crimée"
    assert shorten("", 0) == ""


def test_shorten_cuts_at_a_word_and_adds_an_ellipsis() -> None:
    assert shorten("Premier entretien en un an entre les ministres", 20) == "Premier entretien…"


def test_shorten_cuts_inside_a_word_when_no_space_is_near() -> None:
    assert shorten("a" * 30, 10) == "a" * 9 + "…"


def test_shorten_drops_trailing_punctuation_before_the_ellipsis() -> None:
    assert shorten("Crimée, attaque: missiles - bilan", 17) == "Crimée, attaque…"


@PURE
@given(text=st.text(max_size=400), limit=st.integers(min_value=0, max_value=300))
def test_shorten_never_exceeds_the_limit(text: str, limit: int) -> None:
    short = shorten(text, limit)
    assert len(short) <= limit
    if len(text) <= limit:
        assert short == text
    elif limit > 1:
        assert short.endswith("…")
        assert text.startswith(short[:-1])


# ---------------------------------------------------------------- SMS


def test_sms_text_is_rule_headline_and_link() -> None:
    assert sms_text("Strike on Crimea", "Missile attack on Sevastopol", LINK) == (
        f"Strike on Crimea: Missile attack on Sevastopol {LINK}"
    )


def test_sms_text_shortens_words_never_the_link() -> None:
    text = sms_text("US and Russian defence ministers in contact", "word " * 60, LINK)
    assert len(text) <= SMS_LIMIT
    # ASCII dots: "…" is outside the GSM-7 alphabet and would make the SMS UCS-2.
    assert text.endswith(f"... {LINK}")


def test_sms_text_without_link_is_words_only() -> None:
    assert sms_text("Rule", "Headline", "") == "Rule: Headline"


@pytest.mark.parametrize("length", [146, 150, 160, 300])
def test_sms_text_with_a_link_too_long_for_words_names_the_site(length: int) -> None:
    link = "https://x.example/" + "a" * (length - len("https://x.example/"))
    assert sms_text("Rule", "Headline", link) == "Rule: Headline (x.example)"


@PURE
@given(
    rule_title=st.text(min_size=1, max_size=80),
    headline=st.text(max_size=300),
    link=st.text(min_size=0, max_size=140),
)
def test_sms_fits_one_message_with_the_link_or_the_words(rule_title: str, headline: str, link: str) -> None:
    text = sms_text(rule_title, headline, link)
    words_only = sms_text(rule_title, headline, "")
    if not words_only:
        assert text == link  # nothing else to send
        return
    assert len(text) <= SMS_LIMIT
    if link and text.endswith(f" {link}"):
        return
    # The link gave way: the words, and the site's name when the link has a host.
    assert text == words_only or (text.endswith(")") and " (" in text)


# ---------------------------------------------------------------- render


def test_render_seed_match(seed_matches: dict[str, Match]) -> None:
    match = seed_matches["defense-minister-contact"]
    alert = render(match, seed_feed(), "alert#defense-minister-contact#abc")
    headline = "Premier entretien en un an entre les ministres US et russe de la Défense"
    assert alert.key == "alert#defense-minister-contact#abc"
    assert (alert.rule_id, alert.severity, alert.feed_id, alert.lang) == (
        "defense-minister-contact",
        Severity.HIGH,
        "boursorama-reuters",
        "fr",
    )
    assert alert.title == headline
    assert alert.link == match.item.link
    assert alert.matched == match.matched
    assert alert.subject == (
        "[HIGH] US and Russian defence ministers in contact: Premier entretien en un an entre les…"
    )
    assert len(alert.subject) <= SUBJECT_LIMIT
    email = alert.email
    assert email.startswith(headline + "\n")
    assert "Source:   boursorama-reuters (https://www.boursorama.com/rss/actualites/international)" in email
    assert f"Link:     {match.item.link}" in email
    assert "Time:     2024-06-25 23:29 UTC" in email
    assert f"Matched:  {', '.join(match.matched)}" in email
    assert "Austin" in email and "Belousov" in email and "entret*" in email
    assert "Rule:     defense-minister-contact - US and Russian defence ministers in contact (severity high)" in email
    assert "Le secrétaire américain à la Défense, Lloyd Austin" in email  # the excerpt
    # The 135-character link would leave room for "US and Russian...": the site's name replaces it.
    assert alert.sms == f"US and Russian defence ministers in contact: {headline} (boursorama.com)"
    assert len(alert.sms) <= SMS_LIMIT


def test_render_crimea_match_names_its_terms(seed_matches: dict[str, Match]) -> None:
    alert = render(seed_matches["crimea-strike"], seed_feed(), "alert#crimea-strike#abc")
    assert alert.subject.startswith("[CRITICAL] Strike or attack on Crimea: Premier entretien")
    assert len(alert.subject) <= SUBJECT_LIMIT
    assert "Matched:  Crimée, attaqu*, missile*" in alert.email
    assert "crimea-strike" in alert.email


def test_email_says_why_it_matched_with_each_clause_highlighted_where_it_fired(
    seed_matches: dict[str, Match],
) -> None:
    email = render(seed_matches["crimea-strike"], seed_feed(), "alert#crimea-strike#abc").email
    why = email.split("Why it matched:\n", 1)[1].split("\n\n", 1)[0].splitlines()

    assert [line.split(" in ", 1)[0] for line in why] == ["  - Crimée", "  - attaqu*", "  - missile*"]
    assert all(" in content: " in line for line in why)  # the seed names Crimea only in its body
    assert "*Crimée*" in why[0] and "*attaque*" in why[1] and "*missiles*" in why[2]


def test_render_undated_item_without_link(seed_matches: dict[str, Match]) -> None:
    match = seed_matches["crimea-strike"]
    bare = replace(match, item=replace(match.item, published=None, link="", summary="", content=""))
    alert = render(bare, seed_feed(), "k")
    assert "Time:     time not given by the feed" in alert.email
    assert "Link:     (none)" in alert.email
    assert alert.sms.startswith("Strike or attack on Crimea: Premier entretien")


def test_render_excerpt_is_shortened(seed_matches: dict[str, Match]) -> None:
    match = seed_matches["crimea-strike"]
    long = replace(match, item=replace(match.item, summary="Crimée " * 200))
    email = render(long, seed_feed(), "k").email
    excerpt = email.splitlines()[2]
    assert excerpt.startswith("Crimée Crimée")
    assert len(excerpt) <= 400
    assert excerpt.endswith("…")


@PURE
@given(
    rule_title=st.text(min_size=1, max_size=80),
    headline=st.text(max_size=300),
    severity=st.sampled_from(list(Severity)),
)
def test_email_subject_fits_100_characters(rule_title: str, headline: str, severity: Severity) -> None:
    rule = Rule(id="r", title=rule_title, severity=severity, condition=compile_group({"any": ["x"]}))
    alert = render(Match(rule, make_item(headline)), make_feed(), "k")
    assert len(alert.subject) <= SUBJECT_LIMIT
    assert alert.subject.startswith(f"[{severity.label.upper()}]")


# ---------------------------------------------------------------- SNS


def test_sns_message_carries_the_recipients_text_and_json_for_queues(seed_matches: dict[str, Match]) -> None:
    alert = render(seed_matches["crimea-strike"], seed_feed(), "alert#crimea-strike#abc")
    sms = Delivery("delivery#duty/sms#crimea-strike#abc", "duty/sms", due_at=NOW, created_at=NOW, alert=alert)
    payload = json.loads(sns_message(sms))
    assert payload["default"] == payload["sms"] == alert.sms
    assert all(isinstance(value, str) for value in payload.values())
    machine = json.loads(payload["sqs"])
    assert machine["recipient"] == "duty/sms"
    assert machine["rule"] == "crimea-strike"
    assert machine["severity"] == "critical"
    assert machine["matched"] == ["Crimée", "attaqu*", "missile*"]
    assert machine["link"] == alert.link
    assert json.loads(payload["lambda"]) == machine
    email = replace(sms, recipient="desk/email")
    assert json.loads(sns_message(email))["email"] == alert.email
    assert "Crimée" in sns_message(email)  # not \u-escaped


def test_message_attributes_name_the_recipient(seed_matches: dict[str, Match]) -> None:
    alert = render(seed_matches["defense-minister-contact"], seed_feed(), "k")
    delivery = Delivery("d", "desk/email", due_at=NOW, created_at=NOW, alert=alert)
    assert message_attributes(delivery) == {
        "recipient": "desk/email",
        "kind": "alert",
        "rule": "defense-minister-contact",
        "severity": "high",
        "feed": "boursorama-reuters",
        "lang": "fr",
    }
