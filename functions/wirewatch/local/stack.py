"""Bring up the embedded default: moto server, template resources, sample feeds, inboxes."""

from __future__ import annotations

import json
import logging
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from wirewatch.adapters import aws
from wirewatch.adapters.sns import SNSSubscriptionManager
from wirewatch.core.subscriptions import Desired, filter_policy
from wirewatch.core.watchfile import load_watch
from wirewatch.local.samples import SampleFeedServer
from wirewatch.local.template import create_stack_resources, read_template
from wirewatch.settings import Settings, environment

if TYPE_CHECKING:
    from collections.abc import Iterator

    from wirewatch.core.model import Subscriber, WatchConfig

# Credentials and region for the emulator only: nothing here can reach a real account.
EMULATOR_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@dataclass(frozen=True)
class Inbox:
    subscriber: Subscriber
    queue_url: str


@dataclass(frozen=True)
class LocalStack:
    endpoint: str
    settings: Settings
    config: WatchConfig
    inboxes: tuple[Inbox, ...]
    feed_urls: dict[str, str]


def localised_config(config_path: Path, server: SampleFeedServer, folder: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the watch file whose feeds point at the local sample server."""
    data: dict[str, Any] = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    urls = {}
    for feed in data["feeds"]:
        # A feed with no bundled capture gets a URL that answers 404, so the demo
        # also shows a broken feed being recorded and skipped.
        feed["url"] = urls[feed["id"]] = server.url(feed["id"])
    path = folder / "watch.local.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, urls


@contextmanager
def local_stack(template_path: Path, config_path: Path, samples: Path) -> Iterator[LocalStack]:
    """Everything the handlers need, on 127.0.0.1, for the duration of the block."""
    from moto.server import ThreadedMotoServer

    # The emulator's access log would drown what the demo prints.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    host, port = moto_server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        with (
            environment({**EMULATOR_ENV, "AWS_ENDPOINT_URL": endpoint}),
            SampleFeedServer(samples) as feeds,
            tempfile.TemporaryDirectory(prefix="wirewatch-") as scratch,
        ):
            local_config, urls = localised_config(config_path, feeds, Path(scratch))
            config = load_watch(local_config.read_text(encoding="utf-8"), str(config_path))
            settings = create_stack_resources(read_template(template_path), local_config, "wirewatch")
            inboxes = _subscribe_inboxes(config, settings.topic_arn)
            with environment(settings.as_env()):
                yield LocalStack(endpoint, settings, config, inboxes, urls)
    finally:
        moto_server.stop()


def _subscribe_inboxes(config: WatchConfig, topic_arn: str) -> tuple[Inbox, ...]:
    """Real email/SMS subscriptions, plus an SQS inbox per recipient with the same filter."""
    sqs = aws.sqs_client()
    inboxes = []
    extra = []
    for subscriber in config.subscribers:
        url = sqs.create_queue(QueueName=f"inbox-{subscriber.id}-{subscriber.protocol}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        extra.append(Desired(subscriber.id, "sqs", arn, filter_policy(subscriber)))
        inboxes.append(Inbox(subscriber, url))
    SNSSubscriptionManager(aws.sns_client(), topic_arn).sync(config, extra=extra)
    return tuple(inboxes)


@dataclass(frozen=True)
class Delivery:
    subscriber: Subscriber
    message: dict[str, Any]  # the JSON a queue subscriber receives (messages.sns_message)


def drain(inboxes: tuple[Inbox, ...]) -> list[Delivery]:
    """Every message waiting in the inboxes, as each subscriber would receive it."""
    sqs = aws.sqs_client()
    deliveries = []
    for inbox in inboxes:
        while True:
            response = sqs.receive_message(QueueUrl=inbox.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = response.get("Messages", [])
            if not messages:
                break
            for message in messages:
                envelope = json.loads(message["Body"])
                deliveries.append(Delivery(inbox.subscriber, json.loads(envelope["Message"])))
                sqs.delete_message(QueueUrl=inbox.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return deliveries
