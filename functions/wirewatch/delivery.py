"""Alerts out: claim, publish, mark sent; a failed publish leaves the alert pending for later."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wirewatch.core.errors import PublishError

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
    alerts: Iterable[Alert], store: AlertStore, publisher: AlertPublisher, clock: Callable[[], datetime]
) -> Deliveries:
    """Publish each alert that nobody else is publishing or has sent.

    The claim is a lease on the wall clock (``clock``): whoever holds it publishes,
    and a worker that died holding it is replaced when it runs out.
    """
    done = Deliveries()
    for alert in alerts:
        if not store.claim_for_publish(alert.key, clock()):
            continue
        try:
            message_id = publisher.publish(alert)
        except PublishError as exc:
            store.release(alert.key, str(exc))
            done.errors += 1
            log.warning("publish failed, alert stays pending", extra={"alert": alert.key, "error": str(exc)})
            continue
        store.mark_sent(alert.key, message_id, clock())
        done.sent += 1
        done.sent_keys.append(alert.key)
    return done
