"""Rule matching: boolean trees of words, phrases, prefixes, NEAR clauses and RE2 patterns.

``evaluate`` is the definition of what a rule means, written as a walk over its
tree; ``core.evaluators`` compiles rules into functions that give the same
answers faster, and ``core.index`` decides which rules are worth evaluating for
an item. Every match carries its explanation: the clauses that fired, with the
field and word span where each one did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wirewatch.core.evaluators import evaluator_for
from wirewatch.core.itemtext import Hit, ItemText, compile_pattern
from wirewatch.core.model import Group, Match, Near, Pattern, Scoped, Term

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from wirewatch.core.model import FeedSource, Field, Item, Node, Rule


def evaluate(
    node: Node, text: ItemText, fields: Sequence[Field], stem_languages: Sequence[str] = ()
) -> list[Hit] | None:
    """The hits that make ``node`` hold for ``text``, or None if it does not hold.

    An empty list means it holds with nothing to show (a ``none`` group).
    """
    if isinstance(node, Term):
        return _term(node, text, fields, stem_languages)
    if isinstance(node, Near):
        return _near(node, text, fields, stem_languages)
    if isinstance(node, Pattern):
        return _pattern(node, text, fields)
    if isinstance(node, Scoped):
        return evaluate(node.child, text, [node.field], stem_languages) if node.field in fields else None
    return _group(node, text, fields, stem_languages)


def _term(term: Term, text: ItemText, fields: Sequence[Field], stem_languages: Sequence[str]) -> list[Hit] | None:
    for part in fields:
        span = text.fields[part].first_span(term, stem_languages)
        if span is not None:
            return [Hit(term.text, part, span)]
    return None


def _pattern(pattern: Pattern, text: ItemText, fields: Sequence[Field]) -> list[Hit] | None:
    program = compile_pattern(pattern.text)
    for part in fields:
        found = program.search(text.fields[part].folded)
        if found is not None:
            return [Hit(f"/{pattern.text}/", part, None, found.group(0)[:80])]
    return None


def _group(group: Group, text: ItemText, fields: Sequence[Field], stem_languages: Sequence[str]) -> list[Hit] | None:
    if group.op == "none":
        for child in group.children:
            if evaluate(child, text, fields, stem_languages) is not None:
                return None
        return []
    hits: list[Hit] = []
    held = False
    for child in group.children:
        child_hits = evaluate(child, text, fields, stem_languages)
        if child_hits is None:
            if group.op == "all":
                return None
            continue
        held = True
        hits.extend(child_hits)
    return hits if held or group.op == "all" else None


def _near(near: Near, text: ItemText, fields: Sequence[Field], stem_languages: Sequence[str]) -> list[Hit] | None:
    for part in fields:
        span = text.fields[part].near_span(near, stem_languages)
        if span is not None:
            return [Hit(near.text, part, span)]
    return None


def match_rule(rule: Rule, text: ItemText) -> Match | None:
    """``rule`` on an already tokenised item, with its explanation, or None."""
    hits = evaluator_for(rule)(text)
    if hits is None:
        return None
    explanation = tuple(hits)
    return Match(rule, text.item, lambda: explanation)


def match_item(item: Item, feed: FeedSource, rules: Iterable[Rule]) -> list[Match]:
    """Every rule that fires on ``item`` (naive: each rule evaluated), with explanations."""
    text = ItemText(item)
    matches = []
    for rule in rules:
        if rule.applies_to(feed):
            found = match_rule(rule, text)
            if found is not None:
                matches.append(found)
    return matches


__all__ = ["evaluate", "match_item", "match_rule"]
