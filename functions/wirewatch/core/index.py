"""Which rules are worth evaluating for an item: a presearcher in the spirit of Lucene Monitor.

Evaluating every rule against every item (``matching.match_item``) costs time in
proportion to the number of rules, and almost every evaluation fails. Most rules
cannot fire unless some particular word is in the item, so the rules are indexed
by those words once, and for each item only the rules whose words it contains are
decided, exactly (``core.deciders``: mostly set lookups in the item's anchors, the
compiled rule where positions matter). The result is the same as the naive loop's,
explanations included (worked out when a match is first read); only rules that
cannot match are skipped.

What a rule needs: its *requirements* (``core.anchors``), clauses of anchors (words,
``pref*`` prefixes, ``fr:stem`` stems, ``/pattern/`` patterns) of which the item must
have one each. A rule that needs nothing is *unanchored*: a candidate for every item.

Lookup, in two passes. Each rule is posted under its cheapest clause and, in a
second dict, under its next cheapest; an item's candidates are the rules found in
both (a set intersection, in C), then checked against any further clauses. So an
``all`` of three ``any`` groups is a candidate only if the item has a word of each
group, which is what keeps the candidates close to the matches. The cost of a
clause is what posting under it brings: its anchors, weighted by how many rules'
clauses name them (a busy anchor's postings are visited whoever is kept) and
divided by their length (short words are common words); "fewest anchors, then the
longest" alone visited a third more postings per item at 10,000 bench rules.

An item's anchors come from its distinct words, each looked up once in a bounded cache
of what the word brings: itself if a rule names it, its prefixes and its stems that
rules name (most words bring nothing at 10 rules, one or two at 10,000). Only anchors
some rule names are kept, so each is then looked up in the postings, with ``map``
and ``chain`` so the loops run in C: at 10,000 rules an item has over a hundred
anchors and visits some 600 postings.

Prefixes: an Aho-Corasick automaton (pyahocorasick) of `` prefix`` keys, run on the
word with a space before it, so every match is at the word's start. Measured against
a dict by prefix probed with each word cut at each prefix length (bench rules and
items, warm): 10 against 37 µs per item at 100 rules, 13 against 38 at 1,000, 12
against 25 at 10,000.

Stems: only if some rule stems, and only in those rules' languages, are the item's
words stemmed (``itemtext.stem``, cached): both the folded words and the words as
written, accents kept, which are the two stem views of ``FieldText.stem_views``.

Memory: rule ids are ints (positions in the rule sequence, so a rule given twice is
evaluated twice, as in the naive loop) allocated together, postings are tuples of
them, and each anchor string is held once however many rules name it: 12 MB kept
(25 MB at the peak of building) for 10,000 bench rules, which themselves take 31 MB.

Feed restriction (``Rule.applies_to``) applies to candidates, after lookup: it is
cheap, while indexing by feed would multiply the postings.

Deciding reads anchors beyond the posted clauses (a word of an exclusion, a group's
third term), so the index also looks in items for every anchor a decider may test
(``deciders.named_anchors``); deciders are compiled when a rule is first a candidate.
"""

from __future__ import annotations

import threading
from collections import Counter
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from wirewatch.core.anchors import Clause, pattern_anchor, requirements, stem_anchor, weight
from wirewatch.core.deciders import Decider, compile_decider, named_anchors
from wirewatch.core.evaluators import explainer
from wirewatch.core.itemtext import ItemText, stem
from wirewatch.core.model import Match

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from wirewatch.core.model import FeedSource, Item, Rule

# Cap on the words whose prefix or stem anchors an index keeps: working them out again
# for every word of every item is most of the cost of finding them. Cleared when
# full, so memory stays bounded.
_WORD_CACHE_SIZE = 16_384

_FIRST = itemgetter(0)
_SECOND = itemgetter(1)


def _stemmable_words(text: ItemText) -> set[str]:
    """The item's words as the evaluator stems them: lower-cased, accents kept.

    Snowball reads accents (``attaquée`` → attaqu, but ``attaquee`` → attaque), so the
    stems are those of these words, not of the folded tokens; in ASCII text the two
    are the same words.
    """
    words: set[str] = set()
    for field_text in text.fields.values():
        words.update(field_text.stemmable)
    return words


def _classify(anchor: str, prefixes: set[str], languages: set[str], patterns: set[str]) -> None:
    """Note what an anchor asks of items: a pattern run, a prefix search or stems."""
    if anchor.startswith("/"):
        patterns.add(anchor[1:-1])
    elif anchor.endswith("*"):
        prefixes.add(anchor[:-1])
    elif ":" in anchor:
        languages.add(anchor.partition(":")[0])


class _PatternSet:
    """Every rule pattern in one RE2 set: one linear pass per field finds all that occur."""

    def __init__(self, patterns: Sequence[str]) -> None:
        import re2

        options = re2.Options()
        options.log_errors = False
        options.never_capture = True
        self._set = re2.Set.SearchSet(options)
        self._anchors = []
        for pattern in patterns:
            self._set.Add(pattern)
            self._anchors.append(pattern_anchor(pattern))
        self._set.Compile()

    def anchors(self, text: ItemText) -> Iterable[str]:
        for field_text in text.fields.values():
            for index in self._set.Match(field_text.folded) or ():
                yield self._anchors[index]


class _WordAnchors:
    """The anchors each word brings (itself, its prefixes and its stems, that rules name), cached by word."""

    def __init__(self, anchors_of: Callable[[str], tuple[str, ...]]) -> None:
        self._anchors_of = anchors_of
        self._cache: dict[str, tuple[str, ...]] = {}
        # A poll worker matches from several threads: one of them clearing the cache
        # must not pull words from under another's lookups.
        self._lock = threading.Lock()

    def anchors(self, words: set[str]) -> list[str]:
        with self._lock:
            cache = self._cache
            missing = words.difference(cache)  # set minus dict: runs in C over the item's words
            if missing:
                if len(cache) + len(missing) > _WORD_CACHE_SIZE:
                    cache.clear()
                    missing = words
                for word in missing:
                    cache[word] = self._anchors_of(word)
            return list(chain.from_iterable(map(cache.__getitem__, words)))


class RuleIndex:
    """Rules indexed by the words they need; ``match`` gives what ``matching.match_item`` gives."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules: tuple[Rule, ...] = tuple(rules)
        self._everywhere = [not rule.feeds and not rule.tags for rule in self._rules]
        self._unanchored: list[int] = []
        # Clauses beyond the two posted ones, per rule id; None when there are none to check.
        self._others: list[tuple[Clause, ...] | None] = [None] * len(self._rules)
        strings: dict[str, str] = {}  # one instance of each anchor, however many rules name it
        first: dict[str, list[int]] = {}
        second: dict[str, list[int]] = {}
        prefixes: set[str] = set()
        languages: set[str] = set()
        patterns: set[str] = set()

        def shared(anchor: str) -> str:
            return strings.setdefault(anchor, anchor)

        needs = [
            [
                frozenset(map(shared, clause))
                for clause in requirements(rule.condition, frozenset(rule.fields), rule.stem)
            ]
            for rule in self._rules
        ]
        # How many rules' clauses name each anchor: an item with it visits that many
        # postings, whichever rules it ends up kept for.
        named_by = Counter(anchor for clauses in needs for clause in clauses for anchor in clause)

        def cost(clause: Clause) -> float:
            # The work a clause brings when posted, and its chance of being met by an item:
            # more anchors, anchors more rules use and shorter ones (short words are
            # common words) all cost more. "Fewest anchors, then longest" alone posted
            # rules under anchors shared by dozens of others: 807 postings visited per
            # item at 10,000 bench rules, against about 600 so (bench/matching.py).
            return sum(named_by[anchor] / max(1, weight(anchor)) for anchor in clause)

        # Rule ids allocated together, so that the thousands of them an item's postings
        # hold are read from a few memory pages rather than from all over the heap.
        ids = list(range(len(self._rules)))
        for rule_id, clauses in zip(ids, needs, strict=True):
            if not clauses:
                self._unanchored.append(rule_id)
                continue
            if not all(clauses):
                continue  # the rule can never fire: never a candidate
            clauses.sort(key=cost)
            # A rule needing one clause is posted twice under it, so that it is found in
            # both passes like the others.
            for postings, clause in ((first, clauses[0]), (second, clauses[min(1, len(clauses) - 1)])):
                for anchor in clause:
                    postings.setdefault(anchor, []).append(rule_id)
            if len(clauses) > 2:
                self._others[rule_id] = tuple(clauses[2:])
            for clause in clauses:
                for anchor in clause:
                    _classify(anchor, prefixes, languages, patterns)
        # Deciding a candidate reads anchors beyond those it is posted under (a word of an
        # exclusion, the third term of a group): the items must be searched for those too.
        for rule in self._rules:
            for anchor in named_anchors(rule.condition, rule.fields, rule.stem):
                _classify(shared(anchor), prefixes, languages, patterns)

        # One lookup per anchor of the item gives both passes' rule ids.
        self._postings: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
            anchor: (tuple(first.get(anchor, ())), tuple(second.get(anchor, ()))) for anchor in first.keys() | second
        }
        self._prefixes: Any = None  # Aho-Corasick automaton: " prefix" → its anchor
        if prefixes:
            import ahocorasick

            self._prefixes = ahocorasick.Automaton()
            for prefix in prefixes:
                self._prefixes.add_word(" " + prefix, strings[prefix + "*"])
            self._prefixes.make_automaton()
        self._patterns = _PatternSet(sorted(patterns)) if patterns else None
        self._languages: tuple[str, ...] = tuple(sorted(languages))
        self._named: frozenset[str] = frozenset(strings)
        # What each word brings, kept from item to item: news repeats its words.
        self._word_keys = _WordAnchors(self._anchors_of)
        # Compiled when a rule is first a candidate: most of 10,000 rules seldom are.
        self._deciders: list[Decider | None] = [None] * len(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def anchors(self, text: ItemText) -> set[str]:
        """The anchors rules name that the item has: of its words, those rules name, and the
        prefixes, stems and patterns of them rules name (an anchor no rule names is never looked for)."""
        fields = iter(text.fields.values())
        words = set(next(fields).plain.first)
        for field_text in fields:
            words.update(field_text.plain.first)
        if self._languages:
            # The stems of the words as written and of the folded words, which are the
            # field's two stem views (``FieldText.stem_views``) whatever the alignment.
            words.update(_stemmable_words(text))
        present = set(self._word_keys.anchors(words))
        if self._patterns is not None:
            present.update(self._patterns.anchors(text))
        return present

    def _anchors_of(self, word: str) -> tuple[str, ...]:
        """What a word brings, in one tuple: itself, its prefixes and its stems, those rules name."""
        found: tuple[str, ...] = (word,) if word in self._named else ()
        if self._prefixes is not None:
            # A space before the word and before each prefix: every match is at the word's start.
            found += tuple(anchor for _, anchor in self._prefixes.iter(" " + word))
        if self._languages:
            stems = (stem_anchor(language, stem(language, word)) for language in self._languages)
            found += tuple(key for key in stems if key in self._named)
        return found

    def candidate_ids(self, text: ItemText) -> list[int]:
        """Positions, in ascending order, of the rules that may match ``text`` (feeds not considered)."""
        return self._candidate_ids(self.anchors(text))

    def _candidate_ids(self, present: set[str]) -> list[int]:
        kept = list(self._unanchored)
        others = self._others
        lacks = present.isdisjoint
        for rule_id in self._posted_ids(present):
            clauses = others[rule_id]
            # map, not a generator: this runs for some fifty rules an item at 10,000 rules.
            if clauses is None or not any(map(lacks, clauses)):
                kept.append(rule_id)
        kept.sort()
        return kept

    def _posted_ids(self, present: set[str]) -> set[int]:
        """The rules whose first two clauses the item satisfies."""
        # The rules whose first clause the item satisfies, kept if it satisfies their second
        # too. Both passes run in C (map, chain, set): the item's anchors number in the
        # hundreds and their postings in the thousands at 10,000 rules.
        hits = list(filter(None, map(self._postings.get, present)))
        found = set(chain.from_iterable(map(_FIRST, hits)))
        found.intersection_update(chain.from_iterable(map(_SECOND, hits)))
        return found

    def candidates(self, text: ItemText) -> list[Rule]:
        """The rules that may match ``text``, in their original order: a superset of those that do."""
        rules = self._rules
        return [rules[rule_id] for rule_id in self.candidate_ids(text)]

    def match(self, item: Item, feed: FeedSource) -> list[Match]:
        """Every rule that fires on ``item`` from ``feed``: ``matching.match_item`` over all rules, faster.

        Each candidate is decided from the item's anchors (``core.deciders``); the
        explanation of a match is worked out when it is first read.
        """
        text = ItemText(item)
        present = self.anchors(text)
        rules = self._rules
        everywhere = self._everywhere
        deciders = self._deciders
        fired = []
        for rule_id in self._candidate_ids(present):
            if not (everywhere[rule_id] or rules[rule_id].applies_to(feed)):
                continue
            decide = deciders[rule_id]
            if decide is None:
                rule = rules[rule_id]
                decide = deciders[rule_id] = compile_decider(rule.condition, rule.fields, rule.stem)
            if decide(text, present):
                fired.append(rule_id)
        return [Match(rules[rule_id], item, explainer(rules[rule_id], text)) for rule_id in fired]


__all__ = ["RuleIndex"]
