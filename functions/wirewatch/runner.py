"""Invoke the poll handler outside Lambda, exactly as Lambda would, against any endpoint."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wirewatch.core.errors import WirewatchError
from wirewatch.settings import environment

if TYPE_CHECKING:
    from collections.abc import Iterator
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


def reset_handlers() -> None:
    """Forget the handlers' cached scheduler and poller: a fresh container for each."""
    from wirewatch.handlers import poll_feeds, schedule_feeds

    poll_feeds.reset()
    schedule_feeds.reset()


def invoke_poll(event: dict[str, Any] | None = None, *, now: datetime | None = None) -> dict[str, Any]:
    """One tick as AWS runs it: the scheduler's handler with a scheduler-shaped event, then
    the poll handler on SQS-shaped batches of what it queued, until the queue is empty.

    Returns the tick's and the batches' totals added up. A handler that raises
    leaves its messages in flight, as Lambda does; the exception propagates.
    """
    from wirewatch.handlers import schedule_feeds

    moment = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    payload = {"source": "wirewatch.schedule", "scheduled_time": moment, **(event or {})}
    totals: Counter[str] = Counter(schedule_feeds.lambda_handler(payload, LocalContext()))
    totals["batches"] = 0
    for batch_totals in drain_poll_queue():
        totals.update(batch_totals)
        totals["batches"] += 1
    return dict(totals)


def drain_poll_queue(batch_size: int = 50) -> Iterator[dict[str, int]]:  # the template's BatchSize
    """Run the poll handler on the queued jobs, ``batch_size`` at a time, as Lambda's SQS
    trigger would; yields each batch's totals."""
    from wirewatch.adapters import aws
    from wirewatch.handlers import poll_feeds
    from wirewatch.observability import poll_totals

    sqs = aws.sqs_client()
    queue_url = os.environ["POLL_QUEUE_URL"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    while True:
        messages: list[dict[str, Any]] = []
        while len(messages) < batch_size:
            received: list[Any] = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=min(10, batch_size - len(messages)), AttributeNames=["All"]
            ).get("Messages", [])
            if not received:
                break
            messages += received
        if not messages:
            return
        event = {"Records": [_sqs_record(message, arn) for message in messages]}
        failed = _failed_ids(poll_feeds.lambda_handler, event, [message["MessageId"] for message in messages])
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[start : start + 10])
                ],
            )
        poller = poll_feeds.get_poller()
        yield poll_totals(poller.last_report) if poller.last_report else {}


def _failed_ids(handler: Any, event: dict[str, Any], message_ids: list[str]) -> set[str]:
    """The messages the handler reported failed (all of them if it reported the whole batch)."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    try:
        response = handler(event, LocalContext())
    except BatchProcessingError:
        return set(message_ids)
    return {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}


def _sqs_record(message: dict[str, Any], arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": arn.split(":")[3],
    }


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


def run_on_aws(*, stack: str, poll_all: bool, bundled: Path, config: Path | None = None) -> int:
    """One tick from this machine against the deployed stack's tables, queue and topic.

    The scheduler's handler queues the due feeds on the stack's queue and the poll
    handler runs here on what it finds there (the stack's own workers may take some
    of the jobs first: each job runs once either way). The watch file is the stack's,
    as its functions read it (the one pushed to its bucket, else ``bundled``), unless
    ``config`` names another.
    """
    outputs = stack_outputs(stack)
    live = {} if config is not None else {"WIREWATCH_CONFIG_S3": f"s3://{outputs['ConfigBucketName']}/watch.yaml"}
    env = {
        **live,
        "WIREWATCH_CONFIG": str(config or bundled),
        "FEED_CONTACT": outputs.get("FeedContact", ""),
        "STATE_TABLE": outputs["StateTableName"],
        "SEEN_TABLE": outputs["SeenTableName"],
        "ALERTS_TABLE": outputs["AlertsTableName"],
        "ITEMS_TABLE": outputs["ItemsTableName"],
        "ALERTS_TOPIC_ARN": outputs["AlertsTopicArn"],
        "POLL_QUEUE_URL": outputs["PollQueueUrl"],
        "RETENTION_DAYS": outputs.get("RetentionDays", "30"),
        "CYCLE_MINUTES": outputs.get("ScheduleRateMinutes", "5"),
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    with environment(env):
        reset_handlers()
        result = invoke_poll({"poll_all": poll_all})
    print(json.dumps(result, indent=2))
    return 0
