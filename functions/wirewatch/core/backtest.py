"""Backtests: how many alerts each rule would have sent per day, over items already seen.

Pure: items in, report out. Items are taken in time order and folded as the pipeline
folds them: one story (same GUID or link anywhere; same headline in another feed within
the story window) alerts a rule once, and a rule's report of an event it already alerted
on under another headline, within the fold window, is counted as folded, not as an alert
(``neardup``, over an in-memory band index). So a count is alerts, not items.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wirewatch.core.dedupe import alert_key, edition, item_key, story_keys
from wirewatch.core.index import RuleIndex
from wirewatch.core.memory_folds import MemoryFoldIndex
from wirewatch.core.model import WatchSettings
from wirewatch.core.neardup import band_keys, first_reports, report

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import date, datetime, timedelta

    from wirewatch.core.model import FeedSource, Item, Match, Rule
    from wirewatch.core.neardup import FoldIndex

SAMPLES_PER_RULE = 3
_DEFAULTS = WatchSettings()


@dataclass
class RuleBacktest:
    rule: Rule
    per_day: Counter[date] = field(default_factory=Counter)
    samples: list[Match] = field(default_factory=list)
    folded: int = 0  # reports of an event the rule had alerted on, counted on that alert

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
    fold_window: timedelta = _DEFAULTS.fold_window,
    band_retention: timedelta | None = None,
) -> BacktestReport:
    """Run ``rules`` over ``items`` published (or seen) since ``since``, oldest first.

    ``band_retention`` is how long the pipeline's fold index keeps a band (None: for good).
    """
    dated: list[tuple[datetime, FeedSource, Item]] = []
    undated = 0
    entries: set[tuple[str, str]] = set()
    for feed, item in items:
        # An entry listed again (two captures of one feed) is one entry, as the seen store
        # makes it: otherwise a GUID-less entry linking to a home page is a new story each time.
        entry = (item_key(item), edition(item))
        if entry in entries:
            continue
        entries.add(entry)
        if item.published is None:
            undated += 1
        elif item.published >= since:
            dated.append((item.published, feed, item))
    # Oldest first, so that the report that alerts and keeps the bands is the first one,
    # as in the pipeline.
    dated.sort(key=lambda entry: entry[0])
    stories = _Stories(story_window)
    folds: FoldIndex = MemoryFoldIndex(band_retention)
    results = {rule.id: RuleBacktest(rule) for rule in rules}
    index = RuleIndex(rules)  # the pipeline's matcher: a month of items against thousands of rules
    alerted: dict[str, datetime] = {}  # alert key → its first report's time
    for moment, feed, item in dated:
        story = str(stories.story_of(item, moment))
        for found in index.match(item, feed):
            result = results[found.rule.id]
            key = alert_key(found.rule.id, story)
            seen_as = report(item, found.matched)
            bands = band_keys(seen_as.signature, found.rule.id) if seen_as is not None else []
            if key in alerted:
                # As the pipeline does: a copy of the story worded otherwise widens the net
                # that folds later reports into its alert, dated from the alert.
                if seen_as is not None:
                    folds.claim(bands, seen_as.record(key, alerted[key]), moment)
                continue
            if seen_as is not None and first_reports(seen_as, folds.find(bands), moment, fold_window):
                result.folded += 1
                continue
            alerted[key] = moment
            result.per_day[moment.date()] += 1
            if len(result.samples) < SAMPLES_PER_RULE:
                result.samples.append(found)
            if seen_as is not None:
                folds.claim(bands, seen_as.record(key, moment), moment)
    return BacktestReport(rules=list(results.values()), items=len(dated), undated=undated)
