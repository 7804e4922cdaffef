"""Invoke the poll handler outside Lambda, exactly as Lambda would, against any endpoint."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wirewatch.core.errors import WirewatchError
from wirewatch.settings import environment

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class LocalContext:
    """The parts of Lambda's context object that Powertools reads."""

    function_name: str = "wirewatch-poll-local"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:wirewatch-poll-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def invoke_poll(event: dict[str, Any] | None = None, *, now: datetime | None = None) -> dict[str, Any]:
    """One cycle through ``poll_feeds.lambda_handler`` with a scheduler-shaped event."""
    from wirewatch.handlers import poll_feeds

    moment = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    payload = {"source": "wirewatch.schedule", "scheduled_time": moment, **(event or {})}
    result: dict[str, Any] = poll_feeds.lambda_handler(payload, LocalContext())
    return result


def stack_outputs(stack: str) -> dict[str, str]:
    """Outputs and parameters of a deployed wirewatch stack, in one mapping.

    Raises:
        WirewatchError: the stack does not exist or cannot be read with these credentials.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from wirewatch.adapters import aws

    try:
        stacks = aws.cloudformation_client().describe_stacks(StackName=stack)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise WirewatchError(f"cannot read stack {stack!r}: {exc}") from exc
    values = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stacks[0].get("Parameters", [])}
    values.update({o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])})
    return values


def run_on_aws(*, stack: str, poll_all: bool, config: Path) -> int:
    """One cycle from this machine against the deployed stack's tables and topic."""
    from wirewatch.handlers import poll_feeds

    outputs = stack_outputs(stack)
    env = {
        "WIREWATCH_CONFIG": str(config),
        "STATE_TABLE": outputs["StateTableName"],
        "SEEN_TABLE": outputs["SeenTableName"],
        "ALERTS_TABLE": outputs["AlertsTableName"],
        "ITEMS_TABLE": outputs["ItemsTableName"],
        "ALERTS_TOPIC_ARN": outputs["AlertsTopicArn"],
        "RETENTION_DAYS": outputs.get("RetentionDays", "30"),
        "CYCLE_MINUTES": outputs.get("ScheduleRateMinutes", "5"),
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    with environment(env):
        poll_feeds.reset()
        result = invoke_poll({"poll_all": poll_all})
    print(json.dumps(result, indent=2))
    return 0
