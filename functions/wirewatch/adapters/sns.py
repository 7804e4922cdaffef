"""SNS: publish alerts to the topic; keep subscriptions in line with the watch file."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from wirewatch.core.errors import PublishError, StoreError
from wirewatch.core.messages import SUBJECT_LIMIT, message_attributes, sns_message
from wirewatch.core.subscriptions import Change, Desired, Existing, plan_subscriptions

if TYPE_CHECKING:
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

    from wirewatch.core.model import Delivery, WatchConfig


class SNSAlertPublisher:
    """Publishes each delivery to the topic, where only its recipient's subscriptions take it."""

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def publish(self, delivery: Delivery) -> str:
        """Publish and return SNS's message id.

        What SNS refuses (throttling, a 4xx) is tried again, with backoff, a few times; a
        lost answer is not, since SNS may have sent the message (the client given here
        should not retry either: ``aws.sns_publish_client``).

        Raises:
            PublishError: SNS refused every attempt (``refused``), or its answer was lost.
        """
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            name: {"DataType": "String", "StringValue": value or "und"}
            for name, value in message_attributes(delivery).items()
        }
        for attempt in range(_ATTEMPTS):
            try:
                response = self.client.publish(
                    TopicArn=self.topic_arn,
                    Message=sns_message(delivery),
                    MessageStructure="json",
                    Subject=_subject(delivery.subject or "wirewatch"),
                    MessageAttributes=attributes,
                )
            except ClientError as exc:
                error = exc.response.get("Error", {})
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                refused = status < 500  # a 5xx may come after SNS took the message
                if refused and error.get("Code") in _TRANSIENT and attempt + 1 < _ATTEMPTS:
                    time.sleep(_BACKOFF * 2**attempt * (0.5 + random.random() / 2))  # with jitter
                    continue
                raise PublishError(f"SNS Publish failed: {error.get('Code', '?')}", refused=refused) from exc
            except BotoCoreError as exc:
                # Not reached (no connection) or no answer: only the first is a refusal.
                refused = isinstance(exc, (EndpointConnectionError, ConnectTimeoutError))
                raise PublishError(f"SNS Publish failed: {type(exc).__name__}", refused=refused) from exc
            return response["MessageId"]
        raise AssertionError("unreachable")  # the loop returns or raises


# SNS's answers that the message was not taken, worth another try at once.
_TRANSIENT = frozenset(
    {"Throttled", "Throttling", "ThrottlingException", "ThrottledException", "KMSThrottling", "RequestLimitExceeded"}
)
_ATTEMPTS = 3
_BACKOFF = 0.2  # seconds, doubled each attempt, with jitter


def _subject(text: str) -> str:
    # SNS subjects: no line breaks or control characters, fewer than 100 characters.
    return " ".join(text.split())[:SUBJECT_LIMIT]


@dataclass(frozen=True)
class SubscriptionReport:
    changes: tuple[Change, ...]


class SNSSubscriptionManager:
    """Creates, updates and removes the topic's email and SMS subscriptions."""

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def existing(self) -> list[Existing]:
        found: list[Existing] = []
        try:
            paginator = self.client.get_paginator("list_subscriptions_by_topic")
            for page in paginator.paginate(TopicArn=self.topic_arn):
                for sub in page.get("Subscriptions", []):
                    arn = sub.get("SubscriptionArn", "")
                    policy = None
                    if arn.startswith("arn:"):
                        attributes = self.client.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
                        policy = attributes.get("FilterPolicy")
                    found.append(
                        Existing(
                            arn=arn,
                            protocol=sub.get("Protocol", ""),
                            endpoint=sub.get("Endpoint", ""),
                            filter_policy=json.loads(policy) if policy else None,
                        )
                    )
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"SNS ListSubscriptionsByTopic failed: {exc}") from exc
        return found

    def sync(self, config: WatchConfig, *, dry_run: bool = False, extra: list[Desired] | None = None) -> list[Change]:
        """Make the topic's subscriptions match ``config``; returns what changed (or would)."""
        changes = plan_subscriptions(config, self.existing(), extra=extra or [])
        if dry_run:
            return changes
        for change in changes:
            self._apply(change)
        return changes

    def _apply(self, change: Change) -> None:
        try:
            if change.action == "create":
                self.client.subscribe(
                    TopicArn=self.topic_arn,
                    Protocol=change.protocol,
                    Endpoint=change.endpoint,
                    Attributes={
                        "FilterPolicy": json.dumps(change.filter_policy),
                        "FilterPolicyScope": "MessageAttributes",
                    },
                    ReturnSubscriptionArn=True,
                )
            elif change.action == "update" and change.arn:
                self.client.set_subscription_attributes(
                    SubscriptionArn=change.arn,
                    AttributeName="FilterPolicy",
                    AttributeValue=json.dumps(change.filter_policy),
                )
            elif change.action == "remove" and change.arn:
                self.client.unsubscribe(SubscriptionArn=change.arn)
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"SNS {change.action} for {change.subscriber} failed: {type(exc).__name__}") from exc
