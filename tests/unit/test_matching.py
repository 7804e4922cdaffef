"""Rule matching: boolean groups, phrases, prefixes, field and feed scoping, and the seed event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from wirewatch.core.feeds import parse_feed
from wirewatch.core.itemtext import ItemText
from wirewatch.core.matching import evaluate, match_item
from wirewatch.core.model import ALL_FIELDS, Field, Rule, Severity, WatchConfig
from wirewatch.core.watchfile import compile_group, load_watch

from .helpers import (
    EXAMPLE_WATCH,
    FEEDS_DIR,
    NOW,
    REAL_FEEDS,
    SEED_FEEDS,
    feed_id_of,
    make_feed,
    make_item,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from wirewatch.core.model import FeedSource, Item


def make_rule(
    match: dict[str, Any],
    *,
    rule_id: str = "r",
    fields: Sequence[Field] = ALL_FIELDS,
    feeds: Sequence[str] = (),
    tags: Sequence[str] = (),
) -> Rule:
    return Rule(
        id=rule_id,
        title="test rule",
        severity=Severity.HIGH,
        condition=compile_group(match),
        fields=tuple(fields),
        feeds=frozenset(feeds),
        tags=frozenset(tags),
    )


def hits(
    match: dict[str, Any], title: str = "", summary: str = "", content: str = "", **rule: Any
) -> tuple[str, ...] | None:
    """The matched terms if the rule fires on the item, else None."""
    found = match_item(make_item(title, summary, content), make_feed(), [make_rule(match, **rule)])
    assert len(found) <= 1
    return found[0].matched if found else None


def fires(match: dict[str, Any], title: str = "", summary: str = "", content: str = "", **rule: Any) -> bool:
    return hits(match, title, summary, content, **rule) is not None


# ---------------------------------------------------------------- boolean groups


def test_all_needs_every_term() -> None:
    assert fires({"all": ["Austin", "Belousov"]}, "Austin and Belousov spoke")
    assert not fires({"all": ["Austin", "Belousov"]}, "Austin spoke")
    assert not fires({"all": ["Austin", "Belousov"]}, "Belousov spoke")


def test_any_needs_one_term() -> None:
    assert fires({"any": ["Austin", "Hegseth"]}, "Hegseth spoke")
    assert fires({"any": ["Austin", "Hegseth"]}, "Austin spoke")
    assert not fires({"any": ["Austin", "Hegseth"]}, "Blinken spoke")


def test_none_fires_only_without_its_terms() -> None:
    assert fires({"none": ["Crimean War"]}, "Strike on Crimea")
    assert not fires({"none": ["Crimean War"]}, "A Crimean War museum")


def test_several_keys_in_one_group_must_all_hold() -> None:
    match = {"any": ["Crimea", "Sevastopol"], "none": ["Crimean War"]}
    assert fires(match, "Drone strike on Sevastopol")
    assert not fires(match, "Sevastopol remembers the Crimean War")
    assert not fires(match, "Drone strike on Odesa")


def test_nested_groups() -> None:
    match = {
        "all": [
            {"any": ["Austin", "Pentagon chief"]},
            {"any": ["Belousov", "Shoigu"]},
            {"none": ["Texas", {"all": ["film", "festival"]}]},
        ]
    }
    assert fires(match, "Austin calls Belousov")
    assert fires(match, "Pentagon chief calls Shoigu")
    assert fires(match, "Austin calls Belousov about a film")  # "film" alone is not the excluded pair
    assert not fires(match, "Austin, Texas welcomes Belousov")
    assert not fires(match, "Austin film festival screens a Shoigu documentary")
    assert not fires(match, "Austin calls Lavrov")


def test_none_inside_any() -> None:
    match = {"any": ["Kerch", {"none": ["Crimea"]}]}
    assert fires(match, "Kerch bridge")  # first alternative
    assert fires(match, "Weather in Paris")  # second alternative: no "Crimea"
    assert not fires(match, "Crimea weather")


# ---------------------------------------------------------------- phrases


def test_phrase_needs_adjacent_words_in_order() -> None:
    match = {"any": ["chef du Pentagone"]}
    assert fires(match, "le chef du Pentagone a appelé")
    assert not fires(match, "le chef a appelé du Pentagone")
    assert not fires(match, "Pentagone du chef")


def test_phrase_ignores_case_accents_hyphens_and_punctuation_between_words() -> None:
    assert fires({"any": ["ministre russe de la défense"]}, "Le MINISTRE russe de la Défense, Andreï Belousov")
    assert fires({"any": ["Etats Unis"]}, "les États-Unis et la Russie")
    assert fires({"any": ["États-Unis"]}, "les Etats Unis et la Russie")
    assert fires({"any": ['"Kerch bridge"']}, "Explosion on the Kerch Bridge")  # quotes are optional


def test_phrase_does_not_span_fields() -> None:
    assert not fires({"any": ["Pentagon chief"]}, title="Statement by the Pentagon", summary="Chief of staff")
    assert not fires({"any": ["Pentagon chief"]}, title="Talks with Pentagon", summary="chief Austin")


def test_phrase_matches_at_every_occurrence_of_its_first_word() -> None:
    # The first "defense" is not followed by "secretary"; the second is.
    assert fires({"any": ["defense secretary"]}, "Russia's defense minister and the US defense secretary")


# ---------------------------------------------------------------- prefixes


@pytest.mark.parametrize(
    "text", ["entretenus", "entretien", "Entretiens", "s'entretenir", "s’entretenir", "ENTRETÈNENT"]
)
def test_trailing_wildcard_matches_words_starting_with_the_prefix(text: str) -> None:
    assert hits({"any": ["entret*"]}, text) == ("entret*",)


@pytest.mark.parametrize("text", ["rentre", "rentrée", "entre", "entrer", "ils rentrent"])
def test_trailing_wildcard_needs_the_prefix_at_the_start_of_a_word(text: str) -> None:
    assert not fires({"any": ["entret*"]}, text)


def test_prefix_term_is_folded_like_the_text() -> None:
    assert fires({"any": ["téléphon*"]}, "par TELEPHONE")
    assert fires({"any": ["telephon*"]}, "un entretien téléphonique")
    assert fires({"any": ["attaqu*"]}, "l’attaque ukrainienne")


def test_phrase_with_wildcard_on_its_last_word() -> None:
    match = {"any": ["se sont entret*"]}
    assert hits(match, "Austin et Belousov se sont entretenus mardi") == ("se sont entret*",)
    assert fires(match, "ils se sont entretenu")
    assert not fires(match, "ils se sont parlé")
    assert not fires(match, "ils sont entretenus")  # the exact words must all be there
    assert not fires(match, "entretenus se sont")


def test_phrase_wildcard_applies_to_the_last_word_only() -> None:
    match = {"any": ["chef du Pent*"]}
    assert fires(match, "le chef du Pentagone")
    assert not fires(match, "les chefs du Pentagone")  # "chef" is exact, not a prefix
    assert not fires(match, "le chef de Pentagone")


def test_exact_word_does_not_match_longer_words() -> None:
    assert not fires({"any": ["call"]}, "a callback was scheduled")
    assert not fires({"any": ["met"]}, "the metro reopened")
    assert fires({"any": ["call"]}, "a phone call")


# ---------------------------------------------------------------- languages


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("Crimée", "CRIMEE"),
        ("Crimée", "crimee"),
        ("Crimee", "péninsule de Crimée"),
        ("Sébastopol", "SEBASTOPOL"),
        ("Choïgou", "Sergueï Choigou"),
        ("Andreï", "Andrei"),
        ("s'entretenir", "doivent s’entretenir"),
        ("s'entretenir", "doivent entretenir"),
        ("l'attaque", "une attaque"),
        ("attaque", "l’attaque"),
        ("jusqu'à Kyiv", "jusqu’à KYIV"),
        ("d'Andreï Belousov", "auprès d’Andrei Belousov"),
        ("États-Unis", "Etats-Unis"),
        ("Austin", "AUSTIN'S call"),
        ("defense secretary", "Defense Secretary's office"),
        ("Kerch bridge", "the Kerch-bridge blast"),
        ("Russian defence minister", "Russia's new Russian Defence Minister"),
    ],
)
def test_accent_case_elision_insensitive_terms(term: str, text: str) -> None:
    assert hits({"any": [term]}, text) == (term,)


def test_different_words_stay_different_after_folding() -> None:
    assert not fires({"any": ["Crimée"]}, "crime")
    assert not fires({"any": ["attaque"]}, "attaquer")
    assert not fires({"any": ["Austin"]}, "Augustin")


# ---------------------------------------------------------------- field scoping


def test_rule_limited_to_title_ignores_summary_and_content() -> None:
    match = {"any": ["Crimea"]}
    assert fires(match, title="Strike on Crimea", fields=[Field.TITLE])
    assert not fires(match, title="Strike", summary="Strike on Crimea", fields=[Field.TITLE])
    assert not fires(match, title="Strike", content="Strike on Crimea", fields=[Field.TITLE])


def test_rule_fields_may_combine_parts() -> None:
    match = {"all": ["Austin", "Belousov"]}
    item = {"title": "Austin speaks", "summary": "with Belousov", "content": ""}
    assert fires(match, **item)  # all fields by default; terms of one group may hit different fields
    assert fires(match, **item, fields=[Field.TITLE, Field.SUMMARY])
    assert not fires(match, **item, fields=[Field.TITLE, Field.CONTENT])
    assert not fires(match, **item, fields=[Field.SUMMARY])


def test_content_field_is_searched_by_default() -> None:
    assert fires({"any": ["Crimée"]}, title="Entretien", content="une attaque en Crimée")
    assert not fires({"any": ["Crimée"]}, title="Entretien", content="une attaque en Crimée", fields=[Field.SUMMARY])


# ---------------------------------------------------------------- feed and tag restriction


@pytest.mark.parametrize(
    ("feeds", "tags", "feed", "expected"),
    [
        ((), (), make_feed("bbc-news", frozenset({"en"})), True),
        (("bbc-news",), (), make_feed("bbc-news", frozenset({"en"})), True),
        (("bbc-news",), (), make_feed("lemonde-une", frozenset({"fr"})), False),
        ((), ("fr",), make_feed("lemonde-une", frozenset({"fr", "general"})), True),
        ((), ("fr",), make_feed("bbc-news", frozenset({"en"})), False),
        ((), ("fr",), make_feed("untagged"), False),
        (("bbc-news",), ("fr",), make_feed("bbc-news", frozenset({"en"})), True),  # either one suffices
        (("bbc-news",), ("fr",), make_feed("lemonde-une", frozenset({"fr"})), True),
        (("bbc-news",), ("fr",), make_feed("golem", frozenset({"de"})), False),
    ],
)
def test_rule_applies_to_feeds_by_id_or_tag(
    feeds: tuple[str, ...], tags: tuple[str, ...], feed: FeedSource, expected: bool
) -> None:
    assert make_rule({"any": ["x"]}, feeds=feeds, tags=tags).applies_to(feed) is expected


def test_match_item_skips_rules_that_do_not_watch_the_feed() -> None:
    item = make_item("Strike on Crimea", feed_id="bbc-news")
    en_rule = make_rule({"any": ["Crimea"]}, rule_id="en-only", tags=["en"])
    fr_rule = make_rule({"any": ["Crimea"]}, rule_id="fr-only", tags=["fr"])
    everywhere = make_rule({"any": ["Crimea"]}, rule_id="everywhere")
    found = match_item(item, make_feed("bbc-news", frozenset({"en"})), [en_rule, fr_rule, everywhere])
    assert [m.rule.id for m in found] == ["en-only", "everywhere"]


# ---------------------------------------------------------------- explanation


def test_matched_terms_are_reported_in_rule_order_without_duplicates() -> None:
    match = {
        "all": [
            {"any": ["Belousov", "Austin", "Crimea"]},
            {"any": ["Austin", "phone*", "Belousov"]},
        ]
    }
    # Text order is Austin, phone, Belousov; the report follows the rule, and names Austin once.
    assert hits(match, "Austin phoned Belousov") == ("Belousov", "Austin", "phone*")


def test_matched_terms_are_the_terms_as_written() -> None:
    assert hits({"any": ["Crimée", "Sébastopol"]}, "attaque sur SEBASTOPOL en CRIMEE") == ("Crimée", "Sébastopol")


def test_none_group_and_failed_all_group_report_no_terms() -> None:
    match = {"any": [{"all": ["Austin", "Belousov"]}, "phone*", {"none": ["Texas"]}]}
    # The inner "all" fails (no Belousov): its "Austin" hit must not leak into the explanation.
    assert hits(match, "Austin on the phone") == ("phone*",)


def test_evaluate_reports_truth_and_hits() -> None:
    text = ItemText(make_item("Austin calls Belousov"))
    found = evaluate(compile_group({"all": ["Austin", "Belousov"]}), text, ALL_FIELDS)
    assert found is not None
    assert [(hit.clause, hit.field, hit.span) for hit in found] == [
        ("Austin", Field.TITLE, (0, 0)),
        ("Belousov", Field.TITLE, (2, 2)),
    ]
    assert evaluate(compile_group({"all": ["Austin", "Shoigu"]}), text, ALL_FIELDS) is None
    assert evaluate(compile_group({"none": ["Shoigu"]}), text, ALL_FIELDS) == []


# ---------------------------------------------------------------- the seed event and the example rules


@pytest.fixture(scope="module")
def watch() -> WatchConfig:
    return load_watch(EXAMPLE_WATCH.read_text("utf-8"), source=str(EXAMPLE_WATCH))


def parse_sample(name: str, watch: WatchConfig) -> tuple[FeedSource, tuple[Item, ...]]:
    feed = watch.feed(feed_id_of(FEEDS_DIR / name))
    return feed, parse_feed((FEEDS_DIR / name).read_bytes(), feed, now=NOW).items


def fired(item: Item, feed: FeedSource, watch: WatchConfig) -> list[str]:
    return [m.rule.id for m in match_item(item, feed, watch.rules)]


@pytest.mark.parametrize("name", SEED_FEEDS)
def test_seed_wire_fires_both_rules_once_on_the_austin_belousov_item(name: str, watch: WatchConfig) -> None:
    feed, items = parse_sample(name, watch)
    seed = next(item for item in items if "ministres US et russe" in item.title)
    found = {m.rule.id: m for m in match_item(seed, feed, watch.rules)}
    assert fired(seed, feed, watch) == ["defense-minister-contact", "crimea-strike"]
    contact = found["defense-minister-contact"].matched
    assert {"Austin", "Belousov", "entret*", "téléphon*"} <= set(contact)
    # The Crimea strike is only in the body of the wire, not in its headline.
    assert found["crimea-strike"].matched == ("Crimée", "attaqu*", "missile*")


def test_seed_feed_other_item_fires_nothing(watch: WatchConfig) -> None:
    feed, items = parse_sample("boursorama-reuters.xml", watch)
    ecb = [item for item in items if "BCE" in item.title]
    assert len(ecb) == 1
    assert fired(ecb[0], feed, watch) == []


ENGLISH_SEED = {
    "title": "US Defense Secretary Austin speaks with Russian counterpart Belousov by phone",
    "summary": (
        "Pentagon chief Lloyd Austin and Russian Defence Minister Andrei Belousov spoke on Tuesday, "
        "their first call in more than a year, after Moscow blamed Washington for a Ukrainian "
        "missile attack on Sevastopol in Crimea that killed four."
    ),
}


def test_english_seed_fires_the_same_rules(watch: WatchConfig) -> None:
    item = make_item(**ENGLISH_SEED, feed_id="bbc-news")
    assert fired(item, watch.feed("bbc-news"), watch) == ["defense-minister-contact", "crimea-strike"]


@pytest.mark.parametrize(
    ("title", "summary", "expected"),
    [
        (
            "Pentagon chief Austin holds first call with Russia's Belousov in over a year",
            "The two defence ministers discussed the risk of escalation.",
            ["defense-minister-contact"],
        ),
        (
            "Ukrainian missile attack on Sevastopol in Crimea kills four",
            "Russia blamed the United States for supplying the ATACMS missiles.",
            ["crimea-strike"],
        ),
        ("Drones struck an oil depot in Feodosia overnight", "", ["crimea-strike"]),
        ("Explosion hits the Kerch bridge", "", ["crimea-strike"]),
        ("Le pont de Crimée touché par une frappe de drones", "", ["crimea-strike"]),
        ("Hegseth et Beloussov se sont entretenus par téléphone", "", ["defense-minister-contact"]),
        ("Le chef du Pentagone a appelé le ministre russe de la Défense", "", ["defense-minister-contact"]),
    ],
)
def test_headlines_of_the_watched_events_fire_their_rule(
    title: str, summary: str, expected: list[str], watch: WatchConfig
) -> None:
    item = make_item(title, summary, feed_id="guardian-us")
    assert fired(item, watch.feed("guardian-us"), watch) == expected


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        # History: the 1853-1856 war is excluded by the rule's "none".
        (
            "The Crimean War: how the 1854 attack at Balaclava became a legend",
            "Historians revisit the charge of the Light Brigade near Sevastopol.",
        ),
        ("La guerre de Crimée, 1853-1856 : le siège de Sébastopol", "Retour sur une attaque oubliée."),
        # Austin the city, not the Secretary: no Russian side.
        ("Austin, Texas city council to meet on housing plan", "Council members will talk zoning by phone."),
        # One side only.
        ("Belousov appointed Russian defence minister as Putin replaces Shoigu", "He met officials in Moscow."),
        ("Defense Secretary Austin meets NATO allies in Brussels", "Talks focused on air defence for Ukraine."),
        # Crimea without a strike, a strike without Crimea.
        ("Crimée : le tourisme en berne cet été", "Les plages de Yalta sont désertes."),
        ("Drone attack on Kyiv injures three", "Air defence shot down most of the drones."),
    ],
)
def test_near_misses_do_not_fire(title: str, summary: str, watch: WatchConfig) -> None:
    item = make_item(title, summary, feed_id="guardian-us")
    assert fired(item, watch.feed("guardian-us"), watch) == []


def test_italian_missiles_in_poland_story_is_a_near_miss(watch: WatchConfig) -> None:
    feed, items = parse_sample("ilmessaggero-mondo.xml", watch)
    assert len(items) == 1
    assert "Missili Polonia" in items[0].title
    assert fired(items[0], feed, watch) == []


@pytest.mark.parametrize("name", REAL_FEEDS)
def test_no_example_rule_fires_on_the_real_captures(name: str, watch: WatchConfig) -> None:
    feed, items = parse_sample(name, watch)
    assert items
    fired_on = {item.title: rules for item in items if (rules := fired(item, feed, watch))}
    assert fired_on == {}
