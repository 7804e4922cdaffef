"""Near-duplicate folding measured on the labelled pairs of tests/fixtures/neardup/pairs.yaml.

Folding a later report b into the alert of a first report a needs three things, as the
poll worker does them: a and b share an LSH band key (the lookup), the worker's check says
they are one event (``neardup.same_event_in_rule``), and b comes within the fold window of
a. The pairs carry publication days only, so "within 24 h" is read as "on the same or the
next day".

The check discounts the words the rule matched, so it is measured two ways:
- any rule: none of the pair's words is the rule's, which folds the most any rule can;
- within the example rules (examples/watch.yaml), on the pairs both of whose texts a rule
  matches, with the words it matched.

    .venv/bin/python bench/folding.py [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from wirewatch.core import neardup
from wirewatch.core.matching import match_item
from wirewatch.core.model import FeedSource, Item
from wirewatch.core.watchfile import load_watch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "tests" / "fixtures" / "neardup" / "pairs.yaml"
EXAMPLE_WATCH = ROOT / "examples" / "watch.yaml"
WINDOW = timedelta(hours=24)
SCOPE = "bench-rule"
ADDED = "rule"  # the key the pairs added on 2026-11-28 carry
_NOON = datetime(2024, 1, 1, 12, tzinfo=UTC)
_FEED = FeedSource("bench", "https://bench.example/feed")


@dataclass(frozen=True)
class Outcome:
    pair_id: str
    lang: str
    same_event: bool
    added: bool  # one of the same-day pairs added on 2026-11-28
    rule: str  # "" for any rule, else the example rule's id
    share: float  # shared words over the shorter report's
    candidate: bool  # shares a band key
    checked: bool  # the worker's check says one event
    in_window: bool

    @property
    def folded(self) -> bool:
        return self.candidate and self.checked and self.in_window


def load_pairs(path: Path = PAIRS) -> list[dict[str, object]]:
    pairs: list[dict[str, object]] = yaml.safe_load(path.read_text(encoding="utf-8"))["pairs"]
    return pairs


def _item(text: dict[str, str]) -> Item:
    return Item(feed_id="bench", title=text["title"], link="https://example.org/", summary=text.get("summary") or "")


def _day(text: dict[str, object]) -> date:
    value = text["published"]
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _outcome(pair: dict[str, object], rule: str, a: neardup.Report | None, b: neardup.Report | None) -> Outcome:
    first, later = pair["a"], pair["b"]
    assert isinstance(first, dict) and isinstance(later, dict)
    in_window = abs((_day(later) - _day(first)).days) * timedelta(days=1) <= WINDOW
    facts = (str(pair["id"]), str(pair["lang"]), bool(pair["same_event"]), ADDED in pair, rule)
    if a is None or b is None:
        return Outcome(*facts, 0.0, False, False, in_window)
    shared = set(neardup.band_keys(a.signature, SCOPE)) & set(neardup.band_keys(b.signature, SCOPE))
    share = len(a.features & b.features) / min(len(a.features), len(b.features))
    checked = neardup.same_event_in_rule(b, a.record("alert#a", _NOON))
    return Outcome(*facts, share, bool(shared), checked, in_window)


def any_rule(pairs: list[dict[str, object]]) -> list[Outcome]:
    """Each pair as a rule that matched none of its words sees it."""
    return [
        _outcome(pair, "", neardup.report(_item(pair["a"]), ()), neardup.report(_item(pair["b"]), ()))  # type: ignore[arg-type]
        for pair in pairs
    ]


def example_rules(pairs: list[dict[str, object]]) -> list[Outcome]:
    """Each pair as every example rule matching both its texts sees it (none: left out)."""
    rules = load_watch(EXAMPLE_WATCH.read_text(encoding="utf-8")).rules
    outcomes = []
    for pair in pairs:
        first, later = _item(pair["a"]), _item(pair["b"])  # type: ignore[arg-type]
        by_rule = {match.rule.id: match for match in match_item(first, _FEED, rules)}
        for match in match_item(later, _FEED, rules):
            if match.rule.id in by_rule:
                a = neardup.report(first, by_rule[match.rule.id].matched)
                outcomes.append(_outcome(pair, match.rule.id, a, neardup.report(later, match.matched)))
    return outcomes


@dataclass(frozen=True)
class Scores:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def __str__(self) -> str:
        return (
            f"precision {self.precision:.3f}, recall {self.recall:.3f} "
            f"(TP {self.tp}, FP {self.fp}, FN {self.fn}, TN {self.tn})"
        )


def score(outcomes: list[Outcome], *, window: bool = True) -> Scores:
    counts: Counter[str] = Counter()
    for outcome in outcomes:
        folded = outcome.folded if window else outcome.candidate and outcome.checked
        counts[("t" if folded == outcome.same_event else "f") + ("p" if folded else "n")] += 1
    return Scores(counts["tp"], counts["fp"], counts["fn"], counts["tn"])


@contextmanager
def _share_in_rule(value: float) -> Iterator[None]:
    saved = neardup.SHARE_IN_RULE
    neardup.SHARE_IN_RULE = value
    try:
        yield
    finally:
        neardup.SHARE_IN_RULE = saved


def _sweep(pairs: list[dict[str, object]], measure: Callable[[list[dict[str, object]]], list[Outcome]]) -> str:
    """Precision and recall had the share been another, for choosing it."""
    cells = []
    for share in (0.33, 0.36, 0.40, 0.44, 0.46, 0.48, 0.50, 0.55, 0.60):
        with _share_in_rule(share):
            scores = score(measure(pairs))
        cells.append(f"{share:.2f}: P {scores.precision:.2f} R {scores.recall:.2f}")
    return " | ".join(cells)


def _table(pairs: list[dict[str, object]]) -> list[str]:
    anyrule, within = any_rule(pairs), example_rules(pairs)
    by_lang = Counter((o.lang, o.same_event) for o in anyrule)
    candidates = sum(o.candidate for o in anyrule)
    closest = max((o for o in anyrule + within if not o.same_event and o.in_window), key=lambda o: o.share)
    return [
        f"pairs: {len(pairs)} "
        + ", ".join(
            f"{lang} {by_lang[lang, True]} same / {by_lang[lang, False]} different"
            for lang in sorted({o.lang for o in anyrule})
        )
        + f"; {sum(o.added for o in anyrule)} of them added on 2026-11-28 (same-day pairs for the example rules)",
        f"features: words minus EN/FR stop words cut to {neardup.STEM_LENGTH} letters; the worker's check: "
        f"at least {neardup.SHARE_IN_RULE:.2f} of the shorter report's features shared, "
        f"{neardup.MIN_SHARED_BEYOND_RULE} of them and {neardup.MIN_FEATURES} of each report's beyond the rule's "
        "words, no two different weekdays named; "
        f"window {WINDOW.total_seconds() / 3600:.0f} h",
        f"LSH ({neardup.BANDS} bands x {neardup.ROWS} row(s) of {neardup.PERMUTATIONS} permutations): "
        f"{candidates} of {len(pairs)} pairs share a band ({candidates / len(pairs):.0%})",
        f"folding, any rule (band + check + window): {score(anyrule)}",
        *(f"  {lang}: {score([o for o in anyrule if o.lang == lang])}" for lang in sorted({o.lang for o in anyrule})),
        f"  the first {sum(not o.added for o in anyrule)} pairs: {score([o for o in anyrule if not o.added])}",
        f"  the {sum(o.added for o in anyrule)} added:       {score([o for o in anyrule if o.added])}",
        f"  no window: {score(anyrule, window=False)}",
        f"within the example rules, {len(within)} (pair, rule)s: {score(within)}",
        f"  the first pairs: {score([o for o in within if not o.added])}",
        f"  the added:       {score([o for o in within if o.added])}",
        f"  no window: {score(within, window=False)}",
        f"closest different events within the window: share {closest.share:.3f} ({closest.pair_id})",
        "share sweep, any rule:              " + _sweep(pairs, any_rule),
        "share sweep, within example rules:  " + _sweep(pairs, example_rules),
        _signature_line(pairs),
    ]


def _signature_line(pairs: list[dict[str, object]]) -> str:
    """The MinHash estimate alone on all words (what the bands approximate), for comparison."""
    counts: Counter[tuple[bool, bool]] = Counter()
    for pair in pairs:
        a, b = neardup.signature(_item(pair["a"])), neardup.signature(_item(pair["b"]))  # type: ignore[arg-type]
        in_window = abs((_day(pair["b"]) - _day(pair["a"])).days) <= 1  # type: ignore[arg-type]
        folded = a is not None and b is not None and in_window and neardup.same_event(a, b)
        counts[bool(pair["same_event"]), folded] += 1
    scores = Scores(counts[True, True], counts[False, True], counts[True, False], counts[False, False])
    return f"signature estimate alone, overlap >= {neardup.THRESHOLD} (+ window): {scores}"


def _misses(pairs: list[dict[str, object]]) -> list[str]:
    lines = []
    for o in sorted(any_rule(pairs) + example_rules(pairs), key=lambda o: (o.rule, o.same_event, o.share)):
        if o.folded != o.same_event or (not o.same_event and o.checked):
            if o.same_event:
                kind = "missed"
            elif o.folded:
                kind = "FOLDED"
            else:
                kind = "kept apart by the window only" if o.candidate else "kept apart by the bands only"
            lines.append(f"  {kind:30} {o.rule or 'any rule':25} share {o.share:.3f}  {o.pair_id}")
    return lines


def _markdown(pairs: list[dict[str, object]]) -> str:
    lines = ["## Near-duplicate folding (`bench/folding.py`)", "", "```", *_table(pairs), "```", ""]
    lines += ["Pairs not folded as labelled, and different events only the window or the bands keep apart:", "", "```"]
    lines += [*_misses(pairs), "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a section for bench/RESULTS.md")
    args = parser.parse_args(argv)
    pairs = load_pairs()
    if args.markdown:
        print(_markdown(pairs))
        return 0
    print("\n".join(_table(pairs)))
    print("pairs not folded as labelled, and different events only the window or the bands keep apart:")
    print("\n".join(_misses(pairs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
