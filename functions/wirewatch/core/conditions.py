"""Rule conditions from the watch file: the structured ``match:`` form, the ``query:``
string form and named ``lists:``, compiled to one tree (``model.Node``).

Problems are reported as (path in the YAML document, message) so the loader can
point at the line; compiling assumes the problems were absent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wirewatch.core.model import Field, Group, Near, Node, Pattern, Scoped, Term
from wirewatch.core.terms import compile_term

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

Path = tuple[str | int, ...]
_OPS = ("all", "any", "none")


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


def condition_problems(path: Path, rule: Mapping[str, Any], lists: Mapping[str, Any]) -> Iterator[tuple[Path, str]]:
    """What would stop a rule's condition from compiling or running."""
    known = {name for name, terms in lists.items() if isinstance(terms, list)}
    if "query" in rule and isinstance(rule["query"], str):
        yield from _query_problems((*path, "query"), rule["query"], lists)
    elif "match" in rule:
        problems = list(_spec_problems((*path, "match"), rule["match"], known))
        yield from problems
        if not problems and not _requires_presence(rule["match"], lists):
            yield (*path, "match"), f"{_where((*path, 'match'))}: a rule needs at least one term that must be present"


def _query_problems(path: Path, query: str, lists: Mapping[str, Any]) -> Iterator[tuple[Path, str]]:
    from wirewatch.core.query import QuerySyntaxError, parse_query

    try:
        node = parse_query(query, {k: v for k, v in lists.items() if isinstance(v, list)})
    except QuerySyntaxError as exc:
        yield path, f"{_where(path)}: {exc}"
        return
    for pattern in _patterns(node):
        yield from _pattern_problems(path, pattern.text)


def _patterns(node: Node) -> Iterator[Pattern]:
    if isinstance(node, Pattern):
        yield node
    elif isinstance(node, Scoped):
        yield from _patterns(node.child)
    elif isinstance(node, Group):
        for child in node.children:
            yield from _patterns(child)


def _spec_problems(path: Path, spec: Any, lists: set[str]) -> Iterator[tuple[Path, str]]:
    if isinstance(spec, str):
        yield from _term_text_problems(path, spec, lists)
    elif isinstance(spec, dict):
        if isinstance(spec.get("regex"), str):
            yield from _pattern_problems((*path, "regex"), spec["regex"])
        for index, side in enumerate(spec.get("near", []) if isinstance(spec.get("near"), list) else []):
            if isinstance(side, str):
                yield from _term_text_problems((*path, "near", index), side, lists)
        for op in _OPS:
            children = spec.get(op)
            if isinstance(children, list):
                for index, child in enumerate(children):
                    yield from _spec_problems((*path, op, index), child, lists)


def _term_text_problems(path: Path, text: str, lists: set[str]) -> Iterator[tuple[Path, str]]:
    if text.startswith("$"):
        if text[1:] not in lists:
            yield path, f"{_where(path)}: no list {text!r} is defined under lists"
    elif not compile_term(text).tokens:
        yield path, f"{_where(path)}: term {text!r} has no word to match"


def _pattern_problems(path: Path, pattern: str) -> Iterator[tuple[Path, str]]:
    from wirewatch.core.itemtext import compile_pattern

    try:
        compile_pattern(pattern)
    except ValueError as exc:
        yield path, f"{_where(path)}: {exc} (patterns run in linear time; backreferences and lookarounds are refused)"


def _where(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "top level"
