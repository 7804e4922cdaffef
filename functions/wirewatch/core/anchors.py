"""What a rule needs an item to have, as *anchors*: the vocabulary of presearch and deciding.

Anchors share one namespace of strings, so an item's anchors are one set (``RuleIndex.anchors``)
and a clause is checked with one ``isdisjoint``:

- ``word``: the normalised word itself (tokens are ``[^\\W_]+``: never a ``*``, ``:`` or ``/``);
- ``pref*``: some word of the item starts with ``pref``;
- ``fr:stem``: some word of the item has this Snowball stem in that language;
- ``/pattern/``: the pattern matches a field's folded text.

``requirements`` reduces a node to *clauses* that must all hold, each a set of
anchors at least one of which the item must have: the index posts rules under
them, and deciders check them before running what needs word positions.

A term needs each of its tokens (a prefix phrase its first words exactly and its
last as a prefix). In a stemming rule a word is needed as itself *or* as its stem
in one of the rule's languages: the evaluator stems the words as written, accents
included (``attaquée`` → attaqu, but ``attaquee`` → attaque), and without them, on
both sides (``term_stem_forms``, ``FieldText.stem_views``), so the exact word must
stay an anchor, a term brings the stems of both its forms, and an item those of its
words as written (``FieldText.stemmable``) and folded. ``all`` needs what each positive child needs; ``any`` needs
nothing if a child needs nothing, else the union of its children's best clauses
(and that of their second best); ``none`` needs nothing (it constrains, it does not
anchor); NEAR needs both sides; a field scope what its child needs, or can never
hold outside the fields it is given; a pattern needs only itself (RE2 reads characters,
not words): all the rules' patterns run as one RE2 set over each field, once per item.
A rule that needs nothing is *unanchored*: a candidate for every item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wirewatch.core.itemtext import term_stem_forms
from wirewatch.core.model import Near, Pattern, Scoped, Term

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from wirewatch.core.model import Field, Group, Node

Clause = frozenset[str]  # at least one of these anchors must occur in the item
_IMPOSSIBLE: Clause = frozenset()  # no item can satisfy it: the node can never hold


def word_anchor(word: str) -> str:
    return word  # tokens are [^\W_]+: never a "*", ":" or "/", so the kinds below cannot collide


def prefix_anchor(prefix: str) -> str:
    return prefix + "*"


def stem_anchor(language: str, stemmed: str) -> str:
    return f"{language}:{stemmed}"


def pattern_anchor(text: str) -> str:
    return f"/{text}/"


def requirements(node: Node, fields: frozenset[Field], languages: Sequence[str] = ()) -> list[Clause]:
    """Clauses that must all hold (each has at least one anchor in the item) for ``node`` to hold.

    An empty list means ``node`` needs nothing (it can hold on any item); a clause
    with no anchors means it can never hold. ``fields`` are those the node is looked
    for in, ``languages`` the rule's stemming languages.
    """
    if isinstance(node, Term):
        return _term(node, languages)
    if isinstance(node, Near):
        return _term(node.left, languages) + _term(node.right, languages)
    if isinstance(node, Pattern):
        # Anchored on itself: all patterns run as one RE2 set per field (``_PatternSet``).
        return [frozenset((pattern_anchor(node.text),))]
    if isinstance(node, Scoped):
        # The evaluator looks nowhere if the scope is outside the fields it is given.
        return requirements(node.child, frozenset((node.field,)), languages) if node.field in fields else [_IMPOSSIBLE]
    return _group(node, fields, languages)


def _group(group: Group, fields: frozenset[Field], languages: Sequence[str]) -> list[Clause]:
    if group.op == "none":
        return []
    children = [requirements(child, fields, languages) for child in group.children]
    if group.op == "all":
        return _distinct(clause for child in children for clause in child)
    if any(not child for child in children):  # "any" with a child that needs nothing
        return []
    if len(children) == 1:
        return children[0]
    # Whichever child holds, its best clause holds, and its second best: so the union
    # of the children's best clauses is needed, and that of their second best (or best).
    ranked = [sorted(child, key=_rank) for child in children]
    return _distinct(frozenset().union(*(child[min(n, len(child) - 1)] for child in ranked)) for n in (0, 1))


def _term(term: Term, languages: Sequence[str]) -> list[Clause]:
    if not term.tokens:
        return []  # nothing to anchor on; the evaluator decides what such a term means
    last = len(term.tokens) - 1
    stems = (
        [(language, form) for language in languages for form in term_stem_forms(term, language)]
        if languages and not term.prefix
        else []
    )
    clauses = []
    for position, token in enumerate(term.tokens):
        if term.prefix and position == last:
            clauses.append(frozenset((prefix_anchor(token),)))
        elif stems:
            # The word itself or one of its stems in one of the languages. The word is
            # needed too: "attaquee" matches "attaquée" exactly, yet their stems differ
            # (Snowball reads accents), so the stems alone would miss it.
            anchors = {token}
            anchors.update(stem_anchor(language, words[position]) for language, words in stems)
            clauses.append(frozenset(anchors))
        else:
            # A prefix phrase's first words are matched exactly even in a stemming rule.
            clauses.append(frozenset((token,)))
    return clauses


def _distinct(clauses: Iterable[Clause]) -> list[Clause]:
    return list(dict.fromkeys(clauses))


def _rank(clause: Clause) -> tuple[int, int]:
    """Smaller is more selective: fewer anchors, then a longer shortest anchor."""
    return len(clause), -min((weight(anchor) for anchor in clause), default=0)


def weight(anchor: str) -> int:
    # Long words are rare words. A prefix stands for a family of words, and a stem
    # for the forms of one word: both count a little less than their length.
    if anchor.startswith("/"):
        return 3  # a pattern: as selective as a short word, whatever its length
    if anchor.endswith("*"):
        return len(anchor) - 2
    _, colon, bare = anchor.partition(":")
    return len(bare) - 1 if colon else len(anchor)


__all__ = [
    "Clause",
    "pattern_anchor",
    "prefix_anchor",
    "requirements",
    "stem_anchor",
    "weight",
    "word_anchor",
]
