"""The ``query:`` form: grammar, tree shapes, errors with their column, and evaluation."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wirewatch.core.conditions import compile_condition
from wirewatch.core.feeds import parse_feed
from wirewatch.core.itemtext import ItemText
from wirewatch.core.matching import evaluate
from wirewatch.core.model import ALL_FIELDS, Field, Group, Near, Pattern, Scoped, Term
from wirewatch.core.query import NeverMatchesError, QuerySyntaxError, parse_query
from wirewatch.core.watchfile import compile_term

from .helpers import FEEDS_DIR, make_feed, make_item

if TYPE_CHECKING:
    from wirewatch.core.model import Item, Node

LISTS = {
    "us_defence": ["Austin", "Hegseth", "defense secretary", "secrétaire à la défense", "chef du Pentagone"],
    "russian_defence": ["Belousov", "Beloussov", "Russian defence minister", "ministre russe de la défense"],
    "crimea_places": ["Crimea", "Crimean", "Crimée", "Sevastopol", "Sébastopol", "Kerch", "pont de Crimée"],
    "one": ["Yalta"],
    "empty": [],
    "blank": ["Kerch", "--"],
}

DEFENSE_QUERY = (
    '(Austin OR "chef du Pentagone" OR "defense secretary") '
    'AND (Belousov OR Beloussov OR "ministre russe de la défense") '
    "AND (entret* OR téléphon* OR call* OR spoke OR talk*)"
)
CRIMEA_QUERY = (
    "$crimea_places AND (strike* OR attack* OR attaqu* OR frappe* OR bombard* OR missile* "
    'OR drone* OR explosion* OR shelling OR raid*) NOT ("Crimean War" OR "guerre de Crimée")'
)


def t(text: str) -> Term:
    return compile_term(text)


def parse(query: str) -> Node:
    return parse_query(query, LISTS)


def holds(query: str, title: str = "", summary: str = "", content: str = "") -> bool:
    text = ItemText(make_item(title=title, summary=summary, content=content))
    return evaluate(parse(query), text, ALL_FIELDS) is not None


def error(query: str) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(query)
    return caught.value


@cache
def seed_items() -> tuple[Item, ...]:
    path = FEEDS_DIR / "boursorama-reuters.xml"
    parsed = parse_feed(path.read_bytes(), make_feed("boursorama-reuters"), now=datetime(2024, 6, 26, 6, tzinfo=UTC))
    return parsed.items


# ---------------------------------------------------------------- operands


def test_a_word_is_a_term_compiled_like_the_structured_form() -> None:
    assert parse("Crimée") == t("Crimée") == Term("Crimée", ("crimee",))


def test_a_prefix_word() -> None:
    assert parse("entret*") == Term("entret*", ("entret",), prefix=True)


@pytest.mark.parametrize(
    ("word", "tokens"),
    [
        ("l'attaque", ("attaque",)),
        ("États-Unis", ("etats", "unis")),
        ("F-35", ("f", "35")),
        ("s'entretenir", ("entretenir",)),
    ],
)
def test_apostrophes_and_hyphens_keep_a_word_one_operand(word: str, tokens: tuple[str, ...]) -> None:
    assert parse(word) == Term(word, tokens)


def test_a_quoted_phrase_is_the_term_the_structured_form_writes_without_quotes() -> None:
    node = parse('"ministre russe de la défense"')
    assert node == t("ministre russe de la défense")
    assert node == Term("ministre russe de la défense", ("ministre", "russe", "de", "la", "defense"))


def test_a_phrase_ending_with_a_star_is_a_prefix_on_its_last_word() -> None:
    expected = Term("pont de Crim*", ("pont", "de", "crim"), prefix=True)
    assert parse('"pont de Crim*"') == expected
    assert parse('"pont de Crim"*') == expected


def test_a_list_reference_expands_to_any_of_its_terms() -> None:
    assert parse("$russian_defence") == Group("any", tuple(t(term) for term in LISTS["russian_defence"]))


def test_a_list_of_one_term_is_that_term() -> None:
    assert parse("$one") == t("Yalta")


def test_a_regex_literal_is_a_pattern() -> None:
    assert parse("/f-?(16|35)/") == Pattern("f-?(16|35)")


def test_an_escaped_slash_belongs_to_the_pattern() -> None:
    assert parse(r"/\d+\/\d+/") == Pattern(r"\d+/\d+")


@pytest.mark.parametrize(
    ("prefix", "field"), [("title", Field.TITLE), ("summary", Field.SUMMARY), ("content", Field.CONTENT)]
)
def test_a_field_prefix_scopes_the_next_operand(prefix: str, field: Field) -> None:
    assert parse(f"{prefix}:Crimea") == Scoped(field, t("Crimea"))


def test_field_names_ignore_case_and_may_be_followed_by_a_space() -> None:
    assert parse("Title: Crimea") == parse("title:Crimea") == Scoped(Field.TITLE, t("Crimea"))


def test_a_field_prefix_scopes_a_parenthesised_group_and_only_that() -> None:
    assert parse("title:(Crimea OR Crimée) attaqu*") == Group(
        "all", (Scoped(Field.TITLE, Group("any", (t("Crimea"), t("Crimée")))), t("attaqu*"))
    )


# ---------------------------------------------------------------- operators and precedence


def test_and_groups_flatten() -> None:
    assert parse("a AND b AND c") == Group("all", (t("a"), t("b"), t("c")))
    assert parse("(a AND b) AND (c AND d)") == Group("all", (t("a"), t("b"), t("c"), t("d")))


def test_or_groups_flatten() -> None:
    assert parse("a OR (b OR c) OR d") == Group("any", (t("a"), t("b"), t("c"), t("d")))


def test_adjacent_operands_are_an_implicit_and() -> None:
    assert parse('Austin Belousov "chef du Pentagone"') == parse('Austin AND Belousov AND "chef du Pentagone"')
    assert parse("Austin Belousov") == Group("all", (t("Austin"), t("Belousov")))


def test_and_binds_tighter_than_or() -> None:
    expected = Group("any", (t("a"), Group("all", (t("b"), t("c"))), t("d")))
    assert parse("a OR b AND c OR d") == expected
    assert parse("a OR b c OR d") == expected


def test_parentheses_override_precedence() -> None:
    assert parse("(a OR b) c") == Group("all", (Group("any", (t("a"), t("b"))), t("c")))


def test_near_binds_tighter_than_and_and_or() -> None:
    near = Near(t("a"), t("b"), 3, "a NEAR/3 b")
    assert parse("a NEAR/3 b c") == Group("all", (near, t("c")))
    assert parse("c OR a NEAR/3 b") == Group("any", (t("c"), near))


def test_not_binds_tightest() -> None:
    assert parse("a NOT b c") == Group("all", (t("a"), Group("none", (t("b"),)), t("c")))
    assert parse("a OR b NOT c") == Group("any", (t("a"), Group("all", (t("b"), Group("none", (t("c"),))))))


def test_lower_case_and_or_not_are_ordinary_words() -> None:
    # French "or" is gold.
    assert parse("prix de l'or not and") == Group("all", tuple(t(w) for w in ("prix", "de", "l'or", "not", "and")))
    assert parse("Crimée or attaque") == Group("all", (t("Crimée"), t("or"), t("attaque")))
    assert parse('"OR"') == t("OR")


def test_not_forms_all_mean_all_of_positive_and_none_of_negative() -> None:
    expected = Group("all", (t("Crimea"), Group("none", (t("Crimean War"),))))
    assert parse('Crimea AND NOT "Crimean War"') == expected
    assert parse('Crimea NOT "Crimean War"') == expected


def test_several_exclusions_merge_into_one_none() -> None:
    expected = Group("all", (t("a"), Group("none", (t("b"), t("c")))))
    assert parse("a NOT b NOT c") == expected
    assert parse("a NOT (b OR c)") == expected
    assert parse("a AND NOT b AND NOT c") == expected


def test_double_negation_cancels() -> None:
    assert parse("NOT NOT a") == t("a")


def test_a_negative_group_inside_an_or_is_kept_under_a_positive_query() -> None:
    assert parse("c (a OR NOT b)") == Group("all", (t("c"), Group("any", (t("a"), Group("none", (t("b"),))))))


def test_not_applies_to_a_field_scoped_operand() -> None:
    assert parse("a NOT title:b") == Group("all", (t("a"), Group("none", (Scoped(Field.TITLE, t("b")),))))


# ---------------------------------------------------------------- NEAR


def test_near_between_two_words_keeps_the_clause_as_written() -> None:
    assert parse("Austin NEAR/5 Belousov") == Near(t("Austin"), t("Belousov"), 5, "Austin NEAR/5 Belousov")


def test_near_between_phrases_and_prefixes() -> None:
    assert parse('"chef du Pentagone" NEAR/10 téléphon*') == Near(
        t("chef du Pentagone"), t("téléphon*"), 10, '"chef du Pentagone" NEAR/10 téléphon*'
    )


def test_near_with_a_list_expands_to_any_near_per_term() -> None:
    text = "$us_defence NEAR/5 Belousov"
    assert parse(text) == Group("any", tuple(Near(t(us), t("Belousov"), 5, text) for us in LISTS["us_defence"]))


def test_near_with_lists_on_both_sides_takes_every_combination() -> None:
    node = parse("$us_defence NEAR/5 $russian_defence")
    assert isinstance(node, Group)
    assert node.op == "any"
    assert len(node.children) == len(LISTS["us_defence"]) * len(LISTS["russian_defence"])
    assert node.children[0] == Near(t("Austin"), t("Belousov"), 5, "$us_defence NEAR/5 $russian_defence")


def test_near_with_a_one_term_list_is_one_clause() -> None:
    assert parse("$one NEAR/2 bombard*") == Near(t("Yalta"), t("bombard*"), 2, "$one NEAR/2 bombard*")


@pytest.mark.parametrize("distance", [1, 50])
def test_near_distance_bounds(distance: int) -> None:
    node = parse(f"a NEAR/{distance} b")
    assert isinstance(node, Near)
    assert node.distance == distance


# ---------------------------------------------------------------- the same tree as match:


@pytest.mark.parametrize(
    ("query", "spec"),
    [
        ("$us_defence AND (entret* OR téléphon*)", {"all": ["$us_defence", {"any": ["entret*", "téléphon*"]}]}),
        ("$us_defence NEAR/5 Belousov", {"near": ["$us_defence", "Belousov"], "distance": 5}),
        ('Austin OR "chef du Pentagone"', {"any": ["Austin", "chef du Pentagone"]}),
        ("/f-?35/", {"regex": "f-?35"}),
        ("title:(Crimea OR Crimée)", {"any": ["Crimea", "Crimée"], "in": "title"}),
    ],
)
def test_query_and_structured_form_compile_to_the_same_tree(query: str, spec: object) -> None:
    assert parse(query) == compile_condition(spec, LISTS)


# ---------------------------------------------------------------- both languages


def test_french_query() -> None:
    assert parse('"ministre russe de la défense" AND (entret* OR téléphon*)') == Group(
        "all", (t("ministre russe de la défense"), Group("any", (t("entret*"), t("téléphon*"))))
    )


def test_english_query_with_field_prefix() -> None:
    assert parse("title:(Crimea OR Crimée) AND (strike* OR attaqu*)") == Group(
        "all",
        (
            Scoped(Field.TITLE, Group("any", (t("Crimea"), t("Crimée")))),
            Group("any", (t("strike*"), t("attaqu*"))),
        ),
    )


# ---------------------------------------------------------------- evaluation


def test_near_matches_within_the_distance_and_not_beyond() -> None:
    # matching._near: gap = first word index of the right term - last index of the left; 1 = adjacent.
    query = "Austin NEAR/3 Belousov"
    assert holds(query, title="Austin spoke to Belousov")  # indices 0 and 3: gap 3
    assert holds(query, title="Belousov spoke to Austin")  # either order
    assert not holds(query, title="Austin spoke again to Belousov")  # indices 0 and 4: gap 4
    assert holds("Austin NEAR/4 Belousov", title="Austin spoke again to Belousov")
    assert holds("Austin NEAR/1 Belousov", title="Austin Belousov talks")  # adjacent: gap 1


def test_near_with_a_phrase_counts_from_its_last_word() -> None:
    query = '"chef du Pentagone" NEAR/2 Belousov'
    assert holds(query, summary="le chef du Pentagone et Belousov")  # pentagone 3, belousov 5: gap 2
    assert not holds(query, summary="le chef du Pentagone puis enfin Belousov")  # gap 3


def test_near_with_a_list_matches_any_of_its_terms() -> None:
    assert holds("$us_defence NEAR/5 $russian_defence", title="Hegseth calls Beloussov")
    assert not holds("$us_defence NEAR/5 $russian_defence", title="Hegseth calls his counterpart")


def test_not_excludes() -> None:
    query = 'Crimea strike* NOT "Crimean War"'
    assert holds(query, title="Drone strike on Crimea")
    assert not holds(query, title="Crimea strikes back: a history of the Crimean War")


def test_a_field_prefix_limits_where_the_term_is_looked_for() -> None:
    assert holds("title:Crimée attaqu*", title="Crimée", summary="une attaque")
    assert not holds("title:Crimée attaqu*", title="une attaque", summary="Crimée")


def test_a_regex_matches_the_folded_text() -> None:
    assert holds("/f-?35/ livraison*", title="Livraisons de F-35 retardées")
    assert not holds("/f-?35/ livraison*", title="Livraisons de F-16 retardées")


def test_accents_case_and_elisions_are_folded_on_both_sides() -> None:
    assert holds("crimee ATTAQUE", title="L'attaque en CRIMÉE")
    assert holds('"pont de Crim*" frappe*', summary="Des frappes sur le pont de Crimée")


def test_defense_minister_query_matches_the_seed_summary() -> None:
    item = seed_items()[0]
    assert item.title.startswith("Premier entretien")
    assert evaluate(parse(DEFENSE_QUERY), ItemText(make_item(summary=item.summary)), ALL_FIELDS)
    assert evaluate(parse(DEFENSE_QUERY), ItemText(item), ALL_FIELDS)


def test_crimea_strike_query_matches_the_seed_content() -> None:
    item = seed_items()[0]
    hits = evaluate(parse(CRIMEA_QUERY), ItemText(make_item(content=item.content)), ALL_FIELDS)
    assert hits is not None
    assert {hit.clause for hit in hits} == {"Crimée", "attaqu*", "missile*"}  # "missiles utilisés"
    assert evaluate(parse(CRIMEA_QUERY), ItemText(item), ALL_FIELDS) is not None


def test_seed_queries_stay_silent_on_the_other_seed_item() -> None:
    other = ItemText(seed_items()[1])
    assert evaluate(parse(DEFENSE_QUERY), other, ALL_FIELDS) is None
    assert evaluate(parse(CRIMEA_QUERY), other, ALL_FIELDS) is None


def test_the_crimea_exclusion_holds() -> None:
    assert not holds(CRIMEA_QUERY, title="Florence Nightingale and the Crimean War: an attack on myths")
    assert holds(CRIMEA_QUERY, title="Une attaque de drones vise le pont de Crimée")


# ---------------------------------------------------------------- errors, each at its column


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("(Crimea AND strike))", "unexpected ')'", 20),
        (")", "unexpected ')'", 1),
        ("a (b OR c", "unclosed '('", 3),
        ("((a) OR b", "unclosed '('", 1),
        ("(a", "unclosed '('", 1),
        ("a OR (b", "unclosed '('", 6),
        ('a "b c', "unclosed quote", 3),
        ('abcd "efg', "unclosed quote", 6),
        (
            "Crimea $foo",
            "unknown list $foo (lists: $blank, $crimea_places, $empty, $one, $russian_defence, $us_defence)",
            8,
        ),
        (
            "strike* $crimea",
            "unknown list $crimea (lists: $blank, $crimea_places, $empty, $one, $russian_defence, $us_defence)",
            9,
        ),
        ("Putin NEAR Biden", "NEAR needs a distance, e.g. NEAR/5", 7),
        ("Putin NEAR/ Biden", "NEAR needs a distance, e.g. NEAR/5", 7),
        ("Putin NEAR/x Biden", "NEAR needs a distance, e.g. NEAR/5", 7),
        ("a NEAR/0 b", "NEAR distance must be 1 to 50 words, not 0", 3),
        ("a NEAR/51 b", "NEAR distance must be 1 to 50 words, not 51", 3),
        ("Crimea AND OR strike", "expected a term after AND", 12),
        ("Crimea AND", "expected a term after AND", 11),
        ("Crimea AND   ", "expected a term after AND", 11),
        ("(Crimea AND) strike", "expected a term after AND", 12),
        ("Crimea OR", "expected a term after OR", 10),
        ("Crimea NOT", "expected a term after NOT", 11),
        ("Austin NEAR/5", "expected a term after NEAR/5", 14),
        ("Crimea title:", "expected a term after title:", 14),
        ("title:summary:a", "expected a term after title:", 7),
        ("title:NOT a", "expected a term after title:", 7),
        ("", "empty query", 1),
        ("   ", "empty query", 1),
        ("a ()", "empty parentheses", 3),
        ("OR Crimea", "expected a term before OR", 1),
        ("(AND a)", "expected a term before AND", 2),
        ("NEAR/5 a", "expected a term before NEAR/5", 1),
        ("NOT crimea", "a query needs at least one positive term", 1),
        ('NOT crimea NOT "Crimean War"', "a query needs at least one positive term", 1),
        ("a OR NOT b", "a query needs at least one positive term", 1),
        ("title:(NOT crimea)", "a query needs at least one positive term", 1),
        ("Crimea body:strike", "unknown field 'body' (title, summary or content)", 8),
        ("10:30", "unknown field '10' (title, summary or content)", 1),
        ("Crimée : attaque", "unexpected ':'", 8),
        ("Crimea - strike", "'-' has no word to match", 8),
        ('Crimea ""', "'\"\"' has no word to match", 8),
        ("a l' b", '"l\'" has no word to match', 3),
        ("Crimea -war", "a leading '-' does not exclude: write NOT war", 8),
        ("en*tret", "'*' can only end a word", 3),
        ('"pont* de Crimée"', "'*' can only end a phrase", 6),
        ("a NEAR/3 b NEAR/3 c", "NEAR clauses cannot be chained: join them with AND", 12),
        ("(a OR b) NEAR/3 c", "NEAR needs a word, phrase, prefix or $list on each side, not a group in parentheses", 1),
        (
            "c NEAR/3 (a OR b)",
            "NEAR needs a word, phrase, prefix or $list on each side, not a group in parentheses",
            10,
        ),
        ("NOT a NEAR/3 b", "NEAR needs a word, phrase, prefix or $list on each side, not NOT", 1),
        ("a NEAR/3 NOT b", "NEAR needs a word, phrase, prefix or $list on each side, not NOT", 10),
        ("a NEAR/3 /x+/", "NEAR needs a word, phrase, prefix or $list on each side, not a regex", 10),
        (
            "title:a NEAR/3 b",
            "NEAR needs a word, phrase, prefix or $list on each side, not a field prefix"
            " (put it before the whole clause: title:(a NEAR/5 b))",
            1,
        ),
        ("a //", "empty regex", 3),
        ("a /b+", "unclosed regex (a '/' without its closing '/')", 3),
        ("$", "invalid list reference '$' ($ then letters, digits, '_' or '-')", 1),
        ("a $b*", "invalid list reference '$b*' ($ then letters, digits, '_' or '-')", 3),
        ("$one:", "unexpected ':'", 5),
        ("a $empty", "list $empty is empty", 3),
        ("a $blank", "list $blank: term '--' has no word to match", 3),
        ("a" + "(" * 65 + "b" + ")" * 65, "more than 64 nested parentheses", 66),
        ("a**", "'a**' has a '*' before its end: a '*' only ends a prefix (entret*)", 1),
        ('a "pont de Crim *"', "'\"pont de Crim *\"' has a space before its '*': a prefix is written entret*", 3),
        (
            "Crimea /F-16/",
            "regex /F-16/ never matches: patterns are matched against lower-case text without accents: write /f-16/",
            8,
        ),
        ("title:(a OR summary:b)", "'summary:' never matches inside 'title:'", 13),
    ],
)
def test_errors_name_the_mistake_and_its_column(query: str, message: str, column: int) -> None:
    caught = error(query)
    assert (caught.message, caught.column) == (message, column)
    assert str(caught) == f"{message} at column {column}"
    assert isinstance(caught, ValueError)


def test_a_regex_re2_cannot_run_is_refused_at_its_column() -> None:
    caught = error("Crimea /(a)\\1/")
    assert caught.column == 8
    assert caught.message.startswith("invalid regex: RE2 cannot run")


def test_unknown_list_without_lists() -> None:
    with pytest.raises(
        QuerySyntaxError, match=r"^unknown list \$places \(lists: none is defined under lists:\) at column 1$"
    ):
        parse_query("$places")


def test_columns_count_characters_not_bytes() -> None:
    assert error("Crimée Sébastopol )").column == 19


def test_a_field_prefix_outside_the_given_fields_never_matches() -> None:
    with pytest.raises(NeverMatchesError) as caught:
        parse_query("Crimea content:strike", fields=[Field.TITLE, Field.SUMMARY])
    assert (caught.value.message, caught.value.column) == (
        "'content:' never matches: the rule searches only its fields (title, summary)",
        8,
    )


# ---------------------------------------------------------------- robustness

_PIECES = st.sampled_from(
    [
        "AND", "OR", "NOT", "NEAR/3", "NEAR", "NEAR/99", "(", ")", '"', "/", "\\", "*", ":", "$", "-", "'",
        "$crimea_places", "$one", "$empty", "$nope", "title:", "body:", "Crimée", "l'", "a", "b", "or", " ", "  ",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_random_text_raises_nothing_but_query_syntax_errors(text: str) -> None:
    try:
        parse_query(text, LISTS)
    except QuerySyntaxError as exc:
        assert 1 <= exc.column <= len(text) + 1


@settings(max_examples=600, deadline=None)
@given(st.lists(_PIECES, max_size=14), st.booleans())
def test_random_queries_raise_nothing_but_query_syntax_errors(pieces: list[str], spaced: bool) -> None:
    text = (" " if spaced else "").join(pieces)
    try:
        node = parse_query(text, LISTS)
    except QuerySyntaxError as exc:
        assert 1 <= exc.column <= len(text) + 1
    else:
        evaluate(node, ItemText(make_item(title=text, summary="Crimée a b")), ALL_FIELDS)
