"""Whether a rule holds for an item, decided from the anchors the index found in it.

The rule index (``core.index``) reduces an item to a set of *anchors*: its words,
the prefixes and Snowball stems of them that rules name, and the patterns that
matched. For most of a rule — words, prefixes and stemmed words looked for in
every field, and patterns — that set already says whether it holds: a group of
such terms is one ``isdisjoint`` with the set. Only what needs word positions
(phrases, NEAR) or particular fields runs the compiled evaluator.

An evaluated part runs only once the item has an anchor of each clause it needs
(``_guarded``): a phrase in an ``any`` group is not looked for unless all its words are there.

Deciding is separate from explaining: the hits that say why a rule fired are
worked out by the evaluator when a match is first read (``model.Match.hits``),
which most matches never are.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from typing import TYPE_CHECKING

from wirewatch.core.anchors import pattern_anchor, prefix_anchor, requirements, stem_anchor, word_anchor
from wirewatch.core.evaluators import compile_node
from wirewatch.core.itemtext import ItemText, term_stem_forms
from wirewatch.core.model import Field, Group, Pattern, Term

if TYPE_CHECKING:
    from collections.abc import Sequence

    from wirewatch.core.model import Node

Decider = Callable[[ItemText, Set[str]], bool]

_EVERY_FIELD = frozenset(Field)


def compile_decider(node: Node, fields: Sequence[Field], languages: Sequence[str] = ()) -> Decider:
    """A test of ``node`` on an item and its anchors: true exactly when ``matching.evaluate`` finds hits.

    The anchors must be the index's for that item (``RuleIndex.anchors``): every
    word of every field, and every prefix, stem and pattern anchor the rule names
    that occurs in it.
    """
    fields, languages = tuple(fields), tuple(languages)
    exact = _exact_anchors(node, fields, languages)
    if exact is not None:
        return lambda text, present: not exact.isdisjoint(present)
    if not isinstance(node, Group):
        return _guarded(node, fields, languages)
    if node.op != "all":
        simple, others = _split(node.children, fields, languages)
        return _either(frozenset().union(*simple), others, holds=node.op == "any")
    # The usual rule: an "all" of "any" groups and exclusions. Flattened into sets of
    # which the item needs one each, a set it must have none of, and what is left.
    needed: list[frozenset[str]] = []
    excluded: set[str] = set()
    rest: list[Node] = []
    for child in node.children:
        anchors = _exact_anchors(child, fields, languages)
        if anchors is not None:
            needed.append(anchors)
            continue
        if isinstance(child, Group) and child.op != "all":
            sets = [_exact_anchors(grandchild, fields, languages) for grandchild in child.children]
            if None not in sets:
                merged = frozenset[str]().union(*(anchors for anchors in sets if anchors is not None))
                if child.op == "none":
                    excluded.update(merged)
                else:
                    needed.append(merged)
                continue
        rest.append(child)
    return _conjunction(
        tuple(needed), frozenset(excluded), tuple(compile_decider(child, fields, languages) for child in rest)
    )


def _conjunction(needed: tuple[frozenset[str], ...], excluded: frozenset[str], others: tuple[Decider, ...]) -> Decider:
    def decide(text: ItemText, present: Set[str]) -> bool:
        for anchors in needed:
            if anchors.isdisjoint(present):
                return False
        if not excluded.isdisjoint(present):
            return False
        # Loops rather than all()/any() over generators, here and below: deciders run
        # for every candidate, and a generator costs more than the checks it makes.
        for other in others:  # noqa: SIM110 - see above
            if not other(text, present):
                return False
        return True

    return decide


def _either(anchors: frozenset[str], others: tuple[Decider, ...], *, holds: bool) -> Decider:
    """An ``any`` group (``holds``: true once a child holds) or a ``none`` group (false once one does)."""

    def decide(text: ItemText, present: Set[str]) -> bool:
        if not anchors.isdisjoint(present):
            return holds
        for other in others:
            if other(text, present):
                return holds
        return not holds

    return decide


def _guarded(node: Node, fields: tuple[Field, ...], languages: tuple[str, ...]) -> Decider:
    """The compiled evaluator, run only once the item has an anchor of each clause the node needs.

    A phrase in an ``any`` group is looked for whenever the group's words are missing;
    its words being all present is far rarer than its first word being, and far
    cheaper to check than positions (``named_anchors`` has the index look for them).
    """
    evaluator = compile_node(node, fields, languages)
    clauses = tuple(requirements(node, frozenset(fields), languages))

    def decide(text: ItemText, present: Set[str]) -> bool:
        for clause in clauses:
            if clause.isdisjoint(present):
                return False
        return evaluator(text) is not None

    return decide


def _split(
    children: Sequence[Node], fields: tuple[Field, ...], languages: tuple[str, ...]
) -> tuple[list[frozenset[str]], tuple[Decider, ...]]:
    """Children decided by anchors (their anchor sets), and deciders for the others."""
    simple: list[frozenset[str]] = []
    others: list[Decider] = []
    for child in children:
        anchors = _exact_anchors(child, fields, languages)
        if anchors is not None:
            simple.append(anchors)
        else:
            others.append(compile_decider(child, fields, languages))
    return simple, tuple(others)


def named_anchors(node: Node, fields: Sequence[Field], languages: Sequence[str] = ()) -> set[str]:
    """Every anchor a decider of ``node`` may test: the index must look for each of them in items."""
    fields, languages = tuple(fields), tuple(languages)
    anchors = _exact_anchors(node, fields, languages)
    if anchors is not None:
        return set(anchors)
    if isinstance(node, Group):
        return set().union(*(named_anchors(child, fields, languages) for child in node.children))
    # Evaluated, after the anchors of what it needs (``_guarded``).
    return set().union(*requirements(node, frozenset(fields), languages))


def _exact_anchors(node: Node, fields: tuple[Field, ...], languages: tuple[str, ...]) -> frozenset[str] | None:
    """Anchors of which the item has one exactly when ``node`` holds, if there are such."""
    if not _EVERY_FIELD.issubset(fields):
        return None  # the anchors are the whole item's; a word in a field not looked at would count
    if isinstance(node, Pattern):
        return frozenset((pattern_anchor(node.text),))
    if not isinstance(node, Term) or len(node.tokens) != 1:
        return None
    (token,) = node.tokens
    if node.prefix:
        return frozenset((prefix_anchor(token),))
    stems = (stem_anchor(language, form[0]) for language in languages for form in term_stem_forms(node, language))
    return frozenset((word_anchor(token), *stems))


__all__ = ["Decider", "compile_decider", "named_anchors"]
