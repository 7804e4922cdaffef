"""Rule matching: boolean groups of words, phrases and prefixes over an item's fields."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wirewatch.core.model import FeedSource, Field, Group, Item, Match, Rule, Term
from wirewatch.core.normalize import tokens

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


@dataclass(frozen=True)
class _FieldText:
    """Tokens of one field, with the positions of each token for phrase checks."""

    words: tuple[str, ...]
    positions: dict[str, list[int]]
    vocabulary: list[str]  # sorted distinct words: a prefix is one bisection away

    @classmethod
    def of(cls, text: str) -> _FieldText:
        words = tuple(tokens(text))
        positions: dict[str, list[int]] = {}
        for index, word in enumerate(words):
            positions.setdefault(word, []).append(index)
        return cls(words, positions, sorted(positions))

    def has_prefix(self, prefix: str) -> bool:
        index = bisect_left(self.vocabulary, prefix)
        return index < len(self.vocabulary) and self.vocabulary[index].startswith(prefix)

    def contains(self, term: Term) -> bool:
        first, rest = term.tokens[0], term.tokens[1:]
        if not rest:
            if term.prefix:
                return self.has_prefix(first)
            return first in self.positions
        if term.prefix and len(term.tokens) == 1:
            return False
        starts = self._starts(first, prefix=False)
        return any(self._phrase_at(start, term) for start in starts)

    def _starts(self, word: str, *, prefix: bool) -> list[int]:
        if not prefix:
            return self.positions.get(word, [])
        return [i for i, candidate in enumerate(self.words) if candidate.startswith(word)]

    def _phrase_at(self, start: int, term: Term) -> bool:
        end = start + len(term.tokens)
        if end > len(self.words):
            return False
        window = self.words[start:end]
        *exact, last = term.tokens
        if list(window[:-1]) != exact:
            return False
        return window[-1].startswith(last) if term.prefix else window[-1] == last


class ItemText:
    """An item tokenised once, then checked against any number of rules."""

    def __init__(self, item: Item) -> None:
        self.item = item
        self._fields = {part: _FieldText.of(item.text(part)) for part in Field}

    def contains(self, term: Term, fields: Sequence[Field]) -> bool:
        return any(self._fields[part].contains(term) for part in fields)


def evaluate(group: Group, text: ItemText, fields: Sequence[Field]) -> tuple[bool, list[str]]:
    """Whether ``group`` holds for ``text``, and the terms that made it hold."""
    hits: list[str] = []
    outcomes: list[bool] = []
    for child in group.children:
        if isinstance(child, Term):
            found = text.contains(child, fields)
            child_hits = [child.text] if found else []
        else:
            found, child_hits = evaluate(child, text, fields)
        outcomes.append(found)
        if found:
            hits.extend(child_hits)
    if group.op == "all":
        return all(outcomes), hits if all(outcomes) else []
    if group.op == "any":
        return any(outcomes), hits
    # "none" holds when no child does; it contributes no terms to the explanation.
    return not any(outcomes), []


def match_item(item: Item, feed: FeedSource, rules: Iterable[Rule]) -> list[Match]:
    """Every rule that fires on ``item``, with the terms that made it fire."""
    text = ItemText(item)
    matches: list[Match] = []
    for rule in rules:
        if not rule.applies_to(feed):
            continue
        fired, hits = evaluate(rule.condition, text, rule.fields)
        if fired:
            matches.append(Match(rule=rule, item=item, matched=tuple(dict.fromkeys(hits))))
    return matches
