"""SQS: the queue of poll jobs between the scheduler and the workers, and the jobs' wire format."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from wirewatch.core.errors import JobsNotQueued
from wirewatch.core.ports import FeedState, PollJob

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

BATCH_SEND = 10  # SendMessageBatch's limit
MAX_JOB_BYTES = 24_000  # ten of them in a batch stay under SQS's 256 KB
MAX_DELAY = timedelta(minutes=15)  # SQS's limit on DelaySeconds
_ATTEMPTS = 4


def encode_job(job: PollJob) -> str:
    """The job as a message body: ten jobs must fit one SendMessageBatch's 256 KB. Past
    ``MAX_JOB_BYTES`` it goes without its state snapshot (the worker reads the state),
    then without its list of arming rules (the worker reads which are armed)."""
    message: dict[str, object] = {
        "feed": job.feed_id,
        "scheduled": job.scheduled.isoformat(timespec="seconds"),
        "arming": list(job.arming) if job.arming is not None else None,
    }
    if job.deferrals:
        message["deferrals"] = job.deferrals
    if job.queued_at is not None:
        message["queued"] = job.queued_at.isoformat(timespec="seconds")
    if job.state is not None:
        with_state = json.dumps({**message, "state": job.state.as_record()}, separators=(",", ":"))
        if len(with_state.encode()) <= MAX_JOB_BYTES:
            return with_state
    plain = json.dumps(message, separators=(",", ":"))
    if len(plain.encode()) <= MAX_JOB_BYTES:
        return plain
    return json.dumps({**message, "arming": None}, separators=(",", ":"))


def decode_job(body: str) -> PollJob:
    """The job a message carries.

    Raises:
        ValueError: the body is not a job (a message sent by hand, or by another version).
    """
    data = json.loads(body)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("feed"), str)
        or not isinstance(data.get("scheduled"), str)
    ):
        raise ValueError(f"not a poll job: {body[:200]!r}")
    arming = data.get("arming", [])
    if arming is not None and (not isinstance(arming, list) or not all(isinstance(rule, str) for rule in arming)):
        raise ValueError(f"bad arming list in {body[:200]!r}")
    scheduled = _aware(data["scheduled"], "scheduled", body)
    queued = data.get("queued")
    if queued is not None and not isinstance(queued, str):
        raise ValueError(f"bad queued time in {body[:200]!r}")
    state = data.get("state")
    if state is not None and not isinstance(state, dict):
        raise ValueError(f"bad feed state in {body[:200]!r}")
    deferrals = data.get("deferrals", 0)
    if not isinstance(deferrals, int) or isinstance(deferrals, bool) or deferrals < 0:
        raise ValueError(f"bad deferral count in {body[:200]!r}")
    return PollJob(
        feed_id=data["feed"],
        scheduled=scheduled,
        arming=tuple(arming) if arming is not None else None,
        state=FeedState.from_record(state) if state is not None else None,
        deferrals=deferrals,
        queued_at=_aware(queued, "queued", body) if queued is not None else None,
    )


def _aware(text: str, name: str, body: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"bad {name} time in {body[:200]!r}") from exc
    if moment.tzinfo is None:
        raise ValueError(f"{name} time without a time zone in {body[:200]!r}")
    return moment


def job_from_record(record: Mapping[str, Any], tick: timedelta) -> PollJob:
    """The job a record of Lambda's SQS event carries, with its feed state only if fresh.

    The state can be trusted on a first delivery, queued less than a tick ago. A
    retried or backlogged job reads the state instead, so that it does not write back
    an older one (a backoff undone, a move forgotten).

    Raises:
        ValueError: the body is not a job.
    """
    job = decode_job(record["body"])
    attributes = record.get("attributes", {})
    receives = int(attributes.get("ApproximateReceiveCount", "1"))
    sent_ms = int(attributes.get("SentTimestamp", "0"))
    age = time.time() - sent_ms / 1000 if sent_ms else 0.0
    return job if receives <= 1 and age < tick.total_seconds() else replace(job, state=None)


class SQSJobQueue:
    """Sends poll jobs ten to a request; entries SQS refuses are sent again, then reported."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def send(self, jobs: Sequence[PollJob], *, delay: timedelta = timedelta(0)) -> None:
        """Queue every job, each visible after ``delay`` (at most 15 minutes).

        Raises:
            JobsNotQueued: SQS failed, or kept refusing some entries; ``unsent`` says which
                jobs are not queued (the others are). The tick is safe to retry (a job
                queued twice polls a feed twice, harmlessly).
        """
        seconds = int(max(timedelta(0), min(delay, MAX_DELAY)).total_seconds())
        unsent: list[int] = []
        failure = ""
        for start in range(0, len(jobs), BATCH_SEND):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(number), "MessageBody": encode_job(job), "DelaySeconds": seconds}
                for number, job in enumerate(jobs[start : start + BATCH_SEND], start)
            ]
            try:
                self._send_batch(entries)
            except JobsNotQueued as exc:
                # The batches after it are still sent: one refused batch must not hold back
                # every feed queued after it, tick after tick.
                unsent += exc.unsent
                failure = failure or str(exc)
        if unsent:
            raise JobsNotQueued(failure, tuple(unsent))

    def _send_batch(self, entries: list[SendMessageBatchRequestEntryTypeDef]) -> None:
        for attempt in range(_ATTEMPTS):
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                code = (
                    exc.response.get("Error", {}).get("Code", "?")
                    if isinstance(exc, ClientError)
                    else type(exc).__name__
                )
                raise JobsNotQueued(f"SQS SendMessageBatch failed: {code}", _positions(entries)) from exc
            failed = {entry["Id"] for entry in response.get("Failed", [])}
            if not failed:
                return
            entries = [entry for entry in entries if entry["Id"] in failed]
            time.sleep(min(0.1 * 2**attempt, 2.0))
        raise JobsNotQueued(f"SQS refused {len(entries)} poll jobs after {_ATTEMPTS} attempts", _positions(entries))


def _positions(entries: Sequence[SendMessageBatchRequestEntryTypeDef]) -> tuple[int, ...]:
    # An entry's Id is its job's position in what send was given.
    return tuple(int(entry["Id"]) for entry in entries)
