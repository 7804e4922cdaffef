"""Scheduled entry point: one polling cycle over every due feed.

Event: EventBridge Scheduler input ``{"scheduled_time": ISO-8601, "poll_all": bool}``
(both optional). A feed that fails is recorded and skipped; only a failure of
the state store or of the watch file fails the invocation, so Lambda retries it
and then parks it in the dead-letter queue.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wirewatch.bootstrap import build_poller
from wirewatch.observability import logger, metrics, record_cycle, tracer
from wirewatch.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from wirewatch.service import Poller

# Time kept back from the function timeout to publish what the cycle found.
RESERVE_SECONDS = 60
_poller: Poller | None = None


def _get_poller() -> Poller:
    # Built on the first invocation, not at import: moto and AWS_ENDPOINT_URL must be in
    # place before any client exists, and warm invocations reuse clients and rules.
    global _poller  # noqa: PLW0603
    if _poller is None:
        _poller = build_poller(Settings.from_env())
    return _poller


def reset() -> None:
    """Forget the cached poller (tests and local runs that change the environment)."""
    global _poller  # noqa: PLW0603
    _poller = None


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS
    report = _get_poller().run_cycle(_cycle_time(event), poll_all=bool(event.get("poll_all")), deadline=deadline)
    return record_cycle(report)


def _cycle_time(event: dict[str, Any]) -> datetime:
    raw = event.get("scheduled_time")
    if isinstance(raw, str) and raw and not raw.startswith("<"):
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
    return datetime.now(UTC)
