"""What SNS subscriptions the watch file asks for, and how to get there from what exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wirewatch.core.model import Subscriber, WatchConfig

# Protocols wirewatch owns on the topic; other subscriptions (queues, functions) are left alone.
MANAGED_PROTOCOLS = frozenset({"email", "sms"})


@dataclass(frozen=True)
class Desired:
    subscriber: str
    protocol: str
    endpoint: str
    filter_policy: dict[str, Any]


@dataclass(frozen=True)
class Existing:
    arn: str  # "PendingConfirmation" until an email subscriber clicks the link
    protocol: str
    endpoint: str
    filter_policy: dict[str, Any] | None


@dataclass(frozen=True)
class Change:
    action: str  # "create", "update", "remove", "unchanged" or "pending-confirmation"
    subscriber: str
    protocol: str
    endpoint: str
    filter_policy: dict[str, Any] | None = None
    arn: str | None = None

    def describe(self) -> str:
        """One line for people; the endpoint (an address or number) is never shown."""
        return f"{self.action:<20} {self.protocol:<5} {self.subscriber}"


def filter_policy(subscriber: Subscriber) -> dict[str, Any]:
    """The SNS filter policy: the messages addressed to this recipient, nothing else.

    Which rules and severities reach a subscriber, and when, is decided before
    publishing (``core.routing``): quiet hours, digests and SMS budgets are per
    recipient, so each message names its recipient.
    """
    return {"recipient": [subscriber.recipient]}


def desired_subscriptions(config: WatchConfig) -> list[Desired]:
    return [
        Desired(s.id, s.protocol, s.endpoint, filter_policy(s))
        for s in config.subscribers
        if config.rules_for_subscriber(s)
    ]


def plan_subscriptions(
    config: WatchConfig, existing: list[Existing], extra: list[Desired] | None = None
) -> list[Change]:
    """Changes that make ``existing`` equal to what ``config`` (plus ``extra``) asks for."""
    wanted = [*desired_subscriptions(config), *(extra or [])]
    managed = MANAGED_PROTOCOLS | {d.protocol for d in extra or []}
    by_endpoint = {(e.protocol, e.endpoint): e for e in existing}
    changes: list[Change] = []
    for desired in wanted:
        current = by_endpoint.pop((desired.protocol, desired.endpoint), None)
        base = (desired.subscriber, desired.protocol, desired.endpoint, desired.filter_policy)
        if current is None:
            changes.append(Change("create", *base))
        elif not current.arn.startswith("arn:"):
            # SNS allows no change until the address owner confirms; subscribe runs again later.
            changes.append(Change("pending-confirmation", *base))
        elif current.filter_policy != desired.filter_policy:
            changes.append(Change("update", *base, arn=current.arn))
        else:
            changes.append(Change("unchanged", *base, arn=current.arn))
    for (protocol, endpoint), current in by_endpoint.items():
        if protocol in managed and current.arn.startswith("arn:"):
            changes.append(Change("remove", "(not in the watch file)", protocol, endpoint, arn=current.arn))
    return changes
