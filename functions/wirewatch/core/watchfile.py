"""Watch file (YAML) → validated ``WatchConfig``; every problem located by file and line.

The JSON Schema in ``schemas/`` is the single source of the format; this module
adds what a schema cannot say (unique ids, references between sections, real
phone numbers and mailboxes) and builds the model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import time, timedelta
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from wirewatch.core.conditions import compile_condition, compile_rule_condition, condition_problems
from wirewatch.core.errors import Problem, RulesError
from wirewatch.core.model import (
    ALL_FIELDS,
    DigestSchedule,
    FeedSource,
    Field,
    QuietHours,
    Rule,
    RuleExamples,
    Severity,
    SmsBudget,
    Subscriber,
    WatchConfig,
    WatchSettings,
)
from wirewatch.core.terms import compile_term, term_problem  # noqa: F401 - callers import compile_term from here

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    import jsonschema

    from wirewatch.core.conditions import Locate
    from wirewatch.core.model import Node

Path = tuple[str | int, ...]

_DURATION = re.compile(r"^([1-9][0-9]*)(m|h|d)$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The packaged copy of ``schemas/watch.schema.json``."""
    text = resources.files("wirewatch.core").joinpath("_schema/watch.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def parse_duration(text: str) -> timedelta:
    """``30m``, ``24h`` or ``7d`` as a timedelta.

    Raises:
        ValueError: the text is not such a duration.
    """
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30m, 24h, 7d)")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def load_watch(text: str, source: str = "<watch>") -> WatchConfig:
    """Parse, validate and build a watch file.

    Raises:
        RulesError: with every problem found, each naming ``source`` and a line.
    """
    document, data = _parse_yaml(text, source)
    lines = document.lines
    # Several schema keywords can say the same thing about one place: say it once.
    problems = list(
        dict.fromkeys(
            Problem(source, _line_of(lines, path), message)
            for path, message in [*_schema_problems(data), *_semantic_problems(data, document.locate)]
        )
    )
    if not problems:
        config = _build(data, source)
        problems = [Problem(source, _line_of(lines, path), message) for path, message in example_problems(config)]
        if not problems:
            return config
    raise RulesError(sorted(problems, key=lambda p: (p.line or 0, p.message)))


def load_watch_bytes(data: bytes, source: str = "<watch>") -> WatchConfig:
    """``load_watch`` of a file's bytes, which must be UTF-8 (YAML's own encoding).

    Decoded strictly: a file saved in Latin-1 would otherwise load with every accented
    term garbled, and its rules go quiet while its examples, garbled alike, still pass.

    Raises:
        RulesError: the bytes are not UTF-8, or what ``load_watch`` raises.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}): save the file as UTF-8"
        raise RulesError([Problem(source, line, message)]) from exc
    return load_watch(text, source)


# ---------------------------------------------------------------- YAML with line numbers

# libyaml when PyYAML was built with it (its wheels are): ten times faster on a watch
# file of a thousand feeds, which a cold start reads; same safe constructor, same marks.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class _Document:
    """Where each part of the YAML document is in the file."""

    text: str
    lines: dict[Path, int] = field(default_factory=dict)  # line of each key and value
    # Strings spread over several lines (a query written with >-): a column in the
    # loaded string is no column of the file there.
    spread: dict[Path, yaml.ScalarNode] = field(default_factory=dict)

    def locate(self, path: Path, offset: int) -> tuple[int, int] | None:
        """The (line, column) in the file of character ``offset`` of the string at ``path``,
        or of the place just after the last character before it when it is white space
        or the end; None when the string is on one line or cannot be traced.

        Folding and chomping only change white space, so the string's other characters
        are the source's between the scalar's marks, in order: the n-th of them in the
        string is the n-th in the source. A quoted string with escapes ('' or a
        backslash) differs from its source and is not traced.
        """
        node = self.spread.get(path)
        if node is None:
            return None
        start, end = node.start_mark.index, node.end_mark.index
        if node.style in ("|", ">"):
            start = _next_line(self.text, start)  # past the header, which may hold a comment
        elif node.style in ("'", '"'):
            start, end = start + 1, end - 1
        written = [index for index in range(start, end) if not self.text[index].isspace()]
        value: str = node.value
        if [self.text[index] for index in written] != [char for char in value if not char.isspace()]:
            return None
        before = sum(not char.isspace() for char in value[:offset])
        if offset < len(value) and not value[offset].isspace():
            index = written[before]
        else:
            index = written[before - 1] + 1 if before else start
        line_start = self.text.rfind("\n", 0, index) + 1
        return self.text.count("\n", 0, index) + 1, index - line_start + 1


def _next_line(text: str, index: int) -> int:
    found = text.find("\n", index)
    return len(text) if found < 0 else found + 1


def _parse_yaml(text: str, source: str) -> tuple[_Document, Any]:
    try:
        root, data = _compose(text, source)
    except RecursionError:  # PyYAML's composer recurses too, a level per nesting
        message = f"nested too deeply: at most {MAX_GROUP_DEPTH} groups one inside another"
        raise RulesError([Problem(source, None, message)]) from None
    if root is None:
        raise RulesError([Problem(source, 1, "the file is empty")])
    document = _Document(text)
    duplicates: list[Problem] = []
    _index(root, (), document, duplicates, source)
    if duplicates:
        raise RulesError(duplicates)
    return document, data


def _compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    try:
        return _compose_and_load(text, _LOADER)
    except yaml.YAMLError:
        # libyaml says less about what it found ("did not find expected ','"); the
        # pure-Python parser says more ("expected ',' or ']', but got '}'"), and
        # errors are rare enough to parse twice.
        try:
            return _compose_and_load(text, yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            raise RulesError([_yaml_problem(exc, source, text)]) from exc
        except yaml.YAMLError as exc:
            raise RulesError([Problem(source, None, f"invalid YAML: {exc}")]) from exc


def _compose_and_load(text: str, loader_class: Any) -> tuple[yaml.Node | None, Any]:
    """The node tree (for lines) and the data built from it, in one parse."""
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.MarkedYAMLError, source: str, text: str) -> Problem:
    """Locate a YAML syntax error where the reader can fix it, with a hint at the usual causes.

    "found unexpected end of stream" is reported at the end of the file; the
    quote or bracket left open (the context) is the line that needs the fix. A
    quoted value may run over several lines, so a quote left open shows up lines
    later: the first line before the error with a quote it does not close is named.
    """
    reason = exc.problem or "invalid YAML"
    mark = exc.problem_mark
    if exc.context_mark is not None and (mark is None or "end of stream" in reason):
        mark = exc.context_mark
    if exc.context:
        opened = f" (line {exc.context_mark.line + 1})" if exc.context_mark is not None else ""
        reason = f"{reason} {exc.context}{opened}"
    line = mark.line + 1 if mark is not None else None
    # What a quote left open leads to: a scalar running into the next keys, or to the end.
    unclosed = _unclosed_quote(text, line) if "scalar" in reason or "end of stream" in reason else None
    if unclosed is not None:
        return Problem(source, unclosed, f"invalid YAML: a quote opened on this line is not closed on it ({reason})")
    if "'\\t'" in reason:
        reason += ": indent with spaces, YAML takes no tabs"
    elif "alias" in reason or "anchor" in reason:
        reason += ": a value starting with '*' or '&' must be quoted ('*lead' is refused anyway: a '*' ends a prefix)"
    elif "expected <block end>" in reason or "mapping values are not allowed" in reason:
        reason += ": check the indentation of this line and the one before"
    return Problem(source, line, f"invalid YAML: {reason}")


_OPENING_QUOTE = re.compile(r"""(?:^|[:\-\[{,]\s)\s*(["'])""")


def _unclosed_quote(text: str, before: int | None) -> int | None:
    """The first line up to ``before`` whose quoted value (opened after ``key:``, ``-``, ``[``
    or ``,``) is not closed on that line; None if every line closes its quotes."""
    for number, line in enumerate(text.splitlines()[: before or None], start=1):
        code = line  # a '#' inside quotes is no comment: comments are left in
        for opened in _OPENING_QUOTE.finditer(code):
            quote, rest = opened.group(1), code[opened.end() :]
            closing = rest.replace("\\\\", "").replace('\\"', "") if quote == '"' else rest.replace("''", "")
            if quote not in closing:
                return number
    return None


# Groups nested in one another, as in a query's parentheses (query.MAX_DEPTH): each group is
# two steps of a path (its operator, then a child's index). Deeper is a mistake, and the
# schema's validator, which recurses, would exhaust the stack before saying so.
MAX_GROUP_DEPTH = 64
_MAX_PATH = 2 * MAX_GROUP_DEPTH + 8


def _index(node: yaml.Node, path: Path, document: _Document, duplicates: list[Problem], source: str) -> None:
    lines = document.lines
    lines.setdefault(path, node.start_mark.line + 1)
    if len(path) > _MAX_PATH:
        message = f"nested too deeply: at most {MAX_GROUP_DEPTH} groups one inside another"
        raise RulesError([Problem(source, node.start_mark.line + 1, message)])
    if isinstance(node, yaml.ScalarNode) and (node.style in ("|", ">") or node.end_mark.line > node.start_mark.line):
        document.spread[path] = node
    elif isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                # PyYAML keeps the last value silently; a rule edited twice must not half-apply.
                duplicates.append(Problem(source, key_node.start_mark.line + 1, f"duplicate key {key!r}"))
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _index(value_node, (*path, key), document, duplicates, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _index(child, (*path, index), document, duplicates, source)


def _line_of(lines: dict[Path, int], path: Path) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _where(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "top level"


# ---------------------------------------------------------------- schema


def _schema_problems(data: Any) -> Iterator[tuple[Path, str]]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        yield from _describe(error)


def _describe(error: jsonschema.ValidationError) -> Iterator[tuple[Path, str]]:
    path: Path = tuple(error.absolute_path)
    where = _where(path)
    rule: dict[str, Any] = dict(error.schema) if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(rule.get("properties", {}))
        for key in sorted(set(error.instance) - set(allowed), key=str):
            yield (*path, key), f"unknown key {key!r} in {where} (allowed: {', '.join(allowed)})"
    elif error.validator == "anyOf" and path and path[-2:-1] in {("all",), ("any",), ("none",)}:
        yield path, f"{where}: expected a term (text) or a group with all/any/none, got {error.instance!r}"
    elif error.validator == "anyOf" and isinstance(error.instance, dict) and path[:1] == ("subscribers",):
        yield path, f"{where}: a subscriber needs 'email', 'sms' or both"
    elif error.validator == "oneOf" and isinstance(error.instance, str) and _enum_choice(rule):
        yield path, f"{where}: {error.instance!r} is not one of {', '.join(_enum_choice(rule))}"
    elif error.validator == "oneOf" and isinstance(error.instance, dict) and path[:1] == ("rules",) and len(path) == 2:
        yield path, f"{where}: a rule needs exactly one of 'match' or 'query'"
    elif error.validator in {"anyOf", "minProperties"} and isinstance(error.instance, dict) and "match" in path:
        yield path, f"{where}: a group needs 'all', 'any' or 'none' (got {sorted(error.instance) or 'nothing'})"
    elif error.validator in {"anyOf", "oneOf"} and error.context:
        # "['de'] is not valid under any of the given schemas" says nothing: say what the
        # closest alternative wanted ("'de' is not one of ['en', 'fr']").
        # The alternative of the value's own type, where it went deepest.
        of_its_type = [e for e in error.context if e.validator != "type"] or list(error.context)
        yield from _describe(max(of_its_type, key=lambda e: len(e.absolute_path)))
    elif error.validator == "enum":
        choices = ", ".join(map(str, rule.get("enum", [])))
        yield path, f"{where}: {error.instance!r} is not one of {choices}"
    elif error.validator == "pattern":
        hint = rule.get("description", f"must match {error.validator_value}")
        yield path, f"{where}: {error.instance!r} is not valid here ({hint})"
    elif error.validator == "type":
        got = f"{type(error.instance).__name__} {error.instance!r}"
        yield path, f"{where}: expected {error.validator_value}, got {got}{_quote_hint(path, error)}"
    else:
        yield path, f"{where}: {error.message}"


def _quote_hint(path: Path, error: jsonschema.ValidationError) -> str:
    """What to write where YAML read a time or a phone number as a number: the quoted text.

    YAML 1.1 reads ``22:00`` as 1320 (base 60) and ``+33612345678`` as an integer.
    """
    value, field = error.instance, path[-1] if path else ""
    if error.validator_value != "string" or isinstance(value, bool) or not isinstance(value, int):
        return ""
    if field in {"from", "to", "at"} and 0 <= value < 24:
        return f': write a time in quotes, "{value:02d}:00"'
    if field in {"from", "to", "at"} and 0 <= value < 24 * 60:
        return f': YAML reads 22:00 as a number; write it in quotes, "{value // 60:02d}:{value % 60:02d}"'
    if field == "sms":
        return f': write the number in quotes, "+{value}"'
    return f': write it in quotes, "{value}"'


def _enum_choice(rule: dict[str, Any]) -> list[str]:
    """The choices of a "one value, or one per channel" setting given a bad single value."""
    return [str(value) for option in rule.get("oneOf", []) for value in option.get("enum", [])]


# ---------------------------------------------------------------- what a schema cannot say


def _semantic_problems(data: Any, locate: Locate) -> Iterator[tuple[Path, str]]:
    if not isinstance(data, dict):
        return
    sections = {name: _entries(data.get(name)) for name in ("feeds", "rules", "subscribers")}
    ids: dict[str, set[str]] = {}
    for name, entries in sections.items():
        ids[name] = set()
        for index, entry in entries:
            entry_id = entry.get("id")
            if isinstance(entry_id, str):
                if entry_id in ids[name]:
                    yield (name, index, "id"), f"duplicate {name[:-1]} id {entry_id!r}"
                ids[name].add(entry_id)
    feed_tags = {tag for _, feed in sections["feeds"] for tag in feed.get("tags", []) if isinstance(tag, str)}
    raw_lists = data.get("lists")
    lists: dict[str, Any] = raw_lists if isinstance(raw_lists, dict) else {}
    for name, terms in lists.items():
        for index, term in enumerate(terms if isinstance(terms, list) else []):
            if isinstance(term, str) and term.strip().startswith("$"):
                yield ("lists", name, index), f"lists.{name}[{index}]: a list holds terms, not other lists ({term!r})"
            elif isinstance(term, str) and (problem := term_problem(term)):
                yield ("lists", name, index), f"lists.{name}[{index}]: term {term!r} {problem}"
    for index, rule in sections["rules"]:
        yield from _reference_problems(("rules", index, "notify"), rule.get("notify"), ids["subscribers"], "subscriber")
        yield from _reference_problems(("rules", index, "feeds"), rule.get("feeds"), ids["feeds"], "feed")
        yield from _reference_problems(("rules", index, "tags"), rule.get("tags"), feed_tags, "feed tag")
        yield from condition_problems(("rules", index), rule, lists, locate)
    for index, subscriber in sections["subscribers"]:
        wanted = [r for r in subscriber.get("rules", []) if r != "*"]
        yield from _reference_problems(("subscribers", index, "rules"), wanted, ids["rules"], "rule")
        yield from _contact_problems(("subscribers", index), subscriber)
        yield from _timezone_problems(("subscribers", index, "timezone"), subscriber.get("timezone"))


def _entries(section: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(section, list):
        return []
    return [(i, entry) for i, entry in enumerate(section) if isinstance(entry, dict)]


def _reference_problems(path: Path, values: Any, known: set[str], kind: str) -> Iterator[tuple[Path, str]]:
    if not isinstance(values, list):
        return
    for index, value in enumerate(values):
        if isinstance(value, str) and value not in known:
            yield (*path, index), f"{_where(path)}: no {kind} {value!r} is defined"


def _timezone_problems(path: Path, name: Any) -> Iterator[tuple[Path, str]]:
    if not isinstance(name, str):
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        yield path, f"{_where(path)}: unknown time zone {name!r} (an IANA name such as Europe/Paris)"


def _contact_problems(path: Path, subscriber: dict[str, Any]) -> Iterator[tuple[Path, str]]:
    email = subscriber.get("email")
    if isinstance(email, str):
        import email_validator

        try:
            email_validator.validate_email(email, check_deliverability=False)
        except email_validator.EmailNotValidError as exc:
            # The address itself stays out of the message: it may end up in logs.
            yield (*path, "email"), f"{_where(path)}.email: invalid email address ({exc})"
    sms = subscriber.get("sms")
    # A number not in E.164 form at all is the schema's to report, with its example.
    if isinstance(sms, str) and re.fullmatch(r"\+[1-9][0-9]{6,14}", sms):
        import phonenumbers

        try:
            valid = phonenumbers.is_valid_number(phonenumbers.parse(sms, None))
        except phonenumbers.NumberParseException:
            valid = False
        if not valid:
            yield (*path, "sms"), f"{_where(path)}.sms: no such number (country code, then the national number)"


# ---------------------------------------------------------------- model


def compile_group(spec: dict[str, Any], lists: Mapping[str, Sequence[str]] | None = None) -> Node:
    """A YAML match group → the rule tree (kept for callers of the structured form)."""
    return compile_condition(spec, lists or {})


def _stem_languages(spec: bool | list[str]) -> tuple[str, ...]:
    if spec is True:
        return ("en", "fr")
    return tuple(spec) if isinstance(spec, list) else ()


def example_problems(config: WatchConfig) -> list[tuple[Path, str]]:
    """Each rule's examples, run: a rule is tested code, not a hope."""
    from wirewatch.core.itemtext import ItemText
    from wirewatch.core.matching import match_rule
    from wirewatch.core.model import Item

    problems: list[tuple[Path, str]] = []
    for index, rule in enumerate(config.rules):
        for kind, texts, wanted in (("match", rule.examples.match, True), ("no_match", rule.examples.no_match, False)):
            for position, text in enumerate(texts):
                # A headline stands in every field, so fields: [title] and fields: [content] both see it.
                found = match_rule(
                    rule, ItemText(Item(feed_id="(example)", title=text, link="", summary=text, content=text))
                )
                if (found is not None) != wanted:
                    path: Path = ("rules", index, "examples", kind, position)
                    if wanted:
                        problems.append((path, f"rule {rule.id}: example should match but does not: {text!r}"))
                    else:
                        matched = ", ".join(found.matched) if found else ""
                        problems.append(
                            (path, f"rule {rule.id}: example should not match but does (matched: {matched}): {text!r}")
                        )
    return problems


def _build(data: dict[str, Any], source: str) -> WatchConfig:
    settings_spec = data.get("settings", {})
    defaults = WatchSettings()
    settings = WatchSettings(
        arming_max_age=parse_duration(settings_spec["arming_max_age"])
        if "arming_max_age" in settings_spec
        else defaults.arming_max_age,
        story_window=parse_duration(settings_spec["story_window"])
        if "story_window" in settings_spec
        else defaults.story_window,
        fold_window=parse_duration(settings_spec["fold_window"])
        if "fold_window" in settings_spec
        else defaults.fold_window,
    )
    feeds = tuple(
        FeedSource(
            id=f["id"],
            url=f["url"],
            tags=frozenset(f.get("tags", [])),
            poll_every=parse_duration(f["poll_every"]) if "poll_every" in f else None,
            lang=f.get("lang"),
        )
        for f in data["feeds"]
    )
    lists = data.get("lists", {})
    rules = tuple(
        Rule(
            id=r["id"],
            title=r["title"],
            severity=Severity.parse(r.get("severity", "medium")),
            condition=compile_rule_condition(r, lists),
            stem=_stem_languages(r.get("stem", False)),
            examples=RuleExamples(
                match=tuple(r.get("examples", {}).get("match", [])),
                no_match=tuple(r.get("examples", {}).get("no_match", [])),
            ),
            fields=tuple(Field(f) for f in r["fields"]) if "fields" in r else ALL_FIELDS,
            feeds=frozenset(r.get("feeds", [])),
            tags=frozenset(r.get("tags", [])),
            notify=tuple(r.get("notify", [])),
            on_edit=r.get("on_edit", "ignore"),
        )
        for r in data["rules"]
    )
    subscribers = tuple(subscriber for spec in data["subscribers"] for subscriber in _subscribers(spec))
    return WatchConfig(feeds=feeds, rules=rules, subscribers=subscribers, settings=settings, source=source)


def _subscribers(spec: dict[str, Any]) -> Iterator[Subscriber]:
    """One ``Subscriber`` per channel: each has its own severity, mode and SNS subscription."""
    quiet = spec.get("quiet_hours")
    digest = spec.get("digest", {})
    budget = spec.get("sms_budget")
    for channel in ("email", "sms"):
        if channel not in spec:
            continue
        yield Subscriber(
            id=spec["id"],
            protocol=channel,
            endpoint=spec[channel],
            min_severity=Severity.parse(_per_channel(spec.get("min_severity"), channel, "low")),
            rules=tuple(spec.get("rules", [])),
            mode=_per_channel(spec.get("delivery"), channel, "immediate"),
            timezone=spec.get("timezone", "UTC"),
            quiet_hours=QuietHours(_clock(quiet["from"]), _clock(quiet["to"])) if quiet else None,
            digest=DigestSchedule(every=digest.get("every", "hourly"), at=_clock(digest.get("at", "08:00"))),
            sms_budget=SmsBudget(budget.get("per_hour"), budget.get("per_day"))
            if budget and channel == "sms"
            else None,
        )


def _per_channel(value: Any, channel: str, default: str) -> str:
    """A setting given once for every channel (``low``) or per channel (``{sms: critical}``)."""
    if isinstance(value, dict):
        return str(value.get(channel, default))
    return str(value) if value is not None else default


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
