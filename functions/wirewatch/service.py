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

import gc
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

from wirewatch.core.arming import alertable, arming_at
from wirewatch.core.dedupe import alert_key, edition, fingerprint, item_key, update_key
from wirewatch.core.errors import FeedError, JobsNotQueued, StoreError
from wirewatch.core.feeds import parse_feed
from wirewatch.core.index import RuleIndex
from wirewatch.core.messages import render
from wirewatch.core.neardup import band_keys, bands_id, first_reports, report, rivals
from wirewatch.core.ports import FeedState, recent
from wirewatch.core.routing import route
from wirewatch.core.schedule import after_failure, after_success, polled_url
from wirewatch.delivery import deliver
from wirewatch.live_config import LiveConfig
from wirewatch.stories import StoryResolver

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from wirewatch.core.model import Alert, Delivery, FeedSource, Item, Match, WatchConfig
    from wirewatch.core.neardup import FoldIndex, FoldRecord, Report
    from wirewatch.core.ports import (
        AlertPublisher,
        AlertStore,
        ConfigSource,
        FeedFetcher,
        FetchResult,
        ItemArchive,
        JobQueue,
        PollJob,
        SeenStore,
        StateStore,
    )
    from wirewatch.core.schedule import PollPolicy

log = logging.getLogger(__name__)

RECENT_ITEMS_KEPT = 500  # 8 KB of fingerprints in a job; the rest are looked up
# A job put off (no time left, no memory for a large feed) goes back to the queue as a new
# message, so that waiting does not use up the receives after which SQS moves a job to the
# dead-letter queue: that queue's alarm is for jobs that fail, not for a busy worker. After
# this many deferrals the job fails like any other, and a worker that never catches up
# shows in that alarm.
MAX_DEFERRALS = 5
REQUEUE_DELAY = timedelta(minutes=1)  # long enough for the busy batch to end first


class _OutOfTime(Exception):
    """The invocation's deadline passed before this feed could be fetched."""


class _NoRoomForLargeBody(Exception):
    """Other large feeds held the memory for as long as this feed's fetch could wait."""


@dataclass
class FeedOutcome:
    feed_id: str
    status: str  # "updated", "not-modified", "error", "deferred" or "unknown" (not in the watch file)
    items: int = 0
    new_items: int = 0
    matches: int = 0
    alerts_created: int = 0
    folded: int = 0  # reports of an event a rule already alerted on, counted on that alert
    withdrawn: int = 0  # alerts folded into another worker's on the same event after both were written
    armed_silently: int = 0
    error: str | None = None
    problems: tuple[str, ...] = ()
    paused: bool = False  # this failure paused the feed
    retry: str | None = None  # why the job must run again (the store failed, or no time was left)
    requeued: bool = False  # deferred, and queued again as a new job
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
    folds: FoldIndex
    requeue: JobQueue | None = None  # where deferred jobs go back; without one they are retried


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


class LargeBodies:
    """At most ``slots`` feeds with a large body (``HttpFeedFetcher``'s ``large_body``) held at once.

    A worker fetches a whole batch side by side: fifty 10 MB bodies, each parsed into
    several times its size, would take a 512 MB function down with every feed of the
    batch. Small bodies go freely; a body growing large waits for a slot, and keeps it
    until its feed is done (parsed, matched, stored). A feed waits for one slot while
    holding none, so waiting never deadlocks. With 50 fetches, a 1 MiB threshold, 2
    slots and 10 MB bodies, a worker holds at most ~50 MB of small bodies and two
    large feeds (a 10 MB feed peaks near 40 MB while parsed; tests/integration/test_polling.py
    measures a batch of large bodies).
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a worker needs at least one slot for large feeds, or none would ever be read")
        self._slots = threading.BoundedSemaphore(slots)

    @contextmanager
    def lease(self, deadline: float | None) -> Iterator[Callable[[float], None]]:
        """A feed's turn: the hook to give the fetcher, and the slot it took released at the end."""
        held = False

        def take(fetch_deadline: float) -> None:
            nonlocal held
            if held:
                return  # one slot a feed, however often its fetcher asks
            until = fetch_deadline if deadline is None else min(fetch_deadline, deadline)
            if not self._slots.acquire(timeout=max(0.0, until - time.monotonic())):
                raise _NoRoomForLargeBody
            held = True

        try:
            yield take
        finally:
            if held:
                # A parsed feed leaves reference cycles that only the collector frees, and it
                # runs when allocations say so, not when a feed is done: until then the garbage
                # of every large feed so far counts as the worker's memory, whatever the slots.
                gc.collect()
                self._slots.release()


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
        large_bodies: int = 2,
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
        self.large_bodies = LargeBodies(large_bodies)
        self.clock = clock
        self.jitter = jitter
        self.last_report: PollReport | None = None
        # One report at a time per rule from the fold lookup to the claim of its bands: two
        # feeds of a batch carrying one event (the wire on two sites, reworded) otherwise
        # both find no band, and both alert. Workers running side by side can still race.
        self._deciding: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._deciding_guard = threading.Lock()
        self._arming_cache: dict[datetime, tuple[WatchConfig, tuple[str, ...]]] = {}
        self._arming_guard = threading.Lock()

    @property
    def config(self) -> WatchConfig:
        return self.live.current

    def _refresh(self) -> None:
        config = self.live.refresh()
        if config is not self._indexed:
            # Indexing thousands of rules costs more than a batch's matching: once per version.
            self._indexed, self.index = config, RuleIndex(config.rules)

    def poll(
        self, jobs: Sequence[PollJob], *, deadline: float | None = None, publish_deadline: float | None = None
    ) -> PollReport:
        """Poll the jobs' feeds side by side, starting none after ``deadline``
        (``time.monotonic()``), then publish the alerts they created until ``publish_deadline``
        (what is left waits, pending, for the next tick). Each outcome says whether its job
        must run again.

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
            try:
                return self._poll_feed(feed, state, job, stories, deadline)
            except Exception as exc:
                # Even recording the feed's failure failed (a job from a far future overflows
                # its backoff): this job runs again, alone, and the batch's others are done.
                log.exception("could not poll or record a feed", extra={"feed": feed.id})
                return FeedOutcome(feed.id, "error", error=f"internal: {type(exc).__name__}", retry=repr(exc)[:300])

        workers = max(1, min(self.concurrency, len(jobs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
            report.feeds = list(pool.map(run, jobs))
        # Before publishing: a publish the function timeout cuts off loses no queued job.
        self._requeue_deferred(jobs, report.feeds)
        created = [delivery for outcome in report.feeds for delivery in outcome.created]
        delivered = deliver(
            created, self.ports.alerts, self.ports.publisher, self.config, self.clock, deadline=publish_deadline
        )
        report.messages_sent, report.publish_errors, report.sent_keys = (
            delivered.sent,
            delivered.errors,
            delivered.sent_keys,
        )
        self.last_report = report
        return report

    def _requeue_deferred(self, jobs: Sequence[PollJob], outcomes: Sequence[FeedOutcome]) -> None:
        """Queue the deferred jobs again as new jobs; those that cannot be stay to be retried."""
        if self.ports.requeue is None:
            return
        deferred = [
            (job, outcome)
            for job, outcome in zip(jobs, outcomes, strict=True)
            if outcome.status == "deferred" and outcome.retry and job.deferrals < MAX_DEFERRALS
        ]
        if not deferred:
            return
        # Without the state snapshot: by the time the job runs, it may be stale.
        again = [replace(job, state=None, deferrals=job.deferrals + 1) for job, _ in deferred]
        unsent: frozenset[int] = frozenset()
        try:
            self.ports.requeue.send(again, delay=REQUEUE_DELAY)
        except JobsNotQueued as exc:
            log.warning("could not queue some deferred jobs again; SQS retries those", extra={"error": str(exc)})
            unsent = frozenset(exc.unsent)
        except StoreError as exc:
            log.warning("could not queue deferred jobs again; SQS retries them", extra={"error": str(exc)})
            return
        # Only the jobs queued again are done with: the others come back from SQS.
        for position, (_, outcome) in enumerate(deferred):
            if position not in unsent:
                outcome.retry, outcome.requeued = None, True

    def _poll_feed(
        self, feed: FeedSource, state: FeedState, job: PollJob, stories: StoryResolver, deadline: float | None
    ) -> FeedOutcome:
        now = job.scheduled
        try:
            return self._poll_feed_unguarded(feed, state, job, stories, now=now, deadline=deadline)
        except _OutOfTime:
            return FeedOutcome(feed.id, "deferred", retry="no time left in this invocation")
        except _NoRoomForLargeBody:
            # Not the feed's fault: it runs again, without counting as a failure.
            return FeedOutcome(feed.id, "deferred", retry="other large feeds held the memory")
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
                retry_after=self._from_tick(exc.retry_after, job),
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

    def _from_tick(self, retry_after: float | None, job: PollJob) -> float | None:
        """A Retry-After, counted from the response, as seconds from the job's tick: a job
        retried or queued again runs minutes after its tick, and the server's wait starts
        when it answered, not when the tick was."""
        if retry_after is None or job.queued_at is None:
            return retry_after
        # In whole minutes: the queue's seconds of latency are no lateness for a schedule of
        # minute ticks, and a wait the server gave to the second stays that wait.
        late = (self.clock() - job.queued_at).total_seconds() // 60 * 60
        return retry_after + max(late, 0.0)

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
        # A large body keeps its slot until the feed is done: the parsed feed is the big part.
        with self.large_bodies.lease(deadline) as on_large_body:
            with self.hosts.slot(url):
                # Checked again here: waiting for a slot on a slow host can take longer than
                # the time that was left when the job started.
                if deadline is not None and time.monotonic() > deadline:
                    raise _OutOfTime
                result = self.ports.fetcher.fetch(url, state.validators, on_large_body=on_large_body)
            return self._after_fetch(feed, state, job, stories, result, now=now)

    def _after_fetch(
        self,
        feed: FeedSource,
        state: FeedState,
        job: PollJob,
        stories: StoryResolver,
        result: FetchResult,
        *,
        now: datetime,
    ) -> FeedOutcome:
        if result.not_modified:
            outcome = FeedOutcome(feed.id, "not-modified")
            updated = after_success(feed, state, result, ttl=None, new_items=False, now=now, policy=self.policy)
        else:
            parsed = parse_feed(result.body, feed, content_type=result.content_type, now=now)
            outcome = FeedOutcome(feed.id, "updated", items=len(parsed.items), problems=parsed.problems)
            # On a feed's first poll every rule is arming for it.
            if state.armed_at is None:
                arming = frozenset(r.id for r in self.config.rules)
            else:
                arming = frozenset(job.arming if job.arming is not None else self._arming_at(job.scheduled))
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
            # Armed by the first answer, even an empty one: what a feed lists after it is news,
            # even when a crash or an outage has it processed a day late. (An empty first
            # answer from a CMS glitch lets the backlog listed next alert: a false alarm is
            # the lesser fault; silencing a real story for being late would be a loss.)
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
    ) -> str:
        """Match and record the items not processed before, and the edits of those that were;
        returns the fingerprints of all (``FeedState.recent_items``)."""
        by_key = {item_key(item): item for item in items}
        editions = {key: edition(item) for key, item in by_key.items()}
        # Items the feed listed last time, unedited, were processed then: only the others
        # are looked up.
        unlisted = [key for key in by_key if not state.remembers(fingerprint(key, editions[key]))]
        seen = self.ports.seen.seen_items(unlisted) if unlisted else {}
        fresh = {key: by_key[key] for key in unlisted if key not in seen}
        # An entry recorded with another headline under the same GUID. Records written
        # before editions were kept have none: they are not taken for edits.
        edited = {key: by_key[key] for key in unlisted if seen.get(key) not in {None, "", editions[key]}}
        outcome.new_items = len(fresh)
        for item in fresh.values():
            outcome.created += self._match_and_alert(feed, item, stories, arming=arming, now=now, outcome=outcome)
        for key, item in edited.items():
            outcome.created += self._match_and_alert(
                feed, item, stories, arming=arming, now=now, outcome=outcome, edit=editions[key]
            )
        # Archived before marked seen: a crash in between re-archives, never loses. An edit is
        # archived too: a backtest sees the headline rules matched, as the pipeline did.
        self.ports.archive.archive([*fresh.values(), *edited.values()], now)
        self.ports.seen.mark_items_seen({key: editions[key] for key in [*fresh, *edited]}, now)
        # The first items listed (feeds put the newest first), so that a job, which carries
        # the state, stays far below SQS's message size whatever a feed lists.
        return recent(fingerprint(key, editions[key]) for key in list(by_key)[:RECENT_ITEMS_KEPT])

    def _match_and_alert(
        self,
        feed: FeedSource,
        item: Item,
        stories: StoryResolver,
        *,
        arming: frozenset[str],
        now: datetime,
        outcome: FeedOutcome,
        edit: str = "",
    ) -> list[Delivery]:
        """The deliveries of the alerts ``item`` raises. An ``edit`` of an entry a rule
        already alerted on sends an update if the rule asks for one (``on_edit: update``)
        and nothing otherwise; a rule that had not alerted on the entry alerts as on any
        new item (the edit may be what made it match). Either way only if the entry is
        younger than ``arming_max_age``, as for a feed's backlog on its first poll."""
        matches = self.index.match(item, feed)
        outcome.matches += len(matches)
        settings = self.config.settings
        eligible = alertable(
            matches,
            item,
            # An edit is judged as a feed's first poll judges its backlog: a publisher fixing
            # a typo in a ten-day-old headline must not page anyone about that story now.
            arming_rules=frozenset(match.rule.id for match in matches) if edit else arming,
            max_age=settings.arming_max_age,
            forget_after=self.forget_after,
            now=now,
        )
        outcome.armed_silently += len(matches) - len(eligible)
        if not eligible:
            return []
        return self._create_alerts(feed, item, eligible, stories, now=now, outcome=outcome, edit=edit)

    def _create_alerts(
        self,
        feed: FeedSource,
        item: Item,
        matches: list[Match],
        stories: StoryResolver,
        *,
        now: datetime,
        outcome: FeedOutcome,
        edit: str = "",
    ) -> list[Delivery]:
        """Record one alert per rule for the item's story, with a delivery per recipient,
        unless the rule already alerted on the same event under another headline."""
        story_id = stories.resolve(item, now, edit=bool(edit))
        created: list[Delivery] = []
        # A story carried by many feeds (a wire on ten sites) matches again in each: once its
        # alert is complete, one read says so, instead of a fold lookup, the conditional
        # writes of the alert and its deliveries, and 32 band claims per copy.
        keys = {match.rule.id: alert_key(match.rule.id, story_id) for match in matches}
        complete = self.ports.alerts.settled(list(keys.values()))
        for match in matches:
            key = keys[match.rule.id]
            if edit and key in complete and match.rule.on_edit == "update":
                # An update is news about the story the rule alerted on: never folded.
                alert = render(match, feed, update_key(key, edit), update=True)
                created += self._record(alert, story_id, feed, now, outcome)
                continue
            seen_as = report(item, match.matched)
            bands = band_keys(seen_as.signature, match.rule.id) if seen_as is not None else []
            if key in complete:
                alerted = complete[key]
                # The alert is complete. Another outlet carrying the story is one more source
                # ("also reported by"), counted once per feed.
                # An alert folded into another after it was written counts its copies there.
                alerted_as = alerted.withdrawn_into or key
                if feed.id not in alerted.sources or alerted.withdrawn_into:
                    self.ports.alerts.fold(alerted_as, [feed.id], now)
                # A copy worded otherwise (same link, new summary) still widens the net that
                # folds later reports into it: dated from the alert's first report, so that a
                # relisting weeks later does not open a new window for unrelated events.
                if seen_as is not None and alerted.bands_id != bands_id(bands):
                    self.ports.folds.claim(bands, seen_as.record(alerted_as, alerted.created_at), now)
                continue
            with self._deciding_on(match.rule.id):
                if seen_as is not None and self._folded(key, seen_as, bands, feed, now):
                    outcome.folded += 1
                    continue
                deliveries = self._record(render(match, feed, key), story_id, feed, now, outcome)
                if seen_as is not None:
                    # After the alert, so that no band ever names an alert that is not there (a
                    # worker dying in between would leave bands that fold nothing for days); also
                    # when the alert existed already: a retry finishes what an attempt began.
                    mine = seen_as.record(key, now)
                    self.ports.folds.claim(bands, mine, now)
                    if self._settle_race(mine, bands, match, now=now, outcome=outcome):
                        deliveries = []  # cancelled: the other worker's alert is the one sent
                created += deliveries
            # Last: an attempt that stopped before this is finished by the next report.
            self.ports.alerts.settle(key, bands_id(bands))
        return created

    def _arming_at(self, tick: datetime) -> tuple[str, ...]:
        """The rules arming at ``tick`` when its jobs were too many rules to carry them: as
        the scheduler judged them, from the store (one read of every rule's mark a tick)."""
        config = self.config
        with self._arming_guard:
            cached = self._arming_cache.get(tick)
            if cached is not None and cached[0] is config:
                return cached[1]
        ids = [rule.id for rule in config.rules]
        arming = arming_at(ids, self.ports.state.armed_rules(ids), tick)
        with self._arming_guard:
            if len(self._arming_cache) > 8:
                self._arming_cache.clear()
            self._arming_cache[tick] = (config, arming)
        return arming

    def _deciding_on(self, rule_id: str) -> threading.Lock:
        with self._deciding_guard:  # defaultdict's insert is not atomic across threads
            return self._deciding[rule_id]

    def _record(
        self, alert: Alert, story_id: str, feed: FeedSource, now: datetime, outcome: FeedOutcome
    ) -> list[Delivery]:
        """Write an alert with one delivery per recipient; its deliveries, if it is new."""
        # Quiet hours and digest times are the subscribers' real time, not the tick's.
        deliveries = route(alert, self.config, self.clock())
        if not self.ports.alerts.create(alert, story_id, deliveries, now):
            return []
        outcome.alerts_created += 1
        # One line per alert: the dashboard counts alerts per rule from these, which a
        # metric per rule would bill month after month.
        log.info(
            "alert created",
            extra={
                "alert": alert.key,
                "rule": alert.rule_id,
                "feed": feed.id,
                "severity": alert.severity.label,
                "recipients": len(deliveries),
                "tally": 1,
            },
        )
        return deliveries

    def _settle_race(
        self, mine: FoldRecord, bands: list[str], match: Match, *, now: datetime, outcome: FeedOutcome
    ) -> bool:
        """Fold together this rule's alerts on one event that workers running side by side
        each wrote before either claimed a band; whether ours was the one folded away.

        The earlier alert (first report, then key) stays. It is pinned before the other is
        withdrawn, and a pinned alert is never withdrawn, so every withdrawn alert's event
        rests on one that is sent. A withdrawal only cancels deliveries still waiting, and only
        of an alert whose recipients the kept one all has: one already claimed goes out as
        before, a second alert rather than none.
        """
        window = min(self.config.settings.fold_window, self.forget_after)
        found = rivals(mine, self.ports.folds.find(bands), window)
        if found.first is not None:
            pairs = [(mine.alert_key, found.first.alert_key)]
        elif found.later:
            pairs = [(rival.alert_key, mine.alert_key) for rival in found.later]
        else:
            return False
        ours_withdrawn = False
        for withdrawn, kept in pairs:
            # Pinned first: from then on nothing can withdraw the alert this one rests on.
            if not self.ports.alerts.fold(kept, [], now, pin=True):
                continue  # withdrawn itself meanwhile, into an earlier one: both others stay
            withdrawal = self.ports.alerts.withdraw(withdrawn, kept, now)
            if withdrawal is None:
                continue  # a report rests on it, the kept one lacks a recipient, or it is out: both stay
            if withdrawal.sources:
                self.ports.alerts.fold(kept, withdrawal.sources, now)
            ours_withdrawn = ours_withdrawn or withdrawn == mine.alert_key
            if not withdrawal.counted:
                continue  # counted by another call, or something of it went out (an alert sent)
            outcome.withdrawn += 1
            # Minus one on the dashboard's count of alerts per rule ("alert created" is plus one).
            log.info(
                "alert withdrawn",
                extra={
                    "alert": withdrawn,
                    "into": kept,
                    "rule": match.rule.id,
                    "severity": match.rule.severity.label,
                    "tally": -1,
                },
            )
        return ours_withdrawn

    def _folded(self, key: str, seen_as: Report, bands: list[str], feed: FeedSource, now: datetime) -> bool:
        """Whether this rule's alert on an earlier report of the same event absorbed this one."""
        # Past forget_after the first report's alert and bands may have expired: a longer
        # window in the watch file could not be kept, so it is not promised either.
        window = min(self.config.settings.fold_window, self.forget_after)
        candidates = self.ports.folds.find(bands)
        if any(record.alert_key == key for record in candidates.values()):
            # This report's own earlier attempt wrote its alert and claimed bands: finish it
            # (claims, then the race with another worker's alert), rather than fold it away
            # and leave its alert half withdrawn, or sent beside the other.
            return False
        for original in first_reports(seen_as, candidates, now, window):
            # A band whose alert is not written (its worker is at it, or died before) folds
            # nothing: the next report of the event, or this one's own alert, is tried.
            # Pinned: this report's event now rests on that alert, which must not be withdrawn.
            if self.ports.alerts.fold(original.alert_key, [feed.id], now, pin=True):
                return True
        return False
