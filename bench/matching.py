"""Matching cost per item as rules grow: the presearch index against the naive loop.

Generates 10, 100, 1,000 and 10,000 rules (fixed seed) from the words of the bundled
real feeds, and matches every bundled item (315) against them. Baselines, measured in
the same run: normalising and tokenising the item's three fields alone (work any
matcher must do), and the naive evaluator (``match_item``: every rule evaluated).
Prints per-item times (medians of several runs) and their ratios, the candidates and
matches per item, and the memory of the 10,000-rule index. Fails loudly if the index
and the naive loop ever disagree on the items the loop runs on.

Columns: ``presearch`` is ItemText + the candidate lookup alone, ``engine`` ItemText +
``RuleIndex.match`` (lookup and exact evaluation of the candidates), so ``engine -
presearch`` is the evaluator's share. The rule mix is in the constants below; every
rule word is a word of these items, which makes the rule set denser in the items'
vocabulary (and the matches more frequent) than a real one would be.

    .venv/bin/python bench/matching.py
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from wirewatch.core.anchors import requirements
from wirewatch.core.feeds import parse_feed
from wirewatch.core.index import RuleIndex
from wirewatch.core.itemtext import ItemText, stem
from wirewatch.core.matching import match_item
from wirewatch.core.model import (
    ALL_FIELDS,
    FeedSource,
    Field,
    Group,
    Item,
    Near,
    Node,
    Pattern,
    Rule,
    Scoped,
    Severity,
)
from wirewatch.core.normalize import tokens
from wirewatch.core.terms import compile_term

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2024, 6, 26, 6, tzinfo=UTC)
SIZES = (10, 100, 1_000, 10_000)
SEED = 20240626
REPEATS = 7
NAIVE_FULL_UP_TO = 1_000  # above this many rules, the naive loop is timed on a subset of items
NAIVE_SUBSET_STEP = 7  # every 7th item: 45 of 315
STOPWORDS = 150  # the most frequent words of the corpus, never a rule's word
# The mix of rules (shares of all rules). Every rule is an "all" of 2-3 "any" groups of
# 2-6 terms (words, phrases from real titles, trailing wildcards on stems).
TOPICAL = 0.10  # written about a story of the corpus: these are the rules that fire
NEAR = 0.10  # one group is a NEAR/n clause
SCOPED = 0.05  # one group looked for in the title only
NONE = 0.20  # a "none" group of exclusions (a tenth of them with a regex)
STEM = 0.10  # stem: [fr] or [en], half each
REGEX_IN_GROUP = 0.03  # a regex among the terms of a group
REGEX_ONLY = 0.001  # nothing but regexes: unanchored, a candidate for every item

Pair = tuple[FeedSource, Item]


# ---------------------------------------------------------------- corpus


def load_items() -> list[Pair]:
    pairs: list[Pair] = []
    for path in sorted((ROOT / "examples" / "feeds").iterdir()):
        feed_id = path.name.split(".", 1)[0]
        feed = FeedSource(id=feed_id, url=f"https://feeds.example.org/{feed_id}")
        pairs += [(feed, item) for item in parse_feed(path.read_bytes(), feed, now=NOW).items]
    return pairs


class Vocabulary:
    """Words of the corpus, drawn as watch rules draw them: mostly mid and low frequency."""

    def __init__(self, pairs: list[Pair], rng: random.Random) -> None:
        self.rng = rng
        frequency: Counter[str] = Counter()
        words_of_items = []
        for _, item in pairs:
            words = sorted({word for part in Field for word in tokens(item.text(part))})
            frequency.update(words)
            words_of_items.append(words)
        self.frequency = frequency
        # The most frequent words are function words in five languages ("that", "dans",
        # "para") and "continue reading": nobody watches for them. Words seen once are the
        # bulk of any vocabulary; in between (2 to 12 items of 315) are the names and
        # topics rules are written about, weighted up.
        stop = {word for word, _ in frequency.most_common(STOPWORDS)}
        self.words = [w for w in frequency if w not in stop and len(w) >= 4 and not w.isdigit()]
        self.cumulative = list(accumulate(3.0 if frequency[w] >= 2 else 1.0 for w in self.words))
        usable = set(self.words)
        self.item_words = [[w for w in words if w in usable] for words in words_of_items]
        titles = [tokens(item.title) for _, item in pairs]
        self.phrases = [
            title[start : start + length]
            for title in titles
            for length in (2, 3)
            for start in range(len(title) - length + 1)
            if any(word in usable for word in title[start : start + length])
        ]

    def word(self) -> str:
        return self.rng.choices(self.words, cum_weights=self.cumulative)[0]

    def phrase(self) -> str:
        return '"' + " ".join(self.rng.choice(self.phrases)) + '"'

    def prefix(self, word: str) -> str:
        """A trailing wildcard on the word's stem, as people write ``entret*``."""
        root = stem(self.rng.choice(("en", "fr")), word)
        if len(root) < 4 or root == word:
            root = word[: max(4, len(word) - 2)]
        return root + "*"


# ---------------------------------------------------------------- rules


def make_term(vocabulary: Vocabulary, seed_words: list[str]) -> str:
    """One term as written in a watch file: a word, a phrase or a trailing wildcard."""
    rng = vocabulary.rng
    word = rng.choice(seed_words) if seed_words and rng.random() < 0.5 else vocabulary.word()
    kind = rng.random()
    if kind < 0.15:
        return vocabulary.phrase()
    if kind < 0.30 and len(word) >= 6:
        return vocabulary.prefix(word)
    return word


def make_pattern(vocabulary: Vocabulary) -> Pattern:
    """A regular expression as rule authors write them (``f-?(16|35)``, two words close)."""
    one, other = vocabulary.word(), vocabulary.word()
    if vocabulary.rng.random() < 0.5:
        return Pattern(rf"\b{one[:5]}[a-z]*[ -]?\d+")
    return Pattern(rf"\b{one}\W+(?:\w+\W+){{0,3}}{other}\b")


def make_rules(count: int, vocabulary: Vocabulary) -> list[Rule]:
    rng = vocabulary.rng
    rules = []
    for number in range(count):
        # Some rules are about a story actually in the corpus (their groups share words
        # with one item), the rest about anything: they mostly never fire.
        seed = rng.randrange(len(vocabulary.item_words))
        seed_words = vocabulary.item_words[seed] if rng.random() < TOPICAL else []
        groups: list[Node] = []
        for _ in range(rng.choice((2, 2, 3))):
            terms: list[Node] = [compile_term(make_term(vocabulary, seed_words)) for _ in range(rng.randint(2, 6))]
            if rng.random() < REGEX_IN_GROUP / 2.3:
                terms.append(make_pattern(vocabulary))
            groups.append(Group("any", tuple(terms)))
        if rng.random() < NEAR:
            left, right = compile_term(make_term(vocabulary, seed_words)), compile_term(vocabulary.word())
            distance = rng.randint(3, 10)
            groups[-1] = Near(left, right, distance, f"{left.text} NEAR/{distance} {right.text}")
        if rng.random() < SCOPED:
            groups[0] = Scoped(Field.TITLE, groups[0])
        if rng.random() < NONE:
            excluded: list[Node] = [compile_term(vocabulary.word()) for _ in range(rng.randint(1, 3))]
            if rng.random() < 0.1:
                excluded.append(make_pattern(vocabulary))
            groups.append(Group("none", tuple(excluded)))
        if rng.random() < REGEX_ONLY:
            # A rule only patterns express: no word to index it by, evaluated for every item.
            groups = [Group("any", (make_pattern(vocabulary), make_pattern(vocabulary)))]
        language = rng.random()
        rules.append(
            Rule(
                id=f"rule-{number}",
                title=f"generated rule {number}",
                severity=Severity.MEDIUM,
                condition=Group("all", tuple(groups)),
                fields=(Field.TITLE, Field.SUMMARY) if rng.random() < 0.05 else ALL_FIELDS,
                feeds=frozenset({rng.choice(FEED_IDS)}) if rng.random() < 0.10 else frozenset(),
                stem=("fr",) if language < STEM / 2 else ("en",) if language < STEM else (),
            )
        )
    return rules


FEED_IDS: list[str] = []


# ---------------------------------------------------------------- timing


def per_item(work: Callable[[], object], items: int) -> float:
    gc.collect()
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) / items


def interleaved(works: Sequence[tuple[Callable[[], object], int]], repeats: int) -> list[list[float]]:
    """Per-item times of each work, run in turn ``repeats`` times: a round's figures
    share the machine's state of the moment, so ratios within a round are sound even
    when the machine drifts between rounds."""
    return [[per_item(work, items) for work, items in works] for _ in range(repeats)]


def median_ratio(rounds: list[list[float]], numerator: int, denominator: int) -> float:
    return statistics.median(times[numerator] / times[denominator] for times in rounds)


def median_time(rounds: list[list[float]], which: int) -> float:
    return statistics.median(times[which] for times in rounds)


def tokenise(items: Sequence[Item]) -> None:
    for item in items:
        for part in Field:
            tokens(item.text(part))


def presearch(index: RuleIndex, items: Sequence[Item]) -> None:
    for item in items:
        index.candidate_ids(ItemText(item))


def engine(index: RuleIndex, pairs: Sequence[Pair]) -> None:
    for feed, item in pairs:
        index.match(item, feed)


def explained(index: RuleIndex, pairs: Sequence[Pair]) -> None:
    for feed, item in pairs:
        for found in index.match(item, feed):
            _ = found.hits


def naive(rules: Sequence[Rule], pairs: Sequence[Pair]) -> None:
    for feed, item in pairs:
        match_item(item, feed, rules)


def check_same(index: RuleIndex, rules: Sequence[Rule], pairs: Sequence[Pair]) -> int:
    """The matches on ``pairs``, after checking the index finds exactly what the naive loop finds."""
    total = 0
    for feed, item in pairs:
        indexed, expected = index.match(item, feed), match_item(item, feed, rules)
        got = [(m.rule.id, m.hits) for m in indexed]
        wanted = [(m.rule.id, m.hits) for m in expected]
        if got != wanted:
            raise AssertionError(f"index and naive loop disagree on {item.title!r}:\n  index {got}\n  naive {wanted}")
        total += len(indexed)
    return total


def traced(build: Callable[[], T]) -> tuple[T, int, int]:
    """What ``build`` returns, the memory it keeps, and its peak while running (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    built = build()
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return built, after - before, peak - before


def measure(size: int, vocabulary: Vocabulary, pairs: list[Pair]) -> str:
    items = [item for _, item in pairs]
    vocabulary.rng.seed(SEED + size)
    rules = make_rules(size, vocabulary)
    start = time.perf_counter()
    index = RuleIndex(rules)
    build = time.perf_counter() - start

    timed = pairs if size <= NAIVE_FULL_UP_TO else pairs[::NAIVE_SUBSET_STEP]
    matches = check_same(index, rules, pairs if size <= NAIVE_FULL_UP_TO else timed)
    if timed is not pairs:
        matches = sum(len(index.match(item, feed)) for feed, item in pairs)
    candidates = statistics.mean(len(index.candidate_ids(ItemText(item))) for item in items)
    unanchored = sum(1 for rule in rules if not requirements(rule.condition, frozenset(rule.fields), rule.stem))

    rounds = interleaved(
        [
            (lambda: tokenise(items), len(items)),
            (lambda: presearch(index, items), len(items)),
            (lambda: engine(index, pairs), len(pairs)),
            (lambda: explained(index, pairs), len(pairs)),
        ],
        REPEATS,
    )
    base, pre, full, why = (median_time(rounds, which) for which in range(4))
    # naive/engine compares like with like: the engine on the items the loop runs on, in turn.
    slow = interleaved(
        [(lambda: naive(rules, timed), len(timed)), (lambda: engine(index, timed), len(timed))],
        REPEATS if timed is pairs else 3,
    )
    loop = median_time(slow, 0)
    return (
        f"{size:>6} {base * 1e6:>7.1f}µs {pre * 1e6:>7.1f}µs {full * 1e6:>7.1f}µs {why * 1e6:>7.1f}µs "
        f"{loop * 1e6:>9.1f}µs {median_ratio(rounds, 1, 0):>6.2f}x {median_ratio(rounds, 2, 0):>7.2f}x "
        f"{median_ratio(rounds, 3, 0):>7.2f}x {median_ratio(slow, 0, 1):>8.1f}x "
        f"{candidates:>6.1f} {unanchored:>5} "
        f"{matches / len(pairs):>6.2f} {build * 1e3:>6.0f}ms" + ("  naive: subset" if timed is not pairs else "")
    )


def main() -> None:
    pairs = load_items()
    FEED_IDS.extend(sorted({feed.id for feed, _ in pairs}))
    vocabulary = Vocabulary(pairs, random.Random(SEED))
    print(
        f"{len(pairs)} items of {len(FEED_IDS)} bundled feeds; {len(vocabulary.frequency)} distinct words, rules "
        f"drawn from {len(vocabulary.words)}; seed {SEED}. Per item, medians of {REPEATS} rounds (ratios: median "
        f"of each round's ratio); the naive loop "
        f"over {NAIVE_FULL_UP_TO:,}+ rules on every {NAIVE_SUBSET_STEP}th item "
        f"({len(pairs[::NAIVE_SUBSET_STEP])}), 3 runs."
    )
    print(
        "tokenise = tokens() of the 3 fields (baseline); presearch = ItemText + candidate lookup;\n"
        "engine = ItemText + RuleIndex.match (which rules fire); explain = engine + every match's hits read;\n"
        "naive = match_item over all rules; cand = candidates per item\n"
        "(unanchored included); unanch = rules with no anchor; match = matches per item (index = naive, checked)\n"
    )
    header = (
        f"{'rules':>6} {'tokenise':>9} {'presearch':>9} {'engine':>9} {'explain':>9} {'naive':>11} {'pre/tok':>7} "
        f"{'eng/tok':>8} {'exp/tok':>8} {'naive/eng':>9} {'cand':>6} {'unanch':>5} {'match':>6} {'build':>8}"
    )
    print(header)
    print("-" * len(header))
    for size in SIZES:
        print(measure(size, vocabulary, pairs), flush=True)

    size = SIZES[-1]
    vocabulary.rng.seed(SEED + size)
    rules, rules_kept, _ = traced(lambda: make_rules(size, vocabulary))
    index, index_kept, index_peak = traced(lambda: RuleIndex(rules))
    # Matching every item compiles the deciders of every rule that is ever a candidate
    # and fills the per-word caches: what a long-lived worker ends up holding.
    _, used_kept, used_peak = traced(lambda: engine(index, pairs))
    print(
        f"\nmemory at {size:,} rules (tracemalloc): the rules {rules_kept / 2**20:.1f} MB; the index "
        f"{index_kept / 2**20:.1f} MB kept, {index_peak / 2**20:.1f} MB at its peak while building, "
        f"{used_kept / 2**20:.1f} MB more once every item was matched (peak {used_peak / 2**20:.1f} MB); "
        f"rules + index peak {(rules_kept + max(index_peak, index_kept + used_peak)) / 2**20:.1f} MB"
    )


if __name__ == "__main__":
    main()
