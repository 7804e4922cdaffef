"""Integration fixtures: moto in-process with the template's resources, a real feed server,
and SQS inboxes subscribed to the topic the way subscribers are."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import yaml
from moto import mock_aws

from wirewatch.adapters.sns import SNSSubscriptionManager
from wirewatch.core.subscriptions import Desired, filter_policy
from wirewatch.core.watchfile import load_watch
from wirewatch.local.stack import EMULATOR_ENV
from wirewatch.local.template import create_stack_resources, read_template
from wirewatch.runner import reset_handlers
from wirewatch.settings import Settings

from .feed_server import FeedServer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[2]
FEEDS = ROOT / "examples" / "feeds"
EXAMPLE = ROOT / "examples" / "watch.yaml"
TEST_SUBSCRIBERS = [
    {"id": "security-desk", "email": "security-desk@example.org"},
    {"id": "duty-officer", "email": "duty.officer@example.org", "min_severity": "high"},
    {"id": "duty-phone", "sms": "+33612345678", "min_severity": "critical"},
]


@dataclass
class AwsCalls:
    """Every AWS API call the code under test makes, counted via botocore's event hooks."""

    counts: Counter[str] = field(default_factory=Counter)

    def hook(self, event_name: str, **_: Any) -> None:
        # event_name is "before-call.<service>.<Operation>"
        _, service, operation = event_name.split(".", 2)
        self.counts[f"{service}.{operation}"] += 1

    def writes(self) -> int:
        return sum(
            n
            for name, n in self.counts.items()
            if name.startswith("dynamodb.")
            and name.split(".")[1] in {"PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem"}
        )

    def reset(self) -> None:
        self.counts.clear()


@dataclass
class Pipeline:
    settings: Settings
    server: FeedServer
    config_path: Path
    inboxes: dict[str, str]
    calls: AwsCalls

    def write_config(self, feeds: dict[str, str], *, base: Path = EXAMPLE, **overrides: Any) -> None:
        """The example watch file with its feeds replaced by ``feeds`` (id → server path, or URL)."""
        data = yaml.safe_load(base.read_text(encoding="utf-8"))
        data["feeds"] = [
            {"id": feed_id, "url": path if "://" in path else self.server.url(path), "tags": ["wire", "fr"]}
            for feed_id, path in feeds.items()
        ]
        # Preferences that hang on the wall clock (quiet hours, digest times) would make
        # counts depend on when the tests run: the example's subscribers, without them.
        data["subscribers"] = [dict(s) for s in TEST_SUBSCRIBERS]
        data.update(overrides)
        self.config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        self.subscribe()
        reset_handlers()

    def subscribe(self) -> None:
        config = load_watch(self.config_path.read_text(encoding="utf-8"), str(self.config_path))
        sqs = boto3.client("sqs")
        extra = []
        for subscriber in config.subscribers:
            url = sqs.create_queue(QueueName=f"inbox-{subscriber.id}-{subscriber.protocol}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            # By recipient ("desk/sms"), and by subscriber id for its first channel.
            self.inboxes[subscriber.recipient] = url
            self.inboxes.setdefault(subscriber.id, url)
            extra.append(Desired(subscriber.id, "sqs", arn, filter_policy(subscriber)))
        SNSSubscriptionManager(boto3.client("sns"), self.settings.topic_arn).sync(config, extra=extra)

    def received(self, subscriber: str) -> list[dict[str, Any]]:
        """Messages delivered to ``subscriber``'s inbox (an id or a recipient) since the last call."""
        sqs = boto3.client("sqs")
        alerts = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.inboxes[subscriber], MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return alerts
            for message in messages:
                envelope = json.loads(message["Body"])
                alerts.append({**json.loads(envelope["Message"]), "attributes": envelope.get("MessageAttributes", {})})
                sqs.delete_message(QueueUrl=self.inboxes[subscriber], ReceiptHandle=message["ReceiptHandle"])

    @contextmanager
    def fault(self, operation: str, handler: Callable[..., Any], *, stage: str = "before-call") -> Iterator[None]:
        """Run ``handler`` at ``stage`` of every call of ``operation`` (e.g. "sns.Publish") in the
        block; "before-parameter-build" hands it the call's parameters as ``params``.

        Clients copy the session's hooks when they are built, so the cached handlers are
        dropped on the way in and out, as a fresh Lambda container would have them.
        """
        session = boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register(f"{stage}.{operation}", handler, unique_id="fault")
        reset_handlers()
        try:
            yield
        finally:
            session.events.unregister(f"{stage}.{operation}", unique_id="fault")
            reset_handlers()

    def expire_leases(self) -> None:
        """As if every publishing claim had been taken an hour ago."""
        dynamodb = boto3.client("dynamodb")
        for record in self.delivery_records():
            if "lease_until" in record:
                dynamodb.update_item(
                    TableName=self.settings.alerts_table,
                    Key={"pk": record["pk"]},
                    UpdateExpression="SET lease_until = :past",
                    ExpressionAttributeValues={":past": {"S": "2000-01-01T00:00:00+00:00"}},
                )

    def records(self, prefix: str) -> list[dict[str, Any]]:
        """The alerts table's items of one kind: "alert#", "delivery#", "digest#" or "budget#"."""
        items = boto3.client("dynamodb").scan(TableName=self.settings.alerts_table)["Items"]
        return [item for item in items if item["pk"]["S"].startswith(prefix)]

    def alert_records(self) -> list[dict[str, Any]]:
        return self.records("alert#")

    def delivery_records(self) -> list[dict[str, Any]]:
        return self.records("delivery#") + self.records("digest#")


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    for name, value in EMULATOR_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws(), FeedServer() as server:
        settings = create_stack_resources(read_template(ROOT / "template.yaml"), tmp_path / "watch.yaml", "test")
        for name, value in settings.as_env().items():
            monkeypatch.setenv(name, value)
        calls = AwsCalls()
        # A fresh default session per test, so the hook sees exactly this test's calls.
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("before-call.*.*", calls.hook)
        reset_handlers()
        yield Pipeline(settings, server, settings.config_path, {}, calls)
        reset_handlers()
