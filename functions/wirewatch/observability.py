"""The one Powertools Logger, Tracer and Metrics of the service, and what ticks and polls report."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from collections.abc import Callable

    from wirewatch.scheduling import TickReport
    from wirewatch.service import PollReport

# A tick or batch where nothing went wrong sends no metric at all (zeros cost money, see
# _add_metrics); Powertools warns about that on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger(service="wirewatch")
# botocore only: the X-Ray SDK would otherwise patch (and import) requests, asyncio and
# more at every cold start, for calls wirewatch never makes with them.
tracer = Tracer(service="wirewatch", patch_modules=["botocore"])
metrics = Metrics(namespace="Wirewatch", service="wirewatch")

R = TypeVar("R")

# CloudWatch metric name → key of the handler's result, and how a report gives it.
_POLL_METRICS: dict[str, tuple[str, Callable[[PollReport], int]]] = {
    "FeedsPolled": ("feeds_polled", lambda report: len(report.feeds)),
    "ItemsFetched": ("items", lambda report: report.total("items")),
    "NewItems": ("new_items", lambda report: report.total("new_items")),
    "Matches": ("matches", lambda report: report.total("matches")),
    "AlertsCreated": ("alerts_created", lambda report: report.total("alerts_created")),
    "ReportsFolded": ("reports_folded", lambda report: report.total("folded")),
    "AlertsWithdrawn": ("alerts_withdrawn", lambda report: report.total("withdrawn")),
    "MessagesSent": ("messages_sent", lambda report: report.messages_sent),
    "FeedErrors": ("feed_errors", lambda report: report.feed_errors),
    "FeedsPausedNow": ("feeds_paused_now", lambda report: report.total("paused")),
    "FeedsDeferred": ("feeds_deferred", lambda report: report.count("deferred")),
    "JobsRetried": ("jobs_retried", lambda report: sum(1 for outcome in report.feeds if outcome.retry)),
    "PublishErrors": ("publish_errors", lambda report: report.publish_errors),
    "ConfigRejected": ("config_rejected", lambda report: int(report.config_rejected is not None)),
}

# Sent every batch, zero included: "no item fetched in an hour" needs a zero to see.
# (The scheduler's liveness is Lambda's own Invocations metric, which costs nothing.)
_HEARTBEATS = frozenset({"ItemsFetched"})
# In the tick's and the batch's log lines only: counts that are non-zero every hour
# would cost a metric each, month after month, for what Logs Insights also shows.
_LOGGED_ONLY = frozenset({"FeedsPolled", "Matches", "NewItems", "FeedsQueued", "ReportsFolded", "AlertsWithdrawn"})

_TICK_METRICS: dict[str, tuple[str, Callable[[TickReport], int]]] = {
    "FeedsQueued": ("feeds_queued", lambda report: len(report.queued)),
    "FeedsFailing": ("feeds_failing", lambda report: len(report.failing)),
    "FeedsPaused": ("feeds_paused", lambda report: len(report.paused)),
    "FeedsGone": ("feeds_gone", lambda report: len(report.gone)),
    "MessagesSent": ("messages_sent", lambda report: report.messages_sent),
    "PublishErrors": ("publish_errors", lambda report: report.publish_errors),
    "ConfigRejected": ("config_rejected", lambda report: int(report.config_rejected is not None)),
}


def record_poll(report: PollReport) -> dict[str, int]:
    """Log the feeds with news, problems or errors and one line for the batch, add the
    batch's metrics; return the totals.

    A feed that answered 304 or nothing new is not logged on its own: at a thousand
    feeds every five minutes those lines alone would cost more than the rest of the bill.
    """
    for outcome in report.feeds:
        if outcome.status == "error":
            logger.warning("feed skipped", feed=outcome.feed_id, error=outcome.error, retry=outcome.retry)
        elif outcome.new_items or outcome.problems:
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
    _config_refused(report.config_rejected)
    totals = _add_metrics(_POLL_METRICS, report)
    requeued = sum(1 for outcome in report.feeds if outcome.requeued)
    logger.info("batch polled", extra={**totals, "not_modified": report.count("not-modified"), "requeued": requeued})
    return totals


def poll_totals(report: PollReport) -> dict[str, int]:
    """What ``record_poll`` returns, without logging or metrics (for local runs)."""
    return {key: value_of(report) for key, value_of in _POLL_METRICS.values()}


def record_tick(report: TickReport) -> dict[str, int]:
    """Log the feeds that need a person's eye and one line for the tick, add the tick's
    metrics; return the totals."""
    if report.paused:
        logger.warning("feeds paused after failing repeatedly", feeds=report.paused)
    if report.gone:
        logger.warning("feeds gone (HTTP 410): change their URL in the watch file", feeds=report.gone)
    _config_refused(report.config_rejected)
    totals = {"feeds": report.feeds, **_add_metrics(_TICK_METRICS, report)}
    logger.info("tick", extra=totals)
    return totals


def _config_refused(problems: str | None) -> None:
    if problems:
        logger.error("new watch file refused, the last good one stays in force", problems=problems)


def _add_metrics(table: dict[str, tuple[str, Callable[[R], int]]], report: R) -> dict[str, int]:
    totals = {}
    for name, (key, value_of) in table.items():
        totals[key] = value_of(report)
        # CloudWatch bills a custom metric for every hour it receives a value: a count
        # that is zero (no error, no pause) is left out, and alarms read missing data as
        # zero. The heartbeats are always sent, so that silence can alarm too.
        if (totals[key] or name in _HEARTBEATS) and name not in _LOGGED_ONLY:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=totals[key])
    return totals
