"""Rules compiled into closures: the same answers as ``matching.evaluate``, with less work.

``matching.evaluate`` walks a rule's tree for every item, deciding at each node
what kind of node it is and which lookup its term needs. A rule is the same for
every item, so those decisions are made once here: each node becomes a function
of the item, specialised for its case (a single word, the common case, is a
dictionary lookup per field; a group of single words is one loop). Hits, and so
explanations, are the same as ``evaluate``'s, in the same order; the unit tests
check both on generated rules and texts.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from wirewatch.core.itemtext import Hit, compile_pattern, term_stem_forms
from wirewatch.core.model import Group, Near, Pattern, Scoped, Term

if TYPE_CHECKING:
    from collections.abc import Sequence

    from wirewatch.core.itemtext import FieldText, ItemText, Span
    from wirewatch.core.model import Field, Node, Rule

Evaluator = Callable[["ItemText"], "list[Hit] | None"]

# Compiled rules by identity. Rules are immutable, and the cache keeps each rule it
# has compiled alive, so an id is never reused while its entry exists.
_COMPILED: dict[int, tuple[Rule, Evaluator]] = {}
_COMPILED_LIMIT = 200_000


def evaluator_for(rule: Rule) -> Evaluator:
    """The rule's condition compiled for its fields and stemming languages (cached)."""
    entry = _COMPILED.get(id(rule))
    if entry is not None and entry[0] is rule:
        return entry[1]
    if len(_COMPILED) >= _COMPILED_LIMIT:
        _COMPILED.clear()
    evaluator = compile_node(rule.condition, rule.fields, rule.stem)
    _COMPILED[id(rule)] = (rule, evaluator)
    return evaluator


def explainer(rule: Rule, text: ItemText) -> Callable[[], tuple[Hit, ...]]:
    """A function giving the hits of ``rule`` on ``text``: the explanation of a match, on demand."""
    return partial(_explain, rule, text)


def _explain(rule: Rule, text: ItemText) -> tuple[Hit, ...]:
    hits = evaluator_for(rule)(text)
    # Only asked of rules decided to hold; an empty explanation beats losing the alert.
    return () if hits is None else tuple(hits)


def compile_node(node: Node, fields: Sequence[Field], languages: Sequence[str] = ()) -> Evaluator:
    """A function giving, for an item, what ``matching.evaluate(node, item, fields, languages)`` gives."""
    fields, languages = tuple(fields), tuple(languages)
    if isinstance(node, Term):
        return _single_word(node, fields) if _is_single_word(node, languages) else _term(node, fields, languages)
    if isinstance(node, Near):
        return _near(node, fields, languages)
    if isinstance(node, Pattern):
        return _pattern(node, fields)
    if isinstance(node, Scoped):
        return compile_node(node.child, (node.field,), languages) if node.field in fields else _never
    if all(isinstance(child, Term) and _is_single_word(child, languages) for child in node.children):
        return _words(node, fields)
    return _group(node, fields, languages)


def _never(text: ItemText) -> list[Hit] | None:
    return None


def _is_single_word(node: Node, languages: Sequence[str]) -> bool:
    # Without stems, a one-word term is found by a dictionary lookup, nothing else.
    return isinstance(node, Term) and len(node.tokens) == 1 and not node.prefix and not languages


def _single_word(term: Term, fields: tuple[Field, ...]) -> Evaluator:
    clause, word = term.text, term.tokens[0]

    def run(text: ItemText) -> list[Hit] | None:
        for part in fields:
            position = text.fields[part].plain.first.get(word)
            if position is not None:
                return [Hit(clause, part, (position, position))]
        return None

    return run


def _words(group: Group, fields: tuple[Field, ...]) -> Evaluator:
    """A group whose children are all single words: one loop instead of a call per word."""
    entries = tuple((child.text, child.tokens[0]) for child in group.children if isinstance(child, Term))
    op = group.op

    def run(text: ItemText) -> list[Hit] | None:
        firsts = [(part, text.fields[part].plain.first) for part in fields]
        hits = []
        for clause, word in entries:
            for part, first in firsts:
                position = first.get(word)
                if position is not None:
                    if op == "none":
                        return None
                    hits.append(Hit(clause, part, (position, position)))
                    break
            else:
                if op == "all":
                    return None
        if op == "any" and not hits:
            return None
        return hits

    return run


def _term(term: Term, fields: tuple[Field, ...], languages: tuple[str, ...]) -> Evaluator:
    clause = term.text
    locate = _locator(term, languages)

    def run(text: ItemText) -> list[Hit] | None:
        for part in fields:
            span = locate(text.fields[part])
            if span is not None:
                return [Hit(clause, part, span)]
        return None

    return run


def _locator(term: Term, languages: tuple[str, ...]) -> Callable[[FieldText], Span | None]:
    """Where a term first occurs in a field, as ``FieldText.first_span`` finds it, its stems worked out once."""
    tokens = term.tokens
    if len(tokens) == 1 and term.prefix:
        start = tokens[0]
        return lambda field_text: _single(field_text.first_with_prefix(start))
    if len(tokens) == 1:
        word = tokens[0]
        stems = tuple((language, tuple(form[0] for form in term_stem_forms(term, language))) for language in languages)

        def locate_word(field_text: FieldText) -> Span | None:
            position = field_text.plain.first.get(word)
            for language, forms in stems:
                if position is not None:
                    break  # found as written: the stem views need not be built
                position = field_text.stem_position(language, forms)
            return _single(position)

        return locate_word
    # A phrase: in the field's words, then word by word in its stems per language; the
    # earliest span found.
    stem_forms = () if term.prefix else tuple((language, term_stem_forms(term, language)) for language in languages)
    prefix = term.prefix

    def locate_phrase(field_text: FieldText) -> Span | None:
        best: Span | None = None
        if tokens[0] in field_text.plain.first:
            spans = field_text.plain.spans(tokens, prefix)
            best = spans[0] if spans else None
        for language, forms in stem_forms:
            spans = field_text.stem_spans(language, forms)
            if spans and (best is None or spans[0] < best):
                best = spans[0]
        return best

    return locate_phrase


def _single(position: int | None) -> Span | None:
    return None if position is None else (position, position)


def _near(near: Near, fields: tuple[Field, ...], languages: tuple[str, ...]) -> Evaluator:
    def run(text: ItemText) -> list[Hit] | None:
        for part in fields:
            span = text.fields[part].near_span(near, languages)
            if span is not None:
                return [Hit(near.text, part, span)]
        return None

    return run


def _pattern(pattern: Pattern, fields: tuple[Field, ...]) -> Evaluator:
    program = compile_pattern(pattern.text)
    clause = f"/{pattern.text}/"

    def run(text: ItemText) -> list[Hit] | None:
        for part in fields:
            found = program.search(text.fields[part].folded)
            if found is not None:
                return [Hit(clause, part, None, found.group(0)[:80])]
        return None

    return run


def _group(group: Group, fields: tuple[Field, ...], languages: tuple[str, ...]) -> Evaluator:
    children = tuple(compile_node(child, fields, languages) for child in group.children)
    if group.op == "none":

        def run_none(text: ItemText) -> list[Hit] | None:
            for child in children:
                if child(text) is not None:
                    return None
            return []

        return run_none
    if group.op == "all":

        def run_all(text: ItemText) -> list[Hit] | None:
            hits: list[Hit] = []
            for child in children:
                found = child(text)
                if found is None:
                    return None
                hits += found
            return hits

        return run_all

    def run_any(text: ItemText) -> list[Hit] | None:
        hits: list[Hit] = []
        held = False
        for child in children:
            found = child(text)
            if found is not None:
                held = True
                hits += found
        return hits if held else None

    return run_any


__all__ = ["Evaluator", "compile_node", "evaluator_for", "explainer"]
