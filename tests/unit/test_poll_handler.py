"""The poll handler trusts a job's state only when the job is fresh from the scheduler."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from wirewatch.handlers.poll_feeds import state_is_fresh

TICK = timedelta(minutes=5)


def record(receives: int, sent_seconds_ago: float) -> dict[str, object]:
    sent = int((time.time() - sent_seconds_ago) * 1000)
    return {"attributes": {"ApproximateReceiveCount": str(receives), "SentTimestamp": str(sent)}}


@pytest.mark.parametrize(
    ("receives", "age", "fresh"),
    [
        (1, 5, True),  # first delivery, queued seconds ago
        (2, 5, False),  # a retry: an earlier attempt may have saved a newer state
        (1, 400, False),  # a backlog: later ticks' jobs may have run first
    ],
)
def test_a_retried_or_late_job_reads_the_state_instead(receives: int, age: float, fresh: bool) -> None:
    assert state_is_fresh(record(receives, age), TICK) is fresh
