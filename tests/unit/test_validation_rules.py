"""Validation of what a rule can never match, and where a mistake is: patterns with letters
folded text never holds, fields a rule does not search, list entries checked as terms,
and positions in queries written over several lines."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wirewatch.core.errors import RulesError
from wirewatch.core.itemtext import ItemText, compile_pattern
from wirewatch.core.matching import match_rule
from wirewatch.core.model import Field, Scoped, Term
from wirewatch.core.pattern_literals import folded_pattern, pattern_fold_problem
from wirewatch.core.query import NeverMatchesError, QuerySyntaxError, parse_query
from wirewatch.core.terms import term_problem
from wirewatch.core.watchfile import load_watch

from .helpers import make_item

HEAD = """\
feeds:
  - {id: wire, url: "https://example.org/rss.xml"}
subscribers:
  - {id: desk, email: desk@example.org}
rules:
"""  # rules start on line 6


def problems(rules: str, lists: str = "") -> list[tuple[int | None, str]]:
    with pytest.raises(RulesError) as caught:
        load_watch(HEAD + rules + lists, "watch.yaml")
    return [(problem.line, problem.message) for problem in caught.value.problems]


def fires(rules: str, title: str) -> bool:
    rule = load_watch(HEAD + rules, "watch.yaml").rules[0]
    return match_rule(rule, ItemText(make_item(title))) is not None


# ---------------------------------------------------------------- patterns and folded text


@pytest.mark.parametrize(
    ("pattern", "fixed"),
    [
        ("F-16", "f-16"),
        ("crimée", "crimee"),
        ("Straße", "strasse"),
        ("manœuvre", "manoeuvre"),
        ("[A-Z]{2,}", "[a-z]{2,}"),
        ("[\\pLÉ]", "[\\pLe]"),
        ("\\\\S", "\\\\s"),  # an escaped backslash, then a literal S
        ("\\x46-16", "f-16"),
        ("\\x{C9}t\\x{e9}", "ete"),
        ("\\106-16", "f-16"),  # octal
        ("\\QF-16\\E", "\\Qf-16\\E"),
        ("\\QÉ", "\\Qe"),
        ("（a）", "\\(a\\)"),  # folded to '(' and ')': escaped to stay characters
        ("(?i:a)F", "(?i:a)f"),  # (?i) ends with its group
        ("(?i)(?-i)F", "(?i)(?-i)f"),
        ("(?i)Crimée", "(?i)Crimee"),  # (?i) does not make accents match
        ("(?i:(?s)A)B", "(?i:(?s)A)b"),
    ],
)
def test_a_pattern_with_letters_fold_changes_is_folded(pattern: str, fixed: str) -> None:
    assert folded_pattern(pattern) == fixed


@pytest.mark.parametrize(
    "pattern",
    [
        "f-?(16|35)",
        "\\S+\\W\\D\\B\\A\\z\\C",
        "\\pL\\PL\\p{Lu}\\P{Greek}\\pN",
        "[[:upper:]][[:^alpha:]]",
        "[\\p{Lu}\\S]",
        "(?P<Year>\\d{4})(?<Month>\\d\\d)",
        "(?U)a+(?s:.)(?m)^x$",
        "(?i)F-16",
        "(?i)[A-Z]",
        "(?i)Д",
        "\\.\\-\\_\\\\\\Q*?\\E",
        "\\x{2c}",  # a comma: fold leaves punctuation alone
        "д",  # Cyrillic: lower case, no accent
    ],
)
def test_escapes_and_syntax_are_not_letters_to_fold(pattern: str) -> None:
    assert folded_pattern(pattern) is None


@pytest.mark.parametrize(
    "pattern",
    [
        "[A-Za-z]+-\\d+",  # a class with other members
        "[a-zà-ÿ]+",
        "[Kk]yiv|[Kk]iev",
        "attaqu[eé]e?s?",
        "café|cafe",  # another branch can match
        "[^A-Z]",  # holds for every folded letter
        "[^A-Z0-9]+",
        "F?-16",  # optional
        "(F-16)?",
        "\\b(F-16|f-16)\\b",  # inside a group: not read that far
    ],
)
def test_a_pattern_that_can_still_match_folded_text_is_accepted(pattern: str) -> None:
    # Watch files that loaded before this check must keep loading: only a letter every
    # match needs makes a pattern dead.
    assert pattern_fold_problem(pattern, repr) is None
    rules = f"  - id: r\n    title: R\n    match: {{all: [{{regex: '{pattern}'}}]}}\n"
    assert load_watch(HEAD + rules, "watch.yaml").rules


def test_a_negated_class_is_left_as_written_in_a_suggestion() -> None:
    # Folding [^A-Z] would make it [^a-z]: the opposite.
    assert folded_pattern("F[^A-Z]") == "f[^A-Z]"
    assert pattern_fold_problem("F[^A-Z]", repr) is not None


def test_every_suggested_pattern_is_accepted() -> None:
    for pattern in ("F-16", "[A-Z]{2,}", "\\x{C9}t", "（a）", "Straße"):
        fixed = folded_pattern(pattern)
        assert fixed is not None
        assert folded_pattern(fixed) is None


_PATTERN_PIECES = st.sampled_from(
    [
        "a", "A", "é", "É", "ß", "（", "(", ")", "[", "]", "^", "$", ".", "*", "+", "?", "|", "{", "}", "-", ":",
        "\\", "d", "D", "p", "P", "Q", "E", "x", "0", "1", "9", ",", "<", ">", "(?i)", "(?-i)", "(?i:", "(?P<N>",
        "\\Q", "\\E", "[:alpha:]", "\\p{Lu}", "\\x{C9}", "\\101",
    ]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(_PATTERN_PIECES, max_size=12))
@example(["[", "A", "-", "[:alpha:]"])  # a range ending on '[': no POSIX class there, and a-[ is no range
def test_any_pattern_re2_accepts_is_read_and_its_suggestion_needs_no_more(pieces: list[str]) -> None:
    pattern = "".join(pieces)
    try:
        compile_pattern(pattern)
    except ValueError:
        return
    fixed = folded_pattern(pattern)
    if fixed is not None:
        compile_pattern(fixed)
        assert folded_pattern(fixed) is None


def test_an_upper_case_regex_is_refused_naming_rule_line_and_what_to_write() -> None:
    rules = "  - id: jets\n    title: Jets\n    match:\n      all: [{regex: 'F-16'}, Crimea]\n"
    assert problems(rules) == [
        (
            9,
            "rules[0].match.all[0].regex: rule jets: regex 'F-16' never matches: patterns are matched"
            " against lower-case text without accents: write 'f-16'",
        )
    ]


def test_an_accented_regex_in_a_query_is_refused_at_its_column() -> None:
    rules = "  - id: crimea\n    title: Crimea\n    query: 'strike* /crimée/'\n"
    assert problems(rules) == [
        (
            8,
            "rules[0].query: rule crimea: regex /crimée/ never matches: patterns are matched"
            " against lower-case text without accents: write /crimee/ at column 9",
        )
    ]


def test_the_suggestion_for_a_query_keeps_its_slashes_escaped() -> None:
    with pytest.raises(NeverMatchesError) as caught:
        parse_query("/A\\/B/")
    assert caught.value.message.endswith("write /a\\/b/")
    assert caught.value.column == 1


def test_upper_case_under_i_flag_is_accepted_and_matches() -> None:
    rules = "  - id: jets\n    title: Jets\n    match: {all: [{regex: '(?i)F-16'}]}\n"
    assert fires(rules, "Des F-16 pour l'Ukraine")


def test_accents_under_i_flag_are_still_refused() -> None:
    rules = "  - id: r\n    title: R\n    query: '/(?i)Crimée/'\n"
    [(_, message)] = problems(rules)
    assert "write /(?i)Crimee/" in message


def test_the_folded_pattern_matches_what_the_written_one_was_meant_to() -> None:
    rules = "  - id: jets\n    title: Jets\n    match: {all: [{regex: 'f-16'}]}\n"
    assert fires(rules, "Des F-16 pour l'Ukraine")


# ---------------------------------------------------------------- fields a rule does not search


def test_a_field_prefix_outside_the_rules_fields_is_refused_at_its_column() -> None:
    rules = "  - id: austin\n    title: Austin\n    fields: [title]\n    query: 'Belousov OR summary:Austin'\n"
    assert problems(rules) == [
        (
            9,
            "rules[0].query: rule austin: 'summary:' never matches: the rule searches only its fields (title)"
            " at column 13",
        )
    ]


def test_a_field_prefix_inside_another_is_refused() -> None:
    with pytest.raises(NeverMatchesError) as caught:
        parse_query("title:(Austin OR Summary:Belousov)")
    assert (caught.value.message, caught.value.column) == ("'Summary:' never matches inside 'title:'", 18)


def test_a_field_prefix_among_the_rules_fields_is_accepted() -> None:
    assert parse_query("summary:Austin", fields=[Field.TITLE, Field.SUMMARY]) == Scoped(
        Field.SUMMARY, Term("Austin", ("austin",))
    )
    rules = "  - id: r\n    title: R\n    fields: [title, summary]\n    query: 'title:(Austin OR title:Hegseth)'\n"
    assert fires(rules, "Hegseth in Kyiv")


def test_a_group_in_a_field_outside_the_rules_fields_is_refused() -> None:
    rules = "  - id: austin\n    title: Austin\n    fields: [title]\n    match: {in: content, any: [Austin]}\n"
    assert problems(rules) == [
        (9, "rules[0].match.in: rule austin: 'in: content' never matches: the rule searches only its fields (title)")
    ]


def test_a_group_in_a_field_inside_a_group_in_another_is_refused() -> None:
    rules = (
        "  - id: r\n    title: R\n    match:\n      in: title\n      all:\n"
        "        - Austin\n        - {in: summary, any: [Belousov]}\n"
    )
    assert problems(rules) == [(12, "rules[0].match.all[1].in: rule r: 'in: summary' never matches inside 'in: title'")]


# ---------------------------------------------------------------- list entries are terms


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("*lead", "has a '*' before its end: a '*' only ends a prefix (entret*)"),
        ("entr*et", "has a '*' before its end: a '*' only ends a prefix (entret*)"),
        ("a **", "has a '*' before its end: a '*' only ends a prefix (entret*)"),
        ("a *", "has a space before its '*': a prefix is written entret*"),
        ("--", "has no word to match"),
    ],
)
def test_a_list_entry_is_checked_as_a_term(entry: str, problem: str) -> None:
    rules = "  - {id: r, title: R, match: {any: [$contact]}}\n"
    lists = f'lists:\n  contact:\n    - call\n    - "{entry}"\n'
    assert problems(rules, lists) == [(10, f"lists.contact[1]: term {entry!r} {problem}")]


@pytest.mark.parametrize("term", ["*lead", "entr*et", "a **", "a *"])
def test_the_same_term_is_refused_in_a_rule_and_in_a_list(term: str) -> None:
    reason = term_problem(term)
    assert reason is not None
    in_rule = problems(f'  - {{id: r, title: R, match: {{any: [call, "{term}"]}}}}\n')
    in_list = problems("  - {id: r, title: R, match: {any: [$contact]}}\n", f'lists:\n  contact: [call, "{term}"]\n')
    assert (6, f"rules[0].match.any[1]: term {term!r} {reason}") in in_rule
    assert in_list == [(8, f"lists.contact[1]: term {term!r} {reason}")]


def test_a_query_using_a_list_with_a_bad_entry_is_refused() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query("a $contact", {"contact": ["call", "*lead"]})
    assert (
        caught.value.message
        == "list $contact: term '*lead' has a '*' before its end: a '*' only ends a prefix (entret*)"
    )


def test_good_list_entries_still_load() -> None:
    rules = "  - {id: r, title: R, match: {any: [$contact]}}\n"
    lists = 'lists:\n  contact: [entret*, \'"pont de Crim"*\', "s\'entretenir", États-Unis]\n'
    assert load_watch(HEAD + rules + lists).rules[0].id == "r"


# ---------------------------------------------------------------- positions in queries over several lines


def test_a_folded_query_reports_the_line_and_column_in_the_file() -> None:
    rules = (
        "  - id: crimea\n    title: Crimea\n    query: >-\n"
        "      Crimée AND (strike* OR attack*\n"
        "      OR drone*)) NOT war\n"
    )
    # Line 10 is "      OR drone*)) NOT war": the second ')' is its 17th character.
    assert problems(rules) == [(8, "rules[0].query: unexpected ')' at line 10, column 17")]


def test_a_header_comment_and_a_literal_block_do_not_shift_the_position() -> None:
    rules = (
        "  - id: crimea\n    title: Crimea\n    query: |-  # the (strike) query )\n"
        "      Crimée AND\n"
        "        (strike* OR /F-35/)\n"
    )
    [(line, message)] = problems(rules)
    assert (line, message.endswith("write /f-35/ at line 10, column 21")) == (8, True)


def test_a_plain_query_over_two_lines_reports_the_end_where_it_is() -> None:
    rules = "  - id: crimea\n    title: Crimea\n    query: Crimée AND\n      (strike OR\n"
    assert problems(rules) == [(8, "rules[0].query: expected a term after OR at line 9, column 17")]


def test_a_single_quoted_query_over_two_lines_is_traced() -> None:
    rules = "  - id: crimea\n    title: Crimea\n    query: 'Crimée AND\n      strike)'\n"
    assert problems(rules) == [(8, "rules[0].query: unexpected ')' at line 9, column 13")]


def test_a_quoted_query_with_escapes_keeps_the_column_in_the_query() -> None:
    rules = '  - id: crimea\n    title: Crimea\n    query: "\\"Crimée\\" AND\n      strike)"\n'
    assert problems(rules) == [(8, "rules[0].query: unexpected ')' at column 20")]


def test_a_query_on_one_line_keeps_the_column_in_the_query() -> None:
    rules = "  - id: crimea\n    title: Crimea\n    query: '(Crimea AND strike))'\n"
    assert problems(rules) == [(8, "rules[0].query: unexpected ')' at column 20")]


# ---------------------------------------------------------------- stars after no word, and quotes


@pytest.mark.parametrize("term", ["Su-*", "MiG-*", "F-*", '"Su-"*', "l'a-*"])
def test_a_star_after_no_part_of_a_word_is_refused(term: str) -> None:
    # Hyphens split words: "Su-*" would be the prefix su*, which "sur" and "sud" match.
    assert "no part of a word" in (term_problem(term) or "")
    quoted = term.replace('"', '\\"')
    [(line, message)] = problems(f'  - id: r\n    title: R\n    query: "Crimée AND {quoted}"\n')
    assert line == 8 and "no part of a word" in message and message.endswith("at column 12")


@pytest.mark.parametrize(
    "term",
    ["Su-3*", "F-16*", '"pont de Crim"*', '"pont de Crim*"', "«pont de Crim*»", "« pont de Crim* »", "Crime\u0301*"],
)
def test_a_star_after_a_letter_or_digit_is_a_prefix(term: str) -> None:
    assert term_problem(term) is None


@pytest.mark.parametrize("written", ['"pont de Crim*"', '"pont de Crim"*'])
def test_a_prefix_phrase_is_accepted_with_its_star_inside_or_outside_the_quotes(written: str) -> None:
    quoted = written.replace('"', '\\"')
    rules = f'  - id: r\n    title: R\n    match: {{any: ["{quoted}"]}}\n'
    lists = f'lists:\n  places: ["{quoted}"]\n'
    assert fires(rules, "Explosions sur le pont de Crimée")
    assert not fires(rules, "Le pont de Brooklyn")
    listed = "  - id: r\n    title: R\n    query: $places\n"
    assert load_watch(HEAD + listed + lists, "watch.yaml").rules


@pytest.mark.parametrize(
    "phrase", ["«guerre de Crimée»", "« guerre de Crimée »", "“guerre de Crimée”", "„guerre de Crimée“"]
)
def test_guillemets_and_curly_quotes_make_a_phrase_in_a_query(phrase: str) -> None:
    # Pasted from a word processor or typed the French way: the same phrase as "…".
    rules = f"  - id: r\n    title: R\n    query: 'Crimée NOT {phrase}'\n"
    assert fires(rules, "Crimée : la guerre des drones s'intensifie")  # "guerre" alone is no exclusion
    assert not fires(rules, "Il y a 170 ans, la guerre de Crimée")


def test_an_unclosed_guillemet_names_the_one_it_needs() -> None:
    with pytest.raises(QuerySyntaxError, match=r"unclosed quote: « needs its » at column 8"):
        parse_query("Crimée « guerre")


@pytest.mark.parametrize(
    ("subscriber", "hint"),
    [
        ("{id: desk, sms: +33612345678}", 'write the number in quotes, "+33612345678"'),
        (
            "{id: desk, email: d@example.org, quiet_hours: {from: 22:00, to: '07:00'}}",
            'YAML reads 22:00 as a number; write it in quotes, "22:00"',
        ),
        (
            "{id: desk, email: d@example.org, delivery: digest, digest: {every: daily, at: 8}}",
            'write a time in quotes, "08:00"',
        ),
    ],
)
def test_a_time_or_phone_number_yaml_read_as_a_number_is_explained_with_its_quoted_form(
    subscriber: str, hint: str
) -> None:
    text = (
        "feeds:\n  - {id: wire, url: 'https://example.org/rss.xml'}\n"
        f"subscribers:\n  - {subscriber}\n"
        "rules:\n  - {id: r, title: R, query: Crimée, notify: [desk]}\n"
    )
    with pytest.raises(RulesError) as caught:
        load_watch(text, "watch.yaml")
    assert [problem.message.endswith(hint) for problem in caught.value.problems] == [True]


def test_a_choice_within_a_setting_of_two_forms_names_the_choices() -> None:
    # stem: true, or a list of languages: "not valid under any of the given schemas" said nothing.
    [(line, message)] = problems("  - id: r\n    title: R\n    stem: [de]\n    query: Crimée\n")
    assert (line, message) == (8, "rules[0].stem[0]: 'de' is not one of en, fr")
