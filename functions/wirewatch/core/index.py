"""Which rules are worth evaluating for an item: a presearcher in the spirit of Lucene Monitor.

Evaluating every rule against every item (``matching.match_item``) costs time in
proportion to the number of rules, and almost every evaluation fails. Most rules
cannot fire unless some particular word is in the item, so the rules are indexed
by those words once, and for each item only the rules whose words it contains are
evaluated, exactly, by ``matching.match_rule``. The result is the same as the naive
loop's; only the rules that cannot match are skipped.

What a rule needs. Each rule's condition is reduced to *requirements*: a list of
clauses, each a set of anchors of which at least one must occur in the item for the
rule to fire. An anchor is a key in one namespace of strings, so that an item's
anchors are one set and a clause is checked with one ``isdisjoint``:

- ``word``: the normalised word itself (tokens are ``[^\\W_]+``, so they never
  contain the ``*`` or ``:`` of the other kinds);
- ``pref*``: some word of the item starts with ``pref``;
- ``fr:stem``: some word of the item has this Snowball stem in that language.

Terms need each of their tokens (a phrase needs every word; a prefix phrase needs
its first words exactly and its last as a prefix); for a rule with ``stem``
languages a word is needed as its stem in any of them, since the evaluator accepts
the exact word or the stem in each language. ``all`` needs what each positive
child needs; ``any`` needs one of its children, so its one clause is the union of
each child's most selective clause, and it needs nothing if one child needs
nothing; ``none`` needs nothing (it constrains, it does not anchor); NEAR needs
both sides; a field scope needs what its child needs, or cannot hold outside the
rule's fields; a pattern needs nothing (RE2 runs over characters, not words). A
rule that needs nothing is *unanchored*: a candidate for every item.

Lookup. Each rule is posted under the anchors of its most selective clause only
(fewest anchors, then the longest ones, as rare words are long: there are no
document frequencies at indexing time), so an item visits few postings. The
other clauses are kept and checked against the item's anchors for the rules found:
an ``all`` of three ``any`` groups is then a candidate only if the item has a word
of each group, not just of one, which is what makes the candidates few. Items are
small (about 50 distinct words), so the lookup iterates the item's distinct words
once and never the rules.

Prefixes: a dict by prefix and the set of prefix lengths; each distinct word of
the item is cut at each length. With realistic rules there are about a dozen
distinct lengths; pyahocorasick (an automaton over `` prefix`` keys run over the
item's words joined by spaces) was measured as well: it was no faster on items
of this size (bench/matching.py, 1,000 to 10,000 rules, the slicing loop
measured ≈ 0.8-1.0x its time), and it is one dependency fewer here.

Stems: only if some rule stems, and only in those rules' languages, are the item's
distinct words stemmed (``matching.stem``, cached), so an index without stemming
rules costs nothing for them.

Memory: rule ids are ints (positions in the rule sequence, so a rule given twice
is evaluated twice, as the naive loop does), postings are tuples of them, and every
anchor string is held once whatever the number of rules naming it.

Feed restriction (``Rule.applies_to``) is applied to candidates, after lookup:
feeds and tags are few and the check is cheap, while indexing by feed would
multiply the postings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wirewatch.core.matching import ItemText, match_rule, stem
from wirewatch.core.model import Group, Near, Pattern, Scoped, Term

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from wirewatch.core.model import FeedSource, Field, Item, Match, Node, Rule

Clause = frozenset[str]  # at least one of these anchors must occur in the item
_IMPOSSIBLE: Clause = frozenset()  # no item can satisfy it: the node can never hold

# Cap on the per-index cache of a word's stem anchors: the stems themselves are cached
# by ``matching.stem``, but building the keys for every word of every item is most of
# the lookup's cost for stemming rules. Cleared when full, so memory stays bounded.
_STEM_CACHE_SIZE = 50_000


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
        return []
    if isinstance(node, Scoped):
        # The evaluator looks nowhere if the scope is outside the fields it is given.
        if node.field not in fields:
            return [_IMPOSSIBLE]
        return requirements(node.child, frozenset((node.field,)), languages)
    if node.op == "none":
        return []
    children = [requirements(child, fields, languages) for child in node.children]
    if node.op == "all":
        return _distinct(clause for child in children for clause in child)
    if any(not child for child in children):  # "any" with a child that needs nothing
        return []
    union: set[str] = set()
    for child in children:
        best = _most_selective(child)
        union.update(best)
    return [frozenset(union)]


def _term(term: Term, languages: Sequence[str]) -> list[Clause]:
    if not term.tokens:
        return []  # nothing to anchor on; the evaluator decides what such a term means
    last = len(term.tokens) - 1
    clauses = []
    for position, token in enumerate(term.tokens):
        if term.prefix and position == last:
            clauses.append(frozenset((token + "*",)))
        elif languages and not term.prefix:
            # Stemmed matching accepts the word itself too, which has the same stem.
            clauses.append(frozenset(f"{language}:{stem(language, token)}" for language in languages))
        else:
            # A prefix phrase's first words are matched exactly even in a stemming rule.
            clauses.append(frozenset((token,)))
    return clauses


def _distinct(clauses: Iterable[Clause]) -> list[Clause]:
    return list(dict.fromkeys(clauses))


def _rank(clause: Clause) -> tuple[int, int]:
    """Smaller is more selective: fewer anchors, then a longer shortest anchor."""
    return len(clause), -min((_weight(anchor) for anchor in clause), default=0)


def _weight(anchor: str) -> int:
    # Long words are rare words. A prefix stands for a family of words, and a stem
    # for the forms of one word: both count a little less than their length.
    if anchor.endswith("*"):
        return len(anchor) - 2
    language, colon, bare = anchor.partition(":")
    return len(bare) - 1 if colon else len(anchor)


def _most_selective(clauses: list[Clause]) -> Clause:
    return min(clauses, key=_rank)


class RuleIndex:
    """Rules indexed by the words they need; ``match`` gives what ``matching.match_item`` gives."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules: tuple[Rule, ...] = tuple(rules)
        self._unanchored: list[int] = []
        # Clauses beyond the posted one, per rule id; None when there are none to check.
        self._others: list[tuple[Clause, ...] | None] = [None] * len(self._rules)
        self._everywhere = [not rule.feeds and not rule.tags for rule in self._rules]
        strings: dict[str, str] = {}  # one instance of each anchor, however many rules name it
        postings: dict[str, list[int]] = {}
        prefixes: set[str] = set()
        languages: set[str] = set()

        def shared(clause: Clause) -> Clause:
            return frozenset(strings.setdefault(anchor, anchor) for anchor in clause)

        for rule_id, rule in enumerate(self._rules):
            clauses = requirements(rule.condition, frozenset(rule.fields), rule.stem)
            if not clauses:
                self._unanchored.append(rule_id)
                continue
            posted = _most_selective(clauses)
            if not posted:
                continue  # the rule can never fire: never a candidate
            for anchor in posted:
                postings.setdefault(strings.setdefault(anchor, anchor), []).append(rule_id)
            others = tuple(shared(clause) for clause in clauses if clause != posted)
            if others:
                self._others[rule_id] = others
            for clause in clauses:
                for anchor in clause:
                    if anchor.endswith("*"):
                        prefixes.add(anchor[:-1])
                    elif ":" in anchor:
                        languages.add(anchor.partition(":")[0])

        self._postings: dict[str, tuple[int, ...]] = {anchor: tuple(ids) for anchor, ids in postings.items()}
        self._prefixes: dict[str, str] = {prefix: strings[prefix + "*"] for prefix in prefixes}
        self._prefix_lengths: tuple[int, ...] = tuple(sorted({len(prefix) for prefix in prefixes}))
        self._languages: tuple[str, ...] = tuple(sorted(languages))
        self._stem_keys: dict[str, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._rules)

    def anchors(self, text: ItemText) -> set[str]:
        """Every anchor the item has: its distinct words, the prefixes and stems of them that rules name."""
        fields = iter(text.fields.values())
        present = set(next(fields).positions)
        for field_text in fields:
            present.update(field_text.positions)
        if self._prefix_lengths or self._languages:
            words = tuple(present)
            if self._prefix_lengths:
                present.update(self._prefix_anchors(words))
            if self._languages:
                present.update(self._stem_anchors(words))
        return present

    def _prefix_anchors(self, words: Iterable[str]) -> list[str]:
        found = []
        prefixes = self._prefixes
        lengths = self._prefix_lengths
        for word in words:
            size = len(word)
            for length in lengths:
                if length > size:
                    break
                anchor = prefixes.get(word[:length])
                if anchor is not None:
                    found.append(anchor)
        return found

    def _stem_anchors(self, words: Iterable[str]) -> list[str]:
        cache = self._stem_keys
        found: list[str] = []
        for word in words:
            keys = cache.get(word)
            if keys is None:
                if len(cache) >= _STEM_CACHE_SIZE:
                    cache.clear()
                keys = cache[word] = tuple(f"{language}:{stem(language, word)}" for language in self._languages)
            found.extend(keys)
        return found

    def candidate_ids(self, text: ItemText) -> list[int]:
        """Positions, in ascending order, of the rules that may match ``text`` (feeds not considered)."""
        present = self.anchors(text)
        postings = self._postings
        found: set[int] = set()
        for anchor in present:
            ids = postings.get(anchor)
            if ids is not None:
                found.update(ids)
        others = self._others
        kept = []
        for rule_id in found:
            clauses = others[rule_id]
            if clauses is None or all(not clause.isdisjoint(present) for clause in clauses):
                kept.append(rule_id)
        kept.extend(self._unanchored)
        kept.sort()
        return kept

    def candidates(self, text: ItemText) -> list[Rule]:
        """The rules that may match ``text``, in their original order: a superset of those that do."""
        rules = self._rules
        return [rules[rule_id] for rule_id in self.candidate_ids(text)]

    def match(self, item: Item, feed: FeedSource) -> list[Match]:
        """Every rule that fires on ``item`` from ``feed``: ``matching.match_item`` over all rules, faster."""
        text = ItemText(item)
        rules = self._rules
        everywhere = self._everywhere
        matches = []
        for rule_id in self.candidate_ids(text):
            rule = rules[rule_id]
            if everywhere[rule_id] or rule.applies_to(feed):
                found = match_rule(rule, text)
                if found is not None:
                    matches.append(found)
        return matches


__all__ = ["Clause", "RuleIndex", "requirements"]
