"""Matching cost per item as rules grow: the presearch index against the naive loop.

Generates 10, 100, 1,000 and 10,000 realistic rules (fixed seed) from the words of
the bundled real feeds, and matches every bundled item against them. Baselines,
measured in the same run: normalising and tokenising the item's three fields alone
(work any matcher must do), and the naive evaluator (``match_item``: every rule
evaluated). Prints per-item times (medians of several runs), the ratios, the
candidates per item, the matches, and the memory of the 10,000-rule index. Fails
loudly if the index and the naive loop ever disagree on the items timed.

    .venv/bin/python bench/matching.py
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from wirewatch.core.feeds import parse_feed
from wirewatch.core.index import RuleIndex
from wirewatch.core.matching import ItemText, match_item, stem
from wirewatch.core.model import ALL_FIELDS, FeedSource, Field, Group, Item, Match, Near, Pattern, Rule, Scoped, Severity, Term
from wirewatch.core.normalize import tokens
from wirewatch.core.watchfile import compile_term

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2024, 6, 26, 6, tzinfo=UTC)
SIZES = (10, 100, 1_000, 10_000)
SEED = 20240626
REPEATS = 7
NAIVE_FULL_UP_TO = 1_000  # above this many rules, the naive loop is timed on a subset of items
NAIVE_SUBSET_STEP = 7  # every 7th item: 45 of 315

Pair = tuple[FeedSource, Item]


# ---------------------------------------------------------------- corpus


def load_items() -> list[Pair]:
    pairs: list[Pair] = []
    for path in sorted((ROOT / "examples" / "feeds").iterdir()):
        feed_id = path.name.split(".", 1)[0]
        feed = FeedSource(id=feed_id, url=f"https://feeds.example.org/{feed_id}", tags=frozenset({feed_id[:2]}))
        pairs += [(feed, item) for item in parse_feed(path.read_bytes(), feed, now=NOW).items]
    return pairs


class Vocabulary:
    """Words of the corpus, drawn as watch rules draw them: mostly mid and low frequency."""

    def __init__(self, pairs: list[Pair], rng: random.Random) -> None:
        self.rng = rng
        frequency: Counter[str] = Counter()
        self.item_words: list[list[str]] = []
        for _, item in pairs:
            words = sorted({word for part in Field for word in tokens(item.text(part))})
            frequency.update(words)
            self.item_words.append([w for w in words if self._usable(w)])
        items = len(pairs)
        self.frequency = frequency
        # Frequent words (articles, "said", "les") are what nobody watches for; words
        # seen once are the bulk of any vocabulary; in between are names and topics.
        usable = [w for w, n in frequency.items() if self._usable(w) and n <= 0.05 * items]
        weights = [3.0 if n >= 2 else 1.0 for n in (frequency[w] for w in usable)]
        self.words = usable
        self.weights = weights
        self.common = [w for w, n in frequency.most_common(60) if len(w) >= 3]
        self.titles = [tokens(item.title) for _, item in pairs]
        self.titles = [title for title in self.titles if len(title) >= 3]

    @staticmethod
    def _usable(word: str) -> bool:
        return len(word) >= 4 and not word.isdigit()

    def word(self) -> str:
        return self.rng.choices(self.words, self.weights)[0]

    def phrase(self) -> str:
        title = self.rng.choice(self.titles)
        length = self.rng.choice((2, 2, 3))
        start = self.rng.randrange(0, max(1, len(title) - length + 1))
        return '"' + " ".join(title[start : start + length]) + '"'

    def prefix(self, word: str | None = None) -> str:
        word = word or self.word()
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


def make_rules(count: int, vocabulary: Vocabulary) -> list[Rule]:
    rng = vocabulary.rng
    rules = []
    for number in range(count):
        # A third of rules are about a story actually in the corpus (their groups share
        # words with one item), the rest about anything: they mostly never fire.
        seed = rng.randrange(len(vocabulary.item_words))
        seed_words = vocabulary.item_words[seed] if rng.random() < 0.33 else []
        groups: list[Group | Near | Pattern | Scoped] = []
        for _ in range(rng.choice((2, 2, 3))):
            terms = tuple(compile_term(make_term(vocabulary, seed_words)) for _ in range(rng.randint(2, 6)))
            groups.append(Group("any", terms))
        if rng.random() < 0.10:
            left, right = compile_term(make_term(vocabulary, seed_words)), compile_term(vocabulary.word())
            distance = rng.randint(3, 10)
            groups[-1] = Near(left, right, distance, f"{left.text} NEAR/{distance} {right.text}")
        if rng.random() < 0.05:
            groups[0] = Scoped(Field.TITLE, groups[0])
        if rng.random() < 0.20:
            excluded: list[Term | Pattern] = [compile_term(rng.choice(vocabulary.common)) for _ in range(rng.randint(1, 3))]
            if rng.random() < 0.1:
                excluded.append(Pattern(r"\b(?:opinion|tribune|editorial)\b"))
            groups.append(Group("none", tuple(excluded)))
        if rng.random() < 0.005:
            # A rule only a pattern can express: no word to index it by.
            groups = [Group("any", (Pattern(r"\b\d{2,3} (?:morts|dead|killed)\b"), Pattern(r"\bm[0-9]\.[0-9]\b")))]
        language = rng.random()
        rules.append(
            Rule(
                id=f"rule-{number}",
                title=f"generated rule {number}",
                severity=Severity.MEDIUM,
                condition=Group("all", tuple(groups)),
                fields=(Field.TITLE, Field.SUMMARY) if rng.random() < 0.05 else ALL_FIELDS,
                feeds=frozenset({rng.choice(FEED_IDS)}) if rng.random() < 0.10 else frozenset(),
                stem=("fr",) if language < 0.05 else ("en",) if language < 0.10 else (),
            )
        )
    return rules


FEED_IDS: list[str] = []


# ---------------------------------------------------------------- timing


def median_per_item(work: Callable[[], object], items: int, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / items


def same(engine: list[Match], naive: list[Match], item: Item) -> None:
    if engine != naive:
        got = [(m.rule.id, m.matched) for m in engine]
        expected = [(m.rule.id, m.matched) for m in naive]
        raise AssertionError(f"index and naive loop disagree on {item.title!r}:\n  index {got}\n  naive {expected}")


def memory_of(build: Callable[[], object]) -> tuple[object, int, int]:
    """What ``build`` returns, the memory it keeps, and the peak while it ran."""
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    built = build()
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return built, after - before, peak - before


def main() -> None:
    pairs = load_items()
    FEED_IDS.extend(sorted({feed.id for feed, _ in pairs}))
    items = [item for _, item in pairs]
    vocabulary = Vocabulary(pairs, random.Random(SEED))
    print(
        f"{len(items)} items of {len(FEED_IDS)} bundled feeds; vocabulary {len(vocabulary.frequency)} words, "
        f"rules drawn from {len(vocabulary.words)}; seed {SEED}; medians of {REPEATS} runs (naive at "
        f"10,000 rules: every {NAIVE_SUBSET_STEP}th item, {len(pairs[::NAIVE_SUBSET_STEP])} items, 3 runs)"
    )

    header = (
        f"{'rules':>6} {'tokenise':>9} {'engine':>9} {'naive':>10} {'engine/tok':>10} {'naive/engine':>12} "
        f"{'cand/item':>9} {'matches':>7} {'build':>8}"
    )
    print(header)
    print("-" * len(header))
    rules_memory = index_memory = index_peak = 0
    for size in SIZES:
        vocabulary.rng.seed(SEED + size)
        if size == SIZES[-1]:
            built, rules_memory, _ = memory_of(lambda: make_rules(size, vocabulary))
            rules = built  # type: ignore[assignment]
        else:
            rules = make_rules(size, vocabulary)
        start = time.perf_counter()
        index = RuleIndex(rules)
        build = time.perf_counter() - start
        if size == SIZES[-1]:
            _, index_memory, index_peak = memory_of(lambda: RuleIndex(rules))

        naive_pairs = pairs if size <= NAIVE_FULL_UP_TO else pairs[::NAIVE_SUBSET_STEP]
        engine_found = [index.match(item, feed) for feed, item in pairs]
        step = 1 if naive_pairs is pairs else NAIVE_SUBSET_STEP
        for (feed, item), found in zip(naive_pairs, engine_found[::step], strict=True):
            same(found, match_item(item, feed, rules), item)
        candidates = statistics.mean(len(index.candidates(ItemText(item))) for item in items)
        matches = sum(len(found) for found in engine_found)

        tokenise_time = baseline_now(items)
        engine = median_per_item(lambda: [index.match(i, f) for f, i in pairs], len(pairs))
        repeats = REPEATS if size <= NAIVE_FULL_UP_TO else 3
        naive = median_per_item(lambda: [match_item(i, f, rules) for f, i in naive_pairs], len(naive_pairs), repeats)
        if naive_pairs is not pairs:
            # The ratio compares like with like: the engine on the same subset.
            engine_subset = median_per_item(lambda: [index.match(i, f) for f, i in naive_pairs], len(naive_pairs))
        else:
            engine_subset = engine
        print(
            f"{size:>6} {tokenise_time * 1e6:>7.1f}µs {engine * 1e6:>7.1f}µs {naive * 1e6:>8.1f}µs "
            f"{engine / tokenise_time:>9.2f}x {naive / engine_subset:>11.1f}x {candidates:>9.1f} {matches:>7} "
            f"{build * 1e3:>6.0f}ms" + ("  (naive: subset)" if naive_pairs is not pairs else "")
        )
    print(
        f"\nmemory, 10,000 rules (tracemalloc): rules {rules_memory / 2**20:.1f} MB; index kept "
        f"{index_memory / 2**20:.1f} MB, peak while building {index_peak / 2**20:.1f} MB; "
        f"rules + index peak {(rules_memory + index_peak) / 2**20:.1f} MB"
    )


def baseline_now(items: Sequence[Item]) -> float:
    """The tokenising baseline again, next to each size's figures: the machine drifts."""

    def tokenise() -> None:
        for item in items:
            for part in Field:
                tokens(item.text(part))

    return median_per_item(tokenise, len(items))


if __name__ == "__main__":
    main()
