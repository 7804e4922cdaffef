"""The rule index: the same matches as evaluating every rule, from far fewer evaluations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wirewatch.core.anchors import requirements
from wirewatch.core.deciders import compile_decider
from wirewatch.core.evaluators import compile_node
from wirewatch.core.index import RuleIndex
from wirewatch.core.itemtext import ItemText
from wirewatch.core.matching import evaluate, match_item, match_rule
from wirewatch.core.model import ALL_FIELDS, Field, Group, Near, Pattern, Rule, Scoped, Severity, Term
from wirewatch.core.terms import compile_term

from .helpers import make_feed, make_item

if TYPE_CHECKING:
    from collections.abc import Sequence

    from wirewatch.core.model import FeedSource, Item, Match, Node

# Forms of a few words with and without accents, so that exact, folded and stemmed
# matching (Snowball reads accents: "attaquée" and "attaquee" have different stems)
# all get their chance; the noise words are in no rule.
VOCABULARY = (
    "strike",
    "strikes",
    "striking",
    "attaque",
    "attaquée",
    "attaquee",
    "attaques",
    "frappe",
    "frappés",
    "crimée",
    "crimea",
    "défense",
    "defense",
    "ministre",
    "minister",
    "austin",
    "pentagon",
    "phoned",
    "entretien",
    "entretenus",
    "kerch",
    "pont",
    "bridge",
    "f-16",
)
NOISE = ("the", "de", "la", "lorem", "ipsum", "2024", "journée", "quiet")
PATTERNS = (r"\bstrik", r"attaque[es]*\b", r"f-?16", r"\d{4}", r"crim\w+ \w+", r"^the\b")
FEED = make_feed("wire", tags=frozenset({"fr"}))
OTHER_FEED = make_feed("other")

words = st.sampled_from(VOCABULARY)


@st.composite
def terms(draw: st.DrawFn) -> Term:
    kind = draw(st.sampled_from(("word", "phrase", "prefix", "prefix phrase")))
    text = " ".join(draw(st.lists(words, min_size=2, max_size=3))) if "phrase" in kind else draw(words)
    if "prefix" in kind:
        text = text[: draw(st.integers(min_value=max(1, len(text) - 6), max_value=len(text)))].rstrip(" -") + "*"
    if kind == "phrase":
        text = f'"{text}"'
    term = compile_term(text)
    return term if term.tokens else compile_term("strike")


@st.composite
def nears(draw: st.DrawFn) -> Near:
    left, right, distance = draw(terms()), draw(terms()), draw(st.integers(min_value=1, max_value=5))
    return Near(left, right, distance, f"{left.text} NEAR/{distance} {right.text}")


# Single words weigh most, as in real rules: groups of them are what the deciders and
# the compiled rules treat specially.
single_words = words.map(compile_term)
leaves: st.SearchStrategy[Node] = st.one_of(
    single_words, single_words, terms(), terms(), nears(), st.sampled_from(PATTERNS).map(Pattern)
)


def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    groups = st.builds(
        Group, st.sampled_from(("all", "all", "any", "any", "none")), st.lists(children, max_size=4).map(tuple)
    )
    return st.one_of(groups, groups, groups, st.builds(Scoped, st.sampled_from(list(Field)), children))


nodes = st.recursive(leaves, extend, max_leaves=10)


def _groups(op: str, children: st.SearchStrategy[Node]) -> st.SearchStrategy[Group]:
    return st.lists(children, min_size=1, max_size=4).map(lambda found: Group(op, tuple(found)))


# The shape most watch rules have: an "all" of "any" groups, and exclusions.
typical_rules: st.SearchStrategy[Node] = st.builds(
    lambda groups, excluded: Group("all", (*groups, *excluded)),
    st.lists(_groups("any", st.one_of(single_words, single_words, leaves)), min_size=1, max_size=3),
    st.lists(_groups("none", st.one_of(single_words, leaves)), max_size=1),
)


@st.composite
def rule_lists(draw: st.DrawFn) -> list[Rule]:
    rules = []
    for number in range(draw(st.integers(min_value=1, max_value=8))):
        rules.append(
            Rule(
                id=f"r{number}",
                title=f"rule {number}",
                severity=Severity.MEDIUM,
                condition=draw(nodes),
                fields=tuple(
                    draw(st.lists(st.sampled_from(ALL_FIELDS), min_size=1, max_size=3, unique=True))
                    if draw(st.booleans())
                    else ALL_FIELDS
                ),
                feeds=draw(st.sampled_from((frozenset(), frozenset(), frozenset({"wire"}), frozenset({"elsewhere"})))),
                tags=draw(st.sampled_from((frozenset(), frozenset(), frozenset({"fr"})))),
                stem=draw(st.sampled_from(((), (), ("fr",), ("en",), ("en", "fr")))),
            )
        )
    return rules


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts = []
    for word in draw(st.lists(st.sampled_from(VOCABULARY + NOISE), max_size=12)):
        form = draw(st.sampled_from(("same", "same", "upper", "elided")))
        written = word.upper() if form == "upper" else f"l'{word}" if form == "elided" else word
        parts.append(written + draw(st.sampled_from((" ", " ", ", ", ". ", " - "))))
    return "".join(parts).strip()


items = st.builds(make_item, texts(), texts(), texts())


def summary(matches: Sequence[Match]) -> list[tuple[str, tuple[str, ...]]]:
    return [(match.rule.id, match.matched) for match in matches]


def assert_same(rules: list[Rule], item: Item, feed: FeedSource) -> None:
    naive = match_item(item, feed, rules)
    indexed = RuleIndex(rules).match(item, feed)
    assert summary(indexed) == summary(naive)
    # Hits too: the same clauses, fields and spans, though the index works them out later.
    assert [(match.rule.id, match.hits) for match in indexed] == [(match.rule.id, match.hits) for match in naive]


# ---------------------------------------------------------------- the index changes nothing


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_lists(), items, st.sampled_from((FEED, OTHER_FEED)))
def test_the_index_matches_what_evaluating_every_rule_matches(rules: list[Rule], item: Item, feed: FeedSource) -> None:
    assert_same(rules, item, feed)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_lists(), items)
def test_every_rule_that_matches_is_a_candidate(rules: list[Rule], item: Item) -> None:
    text = ItemText(item)
    candidates = RuleIndex(rules).candidates(text)
    for rule in rules:
        if match_rule(rule, text) is not None:
            assert rule in candidates
    # A subsequence of the rules: their original order.
    order = {id(rule): position for position, rule in enumerate(rules)}
    assert [order[id(rule)] for rule in candidates] == sorted(order[id(rule)] for rule in candidates)


field_choices = st.one_of(
    st.just(ALL_FIELDS), st.lists(st.sampled_from(ALL_FIELDS), min_size=1, max_size=3, unique=True).map(tuple)
)
stem_choices = st.sampled_from(((), (), ("fr",), ("en",), ("en", "fr")))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(nodes, typical_rules), items, field_choices, stem_choices)
def test_compiled_rules_and_deciders_agree_with_the_definition(
    node: Node, item: Item, fields: tuple[Field, ...], stem: tuple[str, ...]
) -> None:
    text = ItemText(item)
    expected = evaluate(node, text, fields, stem)
    assert compile_node(node, fields, stem)(text) == expected
    index = RuleIndex([rule(node, fields=fields, stem=stem)])
    assert compile_decider(node, fields, stem)(text, index.anchors(text)) is (expected is not None)


# Words whose stem differs as written and as folded ("attaquée" → attaqu, "attaquee" →
# attaque), and their neighbours.
ACCENTED = ("attaque", "attaques", "attaquée", "attaquee", "attaquées", "frappe", "frappés", "crimée", "crimee")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(ACCENTED).map(compile_term), min_size=1, max_size=3),
    st.sampled_from((("fr",), ("fr",), ("en",), ("en", "fr"))),
    st.lists(st.sampled_from((*ACCENTED, "attaquee", "crimee", "la", "Attaquée", "FRAPPÉS")), max_size=4).map(" ".join),
)
def test_stemmed_words_are_found_as_the_evaluator_stems_them(
    found: list[Term], stem: tuple[str, ...], title: str
) -> None:
    # Rules of one stemmed word each: nothing else can make them candidates, so a
    # stem the index computes otherwise than the evaluator shows here.
    rules = [
        Rule(id=f"r{n}", title="t", severity=Severity.LOW, condition=term, stem=stem) for n, term in enumerate(found)
    ]
    assert_same(rules, make_item(title), FEED)


# ---------------------------------------------------------------- what the rules are found by


def rule(
    condition: Node,
    *,
    rule_id: str = "r",
    stem: tuple[str, ...] = (),
    fields: tuple[Field, ...] = ALL_FIELDS,
    feeds: frozenset[str] = frozenset(),
) -> Rule:
    return Rule(
        id=rule_id, title="t", severity=Severity.LOW, condition=condition, stem=stem, fields=fields, feeds=feeds
    )


def group(op: str, *children: Node | str) -> Group:
    return Group(op, tuple(compile_term(child) if isinstance(child, str) else child for child in children))


def test_a_pattern_rule_is_a_candidate_only_where_its_pattern_occurs() -> None:
    # All patterns run as one RE2 set per field: a pattern is an anchor like a word.
    pattern_rule = rule(group("all", group("none", "football"), Pattern(r"f-?16")), rule_id="pattern")
    anchored = rule(group("all", "austin", "belousov"), rule_id="words")
    index = RuleIndex([anchored, pattern_rule])
    for title in ("Des F-16 au-dessus de la Crimée", "f16 delivered", "F-16 and football"):
        assert pattern_rule in index.candidates(ItemText(make_item(title)))
    for title in ("", "Austin and Belousov", "Nothing to see", "football"):
        assert pattern_rule not in index.candidates(ItemText(make_item(title)))
    assert requirements(pattern_rule.condition, frozenset(ALL_FIELDS)) == [frozenset({"/f-?16/"})]


def test_a_rule_of_exclusions_only_is_a_candidate_for_every_item() -> None:
    only_none = rule(group("none", "football"), rule_id="no-football")
    index = RuleIndex([only_none])
    for title in ("", "Nothing to see", "football"):
        assert only_none in index.candidates(ItemText(make_item(title)))


def test_an_item_sharing_no_word_with_the_rules_has_no_candidates() -> None:
    rules = [
        rule(group("all", group("any", first, f"{second}*"), group("none", "sport")), rule_id=f"r{n}")
        for n, (first, second) in enumerate(zip(VOCABULARY, reversed(VOCABULARY), strict=True))
    ]
    rules.append(rule(group("any", "austin", Pattern("x")), rule_id="pattern-in-any"))
    index = RuleIndex(rules)
    text = ItemText(make_item("Quiet day at the seaside", "Lorem ipsum dolor sit amet", "nothing else"))
    assert [candidate.id for candidate in index.candidates(text)] == []
    assert index.match(make_item("Quiet day at the seaside"), FEED) == []


def test_an_all_group_needs_a_word_of_each_of_its_groups_to_be_a_candidate() -> None:
    rules = [rule(group("all", group("any", "austin", "hegseth"), group("any", "belousov", "shoigu"), "phone*"))]
    index = RuleIndex(rules)
    assert index.candidates(ItemText(make_item("Austin spoke"))) == []
    assert index.candidates(ItemText(make_item("Austin and Shoigu"))) == []
    assert index.candidates(ItemText(make_item("Austin phoned Shoigu"))) == rules


def test_a_prefix_phrase_is_found_by_its_exact_words_and_its_prefix() -> None:
    rules = [rule(group("any", "prime minist*"))]
    index = RuleIndex(rules)
    assert index.candidates(ItemText(make_item("The prime ministers met"))) == rules
    assert index.candidates(ItemText(make_item("The ministers met"))) == []
    assert index.candidates(ItemText(make_item("A prime example"))) == []


def test_stemmed_rules_are_found_through_accented_and_folded_forms() -> None:
    # Snowball reads accents: "attaquée" stems to "attaqu" (as "attaque" does), but
    # "attaquee", the same word folded, to "attaque".
    accented = rule(group("any", "attaquée"), stem=("fr",), rule_id="accented")
    plain = rule(group("any", "attaque"), stem=("fr",), rule_id="plain")
    english = rule(group("all", "strike", "bridge"), stem=("en",), rule_id="en")
    rules = [accented, plain, english]
    titles = ("Sébastopol attaquée", "Sebastopol attaquee", "Nouvelles attaques", "Une attaque", "Strike")
    for title in (*titles, "Strikes on the bridges", "Striking bridge"):
        assert_same(rules, make_item(title), FEED)
    index = RuleIndex(rules)
    # Found through the stem of the accented word only:
    assert plain in index.candidates(ItemText(make_item("Sébastopol attaquée")))
    # Found through the exact word only (its stem is another):
    assert accented in index.candidates(ItemText(make_item("Sebastopol attaquee")))
    assert index.candidates(ItemText(make_item("Nouvelles attaques"))) == [accented, plain]


def test_a_scope_outside_the_rules_fields_can_never_match() -> None:
    never = rule(Scoped(Field.CONTENT, group("any", "austin")), fields=(Field.TITLE,))
    assert RuleIndex([never]).candidates(ItemText(make_item("Austin", content="Austin"))) == []
    assert_same([never], make_item("Austin", content="Austin"), FEED)


def test_feeds_restrict_rules_after_lookup_and_rules_keep_their_order() -> None:
    wire_only = rule(group("any", "austin"), rule_id="wire", feeds=frozenset({"wire"}))
    everywhere = rule(group("any", "austin"), rule_id="all")
    rules = [wire_only, everywhere, everywhere]  # a rule given twice fires twice, as in the naive loop
    item = make_item("Austin")
    assert [m.rule.id for m in RuleIndex(rules).match(item, FEED)] == ["wire", "all", "all"]
    assert [m.rule.id for m in RuleIndex(rules).match(item, OTHER_FEED)] == ["all", "all"]
    assert_same(rules, item, OTHER_FEED)


def test_groups_that_hold_always_or_never() -> None:
    always = rule(Group("all", ()), rule_id="always")
    never = rule(Group("any", ()), rule_id="never")
    index = RuleIndex([always, never])
    assert index.candidates(ItemText(make_item("anything"))) == [always]
    assert_same([always, never], make_item("anything"), FEED)


def test_a_run_of_text_standing_for_a_word_is_no_anchor() -> None:
    # "™" folds into a word of its own ("tm"), so the title's words are aligned by runs of
    # text; "/_l'\d/" is one such run, and it must not pass for the pattern anchor it spells.
    rules = [
        Rule(id="pat", title="t", severity=Severity.LOW, condition=Pattern(r"_l'\d")),
        Rule(id="stemmer", title="t", severity=Severity.LOW, condition=compile_term("attaque"), stem=("fr",)),
    ]
    item = make_item("Regex ™ of the day: /_l'\\d/ explained")
    feed = make_feed("wire")
    assert [m.rule.id for m in RuleIndex(rules).match(item, feed)] == [m.rule.id for m in match_item(item, feed, rules)]
