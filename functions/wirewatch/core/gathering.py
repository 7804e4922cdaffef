"""Digests: a recipient's alerts that wait for a digest time, gathered into messages."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from wirewatch.core.digests import DigestEntry, render_digest
from wirewatch.core.messages import sns_message
from wirewatch.core.model import Delivery, DigestMessage

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime

    from wirewatch.core.model import WatchConfig

# Alerts per digest message: one store transaction gathers a digest and its members
# (DynamoDB takes 100 items per transaction), and nobody reads a longer email.
DIGEST_SIZE = 50
# SNS refuses a message over 256 KiB, attributes included, and a refused digest would be
# retried for ever with its alerts already gathered into it: past this many bytes of
# payload a digest's alerts are split over two messages.
MAX_PAYLOAD_BYTES = 200_000


def digest_key(recipient: str, members: Sequence[str]) -> str:
    """The same members make the same digest: a retried gathering finds its first attempt."""
    digest = hashlib.sha256("\n".join(sorted(members)).encode()).hexdigest()[:24]
    return f"digest#{recipient}#{digest}"


def gather(
    waiting: Sequence[Delivery],
    config: WatchConfig,
    now: datetime,
    also_reported: Mapping[str, int] | None = None,
) -> list[Delivery]:
    """Digest deliveries, due now, for the alerts in ``waiting`` that wait for a digest.

    Oldest alerts first into the first message when one recipient has more than
    ``DIGEST_SIZE``. ``also_reported`` counts, per alert key, the other sources
    that reported each alert's event.
    """
    by_recipient: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in waiting:
        if delivery.mode == "digest" and delivery.alert is not None and delivery.due_at <= now:
            by_recipient[delivery.recipient].append(delivery)
    digests = []
    for recipient, members in sorted(by_recipient.items()):
        subscriber = config.recipient(recipient)
        zone = ZoneInfo(subscriber.timezone if subscriber is not None else "UTC")
        members.sort(key=lambda delivery: (delivery.created_at, delivery.key))

        def digest_of(part: Sequence[Delivery], recipient: str = recipient, zone: ZoneInfo = zone) -> Delivery | None:
            entries = [_entry(delivery, (also_reported or {}).get(_alert_key(delivery), 0)) for delivery in part]
            text = render_digest(entries, recipient=recipient, tz=zone, since=part[0].created_at, until=now)
            if text is None:
                return None
            keys = tuple(delivery.key for delivery in part)
            return Delivery(
                key=digest_key(recipient, keys),
                recipient=recipient,
                due_at=now,
                created_at=now,
                mode="digest",
                digest=DigestMessage(subject=text.subject, email=text.email, sms=text.sms, members=keys),
            )

        for start in range(0, len(members), DIGEST_SIZE):
            digests += _fitting(members[start : start + DIGEST_SIZE], digest_of)
    return digests


def _fitting(part: Sequence[Delivery], digest_of: Callable[[Sequence[Delivery]], Delivery | None]) -> list[Delivery]:
    """The digest of ``part``, or of its halves (and so on) while its payload is too large for SNS."""
    digest = digest_of(part)
    if digest is None:
        return []
    if len(part) == 1 or len(sns_message(digest).encode()) <= MAX_PAYLOAD_BYTES:
        return [digest]
    middle = len(part) // 2
    return _fitting(part[:middle], digest_of) + _fitting(part[middle:], digest_of)


def _alert_key(delivery: Delivery) -> str:
    return delivery.alert.key if delivery.alert is not None else ""


def _entry(delivery: Delivery, also_reported: int) -> DigestEntry:
    alert = delivery.alert
    assert alert is not None
    return DigestEntry(
        rule_id=alert.rule_id,
        rule_title=alert.rule_title or alert.rule_id,
        severity=alert.severity,
        headline=alert.title,
        source=alert.feed_id,
        published=alert.published,
        link=alert.link,
        also_reported=also_reported,
        created_at=delivery.created_at,
    )
