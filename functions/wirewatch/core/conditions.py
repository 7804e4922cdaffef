"""Rule conditions from the watch file: the structured ``match:`` form, the ``query:``
string form and named ``lists:``, compiled to one tree (``model.Node``).

Problems are reported as (path in the YAML document, message) so the loader can
point at the line; compiling assumes the problems were absent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from wirewatch.core.model import ALL_FIELDS, Field, Group, Near, Node, Pattern, Scoped, Term
from wirewatch.core.pattern_literals import pattern_fold_problem
from wirewatch.core.terms import compile_term, term_problem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    # For a string of the document (by its path) and an offset in it, the (line, column)
    # of that character in the file; None where the string's own columns are the
    # file's (a string on one line) or it cannot be traced there.
    Locate = Callable[[tuple[str | int, ...], int], tuple[int, int] | None]

Path = tuple[str | int, ...]
_OPS = ("all", "any", "none")
_FIELD_NAMES = frozenset(part.value for part in Field)


def compile_rule_condition(rule: Mapping[str, Any], lists: Mapping[str, Sequence[str]]) -> Node:
    """The condition of a rule spec, from ``query`` or ``match``."""
    if "query" in rule:
        from wirewatch.core.query import parse_query

        return parse_query(rule["query"], lists)
    return compile_condition(rule["match"], lists)


def compile_condition(spec: Any, lists: Mapping[str, Sequence[str]]) -> Node:
    """One item of a ``match`` tree: a term, ``$list``, group, ``near`` or ``regex``."""
    if isinstance(spec, str):
        return _list_group(spec, lists) if spec.startswith("$") else compile_term(spec)
    if "near" in spec:
        return _near(spec["near"], int(spec["distance"]), lists)
    if "regex" in spec:
        return Pattern(spec["regex"])
    groups: list[Node] = [
        Group(op, tuple(compile_condition(child, lists) for child in spec[op])) for op in _OPS if op in spec
    ]
    node = groups[0] if len(groups) == 1 else Group("all", tuple(groups))
    return Scoped(Field(spec["in"]), node) if "in" in spec else node


def _list_group(reference: str, lists: Mapping[str, Sequence[str]]) -> Node:
    return Group("any", tuple(compile_term(term) for term in lists[reference[1:]]))


def _side(spec: str, lists: Mapping[str, Sequence[str]]) -> list[Term]:
    return [compile_term(term) for term in lists[spec[1:]]] if spec.startswith("$") else [compile_term(spec)]


def _near(sides: Sequence[str], distance: int, lists: Mapping[str, Sequence[str]]) -> Node:
    text = f"{sides[0]} NEAR/{distance} {sides[1]}"
    clauses: list[Node] = [
        Near(left, right, distance, text) for left in _side(sides[0], lists) for right in _side(sides[1], lists)
    ]
    return clauses[0] if len(clauses) == 1 else Group("any", tuple(clauses))


def requires_presence(node: Node) -> bool:
    """Whether the node can only hold when something is present in the item.

    A condition made only of exclusions (``none: [war]``) holds on every item that
    lacks the word: almost all of them. Both rule forms refuse it.
    """
    if isinstance(node, Scoped):
        return requires_presence(node.child)
    if isinstance(node, Group):
        if node.op == "all":
            return any(requires_presence(child) for child in node.children)
        if node.op == "any":
            return all(requires_presence(child) for child in node.children)
        return False
    return True


def _requires_presence(spec: Any, lists: Mapping[str, Any]) -> bool:
    try:
        node = compile_condition(spec, {name: terms for name, terms in lists.items() if isinstance(terms, list)})
    except (TypeError, KeyError, ValueError, AttributeError):
        return True  # malformed: the schema's problems already say why
    return requires_presence(node)


def condition_problems(
    path: Path, rule: Mapping[str, Any], lists: Mapping[str, Any], locate: Locate | None = None
) -> Iterator[tuple[Path, str]]:
    """What would stop a rule's condition from compiling, running, or ever matching."""
    known = {name for name, terms in lists.items() if isinstance(terms, list)}
    rule_id = rule.get("id") if isinstance(rule.get("id"), str) else None
    searched = _searched_fields(rule)
    if "query" in rule and isinstance(rule["query"], str):
        yield from _query_problems((*path, "query"), rule["query"], lists, _Scope(rule_id, known, searched), locate)
    elif "match" in rule:
        problems = list(_spec_problems((*path, "match"), rule["match"], _Scope(rule_id, known, searched)))
        yield from problems
        if not problems and not _requires_presence(rule["match"], lists):
            yield (*path, "match"), f"{_where((*path, 'match'))}: a rule needs at least one term that must be present"


@dataclass(frozen=True)
class _Scope:
    """What a clause of a rule is checked against: the rule, its lists, the fields it can see."""

    rule_id: str | None
    lists: set[str]
    fields: tuple[Field, ...]
    enclosing: str | None = None  # the field prefix, as written, the clause sits in

    def named(self, message: str) -> str:
        return f"rule {self.rule_id}: {message}" if self.rule_id else message


def _searched_fields(rule: Mapping[str, Any]) -> tuple[Field, ...]:
    declared = rule.get("fields")
    if isinstance(declared, list) and declared and all(_is_field(name) for name in declared):
        return tuple(Field(name) for name in declared)
    return ALL_FIELDS  # a misspelt field is the schema's problem, not a reason for more


def _is_field(name: Any) -> bool:
    return isinstance(name, str) and name in _FIELD_NAMES


def _query_problems(
    path: Path, query: str, lists: Mapping[str, Any], scope: _Scope, locate: Locate | None
) -> Iterator[tuple[Path, str]]:
    from wirewatch.core.query import NeverMatchesError, QuerySyntaxError, parse_query

    try:
        parse_query(query, {k: v for k, v in lists.items() if isinstance(v, list)}, fields=scope.fields)
    except QuerySyntaxError as exc:
        position = locate(path, exc.column - 1) if locate is not None else None
        found = str(exc) if position is None else f"{exc.message} at line {position[0]}, column {position[1]}"
        yield path, f"{_where(path)}: {scope.named(found) if isinstance(exc, NeverMatchesError) else found}"


def _spec_problems(path: Path, spec: Any, scope: _Scope) -> Iterator[tuple[Path, str]]:
    if isinstance(spec, str):
        yield from _term_text_problems(path, spec, scope.lists)
    elif isinstance(spec, dict):
        if isinstance(spec.get("regex"), str):
            yield from _pattern_problems((*path, "regex"), spec["regex"], scope)
        for index, side in enumerate(spec.get("near", []) if isinstance(spec.get("near"), list) else []):
            if isinstance(side, str):
                yield from _term_text_problems((*path, "near", index), side, scope.lists)
        if _is_field(spec.get("in")):
            written = f"in: {spec['in']}"
            problem = field_scope_problem(written, Field(spec["in"]), scope.fields, scope.enclosing)
            if problem:
                yield (*path, "in"), f"{_where((*path, 'in'))}: {scope.named(problem)}"
            scope = replace(scope, fields=(Field(spec["in"]),), enclosing=written)
        for op in _OPS:
            children = spec.get(op)
            if isinstance(children, list):
                for index, child in enumerate(children):
                    yield from _spec_problems((*path, op, index), child, scope)


def _term_text_problems(path: Path, text: str, lists: set[str]) -> Iterator[tuple[Path, str]]:
    if text.startswith("$"):
        if text[1:] not in lists:
            known = ", ".join(f"${name}" for name in sorted(lists)) or "none"
            yield path, f"{_where(path)}: no list {text!r} is defined under lists (lists: {known})"
    elif problem := term_problem(text):
        yield path, f"{_where(path)}: term {text!r} {problem}"


def _pattern_problems(path: Path, pattern: str, scope: _Scope) -> Iterator[tuple[Path, str]]:
    from wirewatch.core.itemtext import compile_pattern

    try:
        compile_pattern(pattern)
    except ValueError as exc:
        yield path, f"{_where(path)}: {exc} (patterns run in linear time; backreferences and lookarounds are refused)"
        return
    if problem := pattern_fold_problem(pattern, repr):
        yield path, f"{_where(path)}: {scope.named(problem)}"


def field_scope_problem(written: str, field: Field, searched: Sequence[Field], enclosing: str | None) -> str | None:
    """Why a clause restricted to ``field`` (``written`` as in the rule) can never be looked
    for, with ``searched`` the fields the rule looks at there; None when it can."""
    if field in searched:
        return None
    if enclosing is not None:
        return f"{written!r} never matches inside {enclosing!r}"
    names = ", ".join(part.value for part in searched)
    return f"{written!r} never matches: the rule searches only its fields ({names})"


def _where(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "top level"
