"""Proof under faults: many generated schedules of ticks through the real handlers on moto,
with SNS errors, DynamoDB throttling, crashes at every step, racing workers, duplicate
SQS deliveries and clock jumps; then nothing lost, nothing doubled but in the one window
(see ``faults.py``).

WIREWATCH_FAULT_SCHEDULES sets the number of schedules (bench/faults.py runs 1,000).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, note, settings

from .faults import (
    FERRY,
    HARBOUR,
    STRIKE,
    Fault,
    FaultStack,
    Outcome,
    Schedule,
    Step,
    Story,
    Totals,
    judge,
    schedules,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

SCHEDULES = int(os.environ.get("WIREWATCH_FAULT_SCHEDULES", "12"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    with FaultStack(tmp_path_factory.mktemp("faults")) as built:
        yield built


def test_no_alert_lost_or_doubled_under_generated_faults(stack: FaultStack, capsys: pytest.CaptureFixture[str]) -> None:
    totals = Totals()

    @settings(
        max_examples=SCHEDULES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(schedule=schedules())
    def check(schedule: Schedule) -> None:
        note(str(schedule))
        outcome = stack.run(schedule)
        verdict = judge(outcome)
        totals.add(outcome, verdict)
        note(f"fired: {[str(f) for f in outcome.fired]}; tick errors: {dict(outcome.errors)}")
        assert not outcome.stuck, f"never sent: {outcome.stuck}; lost: {verdict.losses}"
        assert not verdict.losses, f"lost: {verdict.losses}"
        assert not verdict.unexpected, f"unexpected: {verdict.unexpected}"
        assert not verdict.unexplained, f"duplicates outside the window: {verdict.unexplained}"
        assert not verdict.unfaulted_windows, f"sent, never marked sent, no fault: {verdict.unfaulted_windows}"
        assert not verdict.unfolded_unexplained, f"retellings not folded, no fault: {verdict.unfolded_unexplained}"

    check()
    with capsys.disabled():
        print(f"\nfaults: {totals.line()}")


def _schedule(*steps: Step, stories: tuple[Story, ...]) -> Schedule:
    return Schedule(datetime(2024, 6, 26, 12, tzinfo=UTC), stories, steps)


ONE_STORY = (Story(0, (STRIKE, HARBOUR), ("wire-a",), 0),)


def test_a_crash_after_sns_accepted_is_the_one_duplicate_and_is_counted(stack: FaultStack) -> None:
    schedule = _schedule(Step(timedelta(minutes=5), (Fault("sns.Publish", "after", 1, "crash"),)), stories=ONE_STORY)

    outcome = stack.run(schedule)
    verdict = judge(outcome)

    assert verdict.ok and not verdict.losses
    assert verdict.duplicates == 1
    assert verdict.explained == {"crash after sns.Publish": 1}


def test_a_crash_before_the_publish_costs_nothing(stack: FaultStack) -> None:
    schedule = _schedule(Step(timedelta(minutes=5), (Fault("sns.Publish", "before", 1, "crash"),)), stories=ONE_STORY)

    verdict = judge(stack.run(schedule))

    assert verdict.ok
    assert verdict.duplicates == 0


def test_quiet_hours_digests_and_sms_budget_all_deliver_after_a_day(stack: FaultStack) -> None:
    # Published at 23:00 Paris: the night subscriber waits for 07:00, the digest for 08:00,
    # and the phone takes two SMS this hour, the third story in its next hourly digest.
    stories = tuple(Story(n, (STRIKE, HARBOUR, FERRY), ("wire-a", "wire-b"), 0) for n in range(3))
    schedule = Schedule(datetime(2024, 6, 26, 21, tzinfo=UTC), stories, (Step(timedelta(minutes=5)),))

    outcome = stack.run(schedule)
    verdict = judge(outcome)

    assert verdict.ok, verdict
    assert verdict.duplicates == 0
    phone = outcome.messages["phone/sms"]
    assert sum(1 for m in phone if m["kind"] == "alert") == 2  # the hour's budget
    assert any(m["kind"] == "digest" for m in phone)  # the rest, in the next hourly digest
    assert any(m["kind"] == "digest" for m in outcome.messages["digest/email"])


def test_an_sms_moved_to_a_digest_by_another_worker_is_never_stuck(stack: FaultStack) -> None:
    # Found by the generated schedules: the tick (another container) sends the phone's two
    # SMS and moves the third to the hourly digest; the batch, holding the third as it was
    # created (immediate), claimed it anyway, then failed on the budget counters and left
    # it claimed: no digest could take it, nor any later one of the phone's.
    stories = (
        Story(0, (STRIKE, HARBOUR), ("wire-a",), 0),
        Story(1, (HARBOUR,), ("wire-b",), 0),
        Story(2, (STRIKE,), ("wire-a",), 1),
        Story(3, (HARBOUR,), ("wire-b",), 1),
    )
    faults = (
        Fault("dynamodb.BatchWriteItem", "before", 4, "tick"),
        Fault("dynamodb.TransactWriteItems", "before", 1, "error"),
    )
    schedule = Schedule(
        datetime(2024, 6, 26, 15, 50, tzinfo=UTC),
        stories,
        (Step(timedelta(minutes=1), faults), Step(timedelta(hours=2), faults)),
    )

    outcome = stack.run(schedule)
    verdict = judge(outcome)

    assert not outcome.stuck, outcome.stuck
    assert verdict.ok, verdict


@pytest.mark.parametrize(
    "fault",
    [
        None,
        Fault("dynamodb.PutItem", "after", 2, "crash"),  # around the first alert's own writes
        Fault("dynamodb.PutItem", "after", 6, "race"),  # another worker runs the batch meanwhile
        Fault("dynamodb.BatchGetItem", "after", 2, "crash"),
    ],
    ids=str,
)
def test_a_story_retold_by_another_outlet_alerts_once(stack: FaultStack, fault: Fault | None) -> None:
    stories = (
        Story(0, (STRIKE, HARBOUR), ("wire-a",), 0),
        Story(1, (STRIKE, HARBOUR), ("wire-b",), 0, retells=0),
        Story(2, (HARBOUR,), ("wire-c",), 0),  # another event: alerts on its own
    )
    schedule = _schedule(Step(timedelta(minutes=5), (fault,) if fault else ()), stories=stories)

    outcome = stack.run(schedule)
    verdict = judge(outcome)

    assert verdict.ok, verdict
    assert verdict.retellings == 8  # two rules, four recipients each
    assert verdict.unfolded == 0
    desk = {m["title"] for m in outcome.messages["desk/email"]}
    # The event once, under whichever of its two headlines was alerted first (a crash can
    # have the retelling's job run before the story's), and the other event.
    assert len(desk) == 2 and stories[2].headline in desk
    assert desk & {stories[0].headline, stories[1].headline}


def _alert_items(outcome: Outcome) -> dict[str, dict[str, str]]:
    return {item["pk"]: item for item in outcome.items if item["pk"].startswith("alert#")}


@pytest.mark.parametrize("first_feed", ["wire-b", "wire-a"])
def test_two_workers_on_a_story_and_its_retelling_at_once(stack: FaultStack, first_feed: str) -> None:
    # Each feed's job in a batch of its own. As the first worker writes its story's
    # deliveries, a second worker takes the other feed's batch and runs it to the end: two
    # alerts on one event, neither with bands claimed when the other looked. The first
    # worker, reading its bands again, finds the other's alert; the later alert is withdrawn.
    other_feed = "wire-a" if first_feed == "wire-b" else "wire-b"
    stories = (Story(0, (STRIKE,), (first_feed,), 0), Story(1, (STRIKE,), (other_feed,), 0, retells=0))
    step = Step(timedelta(minutes=5), (Fault("dynamodb.PutItem", "after", 6, "rival"),), batch_size=1)

    outcome = stack.run(_schedule(step, stories=stories))
    verdict = judge(outcome)

    assert [str(fault) for fault in outcome.fired] == ["rival after dynamodb.PutItem#6"]
    assert verdict.ok, verdict
    alerts = _alert_items(outcome)
    [(withdrawn, item)] = [(key, item) for key, item in alerts.items() if "withdrawn_into" in item]
    assert item["withdrawn_into"] == min(alerts) and withdrawn == max(alerts)  # the later key
    digest = [m for m in outcome.messages["digest/email"] if m["kind"] == "digest"]
    assert sum(len(m["members"]) for m in digest) == 1  # the event once in the daily digest
    if first_feed == "wire-b":
        # Here the first worker's alert is the later one: withdrawn before any of it went out.
        assert outcome.withdrawn == 1
        assert verdict.unfolded == 0
        assert verdict.deliveries == 4
    else:
        # The rival's alert is the later one, and it sent it at the end of its batch: only its
        # digest entry was still waiting. Those who got it got both (a missed fold, linked).
        assert outcome.withdrawn == 0
        assert verdict.unfolded == 3
        assert verdict.deliveries == 7


def test_deliveries_whose_alert_write_failed_and_whose_retry_folded_are_judged(stack: FaultStack) -> None:
    # Found by the generated schedules: the alert write of story 0 fails after its deliveries
    # were written; the retry folds the report into the retelling's alert instead. The
    # deliveries still go out (a second alert, not a loss), under an alert key with no
    # alert record: the oracle reads their title from the deliveries.
    stories = (
        Story(0, (HARBOUR,), ("wire-a", "wire-b"), 0),
        Story(1, (HARBOUR,), ("wire-c",), 0, retells=0),
    )
    steps = (
        Step(
            timedelta(hours=7),
            (
                Fault("dynamodb.TransactWriteItems", "after", 2, "crash"),
                Fault("dynamodb.PutItem", "before", 6, "error", times=2),
            ),
            duplicate_jobs=True,
            rerun_batch=True,
        ),
        Step(timedelta(hours=20)),
        Step(timedelta(hours=7), rerun_batch=True),
        Step(
            timedelta(minutes=40),
            (
                Fault("dynamodb.TransactWriteItems", "before", 1, "crash"),
                Fault("dynamodb.UpdateItem", "after", 1, "error"),
            ),
        ),
    )
    outcome = stack.run(Schedule(datetime(2024, 3, 30, 22, tzinfo=UTC), stories, steps))
    verdict = judge(outcome)

    assert verdict.ok, verdict
