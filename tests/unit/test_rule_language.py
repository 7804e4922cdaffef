"""The rule language as a watch file author meets it: lists, stemming, patterns, examples,
explanations and backtests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wirewatch.core.backtest import backtest
from wirewatch.core.errors import RulesError
from wirewatch.core.explain import explain, highlight
from wirewatch.core.itemtext import ItemText, compile_pattern
from wirewatch.core.matching import match_rule
from wirewatch.core.model import FeedSource
from wirewatch.core.watchfile import load_watch

from .helpers import make_item

FEEDS = """
feeds:
  - {id: wire-fr, url: "https://example.org/fr.xml", tags: [fr]}
  - {id: wire-en, url: "https://example.org/en.xml", tags: [en]}
subscribers:
  - {id: desk, email: desk@example.org, rules: ["*"]}
"""


def watch(rules: str, lists: str = "") -> str:
    return f"{lists}{FEEDS}rules:\n{rules}"


def fires(config_text: str, rule_id: str, title: str, summary: str = "") -> bool:
    config = load_watch(config_text, "test.yaml")
    rule = next(rule for rule in config.rules if rule.id == rule_id)
    return match_rule(rule, ItemText(make_item(title, summary))) is not None


def test_a_list_is_written_once_and_used_by_two_rules_in_both_forms() -> None:
    text = watch(
        """
  - id: strike
    title: Strike
    match: {all: [$crimea_places, {any: [strike*, frappe*]}]}
  - id: visit
    title: Visit
    query: '$crimea_places AND (visit* OR visite*)'
""",
        lists='lists:\n  crimea_places: [Crimea, Crimée, Sébastopol, "pont de Crimée"]\n',
    )
    assert fires(text, "strike", "Frappes sur le pont de Crimée")
    assert fires(text, "visit", "Putin visits Sevastopol") is False  # "Sevastopol" is not in the list
    assert fires(text, "visit", "Poutine en visite à Sébastopol")
    assert not fires(text, "strike", "Poutine en visite à Sébastopol")


@pytest.mark.parametrize(
    ("stem", "term", "title", "expected"),
    [
        ("[fr]", "frappe", "Nouvelles frappes sur Sébastopol", True),
        ("[fr]", "attaque", "Sébastopol attaquée par des drones", True),
        ("[en]", "strike", "Drone strikes hit Sevastopol", True),
        ("[en]", "strike", "Striking images from Sevastopol", True),
        ("[en]", "meeting", "Ministers meet in Geneva", True),
        (None, "frappe", "Nouvelles frappes sur Sébastopol", False),
        ("[en]", "frappe", "Nouvelles frappes sur Sébastopol", True),  # "frappes" → "frapp" in English too
        ("[fr]", "Sébastopol", "Nouvelles frappes sur Sebastopol", True),
    ],
)
def test_stemming_catches_inflected_forms(stem: str | None, term: str, title: str, expected: bool) -> None:
    stem_line = f"\n    stem: {stem}" if stem else ""
    text = watch(f"  - id: r\n    title: R{stem_line}\n    match: {{any: [{term}]}}\n")
    assert fires(text, "r", title) is expected


def test_snowball_keeps_derived_and_irregular_forms_apart() -> None:
    # Documented in docs/rules.md: Snowball stems inflections, not derivations or
    # irregular verbs; a prefix (entret*) covers those.
    text = watch("  - id: r\n    title: R\n    stem: true\n    match: {any: [entretien, strike]}\n")
    assert not fires(text, "r", "Les ministres se sont entretenus mardi")
    assert not fires(text, "r", "A missile struck the bridge")
    prefix = watch("  - id: r\n    title: R\n    match: {any: [entret*]}\n")
    assert fires(prefix, "r", "Les ministres se sont entretenus mardi")


def test_catastrophic_pattern_runs_on_re2_and_answers_correctly() -> None:
    program = compile_pattern("(a+)+$")
    assert type(program).__module__.startswith("re2")
    assert program.search("a" * 50_000 + "b") is None
    assert program.search("xx" + "a" * 50_000) is not None


def test_pattern_runs_on_folded_text() -> None:
    text = watch("  - id: jets\n    title: Jets\n    match: {all: [{regex: 'f-?(16|35)'}, Crimée]}\n")
    assert fires(text, "jets", "Des F-16 au-dessus de la CRIMEE")
    assert not fires(text, "jets", "Des F-22 au-dessus de la Crimée")


def test_examples_that_hold_let_the_file_load() -> None:
    text = watch(
        """  - id: r
    title: R
    query: 'Austin NEAR/3 Belousov'
    examples:
      match: ["Austin calls Belousov"]
      no_match: ["Austin met the press before talks with Belousov"]
"""
    )
    assert load_watch(text, "ok.yaml").rules[0].examples.match == ("Austin calls Belousov",)


def test_an_example_going_the_wrong_way_names_rule_example_and_line() -> None:
    text = watch(
        """  - id: r
    title: R
    query: 'Austin NEAR/3 Belousov'
    examples:
      match: ["Austin met the press before talks with Belousov"]
"""
    )
    with pytest.raises(RulesError) as caught:
        load_watch(text, "bad.yaml")
    [problem] = caught.value.problems
    assert problem.line == 12
    assert problem.message == (
        "rule r: example should match but does not: 'Austin met the press before talks with Belousov'"
    )


def test_highlight_marks_the_words_with_context() -> None:
    text = "Moscou a reproché à Washington une attaque ukrainienne meurtrière dans la péninsule de Crimée, annexée"
    assert highlight(text, 13, 13, context=3) == "…la péninsule de *Crimée*, annexée"


@pytest.mark.parametrize(
    ("text", "first", "shown"),
    [
        ("L'Ukraine affirme avoir frappé la Crimée", 3, "L'Ukraine affirme avoir *frappé* la Crimée"),
        ("Is Crimea next?", 1, "Is *Crimea* next?"),
        ("« Crimée » : le point", 0, "« *Crimée* » : le point"),
    ],
)
def test_highlight_of_a_whole_headline_adds_no_ellipsis_and_cuts_nothing(text: str, first: int, shown: str) -> None:
    # The elision before the first word and the punctuation after the last are the headline's.
    assert highlight(text, first, first) == shown


@pytest.mark.parametrize(
    ("text", "first", "shown"),
    [
        # Compatibility characters fold into words of their own: the run they are in is the span.
        ("Résolution № 2231 sur la Crimée", 5, "Résolution № 2231 sur la *Crimée*"),
        ("Défense : drone abattu, vol № 5", 1, "Défense : *drone* abattu, vol № 5"),
        ("Vol №5 : drone abattu", 2, "Vol №5 : *drone* abattu"),  # "no5": one word
    ],
)
def test_highlight_holds_across_characters_that_fold_into_words(text: str, first: int, shown: str) -> None:
    assert highlight(text, first, first) == shown


def test_a_place_several_list_entries_fire_on_is_explained_once() -> None:
    lists = "lists:\n  russie: [Russie, russe, russes]\n  manip: [désinform*, propagande]\n"
    text = watch("  - id: r\n    title: R\n    stem: [fr]\n    query: $russie NEAR/5 $manip\n", lists)
    rule = load_watch(text, "t.yaml").rules[0]
    found = match_rule(rule, ItemText(make_item("La guerre russe : la désinformation gagne")))
    assert found is not None
    lines = explain(found)
    assert len(lines) == len(set(lines)) == 1


def test_explanation_names_clause_field_and_words() -> None:
    text = watch("  - id: r\n    title: R\n    match: {all: [Crimée, {near: [attaque, ukrainienne], distance: 1}]}\n")
    rule = load_watch(text, "t.yaml").rules[0]
    found = match_rule(rule, ItemText(make_item("Bilan", "Une attaque ukrainienne meurtrière en Crimée")))
    assert found is not None
    assert explain(found) == [
        "Crimée in summary: Une attaque ukrainienne meurtrière en *Crimée*",
        "attaque NEAR/1 ukrainienne in summary: Une *attaque ukrainienne* meurtrière en Crimée",
    ]


def test_backtest_counts_alerts_per_day_and_folds_one_story_across_feeds() -> None:
    text = watch("  - id: crimea\n    title: C\n    match: {all: [Crimée, attaqu*]}\n")
    config = load_watch(text, "t.yaml")
    fr = FeedSource("wire-fr", "https://example.org/fr.xml", frozenset({"fr"}))
    en = FeedSource("wire-en", "https://example.org/en.xml", frozenset({"en"}))
    day = datetime(2024, 6, 26, 8, tzinfo=UTC)

    def item(feed: FeedSource, title: str, link: str, when: datetime) -> tuple[FeedSource, object]:
        return feed, make_item(title, feed_id=feed.id, link=link, published=when)

    items = [
        item(fr, "Attaque meurtrière en Crimée", "https://a.example/1", day),
        item(en, "Attaque meurtrière en Crimée", "https://b.example/1", day + timedelta(hours=1)),  # same wire
        item(fr, "Nouvelle attaque en Crimée", "https://a.example/2", day + timedelta(days=1)),
        item(fr, "Attaque en Crimée, archives", "https://a.example/0", day - timedelta(days=40)),  # too old
    ]

    report = backtest(items, config.rules, since=day - timedelta(days=30), story_window=timedelta(hours=48))

    [result] = report.rules
    assert dict(result.per_day) == {day.date(): 1, (day + timedelta(days=1)).date(): 1}
    assert [sample.item.link for sample in result.samples] == ["https://a.example/1", "https://a.example/2"]
    assert report.items == 3


def test_backtest_lets_a_headline_seen_outside_the_window_name_the_newer_story() -> None:
    text = watch("  - id: crimea\n    title: C\n    match: {all: [Crimée, attaqu*]}\n")
    config = load_watch(text, "t.yaml")
    feeds = [FeedSource(f"f{n}", f"https://example.org/{n}.xml") for n in range(3)]
    t0 = datetime(2024, 6, 26, 8, tzinfo=UTC)
    headline = "Attaque meurtrière en Crimée"
    items = [
        (feeds[0], make_item(headline, feed_id="f0", link="https://a.example/1", published=t0)),
        (feeds[1], make_item(headline, feed_id="f1", link="https://b.example/1", published=t0 + timedelta(hours=49))),
        (feeds[2], make_item(headline, feed_id="f2", link="https://c.example/1", published=t0 + timedelta(hours=50))),
    ]

    report = backtest(items, config.rules, since=t0 - timedelta(days=1), story_window=timedelta(hours=48))

    # f1 is a new story (49 h later); f2 is f1's story, an hour after it: two alerts, as the pipeline sends.
    assert report.rules[0].total == 2
