"""Alerts out: claim, publish, mark sent; a failed publish leaves the alert pending for later."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wirewatch.core.errors import PublishError, StoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from wirewatch.core.model import Alert
    from wirewatch.core.ports import AlertPublisher, AlertStore

log = logging.getLogger(__name__)


@dataclass
class Deliveries:
    sent: int = 0
    errors: int = 0
    sent_keys: list[str] = field(default_factory=list)


def deliver(
    alerts: Iterable[Alert],
    store: AlertStore,
    publisher: AlertPublisher,
    clock: Callable[[], datetime],
    *,
    deadline: float | None = None,
) -> Deliveries:
    """Publish each alert that nobody else is publishing or has sent.

    The claim is a lease on the wall clock (``clock``): whoever holds it publishes,
    and a worker that died holding it is replaced when it runs out. A store failure
    costs the alert in hand its turn, not the others'; past ``deadline``
    (``time.monotonic()``) the rest wait for the next tick.
    """
    done = Deliveries()
    for alert in alerts:
        if deadline is not None and time.monotonic() > deadline:
            break  # the rest stay pending for the next tick
        try:
            if not store.claim_for_publish(alert.key, clock()):
                continue
        except StoreError as exc:
            done.errors += 1
            log.warning("could not claim an alert, it stays pending", extra={"alert": alert.key, "error": str(exc)})
            continue
        try:
            message_id = publisher.publish(alert)
        except PublishError as exc:
            done.errors += 1
            log.warning("publish failed, alert stays pending", extra={"alert": alert.key, "error": str(exc)})
            _release(store, alert, str(exc))
            continue
        done.sent += 1
        done.sent_keys.append(alert.key)
        _mark_sent(store, alert, message_id, clock)
    return done


def _release(store: AlertStore, alert: Alert, error: str) -> None:
    try:
        store.release(alert.key, error)
    except StoreError:
        # The claim runs out by itself; the alert is published again after its lease.
        log.warning("could not release a claim, the lease will", extra={"alert": alert.key})


def _mark_sent(store: AlertStore, alert: Alert, message_id: str, clock: Callable[[], datetime]) -> None:
    # SNS has it: a failure to record that is the one window where an alert can go out
    # twice (when the lease runs out), so try twice before leaving it to the lease.
    for attempt in (1, 2):
        try:
            store.mark_sent(alert.key, message_id, clock())
            return
        except StoreError as exc:
            if attempt == 2:
                log.error("sent but not marked sent", extra={"alert": alert.key, "error": str(exc)})
