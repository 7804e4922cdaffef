"""Watch files: the schema, the example, valid files, and every invalid file located by line."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from typing import TYPE_CHECKING

import jsonschema
import pytest

from wirewatch.core.errors import RulesError
from wirewatch.core.model import ALL_FIELDS, Field, Group, Severity, Term
from wirewatch.core.watchfile import compile_group, compile_term, load_watch, parse_duration, schema

from .helpers import EXAMPLE_WATCH, ROOT, RULE_FIXTURES

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SCHEMA = ROOT / "schemas" / "watch.schema.json"
PACKAGED_SCHEMA = ROOT / "functions" / "wirewatch" / "core" / "_schema" / "watch.schema.json"
INVALID = sorted((RULE_FIXTURES / "invalid").rglob("*.yaml"))
VALID = sorted((RULE_FIXTURES / "valid").rglob("*.yaml"))
_EXPECT = re.compile(r"^# expect-error: (\d+): (.+)$")


def expectations(path: Path) -> list[tuple[int, str]]:
    """The ``# expect-error: <line>: <substring>`` header lines of a fixture."""
    found = []
    for line in path.read_text("utf-8").splitlines():
        if match := _EXPECT.match(line):
            found.append((int(match.group(1)), match.group(2).strip()))
    return found


def rules_error(text: str, source: str = "watch.yaml") -> RulesError:
    with pytest.raises(RulesError) as caught:
        load_watch(text, source=source)
    return caught.value


MINIMAL = """\
feeds:
  - {id: wire, url: "https://example.org/rss.xml"}
rules:
  - {id: crimea, title: Crimea, match: {any: [Crimea]}}
subscribers:
  - {id: desk, email: desk@example.org}
"""

# ---------------------------------------------------------------- schema and example


def test_packaged_schema_is_a_byte_copy_of_the_published_one() -> None:
    assert PACKAGED_SCHEMA.read_bytes() == SCHEMA.read_bytes()


def test_loaded_schema_is_the_published_schema() -> None:
    assert schema() == json.loads(SCHEMA.read_text("utf-8"))


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    document = json.loads(SCHEMA.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def properties(node: object, where: str = "") -> Iterator[tuple[str, dict[str, object]]]:
    """Every property an object of the schema declares, with where it is."""
    if isinstance(node, dict):
        for name, spec in node.get("properties", {}).items():
            yield f"{where}/properties/{name}", spec
        for key, child in node.items():
            yield from properties(child, f"{where}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from properties(child, f"{where}/{index}")


def test_every_property_of_the_schema_has_its_own_description() -> None:
    # Editors show a property's own description as help; one only on a $ref'd definition is not always shown.
    document = json.loads(SCHEMA.read_text("utf-8"))
    declared = list(properties(document))
    assert len(declared) > 50  # the walk reaches nested objects and $defs
    assert [where for where, spec in declared if not spec.get("description")] == []


def test_example_watch_file_points_editors_at_the_schema() -> None:
    first_line = EXAMPLE_WATCH.read_text("utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first_line)
    assert match, first_line
    reference = match.group(1)
    # Editors resolve it next to the file as opened (examples/) and, for the link, as stored (functions/).
    for directory in {EXAMPLE_WATCH.parent, EXAMPLE_WATCH.resolve().parent}:
        target = directory / reference
        assert target.is_file(), target
        assert target.samefile(SCHEMA)


def test_example_watch_file_is_valid() -> None:
    config = load_watch(EXAMPLE_WATCH.read_text("utf-8"), source=str(EXAMPLE_WATCH))
    assert config.source == str(EXAMPLE_WATCH)
    assert [rule.id for rule in config.rules] == ["defense-minister-contact", "crimea-strike"]
    assert {rule.id: rule.severity for rule in config.rules} == {
        "defense-minister-contact": Severity.HIGH,
        "crimea-strike": Severity.CRITICAL,
    }
    assert [(s.id, s.protocol) for s in config.subscribers] == [
        ("security-desk", "email"),
        ("duty-officer", "email"),
        ("duty-phone", "sms"),
        ("analyst", "email"),
    ]
    officer, phone, analyst = config.subscribers[1:]
    assert officer.quiet_hours is not None and officer.timezone == "Europe/Paris"
    assert phone.sms_budget is not None and phone.sms_budget.per_hour == 5
    assert (analyst.mode, analyst.digest.every, analyst.rules) == ("digest", "daily", ("*",))
    assert config.settings.fold_window == timedelta(hours=24)
    assert config.settings.arming_max_age == timedelta(hours=24)
    assert config.settings.story_window == timedelta(hours=48)
    assert config.feed("sciencesetavenir-espace").poll_every == timedelta(minutes=30)
    assert config.feed("meduza-scraped").lang == "ru"


def test_example_watch_file_names_a_feed_for_every_bundled_sample() -> None:
    config = load_watch(EXAMPLE_WATCH.read_text("utf-8"), source=str(EXAMPLE_WATCH))
    samples = {path.name.split(".", 1)[0] for path in (ROOT / "examples" / "feeds").iterdir()}
    assert samples == {feed.id for feed in config.feeds}


# ---------------------------------------------------------------- valid files


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture_loads(path: Path) -> None:
    config = load_watch(path.read_text("utf-8"), source=str(path))
    assert config.rules
    assert config.feeds


def test_minimal_file_gets_the_defaults() -> None:
    config = load_watch((RULE_FIXTURES / "valid" / "minimal.yaml").read_text("utf-8"))
    (rule,) = config.rules
    assert rule.severity is Severity.MEDIUM
    assert rule.fields == ALL_FIELDS
    assert rule.feeds == frozenset()
    assert rule.tags == frozenset()
    assert rule.condition == Group("any", (Term("Crimée", ("crimee",)),))
    (subscriber,) = config.subscribers
    assert subscriber.min_severity is Severity.LOW
    assert config.rules_for_subscriber(subscriber) == ("crimea",)
    assert config.settings.arming_max_age == timedelta(hours=24)
    assert config.settings.story_window == timedelta(hours=48)
    assert config.feeds[0].poll_every is None
    assert config.feeds[0].lang is None


def test_full_file_builds_every_option() -> None:
    path = RULE_FIXTURES / "valid" / "full.yaml"
    config = load_watch(path.read_text("utf-8"), source=str(path))
    assert config.settings.arming_max_age == timedelta(days=2)
    assert config.settings.story_window == timedelta(hours=36)
    wire_fr = config.feed("wire-fr")
    assert wire_fr.tags == frozenset({"wire", "fr"})
    assert wire_fr.poll_every == timedelta(minutes=15)
    assert wire_fr.lang == "fr-FR"
    assert wire_fr.url == "https://example.org/fr/rss.xml?section=monde"

    call, kerch = config.rules
    assert call.severity is Severity.CRITICAL
    assert call.fields == (Field.TITLE, Field.SUMMARY)
    assert call.feeds == frozenset({"wire-fr"})
    assert call.tags == frozenset({"en"})
    assert call.notify == ("desk", "phone")
    # "all" and "none" side by side: both must hold.
    assert call.condition.op == "all"
    assert [child.op for child in call.condition.children if isinstance(child, Group)] == ["all", "none"]
    contact = call.condition.children[0].children[2]  # type: ignore[union-attr]
    assert isinstance(contact, Group)
    assert contact.children == (
        Term("entret*", ("entret",), prefix=True),
        Term("se sont parl*", ("se", "sont", "parl"), prefix=True),  # the quotes were YAML's
        Term("s'entretenir", ("entretenir",)),
        Term("jusqu’à", ("a",)),
        Term("appel*", ("appel",), prefix=True),
    )
    assert kerch.severity is Severity.LOW

    desk, phone, archive = config.subscribers
    assert (desk.protocol, desk.endpoint, desk.min_severity) == (
        "email",
        "Security.Desk+alerts@example.org",
        Severity.MEDIUM,
    )
    assert (phone.protocol, phone.endpoint, phone.min_severity) == ("sms", "+33612345678", Severity.CRITICAL)
    assert config.rules_for_subscriber(desk) == ("defense_call",)
    assert config.rules_for_subscriber(archive) == ("defense_call", "low-noise")


def test_yaml_anchors_and_aliases_are_allowed() -> None:
    text = MINIMAL.replace(
        "  - {id: crimea, title: Crimea, match: {any: [Crimea]}}",
        "  - {id: crimea, title: Crimea, match: {any: &places [Crimea, Kerch]}}\n"
        "  - {id: crimea-2, title: Crimea again, match: {any: *places}}",
    )
    config = load_watch(text)
    assert config.rules[0].condition == config.rules[1].condition


# ---------------------------------------------------------------- invalid files


def test_every_invalid_fixture_states_its_expected_errors() -> None:
    assert len(INVALID) >= 15
    missing = [path.name for path in INVALID if not expectations(path)]
    assert missing == []


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_is_refused_with_its_problems_located(path: Path) -> None:
    error = rules_error(path.read_text("utf-8"), source=str(path))
    reported = [(problem.line, problem.message) for problem in error.problems]
    for line, substring in expectations(path):
        assert any(line == at and substring in message for at, message in reported), (
            f"expected line {line}: {substring!r} among {reported}"
        )
    assert str(error).startswith(str(path))
    assert all(problem.source == str(path) for problem in error.problems)
    assert all(text.startswith(f"{path}:") for text in str(error).splitlines())


def test_problems_are_listed_by_line() -> None:
    error = rules_error((RULE_FIXTURES / "invalid" / "bad-values.yaml").read_text("utf-8"))
    lines = [problem.line or 0 for problem in error.problems]
    assert lines == sorted(lines)
    assert len(lines) >= 6  # every problem at once, not the first one only


@pytest.mark.parametrize("text", ["", "\n\n", "   \n", "# nothing but a comment\n"])
def test_empty_file_is_refused(text: str) -> None:
    error = rules_error(text, source="empty.yaml")
    assert [(p.line, p.message) for p in error.problems] == [(1, "the file is empty")]
    assert str(error) == "empty.yaml:1: the file is empty"


def test_explicitly_empty_document_is_refused() -> None:
    for text in ("---\n", "null\n", "~\n"):
        error = rules_error(text)
        assert len(error.problems) == 1
        assert error.problems[0].message.startswith("top level: expected object")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- feeds\n- rules\n", "top level: expected object, got list"),
        ("just a sentence\n", "top level: expected object, got str"),
    ],
)
def test_top_level_must_be_a_mapping(text: str, expected: str) -> None:
    error = rules_error(text)
    assert [(p.line, p.message[: len(expected)]) for p in error.problems] == [(1, expected)]


def test_unclosed_quote_is_invalid_yaml() -> None:
    path = RULE_FIXTURES / "invalid" / "unclosed-quote.yaml"
    error = rules_error(path.read_text("utf-8"), source=str(path))
    assert len(error.problems) == 1
    assert error.problems[0].message.startswith("invalid YAML:")
    assert str(error).startswith(f"{path}:")


def test_unclosed_quote_is_located_where_the_quote_opens() -> None:
    error = rules_error((RULE_FIXTURES / "invalid" / "unclosed-quote.yaml").read_text("utf-8"))
    assert [p.line for p in error.problems] == [8]


_RULES_HEAD = (
    'feeds:\n  - {id: wire, url: "https://example.org/rss.xml"}\n'
    "subscribers:\n  - {id: desk, email: desk@example.org}\nrules:\n"
)  # rules from line 6


@pytest.mark.parametrize(
    ("rules", "line", "hint"),
    [
        # A quoted value may run over lines: the quote left open shows up at the next one.
        (
            '  - id: r\n    title: "Désinformation russe\n    query: Crimée\n  - id: s\n    title: "S"\n',
            7,
            "a quote opened on this line is not closed on it",
        ),
        (
            '  - id: r\n    title: "Crimea #1 watch"\n    query: Crimée\n  - id: s\n    title: "S\n    query: x\n'
            '  - id: t\n    title: "T"\n',
            10,
            "a quote opened on this line is not closed on it",
        ),
        ("  - id: r\n\ttitle: R\n", 7, "indent with spaces, YAML takes no tabs"),
        (
            "  - id: r\n    title: R\n    match: {any: [*ingérence]}\n",
            8,
            "a value starting with '*' or '&' must be quoted",
        ),
        ("  - id: r\n    title: R\n   query: Crimée\n", 8, "check the indentation of this line and the one before"),
    ],
)
def test_yaml_mistakes_are_located_with_what_to_fix(rules: str, line: int, hint: str) -> None:
    [problem] = rules_error(_RULES_HEAD + rules).problems
    assert problem.line == line
    assert hint in problem.message


def test_a_quoted_value_over_two_lines_is_fine() -> None:
    text = (
        _RULES_HEAD
        + '  - id: r\n    title: "Une valeur\n      sur deux lignes"\n    query: Crimée\n    notify: [desk]\n'
    )
    assert load_watch(text).rules[0].title == "Une valeur sur deux lignes"


def test_python_tags_are_refused_not_executed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(os, "system", lambda command: calls.append(command) or 0)
    text = MINIMAL.replace(
        '  - {id: wire, url: "https://example.org/rss.xml"}',
        '  - {id: wire, url: !!python/object/apply:os.system ["echo owned"]}',
    )
    error = rules_error(text)
    assert calls == []
    assert [p.line for p in error.problems] == [2]
    assert "python/object/apply:os.system" in error.problems[0].message


@pytest.mark.parametrize(
    "tagged", ["!!python/object:collections.OrderedDict {}", "!!python/name:os.system", "!!binary aGVsbG8="]
)
def test_non_json_yaml_types_are_refused(tagged: str) -> None:
    text = MINIMAL.replace("title: Crimea,", f"title: {tagged},")
    with pytest.raises(RulesError):
        load_watch(text)


def test_yaml_booleans_are_not_taken_for_terms() -> None:
    # YAML 1.1 reads an unquoted yes/no as a boolean; the author must hear about it.
    error = rules_error(MINIMAL.replace("any: [Crimea]", "any: [Crimea, no]"))
    assert [(p.line, p.message) for p in error.problems] == [
        (4, "rules[0].match.any[1]: expected a term (text) or a group with all/any/none, got False"),
    ]


def test_duplicate_key_in_a_flow_mapping_is_refused() -> None:
    error = rules_error(MINIMAL.replace("{id: desk, email:", "{id: desk, id: other, email:"))
    assert [(p.line, p.message) for p in error.problems] == [(6, "duplicate key 'id'")]


@pytest.mark.parametrize("extra", ["    on: 1\n    foo: 2\n", "    1: a\n    foo: 2\n"])
def test_unknown_keys_of_mixed_types_are_reported(extra: str) -> None:
    text = MINIMAL.replace(
        "  - {id: crimea, title: Crimea, match: {any: [Crimea]}}\n",
        "  - id: crimea\n    title: Crimea\n    match: {any: [Crimea]}\n" + extra,
    )
    error = rules_error(text)
    assert any("unknown key" in p.message and "foo" in p.message for p in error.problems)


# ---------------------------------------------------------------- building blocks


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Crimée", Term("Crimée", ("crimee",))),
        ("entret*", Term("entret*", ("entret",), prefix=True)),
        ('"chef du Pentagone"', Term('"chef du Pentagone"', ("chef", "du", "pentagone"))),
        ("chef du Pentagone", Term("chef du Pentagone", ("chef", "du", "pentagone"))),
        ("se sont entret*", Term("se sont entret*", ("se", "sont", "entret"), prefix=True)),
        ("  États-Unis  ", Term("États-Unis", ("etats", "unis"))),
        ("l’attaque", Term("l’attaque", ("attaque",))),
    ],
)
def test_compile_term(text: str, expected: Term) -> None:
    assert compile_term(text) == expected


def test_compile_group_with_several_keys_means_all_of_them() -> None:
    group = compile_group({"any": ["Crimea"], "none": ["Crimean War"]})
    assert group == Group(
        "all",
        (
            Group("any", (Term("Crimea", ("crimea",)),)),
            Group("none", (Term("Crimean War", ("crimean", "war")),)),
        ),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("3650d", timedelta(days=3650)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0m", "90s", "1w", "h", "24 h", "-1d", "1.5h", ""])
def test_parse_duration_refuses_other_forms(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_a_subscriber_with_email_and_sms_is_two_channels_with_their_own_settings() -> None:
    text = (
        "feeds: [{id: wire, url: 'https://example.org/rss.xml'}]\n"
        "rules: [{id: crimea, title: Crimea, match: {any: [Crimea]}}]\n"
        "subscribers:\n"
        "  - id: duty\n"
        "    email: duty@example.org\n"
        '    sms: "+33612345678"\n'
        "    rules: ['*']\n"
        "    min_severity: {email: low, sms: critical}\n"
        "    delivery: {email: digest}\n"
        "    sms_budget: {per_day: 3}\n"
    )
    email, sms = load_watch(text).subscribers

    assert (email.recipient, email.min_severity, email.mode, email.sms_budget) == (
        "duty/email",
        Severity.LOW,
        "digest",
        None,
    )
    assert (sms.recipient, sms.min_severity, sms.mode) == ("duty/sms", Severity.CRITICAL, "immediate")
    assert sms.sms_budget is not None and sms.sms_budget.per_day == 3


@pytest.mark.parametrize("depth", [100, 3000])
def test_groups_nested_too_deeply_are_a_problem_not_a_crash(depth: int) -> None:
    # The schema's validator and YAML's composer both recurse: deep enough, either would
    # exhaust the stack, and an upload from S3 would fail every tick instead of being refused.
    match = "Crimea"
    for _ in range(depth):
        match = "{all: [" + match + "]}"
    error = rules_error(MINIMAL.replace("match: {any: [Crimea]}", f"match: {match}"))
    assert "nested too deeply: at most 64 groups one inside another" in str(error)


def test_sixty_four_nested_groups_are_fine() -> None:
    match = "Crimea"
    for _ in range(64):
        match = "{all: [" + match + "]}"
    load_watch(MINIMAL.replace("match: {any: [Crimea]}", f"match: {match}"))


def test_a_rule_title_of_spaces_only_is_refused() -> None:
    # An SMS shows the title before the headline: a blank one leaves the link alone.
    assert "title" in str(rules_error(MINIMAL.replace("title: Crimea", 'title: "  "')))
