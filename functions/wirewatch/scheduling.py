"""The scheduler's tick: queue one job per due feed, arm new rules, then send what is due:
deliveries left pending, held by quiet hours, or waiting for a digest time.

It reads every feed's state (one batched read per 100 feeds), never fetches
anything and never writes a feed's state: it is cheap enough to run every minute
however slow the feeds are. The jobs carry the rules whose first tick this is,
so that a job retried later keeps the same meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from wirewatch.core.arming import arming_at
from wirewatch.core.errors import JobsNotQueued
from wirewatch.core.ports import FeedState, PollJob
from wirewatch.core.schedule import failing_for, is_due, is_gone, waits_for_another_url
from wirewatch.delivery import deliver
from wirewatch.live_config import LiveConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from wirewatch.core.model import WatchConfig
    from wirewatch.core.ports import AlertPublisher, AlertStore, ConfigSource, JobQueue, StateStore
    from wirewatch.core.schedule import PollPolicy

# A feed counts in FeedsFailing once it has failed at least twice in a row for this long:
# a blip that its next poll clears pages nobody, whatever the feed's interval.
FAILING_ALARM_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class SchedulerPorts:
    state: StateStore
    alerts: AlertStore
    publisher: AlertPublisher
    queue: JobQueue


@dataclass
class TickReport:
    feeds: int = 0
    queued: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    # Feed id → its last error, for feeds failing for an hour or more (FeedsFailing's count).
    failing: dict[str, str] = field(default_factory=dict)
    messages_sent: int = 0
    publish_errors: int = 0
    sent_keys: list[str] = field(default_factory=list)
    config_rejected: str | None = None


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        config: WatchConfig | ConfigSource,
        ports: SchedulerPorts,
        *,
        policy: PollPolicy,
        clock: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self.live = LiveConfig(config)
        self.ports = ports
        self.policy = policy
        self.clock = clock

    def tick(self, now: datetime, *, poll_all: bool = False, deadline: float | None = None) -> TickReport:
        """Queue the feeds due at ``now`` (all of them, if ``poll_all``), arm new rules,
        then publish what is left pending until ``deadline`` (``time.monotonic()``).

        Raises:
            StoreError: the state store or the queue failed; the tick is safe to retry.
        """
        config = self.live.refresh()
        report = TickReport(feeds=len(config.feeds), config_rejected=self.live.rejected)
        rule_ids = [rule.id for rule in config.rules]
        armed = self.ports.state.armed_rules(rule_ids)
        arming = arming_at(rule_ids, armed, now)
        # All at once: a Query per shard costs far less than a keyed read per feed.
        states = self.ports.state.all_feeds()
        queued_at = self.clock()
        jobs = []
        for feed in config.feeds:
            state = states.get(feed.id) or FeedState(feed.id)
            if is_gone(feed, state):
                report.gone.append(feed.id)
                continue
            # A feed whose URL the operator fixed is not counted for the failures of the old one.
            if not waits_for_another_url(feed, state):
                if state.paused:
                    report.paused.append(feed.id)
                failing = failing_for(state, now)
                if failing is not None and failing >= FAILING_ALARM_AFTER and state.last_error:
                    report.failing[feed.id] = state.last_error
            if poll_all or is_due(feed, state, now, self.policy):
                jobs.append(PollJob(feed.id, now, arming, state, queued_at=queued_at))
        not_queued: JobsNotQueued | None = None
        try:
            self.ports.queue.send(jobs)
        except JobsNotQueued as exc:
            # The deliveries still go out; the tick fails after them, to be run again.
            not_queued = exc
        report.queued = [
            job.feed_id for position, job in enumerate(jobs) if not_queued is None or position not in not_queued.unsent
        ]
        unarmed = [rule for rule in arming if rule not in armed]
        if unarmed and not_queued is None:
            # Armed once their jobs are queued: a crash before this queues them again, arming.
            # Only rules no tick armed yet: a late retry of an earlier tick must not move a
            # rule's mark back, which workers reading the marks would take as armed earlier.
            self.ports.state.arm_rules(unarmed, now)
        # Then what earlier polls left pending (a worker that died after writing them).
        # Last, so that a slow SNS or a long backlog can delay alerts, never the polling;
        # what does not fit before the deadline waits for the next tick.
        due = self.ports.alerts.due(self.clock())
        delivered = deliver(due, self.ports.alerts, self.ports.publisher, config, self.clock, deadline=deadline)
        report.messages_sent, report.publish_errors = delivered.sent, delivered.errors
        report.sent_keys = delivered.sent_keys
        if not_queued is not None:
            raise not_queued
        return report
