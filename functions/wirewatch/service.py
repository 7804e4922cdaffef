"""One polling cycle: gather through ports, decide in the core, apply through ports.

Order of writes is what makes alerts safe (nothing lost, nothing doubled):

    publish what earlier cycles left PENDING
    per feed: fetch → parse → read item keys (batched) → match new items
      → alert records written PENDING (conditional put per rule+story)
      → item keys written SEEN
      → feed validators saved
    every PENDING alert: claim (lease) → publish → SENT

A crash before the pending write re-processes the items next cycle (they are
not yet seen); a crash after it leaves a pending alert that the next cycle
publishes; the conditional put stops a second alert for the same story.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from wirewatch.core.arming import alertable
from wirewatch.core.dedupe import alert_key, item_key, story_id_for, story_keys, within_window
from wirewatch.core.errors import FeedError, PublishError, StoreError
from wirewatch.core.feeds import parse_feed
from wirewatch.core.index import RuleIndex
from wirewatch.core.messages import render
from wirewatch.core.model import WatchConfig
from wirewatch.core.ports import FeedState, StaticConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from wirewatch.core.model import FeedSource, Item, Match
    from wirewatch.core.ports import (
        AlertPublisher,
        AlertStore,
        ConfigSource,
        FeedFetcher,
        ItemArchive,
        SeenStore,
        StateStore,
        StoryRecord,
    )

log = logging.getLogger(__name__)


@dataclass
class FeedOutcome:
    feed_id: str
    status: str  # "updated", "not-modified", "error" or "deferred"
    items: int = 0
    new_items: int = 0
    matches: int = 0
    alerts_created: int = 0
    armed_silently: int = 0
    error: str | None = None
    problems: tuple[str, ...] = ()


@dataclass
class CycleReport:
    feeds: list[FeedOutcome] = field(default_factory=list)
    alerts_sent: int = 0
    publish_errors: int = 0
    sent_keys: list[str] = field(default_factory=list)
    config_rejected: str | None = None

    def total(self, attribute: str) -> int:
        return sum(int(getattr(outcome, attribute)) for outcome in self.feeds)

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.feeds if outcome.status == status)

    @property
    def feed_errors(self) -> int:
        return self.count("error")


@dataclass(frozen=True)
class Ports:
    fetcher: FeedFetcher
    state: StateStore
    seen: SeenStore
    alerts: AlertStore
    publisher: AlertPublisher
    archive: ItemArchive


def is_due(feed: FeedSource, now: datetime, cycle_period: timedelta) -> bool:
    """Whether this cycle polls ``feed``, with no state: a feed polled every N is due in
    the one cycle that crosses each multiple of N (so a 304 costs no write)."""
    if feed.poll_every is None or feed.poll_every <= cycle_period:
        return True
    every = feed.poll_every.total_seconds()
    moment = now.timestamp()
    return int(moment // every) != int((moment - cycle_period.total_seconds()) // every)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Poller:
    """Runs polling cycles for one watch configuration over the given ports.

    ``now`` passed to a cycle is the cycle's time (the schedule's, replayable);
    ``clock`` is real time, for leases, which must hold whatever time a retried
    event carries. ``forget_after`` is how long the stores remember: an item older
    than that could have been seen and forgotten, so it never alerts.
    """

    def __init__(
        self,
        config: WatchConfig | ConfigSource,
        ports: Ports,
        *,
        cycle_period: timedelta,
        forget_after: timedelta,
        clock: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self.source: ConfigSource = StaticConfig(config) if isinstance(config, WatchConfig) else config
        # Loaded by the first cycle, not here: a cold start reads S3 once, not twice.
        self._config: WatchConfig | None = None
        self.index = RuleIndex(())
        self.ports = ports
        self.cycle_period = cycle_period
        self.forget_after = forget_after
        self.clock = clock

    @property
    def config(self) -> WatchConfig:
        """The rules and feeds in force: those of the last cycle, or loaded now."""
        if self._config is None:
            self._refresh()
        assert self._config is not None
        return self._config

    def _refresh(self) -> None:
        config = self.source.current()
        if config is not self._config:
            # Indexing thousands of rules costs more than a cycle's matching: once per version.
            self._config, self.index = config, RuleIndex(config.rules)

    def run_cycle(self, now: datetime, *, poll_all: bool = False, deadline: float | None = None) -> CycleReport:
        """Poll due feeds until ``deadline`` (a ``time.monotonic()`` value), publish alerts.

        Raises:
            StoreError: DynamoDB failed; the whole cycle is safe to retry.
        """
        report = CycleReport()
        self._refresh()
        report.config_rejected = self.source.rejected
        # First what earlier cycles left pending: slow feeds must not delay them.
        self.publish_pending(report)
        rule_ids = [rule.id for rule in self.config.rules]
        new_rules = set(rule_ids) - self.ports.state.armed_rules(rule_ids)
        feeds = [f for f in self.config.feeds if poll_all or is_due(f, now, self.cycle_period)]
        states = self.ports.state.load_feeds([f.id for f in feeds])
        for feed in feeds:
            if deadline is not None and time.monotonic() > deadline:
                # Left for the next cycle rather than cut off by the function timeout.
                report.feeds.append(FeedOutcome(feed.id, "deferred"))
                continue
            state = states.get(feed.id) or FeedState(feed.id)
            report.feeds.append(self._poll_feed(feed, state, new_rules, now))
        if new_rules:
            # Armed only once their first cycle has run, so a crash re-arms them.
            self.ports.state.arm_rules(new_rules, now)
        self.publish_pending(report)
        return report

    def _poll_feed(self, feed: FeedSource, state: FeedState, new_rules: set[str], now: datetime) -> FeedOutcome:
        try:
            return self._poll_feed_unguarded(feed, state, new_rules, now)
        except StoreError:
            raise
        except FeedError as exc:
            error = str(exc)
        except Exception as exc:
            # Whatever a hostile feed triggers, it costs that feed only; the trace is
            # logged for a bug report, the feed's state records the failure.
            log.exception("unexpected failure polling a feed", extra={"feed": feed.id})
            error = f"internal: {type(exc).__name__}"
        self.ports.state.save_feed(state.failed(error, now))
        return FeedOutcome(feed.id, "error", error=error)

    def _poll_feed_unguarded(
        self, feed: FeedSource, state: FeedState, new_rules: set[str], now: datetime
    ) -> FeedOutcome:
        result = self.ports.fetcher.fetch(feed.url, state.validators)
        recovered = replace(state, last_error=None, consecutive_failures=0)
        if result.not_modified:
            if recovered != state:
                self.ports.state.save_feed(recovered)
            return FeedOutcome(feed.id, "not-modified")
        parsed = parse_feed(result.body, feed, content_type=result.content_type, now=now)
        outcome = FeedOutcome(feed.id, "updated", items=len(parsed.items), problems=parsed.problems)
        # On a feed's first poll every rule is arming for it.
        arming = frozenset(r.id for r in self.config.rules) if state.armed_at is None else frozenset(new_rules)
        self._process_items(feed, parsed.items, outcome, arming=arming, now=now)
        updated = replace(recovered, validators=result.validators, armed_at=state.armed_at or now)
        if updated != state:
            self.ports.state.save_feed(updated)
        return outcome

    def _process_items(
        self, feed: FeedSource, items: tuple[Item, ...], outcome: FeedOutcome, *, arming: frozenset[str], now: datetime
    ) -> None:
        by_key = {item_key(item): item for item in items}
        seen = self.ports.seen.seen_items(list(by_key))
        fresh = {key: item for key, item in by_key.items() if key not in seen}
        outcome.new_items = len(fresh)
        settings = self.config.settings
        for item in fresh.values():
            matches = self.index.match(item, feed)
            outcome.matches += len(matches)
            eligible = alertable(
                matches,
                item,
                arming_rules=arming,
                max_age=settings.arming_max_age,
                forget_after=self.forget_after,
                now=now,
            )
            outcome.armed_silently += len(matches) - len(eligible)
            if eligible:
                outcome.alerts_created += self._create_alerts(feed, item, eligible, now)
        # Archived before marked seen: a crash in between re-archives, never loses.
        self.ports.archive.archive(list(fresh.values()), now)
        self.ports.seen.mark_items_seen(list(fresh), now)

    def _create_alerts(self, feed: FeedSource, item: Item, matches: list[Match], now: datetime) -> int:
        story_id = self._resolve_story(item, now)
        created = 0
        for match in matches:
            alert = render(match, feed, alert_key(match.rule.id, story_id))
            if self.ports.alerts.create_pending(alert, story_id, now):
                created += 1
        return created

    def _resolve_story(self, item: Item, now: datetime) -> str:
        """The id of the story ``item`` belongs to, found by any of its keys, else a new one."""
        keys = story_keys(item)
        known = self.ports.seen.find_stories([k.key for k in keys])
        story_id: str | None = None
        stale: dict[str, StoryRecord] = {}
        for key in keys:
            record = known.get(key.key)
            if record is None:
                continue
            if key.kind == "title" and not self._same_headline_same_story(record, item, now):
                if not self._within_window(record, item, now):
                    stale[key.key] = record
                continue
            story_id = record.story_id
            break
        story_time = item.published or now
        claimed_by_others = self.ports.seen.claim_story_keys(
            [k.key for k in keys if k.key not in known],
            story_id or story_id_for(item),
            story_time=story_time,
            feed_id=item.feed_id,
            now=now,
        )
        if story_id is None and claimed_by_others:
            # Another worker recorded the same story between our read and our write.
            story_id = next(iter(claimed_by_others.values())).story_id
        story_id = story_id or story_id_for(item)
        for stale_key, old in stale.items():
            # A headline last seen outside the window now names this newer story.
            self.ports.seen.replace_story_key(
                stale_key, old, story_id=story_id, story_time=story_time, feed_id=item.feed_id, now=now
            )
        return story_id

    def _within_window(self, record: StoryRecord, item: Item, now: datetime) -> bool:
        window = self.config.settings.story_window.total_seconds()
        return within_window(record.first_seen, item.published, now, window)

    def _same_headline_same_story(self, record: StoryRecord, item: Item, now: datetime) -> bool:
        # Same headline means the same wire story only across feeds and close in time:
        # one feed reusing a headline ("Ukraine war: latest") is telling a new story.
        return record.feed_id != item.feed_id and self._within_window(record, item, now)

    def publish_pending(self, report: CycleReport) -> None:
        for pending in self.ports.alerts.pending():
            alert = pending.alert
            if not self.ports.alerts.claim_for_publish(alert.key, self.clock()):
                continue
            try:
                message_id = self.ports.publisher.publish(alert)
            except PublishError as exc:
                self.ports.alerts.release(alert.key, str(exc))
                report.publish_errors += 1
                log.warning("publish failed, alert stays pending", extra={"alert": alert.key, "error": str(exc)})
                continue
            self.ports.alerts.mark_sent(alert.key, message_id, self.clock())
            report.alerts_sent += 1
            report.sent_keys.append(alert.key)
