"""Poll jobs on the wire: the state is trusted only when the job is fresh from the scheduler,
and a job put off keeps count of it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from wirewatch.adapters.sqs import MAX_JOB_BYTES, decode_job, encode_job, job_from_record
from wirewatch.core.model import FeedSource
from wirewatch.core.ports import FeedState, PollJob
from wirewatch.core.schedule import ERROR_LIMIT, PollPolicy, after_failure

TICK = timedelta(minutes=5)


JOB = PollJob("wire", datetime(2024, 6, 26, 6, tzinfo=UTC), (), FeedState("wire", consecutive_failures=2))


def record(receives: int, sent_seconds_ago: float) -> dict[str, object]:
    sent = int((time.time() - sent_seconds_ago) * 1000)
    attributes = {"ApproximateReceiveCount": str(receives), "SentTimestamp": str(sent)}
    return {"body": encode_job(JOB), "attributes": attributes}


@pytest.mark.parametrize(
    ("receives", "age", "fresh"),
    [
        (1, 5, True),  # first delivery, queued seconds ago
        (2, 5, False),  # a retry: an earlier attempt may have saved a newer state
        (1, 400, False),  # a backlog: later ticks' jobs may have run first
    ],
)
def test_a_retried_or_late_job_reads_the_state_instead(receives: int, age: float, fresh: bool) -> None:
    job = job_from_record(record(receives, age), TICK)
    assert job.state == (JOB.state if fresh else None)
    assert (job.feed_id, job.scheduled) == (JOB.feed_id, JOB.scheduled)


def test_a_deferred_job_keeps_its_count_and_a_fresh_one_carries_none() -> None:
    deferred = PollJob(
        "wire", JOB.scheduled, ("rule",), deferrals=3, queued_at=datetime(2024, 6, 26, 6, 0, 2, tzinfo=UTC)
    )
    assert decode_job(encode_job(deferred)) == deferred
    assert "deferrals" not in encode_job(JOB)  # every message the scheduler sends stays as it was


@pytest.mark.parametrize("count", ["-1", "1.5", "true", '"2"'])
def test_a_bad_deferral_count_is_not_a_job(count: str) -> None:
    with pytest.raises(ValueError, match="deferral count"):
        decode_job(f'{{"feed":"wire","scheduled":"2024-06-26T06:00:00+00:00","deferrals":{count}}}')


@pytest.mark.parametrize("queued", ['"2024-06-26T06:00:02"', '"yesterday"', "1719381602"])
def test_a_bad_queued_time_is_not_a_job(queued: str) -> None:
    with pytest.raises(ValueError, match="queued time"):
        decode_job(f'{{"feed":"wire","scheduled":"2024-06-26T06:00:00+00:00","queued":{queued}}}')


def test_a_job_too_large_for_a_batch_of_ten_goes_without_its_state() -> None:
    # A feed moved to a very long URL, or one keeping many fingerprints: SQS takes 256 KB a
    # batch, and a refused batch held back every feed queued after it.
    moved = FeedState("wire", moved_from="https://a.example/feed", moved_to="https://b.example/" + "x" * 30_000)
    body = encode_job(PollJob("wire", JOB.scheduled, (), moved))
    assert len(body.encode()) <= MAX_JOB_BYTES
    assert decode_job(body).state is None  # the worker reads the state instead
    assert decode_job(encode_job(JOB)).state == JOB.state


def test_a_job_of_a_tick_arming_thousands_of_rules_leaves_them_to_the_store() -> None:
    # A first deploy of a thousand rules: listing them made every job 27 KB, every batch of
    # ten over SQS's 256 KB, and no feed was polled until the rules were armed, which
    # waited for the jobs to be queued.
    arming = tuple(f"rule-{n:05d}-crimea-strike" for n in range(1_000))
    body = encode_job(PollJob("wire", JOB.scheduled, arming, JOB.state))
    assert len(body.encode()) <= MAX_JOB_BYTES
    assert decode_job(body).arming is None  # the worker reads which rules are armed
    assert decode_job(encode_job(PollJob("wire", JOB.scheduled, arming[:100]))).arming == arming[:100]


def test_rules_armed_by_a_tick_are_arming_for_its_jobs_and_not_after() -> None:
    from wirewatch.core.arming import arming_at

    tick = JOB.scheduled
    armed = {"old": tick - timedelta(minutes=5), "this-tick": tick}
    assert arming_at(["old", "this-tick", "new"], armed, tick) == ("new", "this-tick")
    assert arming_at(["old", "this-tick", "new"], armed, tick + timedelta(minutes=5)) == ("new",)


def test_a_long_error_is_kept_short_in_the_state() -> None:
    feed = FeedSource("wire", "https://a.example/feed")
    failed = after_failure(
        feed, FeedState("wire"), error="x" * 10_000, now=JOB.scheduled, policy=PollPolicy(tick=TICK), jitter=0.5
    )
    assert failed.last_error == "x" * ERROR_LIMIT
