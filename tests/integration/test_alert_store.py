"""The alert store on moto, tables created from template.yaml: an alert and its deliveries
are written together, claims exclude each other, digests and SMS budgets are all-or-nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from wirewatch.adapters.dynamodb_alerts import DynamoDBAlertStore
from wirewatch.adapters.sns import SNSAlertPublisher
from wirewatch.core.errors import StoreError
from wirewatch.core.model import Alert, Delivery, DigestMessage, Rule, Severity, SmsBudget, Subscriber, WatchConfig
from wirewatch.core.ports import Withdrawal
from wirewatch.core.routing import BudgetWindow
from wirewatch.core.terms import compile_term
from wirewatch.delivery import deliver
from wirewatch.status import read_recent_alerts

if TYPE_CHECKING:
    from .conftest import Pipeline

NOW = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
ALERT = Alert(
    "alert#crimea-strike#s1",
    "crimea-strike",
    Severity.CRITICAL,
    "wire",
    "fr",
    "subject",
    "body",
    "sms",
    "https://x.org/a",
    "title",
    ("Crimée",),
    rule_title="Strike on Crimea",
    published=NOW - timedelta(hours=1),
)


def _delivery(recipient: str = "desk/email", *, due: datetime = NOW, mode: str = "immediate") -> Delivery:
    return Delivery(
        f"delivery#{recipient}#crimea-strike#s1", recipient, due_at=due, created_at=NOW, mode=mode, alert=ALERT
    )


def _stores(pipeline: Pipeline) -> tuple[DynamoDBAlertStore, DynamoDBAlertStore]:
    client = boto3.client("dynamodb")
    table = pipeline.settings.alerts_table
    return (
        DynamoDBAlertStore(client, table, timedelta(days=30), LEASE),
        DynamoDBAlertStore(client, table, timedelta(days=30), LEASE),
    )


def _record(pipeline: Pipeline, key: str) -> dict[str, dict[str, str]]:
    return boto3.client("dynamodb").get_item(TableName=pipeline.settings.alerts_table, Key={"pk": {"S": key}})["Item"]


def test_an_alert_is_recorded_once_with_its_deliveries(pipeline: Pipeline) -> None:
    worker_a, worker_b = _stores(pipeline)
    deliveries = [_delivery("desk/email"), _delivery("duty/sms", due=NOW + timedelta(hours=2))]

    assert worker_a.create(ALERT, "s1", deliveries, NOW) is True
    assert worker_b.create(ALERT, "s1", deliveries, NOW) is False

    assert [d.key for d in worker_a.due(NOW)] == ["delivery#desk/email#crimea-strike#s1"]
    assert {d.recipient for d in worker_a.due(NOW + timedelta(hours=2))} == {"desk/email", "duty/sms"}
    [read] = worker_a.due(NOW)
    assert read == deliveries[0]  # everything a digest or a retry needs comes back


def test_a_recipient_keeps_the_delivery_it_had_of_a_story(pipeline: Pipeline) -> None:
    worker_a, worker_b = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery()], NOW)
    worker_a.claim(_delivery().key, NOW)
    worker_a.mark_sent(_delivery().key, "message-1", NOW)

    # A worker that crashed after writing the deliveries and before the alert, retried:
    boto3.client("dynamodb").delete_item(TableName=pipeline.settings.alerts_table, Key={"pk": {"S": ALERT.key}})
    assert worker_b.create(ALERT, "s1", [_delivery(), _delivery("duty/sms")], NOW) is True

    assert _record(pipeline, _delivery().key)["status"]["S"] == "SENT"  # not reset to PENDING
    assert [d.recipient for d in worker_b.due(NOW)] == ["duty/sms"]


def test_only_one_worker_claims_a_delivery_until_the_lease_runs_out(pipeline: Pipeline) -> None:
    worker_a, worker_b = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery()], NOW)
    key = _delivery().key

    assert worker_a.claim(key, NOW) is True
    assert worker_b.claim(key, NOW + timedelta(minutes=1)) is False
    assert worker_b.claim(key, NOW + LEASE + timedelta(seconds=1)) is True


def test_a_late_release_does_not_undo_another_workers_claim(pipeline: Pipeline) -> None:
    worker_a, worker_b = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery()], NOW)
    key = _delivery().key
    worker_a.claim(key, NOW)
    worker_b.claim(key, NOW + LEASE + timedelta(seconds=1))  # A was too slow

    worker_a.release(key, "SNS Publish failed: Throttling")

    assert _record(pipeline, key)["status"]["S"] == "PUBLISHING"
    assert worker_a.claim(key, NOW + LEASE + timedelta(minutes=1)) is False


def test_sent_deliveries_leave_the_due_index(pipeline: Pipeline) -> None:
    worker_a, _ = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery()], NOW)
    key = _delivery().key
    worker_a.claim(key, NOW)

    worker_a.mark_sent(key, "message-1", NOW)

    assert worker_a.due(NOW + timedelta(days=1)) == []
    assert worker_a.claim(key, NOW + timedelta(days=1)) is False


def test_a_postponed_delivery_comes_due_again_in_its_new_mode(pipeline: Pipeline) -> None:
    worker_a, _ = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery("duty/sms")], NOW)
    key = _delivery("duty/sms").key
    worker_a.claim(key, NOW)

    worker_a.postpone(key, "digest", NOW + timedelta(hours=1))

    assert worker_a.due(NOW) == []
    [again] = worker_a.due(NOW + timedelta(hours=1))
    assert (again.mode, again.due_at) == ("digest", NOW + timedelta(hours=1))


def _digest_of(member: Delivery, subject: str) -> Delivery:
    """The desk's email digest of one member, due now."""
    return Delivery(
        "digest#desk/email#1",
        "desk/email",
        due_at=NOW,
        created_at=NOW,
        mode="digest",
        digest=DigestMessage(subject, "email text", "sms text", (member.key,)),
    )


def test_a_digest_takes_its_members_all_or_nothing(pipeline: Pipeline) -> None:
    worker_a, worker_b = _stores(pipeline)
    member = _delivery(mode="digest")
    worker_a.create(ALERT, "s1", [member], NOW)
    digest = _digest_of(member, "2 alerts")
    rival = Delivery(**{**digest.__dict__, "key": "digest#desk/email#2"})

    assert worker_a.collect(digest, NOW) is True
    assert worker_b.collect(rival, NOW) is False  # the member is in the first digest already

    [due] = worker_a.due(NOW)
    assert due == digest
    assert _record(pipeline, member.key)["status"]["S"] == "DIGESTED"
    assert "Item" not in boto3.client("dynamodb").get_item(
        TableName=pipeline.settings.alerts_table, Key={"pk": {"S": rival.key}}
    )


def test_the_sms_budget_counts_in_every_window_or_none(pipeline: Pipeline) -> None:
    worker_a, _ = _stores(pipeline)
    hour = BudgetWindow("budget#duty/sms#hour#1", 2, NOW + timedelta(hours=1))
    day = BudgetWindow("budget#duty/sms#day#1", 3, NOW + timedelta(days=1))

    taken = [worker_a.take_sms_budget([hour, day], NOW) for _ in range(3)]
    next_hour = BudgetWindow("budget#duty/sms#hour#2", 2, NOW + timedelta(hours=2))
    later = [worker_a.take_sms_budget([next_hour, day], NOW) for _ in range(2)]

    assert taken == [True, True, False]
    assert later == [True, False]  # the day's third SMS; the refused hour counted nothing
    assert _record(pipeline, day.key)["sent"]["N"] == "3"


def test_an_sms_not_sent_is_returned_to_every_window(pipeline: Pipeline) -> None:
    worker_a, _ = _stores(pipeline)
    hour = BudgetWindow("budget#duty/sms#hour#1", 1, NOW + timedelta(hours=1))
    day = BudgetWindow("budget#duty/sms#day#1", 5, NOW + timedelta(days=1))
    assert worker_a.take_sms_budget([hour, day], NOW)

    worker_a.return_sms_budget([hour, day])

    assert [_record(pipeline, window.key)["sent"]["N"] for window in (hour, day)] == ["0", "0"]
    assert worker_a.take_sms_budget([hour, day], NOW)  # the hour's one SMS is there again
    worker_a.return_sms_budget([hour, day])
    worker_a.return_sms_budget([hour, day])  # never below zero
    assert [_record(pipeline, window.key)["sent"]["N"] for window in (hour, day)] == ["0", "0"]


def test_folded_reports_are_counted_per_source(pipeline: Pipeline) -> None:
    worker_a, _ = _stores(pipeline)
    worker_a.create(ALERT, "s1", [], NOW)

    for feed in ("zonebourse", "lemonde", "zonebourse"):
        worker_a.fold(ALERT.key, [feed], NOW)

    assert worker_a.folded([ALERT.key, "alert#none#x"]) == {ALERT.key: 2}


OTHER = Alert(
    "alert#crimea-strike#s2",
    "crimea-strike",
    Severity.CRITICAL,
    "kyiv",
    "en",
    "subject",
    "body",
    "sms",
    "https://y.org/b",
    "title b",
    ("Crimea",),
)


def _delivery_of(alert: Alert, recipient: str) -> Delivery:
    key = f"delivery#{recipient}#{alert.key.removeprefix('alert#')}"
    return Delivery(key, recipient, due_at=NOW, created_at=NOW, mode="immediate", alert=alert)


def test_an_alert_withdrawn_into_another_cancels_its_waiting_deliveries_only(pipeline: Pipeline) -> None:
    worker_a, worker_b = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery("desk/email"), _delivery("duty/sms")], NOW)
    mine = [_delivery_of(OTHER, "desk/email"), _delivery_of(OTHER, "duty/sms")]
    worker_b.create(OTHER, "s2", mine, NOW)
    worker_b.fold(OTHER.key, ["lemonde"], NOW)  # a copy of its story, from another outlet
    assert worker_b.claim(mine[1].key, NOW)  # being sent as it is withdrawn

    assert worker_a.fold(ALERT.key, [], NOW, pin=True)
    # Not counted as withdrawn: one of its deliveries was already going out.
    assert worker_a.withdraw(OTHER.key, ALERT.key, NOW) == Withdrawal(frozenset({"kyiv", "lemonde"}), 1, counted=False)

    assert _record(pipeline, mine[0].key)["status"]["S"] == "CANCELLED"
    assert "pending" not in _record(pipeline, mine[0].key)
    assert _record(pipeline, mine[1].key)["status"]["S"] == "PUBLISHING"  # goes out: never neither
    assert {d.recipient for d in worker_a.due(NOW)} == {"desk/email", "duty/sms"}  # ALERT's, and the claimed one
    assert worker_a.settled([OTHER.key]) == {}  # not settled: read as before
    worker_b.settle(OTHER.key, "")
    assert worker_a.settled([OTHER.key])[OTHER.key].withdrawn_into == ALERT.key
    # Nothing folds into a withdrawn alert; a retry of the withdrawal finishes it, counted once.
    assert worker_a.fold(OTHER.key, ["tass"], NOW) is False
    assert worker_a.withdraw(OTHER.key, ALERT.key, NOW) == Withdrawal(frozenset({"kyiv", "lemonde"}), 0, counted=False)
    assert worker_a.withdraw(OTHER.key, "alert#crimea-strike#s3", NOW) is None
    # `wirewatch status` counts it: duty/sms got it.
    recent = read_recent_alerts(boto3.client("dynamodb"), pipeline.settings.alerts_table, NOW - timedelta(days=1))
    assert len(recent) == 2


def test_an_alert_another_report_rests_on_is_never_withdrawn(pipeline: Pipeline) -> None:
    worker_a, worker_b = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery()], NOW)
    worker_b.create(OTHER, "s2", [_delivery_of(OTHER, "desk/email")], NOW)

    assert worker_b.fold(OTHER.key, ["tass"], NOW, pin=True)  # a third report folded into it
    assert worker_a.withdraw(OTHER.key, ALERT.key, NOW) is None
    assert worker_a.withdraw("alert#crimea-strike#none", ALERT.key, NOW) is None
    assert {d.key for d in worker_a.due(NOW)} == {_delivery().key, _delivery_of(OTHER, "desk/email").key}
    # Pinned alerts fold in other reports, and the pin alone counts no source.
    assert worker_a.fold(ALERT.key, [], NOW, pin=True)
    assert worker_a.folded([ALERT.key, OTHER.key]) == {ALERT.key: 0, OTHER.key: 1}


def test_an_alert_with_a_recipient_the_other_lacks_is_not_withdrawn(pipeline: Pipeline) -> None:
    # Routed by another version of the watch file: the analyst would hear of it from neither.
    worker_a, worker_b = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery("desk/email")], NOW)
    worker_b.create(OTHER, "s2", [_delivery_of(OTHER, "desk/email"), _delivery_of(OTHER, "analyst/email")], NOW)

    assert worker_a.withdraw(OTHER.key, ALERT.key, NOW) is None
    assert "withdrawn_into" not in _record(pipeline, OTHER.key)
    assert {d.recipient for d in worker_a.due(NOW) if d.alert and d.alert.key == OTHER.key} == {
        "desk/email",
        "analyst/email",
    }


def test_an_alert_that_went_out_already_is_not_withdrawn(pipeline: Pipeline) -> None:
    worker_a, worker_b = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery()], NOW)
    sent = _delivery_of(OTHER, "desk/email")
    worker_b.create(OTHER, "s2", [sent], NOW)
    assert worker_b.claim(sent.key, NOW)
    worker_b.mark_sent(sent.key, "m-1", NOW)

    assert worker_a.withdraw(OTHER.key, ALERT.key, NOW) is None
    assert "withdrawn_into" not in _record(pipeline, OTHER.key)
    recent = read_recent_alerts(boto3.client("dynamodb"), pipeline.settings.alerts_table, NOW - timedelta(days=1))
    assert len(recent) == 2  # desk/email got both: status says so


def test_an_alert_claimed_while_being_withdrawn_goes_out_and_is_not_counted_as_withdrawn(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker_a, worker_b = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery()], NOW)
    waiting = _delivery_of(OTHER, "desk/email")
    worker_b.create(OTHER, "s2", [waiting], NOW)
    read_while_waiting = worker_a._withdrawable(OTHER.key, ALERT.key)
    assert read_while_waiting is not None
    assert worker_b.claim(waiting.key, NOW)  # its worker publishes between the read and the mark
    monkeypatch.setattr(worker_a, "_withdrawable", lambda *_: read_while_waiting)

    assert worker_a.withdraw(OTHER.key, ALERT.key, NOW) == Withdrawal(frozenset({"kyiv"}), 0, counted=False)
    assert _record(pipeline, waiting.key)["status"]["S"] == "PUBLISHING"
    # Still marked (never taken back: nothing may rest on it now), but people got it.
    assert worker_a.fold(OTHER.key, ["tass"], NOW, pin=True) is False
    recent = read_recent_alerts(boto3.client("dynamodb"), pipeline.settings.alerts_table, NOW - timedelta(days=1))
    assert len(recent) == 2


def test_an_alert_pinned_between_the_read_and_the_mark_is_not_withdrawn(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The guard everything rests on: a report folded into it (pinned) after the checks read it.
    worker_a, worker_b = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery()], NOW)
    worker_b.create(OTHER, "s2", [_delivery_of(OTHER, "desk/email")], NOW)
    read_unpinned = worker_a._withdrawable(OTHER.key, ALERT.key)
    assert worker_b.fold(OTHER.key, ["tass"], NOW, pin=True)
    monkeypatch.setattr(worker_a, "_withdrawable", lambda *_: read_unpinned)

    assert worker_a.withdraw(OTHER.key, ALERT.key, NOW) is None
    assert "withdrawn_into" not in _record(pipeline, OTHER.key)
    assert _record(pipeline, _delivery_of(OTHER, "desk/email").key)["status"]["S"] == "PENDING"


def _both_pinned_for_withdrawing(pipeline: Pipeline) -> tuple[DynamoDBAlertStore, DynamoDBAlertStore, list[Delivery]]:
    worker_a, worker_b = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery("desk/email"), _delivery("duty/sms")], NOW)
    theirs = [_delivery_of(OTHER, "desk/email"), _delivery_of(OTHER, "duty/sms")]
    worker_b.create(OTHER, "s2", theirs, NOW)
    # Both workers saw the pair: both pin the kept alert, both withdraw the other.
    assert worker_a.fold(ALERT.key, [], NOW, pin=True)
    assert worker_b.fold(ALERT.key, [], NOW, pin=True)
    return worker_a, worker_b, theirs


def test_two_workers_withdrawing_one_alert_at_once_count_it_once(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A marks it; B marks it again and cancels every waiting delivery before A gets to them.
    worker_a, worker_b, theirs = _both_pinned_for_withdrawing(pipeline)
    results: dict[str, Withdrawal | None] = {}
    set_status = worker_a._set_status

    def b_cancels_first(*args: Any, **kwargs: Any) -> bool:
        if "b" not in results:
            results["b"] = worker_b.withdraw(OTHER.key, ALERT.key, NOW)
        return set_status(*args, **kwargs)

    monkeypatch.setattr(worker_a, "_set_status", b_cancels_first)
    results["a"] = worker_a.withdraw(OTHER.key, ALERT.key, NOW)

    assert results == {
        "b": Withdrawal(frozenset({"kyiv"}), 2, counted=True),
        "a": Withdrawal(frozenset({"kyiv"}), 0, counted=False),
    }
    assert [_record(pipeline, d.key)["status"]["S"] for d in theirs] == ["CANCELLED", "CANCELLED"]
    assert _record(pipeline, OTHER.key)["withdrawn_into"] == {"S": ALERT.key}
    # `wirewatch status` counts the alert people got, not the one folded into it.
    recent = read_recent_alerts(boto3.client("dynamodb"), pipeline.settings.alerts_table, NOW - timedelta(days=1))
    assert [alert.rule_id for alert in recent] == ["crimea-strike"]
    assert worker_a.fold(OTHER.key, ["tass"], NOW, pin=True) is False  # nothing rests on an alert nobody got


def test_a_withdrawal_cut_off_after_its_mark_is_finished_by_a_retry(pipeline: Pipeline) -> None:
    worker_a, worker_b, theirs = _both_pinned_for_withdrawing(pipeline)

    def throttled(*args: Any, **kwargs: Any) -> bool:
        raise StoreError("DynamoDB UpdateItem failed: ProvisionedThroughputExceededException")

    worker_a._set_status = throttled  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        worker_a.withdraw(OTHER.key, ALERT.key, NOW)
    del worker_a._set_status
    assert "withdrawn_into" in _record(pipeline, OTHER.key)
    # A retry before anything went out finishes it, and counts it.
    assert worker_b.withdraw(OTHER.key, ALERT.key, NOW) == Withdrawal(frozenset({"kyiv"}), 2, counted=True)
    assert worker_a.withdraw(OTHER.key, ALERT.key, NOW) == Withdrawal(frozenset({"kyiv"}), 0, counted=False)
    assert [_record(pipeline, d.key)["status"]["S"] for d in theirs] == ["CANCELLED", "CANCELLED"]


def test_a_withdrawal_cut_off_after_its_mark_whose_alert_then_went_out_is_not_counted(pipeline: Pipeline) -> None:
    worker_a, worker_b, theirs = _both_pinned_for_withdrawing(pipeline)
    worker_a._set_status = lambda *_, **__: False  # type: ignore[method-assign]  # the cancels do not happen
    assert worker_a.withdraw(OTHER.key, ALERT.key, NOW) == Withdrawal(frozenset({"kyiv"}), 0, counted=False)
    del worker_a._set_status
    for delivery in theirs:  # the scheduler's sweep sends what is due
        assert worker_b.claim(delivery.key, NOW)
        worker_b.mark_sent(delivery.key, "m-1", NOW)

    assert worker_a.withdraw(OTHER.key, ALERT.key, NOW) == Withdrawal(frozenset({"kyiv"}), 0, counted=False)
    recent = read_recent_alerts(boto3.client("dynamodb"), pipeline.settings.alerts_table, NOW - timedelta(days=1))
    assert len(recent) == 2  # everyone got it: status says so


def test_a_copy_counted_on_the_alert_while_it_is_withdrawn_is_carried_over(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker_a, worker_b, _ = _both_pinned_for_withdrawing(pipeline)
    withdrawable = worker_a._withdrawable

    def copy_arrives_after_the_read(*args: Any) -> Any:
        found = withdrawable(*args)
        assert worker_b.fold(OTHER.key, ["tass"], NOW)  # another outlet carrying OTHER's story
        return found

    monkeypatch.setattr(worker_a, "_withdrawable", copy_arrives_after_the_read)
    withdrawal = worker_a.withdraw(OTHER.key, ALERT.key, NOW)
    assert withdrawal is not None
    assert withdrawal.sources == {"kyiv", "tass"}


def test_a_copy_read_before_the_delivery_moved_to_a_digest_cannot_claim_it(pipeline: Pipeline) -> None:
    worker_a, worker_b = _stores(pipeline)
    worker_a.create(ALERT, "s1", [_delivery("duty/sms")], NOW)
    key = _delivery("duty/sms").key
    worker_a.claim(key, NOW)
    worker_a.postpone(key, "digest", NOW + timedelta(hours=1))  # over the SMS budget

    # Worker B still holds the delivery as it was created: immediate.
    assert worker_b.claim(key, NOW + timedelta(minutes=1), "immediate") is False


def test_a_digest_takes_a_member_whose_claim_a_dead_worker_left(pipeline: Pipeline) -> None:
    worker_a, worker_b = _stores(pipeline)
    member = _delivery(mode="digest")
    worker_a.create(ALERT, "s1", [member], NOW)
    worker_a.claim(member.key, NOW, "digest")  # then died
    digest = _digest_of(member, "1 alert")

    assert worker_b.collect(digest, NOW + timedelta(minutes=1)) is False  # its lease still runs
    assert worker_b.collect(digest, NOW + LEASE + timedelta(seconds=1)) is True
    assert _record(pipeline, member.key)["status"]["S"] == "DIGESTED"


def test_a_delivery_is_kept_its_retention_past_when_it_is_due(pipeline: Pipeline) -> None:
    # A daily digest held by quiet hours can be due a day and a half after its alert; with
    # RetentionDays 1, an expiry counted from creation let TTL delete it unsent.
    store = DynamoDBAlertStore(boto3.client("dynamodb"), pipeline.settings.alerts_table, timedelta(days=1), LEASE)
    held = _delivery("analyst/email", due=NOW + timedelta(hours=31), mode="digest")
    store.create(ALERT, "s1", [held], NOW)
    assert int(_record(pipeline, held.key)["expires_at"]["N"]) == int((held.due_at + timedelta(days=1)).timestamp())

    later = NOW + timedelta(hours=40)
    assert store.claim(held.key, held.due_at, "digest")
    store.postpone(held.key, "digest", later)
    assert int(_record(pipeline, held.key)["expires_at"]["N"]) == int((later + timedelta(days=1)).timestamp())


def test_a_delivery_another_worker_gathered_is_not_cancelled_from_under_its_digest(pipeline: Pipeline) -> None:
    worker_a, worker_b = _stores(pipeline)
    member = _delivery("analyst/email", mode="digest")
    worker_a.create(ALERT, "s1", [member], NOW)
    digest = Delivery(
        "digest#analyst/email#d1",
        "analyst/email",
        due_at=NOW,
        created_at=NOW,
        mode="digest",
        digest=DigestMessage("digest", "email", "sms", (member.key,)),
    )
    assert worker_b.collect(digest, NOW)

    worker_a.cancel(member.key, "the subscriber now takes critical alerts only")  # from a stale read

    assert _record(pipeline, member.key)["status"]["S"] == "DIGESTED"


def _sms_setup(pipeline: Pipeline) -> tuple[DynamoDBAlertStore, Any, WatchConfig, Delivery]:
    store = DynamoDBAlertStore(boto3.client("dynamodb"), pipeline.settings.alerts_table, timedelta(days=30), LEASE)
    phone = Subscriber("duty", "sms", "+33612345678", rules=("*",), sms_budget=SmsBudget(per_hour=1))
    config = WatchConfig(
        feeds=(), rules=(Rule("crimea-strike", "R", Severity.HIGH, compile_term("x")),), subscribers=(phone,)
    )
    delivery = _delivery("duty/sms", due=datetime.now(UTC))
    store.create(ALERT, "s1", [delivery], delivery.due_at)
    return store, boto3.client("sns"), config, delivery


def test_an_sms_whose_answer_was_lost_keeps_its_place_in_the_budget(pipeline: Pipeline) -> None:
    # SNS took it and its answer never came: it may have been sent, and the budget says so.
    store, sns, config, delivery = _sms_setup(pipeline)
    publisher = SNSAlertPublisher(sns, pipeline.settings.topic_arn)
    accepted: list[str] = []

    def lost_answer(parsed: dict[str, Any], **_: object) -> None:
        accepted.append(parsed["MessageId"])
        raise ReadTimeoutError(endpoint_url="https://sns")

    sns.meta.events.register("after-call.sns.Publish", lost_answer)
    first = deliver(store.due(delivery.due_at), store, publisher, config, lambda: datetime.now(UTC))
    sns.meta.events.unregister("after-call.sns.Publish", lost_answer)
    second = deliver(store.due(datetime.now(UTC)), store, publisher, config, lambda: datetime.now(UTC))

    assert (len(accepted), first.errors, second.sent, second.postponed) == (1, 1, 0, 1)


@pytest.mark.parametrize(("code", "status"), [("Throttled", 429), ("Throttling", 400)])
def test_what_sns_refuses_for_throttling_is_tried_again_at_once(pipeline: Pipeline, code: str, status: int) -> None:
    # SNS's own model answers Throttled (429); Throttling is the older spelling.
    _, sns, _, delivery = _sms_setup(pipeline)
    refusals = iter([True, True])

    def throttled(**_: object) -> None:
        if next(refusals, False):
            raise ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Publish")

    sns.meta.events.register("before-call.sns.Publish", throttled)
    assert SNSAlertPublisher(sns, pipeline.settings.topic_arn).publish(delivery)


def test_the_publishing_client_never_publishes_twice_by_itself(pipeline: Pipeline) -> None:
    # botocore's max_attempts counts retries: one would publish again after a read timeout.
    from wirewatch.adapters import aws

    assert aws.sns_publish_client().meta.config.retries == {"total_max_attempts": 1, "mode": "standard"}


def test_the_clients_poll_threads_share_keep_a_connection_for_each(pipeline: Pipeline) -> None:
    # botocore keeps 10 by default: the other threads of a poll worker's 50 would open and
    # drop a connection (a TLS handshake to DynamoDB) at every call.
    from wirewatch.adapters import aws
    from wirewatch.settings import Settings

    assert aws.dynamodb_client().meta.config.max_pool_connections > Settings.poll_concurrency
