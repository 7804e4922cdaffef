"""The one Powertools Logger, Tracer and Metrics of the service, and what a cycle reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from collections.abc import Callable

    from wirewatch.service import CycleReport

logger = Logger(service="wirewatch")
tracer = Tracer(service="wirewatch")
metrics = Metrics(namespace="Wirewatch", service="wirewatch")

# CloudWatch metric name → key of the handler's result, and how a report gives it.
_METRICS: dict[str, tuple[str, Callable[[CycleReport], int]]] = {
    "ItemsFetched": ("items", lambda report: report.total("items")),
    "NewItems": ("new_items", lambda report: report.total("new_items")),
    "Matches": ("matches", lambda report: report.total("matches")),
    "AlertsCreated": ("alerts_created", lambda report: report.total("alerts_created")),
    "AlertsSent": ("alerts_sent", lambda report: report.alerts_sent),
    "FeedErrors": ("feed_errors", lambda report: report.feed_errors),
    "FeedsDeferred": ("feeds_deferred", lambda report: report.count("deferred")),
    "PublishErrors": ("publish_errors", lambda report: report.publish_errors),
    "ConfigRejected": ("config_rejected", lambda report: int(report.config_rejected is not None)),
}


def record_cycle(report: CycleReport) -> dict[str, int]:
    """Log one line per feed, add the cycle's metrics; return the totals."""
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
                armed_silently=outcome.armed_silently,
                problems=list(outcome.problems),
            )
    if report.config_rejected:
        logger.error("new watch file refused, the last good one stays in force", problems=report.config_rejected)
    totals = {"feeds": len(report.feeds)}
    for name, (key, value_of) in _METRICS.items():
        totals[key] = value_of(report)
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=totals[key])
    return totals
