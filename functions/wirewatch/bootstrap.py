"""Composition root: settings → adapters → scheduler or poller."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from wirewatch.adapters import aws
from wirewatch.adapters.dynamodb import (
    DynamoDBItemArchive,
    DynamoDBSeenStore,
    DynamoDBStateStore,
)
from wirewatch.adapters.dynamodb_alerts import DynamoDBAlertStore
from wirewatch.adapters.s3_config import S3ConfigSource
from wirewatch.adapters.sns import SNSAlertPublisher
from wirewatch.adapters.sqs import SQSJobQueue
from wirewatch.core.arming import remembered
from wirewatch.core.schedule import PollPolicy
from wirewatch.core.watchfile import load_watch

if TYPE_CHECKING:
    from wirewatch.core.model import WatchConfig
    from wirewatch.core.ports import ConfigSource, FeedFetcher
    from wirewatch.scheduling import Scheduler
    from wirewatch.service import Poller
    from wirewatch.settings import Settings


def _config(settings: Settings) -> WatchConfig | ConfigSource:
    """The live watch file in S3 when configured (the bundled one as fallback), else the bundled one.

    Raises:
        RulesError: the bundled watch file is invalid.
    """
    if settings.config_s3_uri:
        return S3ConfigSource(aws.s3_client(), settings.config_s3_uri, fallback=settings.config_path)
    return load_watch(Path(settings.config_path).read_text(encoding="utf-8"), str(settings.config_path))


def _policy(settings: Settings) -> PollPolicy:
    return PollPolicy(tick=settings.cycle_period)


def build_scheduler(settings: Settings) -> Scheduler:
    """The scheduler wired to AWS (or whatever AWS_ENDPOINT_URL points at)."""
    # Imported here, not above: each function's cold start loads only its own side
    # (the scheduler never parses a feed or matches a rule).
    from wirewatch.scheduling import Scheduler, SchedulerPorts

    dynamodb = aws.dynamodb_client()
    ports = SchedulerPorts(
        state=DynamoDBStateStore(dynamodb, settings.state_table),
        alerts=DynamoDBAlertStore(dynamodb, settings.alerts_table, settings.retention),
        publisher=SNSAlertPublisher(aws.sns_publish_client(), settings.topic_arn),
        queue=SQSJobQueue(aws.sqs_client(), settings.poll_queue_url),
    )
    return Scheduler(_config(settings), ports, policy=_policy(settings))


def build_poller(settings: Settings, *, fetcher: FeedFetcher | None = None) -> Poller:
    """A poll worker wired to AWS (or whatever AWS_ENDPOINT_URL points at)."""
    from wirewatch.adapters.dynamodb_bands import DynamoDBFoldIndex
    from wirewatch.adapters.http_fetcher import HttpFeedFetcher, user_agent
    from wirewatch.service import Poller, Ports

    dynamodb = aws.dynamodb_client()
    ports = Ports(
        fetcher=fetcher
        or HttpFeedFetcher(allowed_networks=settings.allowed_networks, user_agent=user_agent(settings.feed_contact)),
        state=DynamoDBStateStore(dynamodb, settings.state_table),
        seen=DynamoDBSeenStore(dynamodb, settings.seen_table, settings.retention),
        alerts=DynamoDBAlertStore(dynamodb, settings.alerts_table, settings.retention),
        publisher=SNSAlertPublisher(aws.sns_publish_client(), settings.topic_arn),
        archive=DynamoDBItemArchive(dynamodb, settings.items_table, settings.retention),
        # Bands live as long as the alerts they point at; the poller caps the fold window below that.
        folds=DynamoDBFoldIndex(dynamodb, settings.seen_table, settings.retention),
        requeue=SQSJobQueue(aws.sqs_client(), settings.poll_queue_url),
    )
    forget_after = remembered(settings.retention)
    return Poller(
        _config(settings),
        ports,
        policy=_policy(settings),
        forget_after=forget_after,
        concurrency=settings.poll_concurrency,
        per_host=settings.per_host,
    )
