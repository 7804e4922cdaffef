"""Scheduled entry point: queue a poll job for every due feed, publish what was left pending.

Event: EventBridge Scheduler input ``{"scheduled_time": ISO-8601, "poll_all": bool}``
(both optional). Only a failure of the state store, the queue or the watch file
fails the invocation, so Lambda retries it and then parks it in the dead-letter
queue; a tick is safe to run twice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wirewatch.bootstrap import build_scheduler
from wirewatch.handlers.container import Warm
from wirewatch.observability import logger, metrics, record_tick, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from wirewatch.scheduling import Scheduler

RESERVE_SECONDS = 30
_scheduler = Warm(build_scheduler)


def get_scheduler() -> Scheduler:
    return _scheduler.get()


def reset() -> None:
    _scheduler.reset()


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    # Publishing leftovers stops this long before the timeout (an SNS call can take 25 s).
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS
    report = get_scheduler().tick(scheduled_time(event), poll_all=bool(event.get("poll_all")), deadline=deadline)
    return record_tick(report)


def scheduled_time(event: dict[str, Any]) -> datetime:
    raw = event.get("scheduled_time")
    if isinstance(raw, str) and raw and not raw.startswith("<"):
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
    return datetime.now(UTC)
