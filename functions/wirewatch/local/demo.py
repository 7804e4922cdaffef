"""``wirewatch run --local``: ticks through the real handlers (scheduler, poll workers) on the embedded default."""

from __future__ import annotations

import textwrap
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from wirewatch.local.stack import Delivery, LocalStack, drain, local_stack
from wirewatch.settings import environment

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

_RULE = "─" * 72
CYCLE = timedelta(minutes=5)
# The morning the reference Reuters wire was news: the demo replays it, so the
# bundled captures are judged by the example's own arming age, as in production.
SEED_MORNING = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)


def run_demo(template: Path, config: Path, samples: Path, *, cycles: int, start: datetime) -> int:
    # Feed errors (warnings) are worth seeing in the demo; per-feed progress is not.
    with local_stack(template, config, samples) as stack, environment({"POWERTOOLS_LOG_LEVEL": "WARNING"}):
        from wirewatch.runner import invoke_poll, reset_handlers

        print(f"moto server on {stack.endpoint}; tables, queues and topic created from {template.name}")
        print(f"tick clock: {start.isoformat()} (the schedule's time, every {CYCLE.seconds // 60} minutes)")
        server = next(iter(stack.feed_urls.values())).rsplit("/", 1)[0]
        print(f"{len(stack.feed_urls)} feeds served from {samples} on {server}")
        print(f"subscribers: {', '.join(f'{i.subscriber.id} ({i.subscriber.protocol})' for i in stack.inboxes)}")
        reset_handlers()
        total = 0
        for cycle in range(1, cycles + 1):
            tick = start + (cycle - 1) * CYCLE
            clock = _replay_clock(tick)
            result = invoke_poll({"poll_all": True}, now=tick)
            deliveries = drain(stack.inboxes)
            total += len(deliveries)
            print(
                f"\n{_RULE}\ntick {cycle}: {result['feeds_queued']} feeds queued and polled by "
                f"{result['batches']} poll invocation(s), "
                f"{result['feed_errors']} skipped with an error, {result['new_items']} new items, "
                f"{result['messages_sent']} messages published, {len(deliveries)} delivered to the inboxes\n{_RULE}"
            )
            for delivery in deliveries:
                print(_render(delivery))
            print(_waiting(stack, clock()))
            if cycle > 1 and not deliveries:
                print("nothing new: every story was already alerted (dedupe through DynamoDB)")
        reset_handlers()
    return 0


def _replay_clock(tick: datetime) -> Callable[[], datetime]:
    """The handlers' clock for one replayed tick: ``tick``, running on from now.

    Quiet hours, digest times and claims go by the clock, not by the tick's time (in AWS
    the two are a second apart). Replaying 26 June 2024, the demo gives its handlers the
    replayed morning, so that what it shows does not depend on the hour it is run at.
    """
    from wirewatch.handlers import poll_feeds, schedule_feeds

    began = time.monotonic()

    def clock() -> datetime:
        return tick + timedelta(seconds=time.monotonic() - began)

    schedule_feeds.get_scheduler().clock = clock
    poll_feeds.get_poller().clock = clock
    return clock


def _waiting(stack: LocalStack, now: datetime) -> str:
    """What is held for later at ``now``: digests, quiet hours, SMS over the budget."""
    from wirewatch.adapters import aws
    from wirewatch.adapters.dynamodb_alerts import DynamoDBAlertStore

    store = DynamoDBAlertStore(aws.dynamodb_client(), stack.settings.alerts_table, stack.settings.retention)
    held: Counter[tuple[str, str, datetime]] = Counter(
        (d.recipient, d.mode, d.due_at) for d in store.due(now + timedelta(days=7)) if d.due_at > now
    )
    lines = []
    for (recipient, mode, due), count in sorted(held.items()):
        subscriber = stack.config.recipient(recipient)
        zone = ZoneInfo(subscriber.timezone if subscriber else "UTC")
        why = "the digest" if mode == "digest" else "the end of quiet hours"
        lines.append(f"\n[held for {recipient}] {count} alert(s) until {why}: {due.astimezone(zone):%Y-%m-%d %H:%M %Z}")
    return "".join(lines)


def _render(delivery: Delivery) -> str:
    subscriber, message = delivery.subscriber, delivery.message
    if subscriber.protocol == "sms":
        return f"\n[SMS to {subscriber.id}] {message['text']}"
    body = textwrap.indent(message["text"], "    ")
    return f"\n[email to {subscriber.id}] Subject: {message['subject']}\n{body}"
