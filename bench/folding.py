"""Near-duplicate folding measured on the labelled pairs of tests/fixtures/neardup/pairs.yaml.

Folding a later report b into the alert of a first report a needs three things, as the
poll worker does them: a and b share an LSH band key (the lookup), their signatures agree
(``same_event``), and b comes within the fold window of a. The pairs carry publication days
only, so "within 24 h" is read as "on the same or the next day".

    .venv/bin/python bench/folding.py [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from wirewatch.core import neardup
from wirewatch.core.model import Item

PAIRS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "neardup" / "pairs.yaml"
WINDOW = timedelta(hours=24)
SCOPE = "bench-rule"
_NOON = datetime(2024, 1, 1, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Outcome:
    pair_id: str
    lang: str
    same_event: bool
    overlap: float | None  # None: a text too short for a signature
    candidate: bool  # shares a band key
    verified: bool  # same_event on the signatures
    in_window: bool

    @property
    def folded(self) -> bool:
        return self.candidate and self.verified and self.in_window


def load_pairs(path: Path = PAIRS) -> list[dict[str, object]]:
    pairs: list[dict[str, object]] = yaml.safe_load(path.read_text(encoding="utf-8"))["pairs"]
    return pairs


def _item(text: dict[str, str]) -> Item:
    return Item(feed_id="bench", title=text["title"], link="https://example.org/", summary=text.get("summary") or "")


def _day(text: dict[str, object]) -> date:
    value = text["published"]
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def evaluate(pair: dict[str, object]) -> Outcome:
    a, b = pair["a"], pair["b"]
    assert isinstance(a, dict) and isinstance(b, dict)
    sig_a, sig_b = neardup.signature(_item(a)), neardup.signature(_item(b))
    in_window = abs((_day(b) - _day(a)).days) * timedelta(days=1) <= WINDOW
    if sig_a is None or sig_b is None:
        return Outcome(str(pair["id"]), str(pair["lang"]), bool(pair["same_event"]), None, False, False, in_window)
    shared = set(neardup.band_keys(sig_a, SCOPE)) & set(neardup.band_keys(sig_b, SCOPE))
    return Outcome(
        str(pair["id"]),
        str(pair["lang"]),
        bool(pair["same_event"]),
        neardup.overlap(sig_a, sig_b),
        bool(shared),
        neardup.same_event(sig_a, sig_b),
        in_window,
    )


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


def score(outcomes: list[Outcome], *, window: bool = True) -> Scores:
    counts: Counter[str] = Counter()
    for outcome in outcomes:
        folded = outcome.folded if window else outcome.candidate and outcome.verified
        counts[("t" if folded == outcome.same_event else "f") + ("p" if folded else "n")] += 1
    return Scores(counts["tp"], counts["fp"], counts["fn"], counts["tn"])


def _table(outcomes: list[Outcome]) -> list[str]:
    folding, text_only = score(outcomes), score(outcomes, window=False)
    by_lang = Counter((o.lang, o.same_event) for o in outcomes)
    candidates = sum(o.candidate for o in outcomes)
    verified = sum(o.candidate and o.verified for o in outcomes)
    return [
        f"pairs: {len(outcomes)} "
        + ", ".join(
            f"{lang} {by_lang[lang, True]} same / {by_lang[lang, False]} different"
            for lang in sorted({o.lang for o in outcomes})
        ),
        f"parameters: {neardup.PERMUTATIONS} permutations, {neardup.BANDS} bands x {neardup.ROWS} row(s), "
        f"features = words minus EN/FR stop words cut to {neardup.STEM_LENGTH} letters, "
        f"same_event = estimated overlap >= {neardup.THRESHOLD}, window {WINDOW.total_seconds() / 3600:.0f} h",
        f"LSH: {candidates} of {len(outcomes)} pairs share a band ({candidates / len(outcomes):.0%}); "
        f"{verified} of them verified as the same event",
        f"folding (band + signature + window): precision {folding.precision:.3f}, recall {folding.recall:.3f} "
        f"(TP {folding.tp}, FP {folding.fp}, FN {folding.fn}, TN {folding.tn})",
        f"signature alone (no window):         precision {text_only.precision:.3f}, recall {text_only.recall:.3f} "
        f"(TP {text_only.tp}, FP {text_only.fp}, FN {text_only.fn}, TN {text_only.tn})",
        *(_language_line(outcomes, lang) for lang in sorted({o.lang for o in outcomes})),
        _sweep(outcomes),
    ]


def _language_line(outcomes: list[Outcome], lang: str) -> str:
    scores = score([o for o in outcomes if o.lang == lang])
    return f"  {lang}: precision {scores.precision:.3f}, recall {scores.recall:.3f} (TP {scores.tp}, FP {scores.fp})"


def _sweep(outcomes: list[Outcome]) -> str:
    """Precision and recall of folding had the threshold been another, for choosing it."""
    cells = []
    for threshold in (0.25, 0.28, 0.30, 0.33, 0.36, 0.40, 0.45, 0.50):
        swept = [
            Outcome(
                o.pair_id, o.lang, o.same_event, o.overlap, o.candidate, (o.overlap or 0.0) >= threshold, o.in_window
            )
            for o in outcomes
        ]
        scores = score(swept)
        cells.append(f"{threshold:.2f}: P {scores.precision:.2f} R {scores.recall:.2f}")
    return "threshold sweep: " + " | ".join(cells)


def _misses(outcomes: list[Outcome]) -> list[str]:
    lines = []
    for o in sorted(outcomes, key=lambda o: (o.same_event, o.overlap or 0.0)):
        wrong = o.folded != o.same_event
        if wrong or (not o.same_event and o.verified):
            kind = "missed" if o.same_event else ("FOLDED" if o.folded else "kept apart by the window only")
            lines.append(f"  {kind:30} overlap {o.overlap if o.overlap is not None else float('nan'):.3f}  {o.pair_id}")
    return lines


EXAMPLE_WATCH = Path(__file__).resolve().parents[1] / "examples" / "watch.yaml"
WITHIN_RULES = "within the example rules (the poll worker's check)"


@dataclass(frozen=True)
class WithinRules:
    windowed: Scores
    unwindowed: Scores
    wrong: list[str]


def _scores(counts: Counter[tuple[bool, bool]]) -> Scores:
    return Scores(counts[True, True], counts[False, True], counts[True, False], counts[False, False])


def within_rules(pairs: list[dict[str, object]]) -> WithinRules:
    """The check the poll worker makes (``neardup.same_event_in_rule``: the rule's matched
    words at half weight, two different named weekdays apart) on the pairs both of whose
    texts an example rule matches, with and without the window."""
    from wirewatch.core.matching import match_item
    from wirewatch.core.model import FeedSource
    from wirewatch.core.watchfile import load_watch

    config = load_watch(EXAMPLE_WATCH.read_text(encoding="utf-8"))
    feed = FeedSource("bench", "https://bench.example/feed")
    windowed: Counter[tuple[bool, bool]] = Counter()
    unwindowed: Counter[tuple[bool, bool]] = Counter()
    wrong: list[str] = []
    for pair in pairs:
        first, later = _item(pair["a"]), _item(pair["b"])  # type: ignore[arg-type]
        in_window = abs((_day(pair["b"]) - _day(pair["a"])).days) * timedelta(days=1) <= WINDOW  # type: ignore[arg-type]
        by_rule = {m.rule.id: m for m in match_item(first, feed, config.rules)}
        for match in match_item(later, feed, config.rules):
            if match.rule.id not in by_rule:
                continue
            a = neardup.report(first, by_rule[match.rule.id].matched)
            b = neardup.report(later, match.matched)
            folded = a is not None and b is not None and neardup.same_event_in_rule(b, a.record("a", _NOON))
            same = bool(pair["same_event"])
            unwindowed[same, folded] += 1
            windowed[same, folded and in_window] += 1
            if folded != same:
                kind = "missed" if same else ("FOLDED" if in_window else "kept apart by the window only")
                wrong.append(f"  {kind:30} {match.rule.id:25} {pair['id']}")
    return WithinRules(_scores(windowed), _scores(unwindowed), wrong)


def _within_rules_lines(pairs: list[dict[str, object]], label: str) -> list[str]:
    found = within_rules(pairs)
    lines = []
    for name, scores in (("within the window", found.windowed), ("no window", found.unwindowed)):
        lines.append(
            f"{label}, {name}: {scores.tp + scores.fn} same-event and {scores.fp + scores.tn} different-event "
            f"(pair, rule)s: precision {scores.precision:.3f}, recall {scores.recall:.3f} "
            f"(TP {scores.tp}, FP {scores.fp}, FN {scores.fn}, TN {scores.tn})"
        )
    return lines + found.wrong


def _within_rules_sweep(pairs: list[dict[str, object]]) -> str:
    """The worker's check had the rule's words weighed otherwise, with no window: for choosing
    the weight (0 leaves them out, 1 counts them as any other word)."""
    cells = []
    saved = neardup.RULE_WORD_WEIGHT
    try:
        for weight in (0.0, 0.25, 0.5, 0.75, 1.0):
            neardup.RULE_WORD_WEIGHT = weight
            scores = within_rules(pairs).unwindowed
            cells.append(f"{weight:.2f}: P {scores.precision:.2f} R {scores.recall:.2f}")
    finally:
        neardup.RULE_WORD_WEIGHT = saved
    return "rule words' weight sweep (no window): " + " | ".join(cells)


def _markdown(outcomes: list[Outcome]) -> str:
    lines = ["## Near-duplicate folding (`bench/folding.py`)", "", "```"]
    lines += _table(outcomes)
    lines += _within_rules_lines(load_pairs(), WITHIN_RULES)
    lines.append(_within_rules_sweep(load_pairs()))
    lines += ["```", "", "Pairs not folded as labelled, and different events only the window keeps apart:", "", "```"]
    lines += _misses(outcomes)
    lines += ["```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a section for bench/RESULTS.md")
    args = parser.parse_args(argv)
    outcomes = [evaluate(pair) for pair in load_pairs()]
    if args.markdown:
        print(_markdown(outcomes))
        return 0
    print("\n".join(_table(outcomes)))
    print("\n".join(_within_rules_lines(load_pairs(), WITHIN_RULES)))
    print(_within_rules_sweep(load_pairs()))
    print("\n".join(_misses(outcomes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
