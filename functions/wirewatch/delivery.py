"""Deliveries out: gather digests, then claim, check the SMS budget, publish, mark sent.

A failed publish leaves the delivery pending for the next tick; an SMS over the
budget is postponed to the recipient's next digest. Nothing is dropped on the way:
every path ends in SENT, DIGESTED (inside a digest that is itself a delivery),
pending, or CANCELLED when the recipient left the watch file.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wirewatch.core.errors import PublishError, StoreError
from wirewatch.core.routing import after_budget, budget_windows

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from wirewatch.core.model import Delivery, Subscriber, WatchConfig
    from wirewatch.core.ports import AlertPublisher, AlertStore
    from wirewatch.core.routing import BudgetWindow

log = logging.getLogger(__name__)


@dataclass
class Deliveries:
    sent: int = 0
    errors: int = 0
    postponed: int = 0  # over an SMS budget: moved to a digest or a later hour
    digests: int = 0
    sent_keys: list[str] = field(default_factory=list)


def deliver(
    deliveries: Sequence[Delivery],
    store: AlertStore,
    publisher: AlertPublisher,
    config: WatchConfig,
    clock: Callable[[], datetime],
    *,
    deadline: float | None = None,
) -> Deliveries:
    """Send what is due in ``deliveries``, digests gathered first.

    The claim is a lease on the wall clock (``clock``): whoever holds it publishes,
    and a worker that died holding it is replaced when it runs out. A store failure
    costs the delivery in hand its turn, not the others'; past ``deadline``
    (``time.monotonic()``) the rest wait for the next tick.
    """
    done = Deliveries()
    now = clock()
    outgoing = [d for d in deliveries if d.due_at <= now and (d.digest is not None or d.mode == "immediate")]
    outgoing += _gathered(deliveries, store, config, now, done)
    for delivery in outgoing:
        if deadline is not None and time.monotonic() > deadline:
            break  # the rest stay pending for the next tick
        _send(delivery, store=store, publisher=publisher, config=config, clock=clock, done=done)
    return done


def _gathered(
    deliveries: Sequence[Delivery], store: AlertStore, config: WatchConfig, now: datetime, done: Deliveries
) -> list[Delivery]:
    waiting = [d for d in deliveries if d.mode == "digest" and d.alert is not None and d.due_at <= now]
    waiting = [d for d in waiting if not _cancelled_as_unwanted(d, store, config, done)]
    if not waiting:
        return []
    # Imported here: digests (time zones, text layout) are rare next to ticks with nothing due.
    from wirewatch.core.gathering import gather

    try:
        also_reported = store.folded([d.alert.key for d in waiting if d.alert is not None])
    except StoreError:
        also_reported = {}  # a digest without "also reported by" beats a late digest
    collected = []
    for digest in gather(waiting, config, now, also_reported):
        try:
            if store.collect(digest, now):
                collected.append(digest)
                done.digests += 1
        except StoreError as exc:
            done.errors += 1
            log.warning("could not gather a digest, its alerts wait", extra={"digest": digest.key, "error": str(exc)})
    return collected


def _cancelled_as_unwanted(delivery: Delivery, store: AlertStore, config: WatchConfig, done: Deliveries) -> bool:
    """Cancel a waiting alert its subscriber no longer wants; whether it is out of the digest."""
    subscriber = config.recipient(delivery.recipient)
    reason = _no_longer_wanted(delivery, subscriber, config) if subscriber is not None else ""
    if not reason:
        return False
    try:
        store.cancel(delivery.key, reason)
    except StoreError as exc:
        done.errors += 1
        log.warning("could not cancel a delivery, it waits", extra={"delivery": delivery.key, "error": str(exc)})
    return True


def _send(
    delivery: Delivery,
    *,
    store: AlertStore,
    publisher: AlertPublisher,
    config: WatchConfig,
    clock: Callable[[], datetime],
    done: Deliveries,
) -> None:
    try:
        if not store.claim(delivery.key, clock(), delivery.mode):
            return
    except StoreError as exc:
        done.errors += 1
        log.warning("could not claim a delivery, it stays pending", extra={"delivery": delivery.key, "error": str(exc)})
        return
    windows: list[BudgetWindow] = []
    try:
        subscriber = config.recipient(delivery.recipient)
        unwanted = (
            _no_longer_wanted(delivery, subscriber, config)
            if subscriber is not None
            else "the recipient is no longer in the watch file"
        )
        if subscriber is None or unwanted:
            store.cancel(delivery.key, unwanted)
            return
        if delivery.channel == "sms":
            windows = budget_windows(subscriber, clock())
            if not store.take_sms_budget(windows, clock()):
                mode, due = after_budget(subscriber, delivery, clock())
                store.postpone(delivery.key, mode, due)
                done.postponed += 1
                return
    except StoreError as exc:
        done.errors += 1
        log.warning("store failed before publishing, delivery stays pending", extra={"delivery": delivery.key})
        _release(store, delivery, str(exc))
        return
    try:
        message_id = publisher.publish(delivery)
    except PublishError as exc:
        done.errors += 1
        log.warning("publish failed, delivery stays pending", extra={"delivery": delivery.key, "error": str(exc)})
        _release(store, delivery, str(exc))
        if exc.refused:  # SNS did not take it; a lost answer may have been an SMS sent
            _return_budget(store, windows)
        return
    done.sent += 1
    done.sent_keys.append(delivery.key)
    _mark_sent(store, delivery, message_id, clock)


def _no_longer_wanted(delivery: Delivery, subscriber: Subscriber, config: WatchConfig) -> str:
    """Why an alert held back (quiet hours, a digest time) no longer goes to its
    subscriber, who has since raised the severity or left its rule; "" if it still goes."""
    alert = delivery.alert
    if alert is None:
        return ""  # a digest: its members were checked when it was gathered
    if alert.severity < subscriber.min_severity:
        return f"the subscriber now takes {subscriber.min_severity.label} alerts and above"
    if alert.rule_id not in config.rules_for_subscriber(subscriber):
        return f"the subscriber no longer takes rule {alert.rule_id}"
    return ""


def _release(store: AlertStore, delivery: Delivery, error: str) -> None:
    try:
        store.release(delivery.key, error)
    except StoreError:
        # The claim runs out by itself; the delivery is published again after its lease.
        log.warning("could not release a claim, the lease will", extra={"delivery": delivery.key})


def _return_budget(store: AlertStore, windows: Sequence[BudgetWindow]) -> None:
    """An SMS SNS refused was not sent: its retry must not find the budget spent on it.
    (One whose answer was lost keeps its place: it may have been sent.)"""
    if not windows:
        return
    try:
        store.return_sms_budget(windows)
    except StoreError:
        # The budget stays counted: at worst one SMS fewer this hour, never one too many.
        log.warning("could not return an SMS to the budget", extra={"windows": [w.key for w in windows]})


def _mark_sent(store: AlertStore, delivery: Delivery, message_id: str, clock: Callable[[], datetime]) -> None:
    # SNS has it: a failure to record that is the one window where a message can go out
    # twice (when the lease runs out), so try twice before leaving it to the lease.
    for attempt in (1, 2):
        try:
            store.mark_sent(delivery.key, message_id, clock())
            return
        except StoreError as exc:
            if attempt == 2:
                log.error("sent but not marked sent", extra={"delivery": delivery.key, "error": str(exc)})
