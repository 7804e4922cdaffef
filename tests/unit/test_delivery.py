"""Delivering: one delivery's store failure costs it its turn only; SMS over budget and
digest-mode alerts are moved, never dropped; a recipient who left is cancelled."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from wirewatch.core.errors import PublishError, StoreError
from wirewatch.core.model import Alert, Delivery, Rule, Severity, SmsBudget, Subscriber, WatchConfig
from wirewatch.core.terms import compile_term
from wirewatch.delivery import deliver

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from wirewatch.core.ports import Withdrawal
    from wirewatch.core.routing import BudgetWindow

NOW = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)
DESK = Subscriber("desk", "email", "desk@example.org", rules=("*",))
PHONE = Subscriber("duty", "sms", "+33612345678", rules=("*",), sms_budget=SmsBudget(per_hour=1))
RULE = Rule("rule", "A rule", Severity.HIGH, compile_term("Crimée"))
CONFIG = WatchConfig(feeds=(), rules=(RULE,), subscribers=(DESK, PHONE))


def alert(key: str) -> Alert:
    return Alert(
        f"alert#rule#{key}", "rule", Severity.HIGH, "feed", "fr", "subject", "email", "sms", "https://x", key, ()
    )


def delivery(
    key: str,
    recipient: str = "desk/email",
    *,
    severity: Severity = Severity.HIGH,
    rule_id: str = "rule",
    **changes: object,
) -> Delivery:
    of_alert = replace(alert(key), severity=severity, rule_id=rule_id)
    made = Delivery(key, recipient, due_at=NOW, created_at=NOW, alert=of_alert)
    return replace(made, **changes)  # type: ignore[arg-type]


class Store:
    """An AlertStore port that fails where it is told to, and records what happened."""

    def __init__(self, *, claim_fails: str = "", mark_fails: int = 0, budget: int = 100) -> None:
        self.claim_fails = claim_fails
        self.mark_fails = mark_fails
        self.budget = budget
        self.sent: list[str] = []
        self.released: list[str] = []
        self.postponed: dict[str, tuple[str, datetime]] = {}
        self.cancelled: list[str] = []
        self.collected: list[Delivery] = []

    def create(self, alert: Alert, story_id: str, deliveries: Sequence[Delivery], now: datetime) -> bool:
        return True

    def due(self, now: datetime) -> list[Delivery]:
        return []

    def claim(self, key: str, now: datetime, mode: str = "immediate") -> bool:
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

    def postpone(self, key: str, mode: str, due_at: datetime) -> None:
        self.postponed[key] = (mode, due_at)

    def cancel(self, key: str, reason: str) -> None:
        self.cancelled.append(key)

    def collect(self, digest: Delivery, now: datetime) -> bool:
        self.collected.append(digest)
        return True

    def take_sms_budget(self, windows: Sequence[BudgetWindow], now: datetime) -> bool:
        if self.budget == 0:
            return False
        self.budget -= 1
        return True

    def return_sms_budget(self, windows: Sequence[BudgetWindow]) -> None:
        self.budget += 1

    def fold(self, alert_key: str, feed_ids: Iterable[str], now: datetime, *, pin: bool = False) -> bool:
        return True

    def withdraw(self, alert_key: str, into: str, now: datetime) -> Withdrawal | None:
        return None

    def folded(self, alert_keys: Sequence[str]) -> dict[str, int]:
        return {}


class Publisher:
    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.published: list[Delivery] = []

    def publish(self, delivery: Delivery) -> str:
        if delivery.key == self.refuse:
            raise PublishError("SNS Publish failed: Throttling")
        self.published.append(delivery)
        return f"message-{delivery.key}"

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.published]


def test_a_claim_that_fails_skips_that_delivery_only() -> None:
    store, publisher = Store(claim_fails="b"), Publisher()
    done = deliver([delivery("a"), delivery("b"), delivery("c")], store, publisher, CONFIG, lambda: NOW)
    assert publisher.keys == ["a", "c"]
    assert (done.sent, done.errors) == (2, 1)


def test_a_refused_publish_gives_the_claim_back() -> None:
    store, publisher = Store(), Publisher(refuse="a")
    done = deliver([delivery("a"), delivery("b")], store, publisher, CONFIG, lambda: NOW)
    assert store.released == ["a"]
    assert store.sent == ["b"]
    assert done.sent_keys == ["b"]


def test_marking_sent_is_tried_twice() -> None:
    store = Store(mark_fails=1)
    deliver([delivery("a")], store, Publisher(), CONFIG, lambda: NOW)
    assert store.sent == ["a"]


def test_past_the_deadline_the_rest_wait() -> None:
    publisher = Publisher()
    done = deliver([delivery("a"), delivery("b")], Store(), publisher, CONFIG, lambda: NOW, deadline=0.0)
    assert publisher.published == []
    assert done.sent == 0


def test_not_yet_due_deliveries_wait() -> None:
    publisher = Publisher()
    later = delivery("a", due_at=NOW + timedelta(hours=1))
    deliver([later], Store(), publisher, CONFIG, lambda: NOW)
    assert publisher.published == []


def test_an_sms_over_the_budget_goes_to_the_next_digest() -> None:
    store, publisher = Store(budget=1), Publisher()
    done = deliver([delivery("a", "duty/sms"), delivery("b", "duty/sms")], store, publisher, CONFIG, lambda: NOW)
    assert publisher.keys == ["a"]
    assert done.postponed == 1
    mode, due = store.postponed["b"]
    assert mode == "digest"
    assert due == NOW + timedelta(hours=1)  # the default hourly digest


def test_digest_mode_alerts_are_gathered_into_one_message() -> None:
    store, publisher = Store(), Publisher()
    waiting = [delivery(key, mode="digest") for key in ("a", "b", "c")]
    done = deliver(waiting, store, publisher, CONFIG, lambda: NOW)
    assert done.digests == 1
    [digest] = publisher.published
    assert digest.digest is not None
    assert sorted(digest.digest.members) == ["a", "b", "c"]
    assert all(title in digest.text for title in ("a", "b", "c"))


def test_a_recipient_who_left_the_watch_file_is_cancelled_not_sent() -> None:
    store, publisher = Store(), Publisher()
    deliver([delivery("a", "gone/email")], store, publisher, CONFIG, lambda: NOW)
    assert publisher.published == []
    assert store.cancelled == ["a"]


def test_an_sms_sns_refused_gives_its_budget_back_for_the_retry() -> None:
    store = Store(budget=1)
    deliver([delivery("a", "duty/sms")], store, Publisher(refuse="a"), CONFIG, lambda: NOW)
    assert (store.released, store.budget) == (["a"], 1)

    publisher = Publisher()
    done = deliver([delivery("a", "duty/sms")], store, publisher, CONFIG, lambda: NOW + timedelta(minutes=1))
    assert (publisher.keys, done.postponed) == (["a"], 0)


def test_a_held_alert_the_subscriber_no_longer_wants_is_cancelled() -> None:
    held = [delivery("low", severity=Severity.LOW), delivery("gone-rule", rule_id="removed"), delivery("kept")]
    raised = replace(DESK, min_severity=Severity.MEDIUM)
    config = replace(CONFIG, subscribers=(raised, PHONE))
    store, publisher = Store(), Publisher()
    deliver(held, store, publisher, config, lambda: NOW)
    assert publisher.keys == ["kept"]
    assert store.cancelled == ["low", "gone-rule"]


def test_an_alert_waiting_for_a_digest_the_subscriber_no_longer_wants_leaves_it() -> None:
    waiting = [delivery(key, mode="digest") for key in ("a", "b")] + [delivery("c", mode="digest", rule_id="removed")]
    store, publisher = Store(), Publisher()
    deliver(waiting, store, publisher, CONFIG, lambda: NOW)
    [digest] = publisher.published
    assert digest.digest is not None and sorted(digest.digest.members) == ["a", "b"]
    assert store.cancelled == ["c"]
