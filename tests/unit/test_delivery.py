"""Delivering alerts: one alert's store failure costs that alert its turn, not the others'."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from wirewatch.core.errors import PublishError, StoreError
from wirewatch.core.model import Alert, Severity
from wirewatch.delivery import deliver

if TYPE_CHECKING:
    from wirewatch.core.ports import PendingAlert

NOW = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)


def alert(key: str) -> Alert:
    return Alert(key, "rule", Severity.HIGH, "feed", "fr", "subject", "email", "sms", "https://x", "title", ())


class Store:
    """An AlertStore that fails where it is told to, and records what happened."""

    def __init__(self, *, claim_fails: str = "", mark_fails: int = 0) -> None:
        self.claim_fails = claim_fails
        self.mark_fails = mark_fails
        self.sent: list[str] = []
        self.released: list[str] = []

    def create_pending(self, alert: Alert, story_id: str, now: datetime) -> bool:
        return True

    def pending(self) -> list[PendingAlert]:
        return []

    def claim_for_publish(self, key: str, now: datetime) -> bool:
        if key == self.claim_fails:
            raise StoreError("DynamoDB UpdateItem failed: InternalServerError")
        return True

    def mark_sent(self, key: str, message_id: str, now: datetime) -> None:
        if self.mark_fails:
            self.mark_fails -= 1
            raise StoreError("DynamoDB UpdateItem failed: ProvisionedThroughputExceededException")
        self.sent.append(key)

    def release(self, key: str, error: str) -> None:
        self.released.append(key)


class Publisher:
    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.published: list[str] = []

    def publish(self, alert: Alert) -> str:
        if alert.key == self.refuse:
            raise PublishError("SNS Publish failed: Throttling")
        self.published.append(alert.key)
        return f"message-{alert.key}"


def test_a_claim_that_fails_skips_that_alert_only() -> None:
    store, publisher = Store(claim_fails="b"), Publisher()
    done = deliver([alert("a"), alert("b"), alert("c")], store, publisher, lambda: NOW)
    assert publisher.published == ["a", "c"]
    assert (done.sent, done.errors) == (2, 1)


def test_a_refused_publish_gives_the_claim_back() -> None:
    store, publisher = Store(), Publisher(refuse="a")
    done = deliver([alert("a"), alert("b")], store, publisher, lambda: NOW)
    assert store.released == ["a"]
    assert store.sent == ["b"]
    assert done.sent_keys == ["b"]


def test_marking_sent_is_tried_twice() -> None:
    store = Store(mark_fails=1)
    deliver([alert("a")], store, Publisher(), lambda: NOW)
    assert store.sent == ["a"]


def test_past_the_deadline_the_rest_wait() -> None:
    publisher = Publisher()
    done = deliver([alert("a"), alert("b")], Store(), publisher, lambda: NOW, deadline=0.0)
    assert publisher.published == []
    assert done.sent == 0
