"""Scheduled entry point: one polling cycle over every due feed.

Event: EventBridge Scheduler input ``{"scheduled_time": ISO-8601, "poll_all": bool}``
(both optional). A feed that fails is recorded and skipped; only a failure of
the state store or of the watch file fails the invocation, so Scheduler
retries it and, past its retries, parks it in the dead-letter queue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from wirewatch.bootstrap import build_poller
from wirewatch.observability import logger, metrics, tracer
from wirewatch.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from wirewatch.service import CycleReport, Poller

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
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = _event_time(event)
    report = _get_poller().run_cycle(now, poll_all=bool(event.get("poll_all")))
    _record(report)
    return {
        "feeds": len(report.feeds),
        "feed_errors": report.feed_errors,
        "new_items": report.total("new_items"),
        "alerts_created": report.total("alerts_created"),
        "alerts_sent": report.alerts_sent,
        "publish_errors": report.publish_errors,
    }


def _event_time(event: dict[str, Any]) -> datetime:
    raw = event.get("scheduled_time")
    if isinstance(raw, str) and raw and not raw.startswith("<"):
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
    return datetime.now(UTC)


def _record(report: CycleReport) -> None:
    for outcome in report.feeds:
        if outcome.status == "error":
            logger.warning("feed skipped", feed=outcome.feed_id, error=outcome.error)
        else:
            logger.info(
                "feed polled",
                feed=outcome.feed_id,
                status=outcome.status,
                items=outcome.items,
                new_items=outcome.new_items,
                alerts_created=outcome.alerts_created,
                problems=list(outcome.problems),
            )
    metrics.add_metric(name="ItemsFetched", unit=MetricUnit.Count, value=report.total("items"))
    metrics.add_metric(name="NewItems", unit=MetricUnit.Count, value=report.total("new_items"))
    metrics.add_metric(name="Matches", unit=MetricUnit.Count, value=report.total("matches"))
    metrics.add_metric(name="AlertsCreated", unit=MetricUnit.Count, value=report.total("alerts_created"))
    metrics.add_metric(name="AlertsSent", unit=MetricUnit.Count, value=report.alerts_sent)
    metrics.add_metric(name="FeedErrors", unit=MetricUnit.Count, value=report.feed_errors)
    metrics.add_metric(name="PublishErrors", unit=MetricUnit.Count, value=report.publish_errors)
