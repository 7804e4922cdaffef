"""Matching cost per item: the example rules against every bundled item.

Baseline, measured in the same run: normalising and tokenising the item's three
fields alone (work any matcher must do). Prints per-item times and the ratio.

    .venv/bin/python bench/matching.py
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from wirewatch.core.feeds import parse_feed
from wirewatch.core.matching import match_item
from wirewatch.core.model import Field
from wirewatch.core.normalize import tokens
from wirewatch.core.watchfile import load_watch

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 7


def _median_per_item(work: object, items: list, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work(items)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times) / len(items)


def main() -> None:
    config = load_watch((ROOT / "examples" / "watch.yaml").read_text(encoding="utf-8"))
    now = datetime.now(UTC)
    pairs = []
    for feed in config.feeds:
        path = next((ROOT / "examples" / "feeds").glob(f"{feed.id}.*"))
        pairs += [(feed, item) for item in parse_feed(path.read_bytes(), feed, now=now).items]
    items = [item for _, item in pairs]

    def tokenise(batch: list) -> None:
        for item in batch:
            for part in Field:
                tokens(item.text(part))

    def match(batch: list) -> None:
        for feed, item in batch:
            match_item(item, feed, config.rules)

    baseline = _median_per_item(tokenise, items)
    engine = _median_per_item(match, pairs)
    print(f"{len(items)} items, {len(config.rules)} rules (examples/watch.yaml), median of {REPEATS} runs")
    print(f"normalise+tokenise (baseline): {baseline * 1e6:8.1f} µs/item")
    print(f"match_item, all rules:         {engine * 1e6:8.1f} µs/item  ({engine / baseline:.2f}x baseline)")


if __name__ == "__main__":
    main()
