"""Rule matching: boolean trees of words, phrases, prefixes, NEAR clauses and RE2 patterns.

This module is the exact evaluator; ``core.index`` decides which rules are worth
evaluating for an item. Every match carries its explanation: the clauses that
fired, with the field and word span where each one did.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from wirewatch.core.model import Field, Group, Match, Near, Pattern, Scoped, Term
from wirewatch.core.normalize import casefolded_words, fold, stemmable_words, tokens_of_folded

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from wirewatch.core.model import FeedSource, Item, Node, Rule

Span = tuple[int, int]  # first and last word index, inclusive


@dataclass(frozen=True)
class Hit:
    """One clause that fired: as written in the rule, where, and which words."""

    clause: str
    field: Field
    span: Span | None  # None for patterns, which match characters, not words
    excerpt: str = ""


@lru_cache(maxsize=65536)
def stem(language: str, word: str) -> str:
    """The Snowball stem of a lower-case word, then folded like every token (PyStemmer)."""
    return fold(_stemmer(language).stemWord(word))


@lru_cache(maxsize=16384)
def term_stems(term: Term, language: str) -> tuple[str, ...]:
    """A term's words as stems, read from the term as written (accents matter to Snowball)."""
    words = stemmable_words(term.text.rstrip("*").strip().strip('"'))
    if len(words) != len(term.tokens):
        words = list(term.tokens)
    return tuple(stem(language, word) for word in words)


@lru_cache(maxsize=8)
def _stemmer(language: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer({"fr": "french", "en": "english"}.get(language, language))


@lru_cache(maxsize=4096)
def compile_pattern(text: str) -> Any:
    """An RE2 program: linear time whatever the pattern, so no rule can stall matching.

    Raises:
        ValueError: RE2 cannot run the pattern (backreferences, lookarounds, bad syntax).
    """
    import re2

    options = re2.Options()
    options.never_capture = True
    options.log_errors = False  # the error is reported to the rule's author, not to stderr
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"RE2 cannot run {text!r}: {reason}") from exc


class FieldText:
    """One field of an item, tokenised once: positions for phrases, a sorted vocabulary for
    prefixes, Snowball stems per language on demand, folded text for patterns."""

    def __init__(self, text: str) -> None:
        self.raw = text
        # Folded once: the words come from it, and patterns search it.
        self.folded = fold(text)
        self.words: tuple[str, ...] = tuple(tokens_of_folded(self.folded))
        self.positions: dict[str, list[int]] = {}
        for index, word in enumerate(self.words):
            self.positions.setdefault(word, []).append(index)
        self._vocabulary: list[str] | None = None
        self._stems: dict[str, tuple[tuple[str, ...], dict[str, list[int]]]] = {}
        self._stemmable: list[str] | None = None

    @property
    def vocabulary(self) -> list[str]:
        if self._vocabulary is None:
            self._vocabulary = sorted(self.positions)
        return self._vocabulary

    def _stemmable_words(self) -> list[str]:
        if self._stemmable is None:
            words = casefolded_words(self.raw)
            # The cheap split agrees with the folded words on nearly every text; where a
            # character folds into two, the word-by-word alignment decides.
            self._stemmable = words if len(words) == len(self.words) else stemmable_words(self.raw)
        return self._stemmable

    def _stemmed(self, language: str) -> tuple[tuple[str, ...], dict[str, list[int]]]:
        if language not in self._stems:
            words = tuple(stem(language, word) for word in self._stemmable_words())
            positions: dict[str, list[int]] = {}
            for index, word in enumerate(words):
                positions.setdefault(word, []).append(index)
            self._stems[language] = (words, positions)
        return self._stems[language]

    def spans(self, term: Term, languages: Sequence[str] = ()) -> list[Span]:
        """Every place the term occurs, as word spans; stemmed matching if ``languages``."""
        found: set[Span] = set()
        for words, positions, key in self._views(term, languages):
            found.update(_spans_in(words, positions, key, term.prefix))
        return sorted(found)

    def first_span(self, term: Term, languages: Sequence[str] = ()) -> Span | None:
        if len(term.tokens) == 1:
            # The common case, by dictionary lookups: one word (or its stems), or one prefix.
            word = term.tokens[0]
            if term.prefix:
                vocabulary = self.vocabulary
                index = bisect_left(vocabulary, word)
                if index < len(vocabulary) and vocabulary[index].startswith(word):
                    first = self.positions[vocabulary[index]][0]
                    return (first, first)
                return None
            found = self.positions.get(word)
            for language in languages:
                if found:
                    break
                found = self._stemmed(language)[1].get(term_stems(term, language)[0])
            return (found[0], found[0]) if found else None
        spans = self.spans(term, languages)
        return spans[0] if spans else None

    def _views(
        self, term: Term, languages: Sequence[str]
    ) -> Iterable[tuple[tuple[str, ...], dict[str, list[int]], tuple[str, ...]]]:
        yield self.words, self.positions, term.tokens
        if term.prefix:
            return  # a prefix is already a family of forms; stems would widen it twice
        for language in languages:
            words, positions = self._stemmed(language)
            yield words, positions, term_stems(term, language)


def _spans_in(
    words: tuple[str, ...], positions: dict[str, list[int]], key: tuple[str, ...], prefix: bool
) -> list[Span]:
    first, *rest = key
    length = len(key)
    if prefix and length == 1:
        return [(i, i) for i, word in enumerate(words) if word.startswith(first)]
    starts = positions.get(first, [])
    spans = []
    for start in starts:
        end = start + length - 1
        if end >= len(words):
            continue
        window = words[start : end + 1]
        if list(window[1:-1]) != rest[:-1]:
            continue
        last = window[-1]
        if (last.startswith(key[-1]) if prefix else last == key[-1]) or length == 1:
            spans.append((start, end))
    return spans


@dataclass
class ItemText:
    """An item tokenised once, then checked against any number of rules."""

    item: Item
    fields: dict[Field, FieldText] = field(init=False)

    def __post_init__(self) -> None:
        self.fields = {part: FieldText(self.item.text(part)) for part in Field}


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
        field_text = text.fields[part]
        lefts = field_text.spans(near.left, stem_languages)
        if not lefts:
            continue
        rights = field_text.spans(near.right, stem_languages)
        for left in lefts:
            for right in rights:
                gap = right[0] - left[1] if right[0] > left[1] else left[0] - right[1]
                if 0 < gap <= near.distance:
                    return [Hit(near.text, part, (min(left[0], right[0]), max(left[1], right[1])))]
    return None


def match_rule(rule: Rule, text: ItemText) -> Match | None:
    """``rule`` on an already tokenised item, with its explanation, or None."""
    hits = evaluate(rule.condition, text, rule.fields, rule.stem)
    if hits is None:
        return None
    return Match(rule=rule, item=text.item, matched=tuple(dict.fromkeys(hit.clause for hit in hits)), hits=tuple(hits))


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


__all__ = [
    "FieldText",
    "Hit",
    "ItemText",
    "compile_pattern",
    "evaluate",
    "match_item",
    "match_rule",
    "stem",
]
