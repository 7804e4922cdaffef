"""Polling a batch of feeds: gather through ports, decide in the core, apply through ports.

The scheduler (``scheduling.Scheduler``) queues one job per due feed; a worker
takes a batch of jobs and polls them side by side. Per feed, the order of writes
is what makes alerts safe (nothing lost, nothing doubled):

    fetch → parse → read item keys (batched) → match new items
      → alert records written PENDING (conditional put per rule+story)
      → item keys written SEEN
      → feed state saved (only if it changed)
      (each with one delivery per recipient, in the same transaction)
    then, for the batch: the deliveries due now: claim (lease) → publish → SENT

A crash before the pending write re-processes the items when the job is retried
(they are not yet seen); a crash after it leaves a pending alert that the
scheduler's next tick publishes; the conditional put stops a second alert for the
same story, whichever worker finds it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from wirewatch.core.arming import alertable
from wirewatch.core.dedupe import alert_key, fingerprint, item_key
from wirewatch.core.errors import FeedError, StoreError
from wirewatch.core.feeds import parse_feed
from wirewatch.core.index import RuleIndex
from wirewatch.core.messages import render
from wirewatch.core.ports import FeedState
from wirewatch.core.routing import route
from wirewatch.core.schedule import after_failure, after_success, polled_url
from wirewatch.delivery import deliver
from wirewatch.live_config import LiveConfig
from wirewatch.stories import StoryResolver

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from wirewatch.core.model import Delivery, FeedSource, Item, Match, WatchConfig
    from wirewatch.core.ports import (
        AlertPublisher,
        AlertStore,
        ConfigSource,
        FeedFetcher,
        ItemArchive,
        PollJob,
        SeenStore,
        StateStore,
    )
    from wirewatch.core.schedule import PollPolicy

log = logging.getLogger(__name__)

RECENT_ITEMS_KEPT = 500  # 8 KB of fingerprints in a job; the rest are looked up


class _OutOfTime(Exception):
    """The invocation's deadline passed before this feed could be fetched."""


@dataclass
class FeedOutcome:
    feed_id: str
    status: str  # "updated", "not-modified", "error", "deferred" or "unknown" (not in the watch file)
    items: int = 0
    new_items: int = 0
    matches: int = 0
    alerts_created: int = 0
    armed_silently: int = 0
    error: str | None = None
    problems: tuple[str, ...] = ()
    paused: bool = False  # this failure paused the feed
    retry: str | None = None  # why the job must run again (the store failed, or no time was left)
    created: list[Delivery] = field(default_factory=list, repr=False)


@dataclass
class PollReport:
    feeds: list[FeedOutcome] = field(default_factory=list)
    messages_sent: int = 0
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


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class HostLimits:
    """At most ``per_host`` fetches to one host at a time: politeness within a worker."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = defaultdict(self._semaphore)

    def _semaphore(self) -> threading.BoundedSemaphore:
        return threading.BoundedSemaphore(self._per_host)

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            semaphore = self._slots[host]
        with semaphore:
            yield


class Poller:
    """Polls batches of feed jobs for one watch configuration over the given ports.

    A job's time is the tick that queued it (the schedule's, so replayable); ``clock``
    is real time, for leases, which must hold whatever time a retried job carries.
    ``forget_after`` is how long the stores remember: an item older than that could
    have been seen and forgotten, so it never alerts.
    """

    def __init__(
        self,
        config: WatchConfig | ConfigSource,
        ports: Ports,
        *,
        policy: PollPolicy,
        forget_after: timedelta,
        concurrency: int = 50,
        per_host: int = 2,
        clock: Callable[[], datetime] = _wall_clock,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.live = LiveConfig(config)
        self.index = RuleIndex(())
        self._indexed: WatchConfig | None = None
        self.ports = ports
        self.policy = policy
        self.forget_after = forget_after
        self.concurrency = concurrency
        self.hosts = HostLimits(per_host)
        self.clock = clock
        self.jitter = jitter
        self.last_report: PollReport | None = None

    @property
    def config(self) -> WatchConfig:
        return self.live.current

    def _refresh(self) -> None:
        config = self.live.refresh()
        if config is not self._indexed:
            # Indexing thousands of rules costs more than a batch's matching: once per version.
            self._indexed, self.index = config, RuleIndex(config.rules)

    def poll(self, jobs: Sequence[PollJob], *, deadline: float | None = None) -> PollReport:
        """Poll the jobs' feeds side by side until ``deadline`` (``time.monotonic()``), then
        publish the alerts they created. Each outcome says whether its job must run again.

        Raises:
            StoreError: the state store failed before any feed was polled.
        """
        report = PollReport()
        self._refresh()
        report.config_rejected = self.live.rejected
        feeds = {feed.id: feed for feed in self.config.feeds}
        # The scheduler's snapshot, read a moment ago, is the state; read only what lacks one.
        states = self.ports.state.load_feeds(
            [job.feed_id for job in jobs if job.feed_id in feeds and job.state is None]
        )
        states.update({job.feed_id: job.state for job in jobs if job.state is not None})
        stories = StoryResolver(self.ports.seen, self.config.settings.story_window)

        def run(job: PollJob) -> FeedOutcome:
            feed = feeds.get(job.feed_id)
            if feed is None:
                return FeedOutcome(job.feed_id, "unknown")  # removed from the watch file since queued
            if deadline is not None and time.monotonic() > deadline:
                # Left for the job's retry rather than cut off by the function timeout.
                return FeedOutcome(feed.id, "deferred", retry="no time left in this invocation")
            state = states.get(feed.id) or FeedState(feed.id)
            return self._poll_feed(feed, state, job, stories, deadline)

        workers = max(1, min(self.concurrency, len(jobs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
            report.feeds = list(pool.map(run, jobs))
        created = [delivery for outcome in report.feeds for delivery in outcome.created]
        delivered = deliver(created, self.ports.alerts, self.ports.publisher, self.config, self.clock)
        report.messages_sent, report.publish_errors, report.sent_keys = (
            delivered.sent,
            delivered.errors,
            delivered.sent_keys,
        )
        self.last_report = report
        return report

    def _poll_feed(
        self, feed: FeedSource, state: FeedState, job: PollJob, stories: StoryResolver, deadline: float | None
    ) -> FeedOutcome:
        now = job.scheduled
        try:
            return self._poll_feed_unguarded(feed, state, job, stories, now=now, deadline=deadline)
        except _OutOfTime:
            return FeedOutcome(feed.id, "deferred", retry="no time left in this invocation")
        except StoreError as exc:
            # The store, not the feed: the job runs again (and reaches the DLQ if it keeps failing).
            log.warning("state store failed polling a feed", extra={"feed": feed.id, "error": str(exc)})
            return FeedOutcome(feed.id, "error", error=str(exc), retry=str(exc))
        except FeedError as exc:
            failed = after_failure(
                feed,
                state,
                error=str(exc),
                gone=exc.kind == "http-410",
                retry_after=exc.retry_after,
                now=now,
                policy=self.policy,
                jitter=self.jitter(),
            )
            error = str(exc)
        except Exception as exc:
            # Whatever a hostile feed triggers, it costs that feed only; the trace is
            # logged for a bug report, the feed's state records the failure.
            log.exception("unexpected failure polling a feed", extra={"feed": feed.id})
            error = f"internal: {type(exc).__name__}"
            failed = after_failure(feed, state, error=error, now=now, policy=self.policy, jitter=self.jitter())
        try:
            self.ports.state.save_feed(failed)
        except StoreError as exc:
            return FeedOutcome(feed.id, "error", error=error, retry=str(exc))
        return FeedOutcome(feed.id, "error", error=error, paused=failed.paused and not state.paused)

    def _poll_feed_unguarded(
        self,
        feed: FeedSource,
        state: FeedState,
        job: PollJob,
        stories: StoryResolver,
        *,
        now: datetime,
        deadline: float | None,
    ) -> FeedOutcome:
        url = polled_url(feed, state)
        with self.hosts.slot(url):
            # Checked again here: waiting for a slot on a slow host can take longer than
            # the time that was left when the job started.
            if deadline is not None and time.monotonic() > deadline:
                raise _OutOfTime
            result = self.ports.fetcher.fetch(url, state.validators)
        if result.not_modified:
            outcome = FeedOutcome(feed.id, "not-modified")
            updated = after_success(feed, state, result, ttl=None, new_items=False, now=now, policy=self.policy)
        else:
            parsed = parse_feed(result.body, feed, content_type=result.content_type, now=now)
            outcome = FeedOutcome(feed.id, "updated", items=len(parsed.items), problems=parsed.problems)
            # On a feed's first poll every rule is arming for it.
            arming = frozenset(r.id for r in self.config.rules) if state.armed_at is None else frozenset(job.arming)
            recent = self._process_items(feed, state, parsed.items, outcome, stories, arming=arming, now=now)
            updated = after_success(
                feed,
                state,
                result,
                ttl=parsed.ttl,
                new_items=outcome.new_items > 0,
                recent_items=recent,
                now=now,
                policy=self.policy,
            )
            updated = replace(updated, armed_at=state.armed_at or now)
        if updated != state:
            self.ports.state.save_feed(updated)
        return outcome

    def _process_items(
        self,
        feed: FeedSource,
        state: FeedState,
        items: tuple[Item, ...],
        outcome: FeedOutcome,
        stories: StoryResolver,
        *,
        arming: frozenset[str],
        now: datetime,
    ) -> frozenset[str]:
        """Match and record the items not processed before; returns the fingerprints of all."""
        by_key = {item_key(item): item for item in items}
        # Items the feed listed last time were processed then: only the others are looked up.
        unlisted = [key for key in by_key if fingerprint(key) not in state.recent_items]
        seen = self.ports.seen.seen_items(unlisted) if unlisted else set()
        fresh = {key: by_key[key] for key in unlisted if key not in seen}
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
                outcome.created += self._create_alerts(feed, item, eligible, stories, now=now, outcome=outcome)
        # Archived before marked seen: a crash in between re-archives, never loses.
        self.ports.archive.archive(list(fresh.values()), now)
        self.ports.seen.mark_items_seen(list(fresh), now)
        # The first items listed (feeds put the newest first), so that a job, which carries
        # the state, stays far below SQS's message size whatever a feed lists.
        return frozenset(fingerprint(key) for key in list(by_key)[:RECENT_ITEMS_KEPT])

    def _create_alerts(
        self,
        feed: FeedSource,
        item: Item,
        matches: list[Match],
        stories: StoryResolver,
        *,
        now: datetime,
        outcome: FeedOutcome,
    ) -> list[Delivery]:
        """Record one alert per rule for the item's story, with a delivery per recipient."""
        story_id = stories.resolve(item, now)
        created: list[Delivery] = []
        for match in matches:
            alert = render(match, feed, alert_key(match.rule.id, story_id))
            # Quiet hours and digest times are the subscribers' real time, not the tick's.
            deliveries = route(alert, self.config, self.clock())
            if self.ports.alerts.create(alert, story_id, deliveries, now):
                created.extend(deliveries)
                outcome.alerts_created += 1
                # One line per alert: the dashboard counts alerts per rule from these,
                # which a metric per rule would bill month after month.
                log.info(
                    "alert created",
                    extra={
                        "rule": alert.rule_id,
                        "feed": feed.id,
                        "severity": alert.severity.label,
                        "recipients": len(deliveries),
                    },
                )
        return created
