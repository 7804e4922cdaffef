"""Composition root: settings → adapters → service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from wirewatch.adapters import aws
from wirewatch.adapters.dynamodb import (
    DynamoDBAlertStore,
    DynamoDBItemArchive,
    DynamoDBSeenStore,
    DynamoDBStateStore,
)
from wirewatch.adapters.http_fetcher import HttpFeedFetcher
from wirewatch.adapters.s3_config import S3ConfigSource
from wirewatch.adapters.sns import SNSAlertPublisher
from wirewatch.core.watchfile import load_watch
from wirewatch.service import Poller, Ports

if TYPE_CHECKING:
    from wirewatch.core.model import WatchConfig
    from wirewatch.core.ports import ConfigSource, FeedFetcher
    from wirewatch.settings import Settings


def build_poller(settings: Settings, *, fetcher: FeedFetcher | None = None) -> Poller:
    """A poller wired to AWS (or whatever AWS_ENDPOINT_URL points at).

    Raises:
        RulesError: the watch file is invalid.
    """
    config: WatchConfig | ConfigSource
    if settings.config_s3_uri:
        config = S3ConfigSource(aws.s3_client(), settings.config_s3_uri, fallback=settings.config_path)
    else:
        config = load_watch(Path(settings.config_path).read_text(encoding="utf-8"), str(settings.config_path))
    dynamodb = aws.dynamodb_client()
    ports = Ports(
        fetcher=fetcher or HttpFeedFetcher(),
        state=DynamoDBStateStore(dynamodb, settings.state_table),
        seen=DynamoDBSeenStore(dynamodb, settings.seen_table, settings.retention),
        alerts=DynamoDBAlertStore(dynamodb, settings.alerts_table, settings.retention),
        publisher=SNSAlertPublisher(aws.sns_client(), settings.topic_arn),
        archive=DynamoDBItemArchive(dynamodb, settings.items_table, settings.retention),
    )
    # A day's margin: an item is forgotten a little before its records expire.
    forget_after = max(settings.retention - timedelta(days=1), timedelta(days=1))
    return Poller(config, ports, cycle_period=settings.cycle_period, forget_after=forget_after)
