"""Backtests: how many alerts each rule would have sent per day, over items already seen.

Pure: items in, report out. Stories are folded as the pipeline folds them (same
GUID or link anywhere; same headline in another feed within the story window),
so a count is alerts, not items.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wirewatch.core.dedupe import story_keys
from wirewatch.core.index import RuleIndex

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import date, datetime, timedelta

    from wirewatch.core.model import FeedSource, Item, Match, Rule

SAMPLES_PER_RULE = 3


@dataclass
class RuleBacktest:
    rule: Rule
    per_day: Counter[date] = field(default_factory=Counter)
    samples: list[Match] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.per_day.values())


@dataclass
class BacktestReport:
    rules: list[RuleBacktest]
    items: int
    undated: int


class _Stories:
    """Story identity in memory, by the same keys the pipeline stores in DynamoDB."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self.by_key: dict[str, tuple[int, str, datetime]] = {}
        self.next_id = 0

    def story_of(self, item: Item, moment: datetime) -> int:
        keys = story_keys(item)
        for key in keys:
            known = self.by_key.get(key.key)
            if known is None:
                continue
            story, feed_id, when = known
            if key.kind != "title" or (feed_id != item.feed_id and abs(moment - when) <= self.window):
                break
        else:
            story = self.next_id
            self.next_id += 1
        for key in keys:
            known = self.by_key.get(key.key)
            # As the pipeline does: a headline seen outside the window names the newer story.
            if known is None or (key.kind == "title" and abs(moment - known[2]) > self.window):
                self.by_key[key.key] = (story, item.feed_id, moment)
        return story


def backtest(
    items: Iterable[tuple[FeedSource, Item]],
    rules: Sequence[Rule],
    *,
    since: datetime,
    story_window: timedelta,
) -> BacktestReport:
    """Run ``rules`` over ``items`` published (or seen) since ``since``, oldest first."""
    dated: list[tuple[datetime, FeedSource, Item]] = []
    undated = 0
    for feed, item in items:
        if item.published is None:
            undated += 1
        elif item.published >= since:
            dated.append((item.published, feed, item))
    dated.sort(key=lambda entry: entry[0])
    stories = _Stories(story_window)
    results = {rule.id: RuleBacktest(rule) for rule in rules}
    index = RuleIndex(rules)  # the pipeline's matcher: a month of items against thousands of rules
    alerted: dict[str, set[int]] = defaultdict(set)
    for moment, feed, item in dated:
        story = stories.story_of(item, moment)
        for found in index.match(item, feed):
            rule_id = found.rule.id
            if story in alerted[rule_id]:
                continue
            alerted[rule_id].add(story)
            result = results[rule_id]
            result.per_day[moment.date()] += 1
            if len(result.samples) < SAMPLES_PER_RULE:
                result.samples.append(found)
    return BacktestReport(rules=list(results.values()), items=len(dated), undated=undated)
