"""Queue-driven entry point: poll a batch of feed jobs side by side.

Event: an SQS batch of poll jobs (``adapters.sqs.encode_job``). A feed that fails
is recorded in its state and given a backoff; that is the feed's business, not
the queue's. A job is reported failed (Powertools' partial batch response, so
only that message comes back) when the state store failed, when no time was
left to run it, or when its message is not a job; after a few receives SQS
moves it to the dead-letter queue.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from wirewatch.adapters.sqs import job_from_record
from wirewatch.bootstrap import build_poller
from wirewatch.core.errors import WirewatchError
from wirewatch.handlers.container import Warm
from wirewatch.observability import logger, metrics, record_poll, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from wirewatch.core.ports import PollJob
    from wirewatch.service import Poller

# Time kept back from the function timeout: a fetch that has started may take its whole
# cap (30 s), then the batch publishes what it found, starting no publish later than
# PUBLISH_MARGIN_SECONDS before the end (what is left stays pending for the next tick).
RESERVE_SECONDS = 45
# One publish that gets no answer takes its connect and read timeouts (5 + 10 s,
# aws.sns_publish_client), throttling's retries under a second more: none starts later.
PUBLISH_MARGIN_SECONDS = 20
_poller = Warm(build_poller)


class JobFailed(WirewatchError):
    """A job to run again: its message goes back to the queue."""


def get_poller() -> Poller:
    return _poller.get()


def reset() -> None:
    _poller.reset()


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    end = time.monotonic() + remaining() / 1000 if remaining is not None else None
    jobs: dict[str, PollJob] = {}
    unreadable: dict[str, str] = {}
    poller = get_poller()
    for record in event.get("Records", []):
        try:
            jobs[record["messageId"]] = job_from_record(record, poller.policy.tick)
        except Exception as exc:
            # Any message that is no job fails alone: a number too large, JSON nested too deep.
            unreadable[record["messageId"]] = f"not a poll job: {type(exc).__name__}: {exc}"[:500]
    report = poller.poll(
        list(jobs.values()),
        deadline=end - RESERVE_SECONDS if end is not None else None,
        publish_deadline=end - PUBLISH_MARGIN_SECONDS if end is not None else None,
    )
    retry = {
        message_id: outcome.retry
        for (message_id, _), outcome in zip(jobs.items(), report.feeds, strict=True)
        if outcome.retry
    }
    retry.update(unreadable)
    record_poll(report)

    def settle(record: SQSRecord) -> None:
        reason = retry.get(record.message_id)
        if reason:
            raise JobFailed(reason)

    return process_partial_response(
        event=event, record_handler=settle, processor=BatchProcessor(event_type=EventType.SQS), context=context
    )
