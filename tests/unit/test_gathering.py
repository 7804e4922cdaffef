"""Gathering a recipient's waiting alerts into digest messages SNS will take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wirewatch.core.gathering import DIGEST_SIZE, MAX_PAYLOAD_BYTES, gather
from wirewatch.core.messages import sns_message
from wirewatch.core.model import Alert, Delivery, Severity, Subscriber, WatchConfig

NOW = datetime(2024, 6, 26, 8, 0, tzinfo=UTC)
DESK = Subscriber("desk", "email", "desk@example.org", rules=("*",), mode="digest")
CONFIG = WatchConfig(feeds=(), rules=(), subscribers=(DESK,))


def waiting(count: int, link_length: int = 40) -> list[Delivery]:
    deliveries = []
    for n in range(count):
        link = f"https://news.example.org/{n}/" + "x" * link_length
        alert = Alert(
            f"alert#crimea#{n}", "crimea", Severity.HIGH, "wire", "fr", "s", "e", "sms", link, f"Frappe {n}", ()
        )
        created = NOW - timedelta(minutes=count - n)
        deliveries.append(Delivery(f"delivery#desk/email#crimea#{n}", "desk/email", NOW, created, "digest", alert))
    return deliveries


def members(digests: list[Delivery]) -> list[str]:
    return [key for digest in digests if digest.digest is not None for key in digest.digest.members]


def test_more_alerts_than_a_digest_holds_go_out_in_several_oldest_first() -> None:
    alerts = waiting(DIGEST_SIZE + 3)
    digests = gather(alerts, CONFIG, NOW)
    assert [len(d.digest.members) for d in digests if d.digest is not None] == [DIGEST_SIZE, 3]
    assert members(digests) == [d.key for d in alerts]


def test_a_digest_too_large_for_sns_is_split_and_loses_no_alert() -> None:
    # Aggregators' links run to hundreds of characters; the payload carries the text thrice.
    alerts = waiting(DIGEST_SIZE, link_length=1_500)
    digests = gather(alerts, CONFIG, NOW)
    assert len(digests) > 1
    assert all(len(sns_message(digest).encode()) <= MAX_PAYLOAD_BYTES for digest in digests)
    assert members(digests) == [d.key for d in alerts]
