"""One poll invocation on an SQS batch, through the handler: what fails is that message
alone, and publishing stops in time."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from wirewatch.adapters import address_guard
from wirewatch.adapters.http_fetcher import HttpFeedFetcher
from wirewatch.adapters.sqs import encode_job
from wirewatch.core.ports import PollJob, Validators
from wirewatch.handlers import poll_feeds
from wirewatch.runner import LocalContext

from .conftest import FEEDS

if TYPE_CHECKING:
    from .conftest import Pipeline

NOW = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)
SEED = (FEEDS / "boursorama-reuters.xml").read_bytes()


def record(body: str) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:test-PollJobs",
        "awsRegion": "us-east-1",
    }


def job(feed: str = "feed-a", scheduled: datetime = NOW) -> dict[str, Any]:
    return record(encode_job(PollJob(feed_id=feed, scheduled=scheduled)))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            json.dumps(
                {"feed": "feed-x", "scheduled": NOW.isoformat(), "state": {"feed_id": "x", "min_interval_s": 10**15}}
            ),
            id="interval-too-large",
        ),
        pytest.param("[" * 100_000, id="json-nested-too-deep"),
        pytest.param("", id="empty"),
    ],
)
def test_a_message_that_is_no_job_fails_alone(pipeline: Pipeline, body: str) -> None:
    pipeline.server.route("/a.xml", SEED)
    pipeline.write_config({"feed-a": "/a.xml"})
    healthy, poison = job(), record(body)

    response = poll_feeds.lambda_handler({"Records": [healthy, poison]}, LocalContext())

    assert response["batchItemFailures"] == [{"itemIdentifier": poison["messageId"]}]
    assert pipeline.server.hits["/a.xml"] == 1


def test_a_feed_whose_failure_cannot_be_recorded_fails_alone(pipeline: Pipeline) -> None:
    # A job from a far future (a clock gone wrong, a message sent by hand): its backoff
    # overflows while its 404 is recorded. The exception used to leave the thread and the
    # handler, and every message of the batch came back.
    pipeline.server.route("/a.xml", SEED)
    pipeline.write_config({"feed-a": "/a.xml", "feed-b": "/missing.xml"})
    odd = job("feed-b", scheduled=datetime(9999, 12, 31, 23, 59, tzinfo=UTC))

    response = poll_feeds.lambda_handler({"Records": [job("feed-a"), odd]}, LocalContext())

    assert response["batchItemFailures"] == [{"itemIdentifier": odd["messageId"]}]
    assert len(pipeline.received("security-desk")) == 2


class Ending(LocalContext):
    """A context whose invocation ends ``millis`` after it is made."""

    def __init__(self, millis: int) -> None:
        super().__init__()
        self.end = time.monotonic() + millis / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.end - time.monotonic()) * 1000))


def test_publishing_stops_before_the_invocation_ends(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    # Scaled down: a 3 s invocation, fetches started within 1 s of it, publishing within
    # 0.5 s of its end, SNS answering in 1 s a message. Cut off mid-publish, a message would
    # go out and never be marked sent: sent again when its lease ran out. What is left
    # waits, pending, for the next tick.
    monkeypatch.setattr(poll_feeds, "RESERVE_SECONDS", 1)
    monkeypatch.setattr(poll_feeds, "PUBLISH_MARGIN_SECONDS", 0.5)
    pipeline.server.route("/a.xml", SEED)
    pipeline.write_config({"feed-a": "/a.xml"})
    started: list[float] = []

    def slow(**_: object) -> None:
        started.append(time.monotonic())
        time.sleep(1.0)

    context = Ending(3000)
    with pipeline.fault("sns.Publish", slow):
        poll_feeds.lambda_handler({"Records": [job()]}, context)
        report = poll_feeds.get_poller().last_report

    assert report is not None
    assert started and all(moment <= context.end - 0.5 for moment in started)
    assert report.messages_sent == len(started) < 4  # four deliveries created
    pending = [d for d in pipeline.delivery_records() if d["status"]["S"] == "PENDING"]
    assert len(pending) == 4 - report.messages_sent


def test_a_context_without_remaining_time_polls_without_a_deadline(pipeline: Pipeline) -> None:
    class Bare:
        function_name, memory_limit_in_mb, aws_request_id = "f", 512, "r"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"

    pipeline.server.route("/a.xml", SEED)
    pipeline.write_config({"feed-a": "/a.xml"})
    assert poll_feeds.lambda_handler({"Records": [job()]}, Bare())["batchItemFailures"] == []  # type: ignore[arg-type]


def test_an_address_is_connected_to_without_the_lookup_threads(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lookups share a pool of threads: a feed at an address must not wait behind slow names.
    def no_lookup(*_: object, **__: object) -> None:
        raise AssertionError("an address needs no lookup thread")

    pipeline.server.route("/a.xml", SEED)
    monkeypatch.setattr(address_guard._RESOLVER, "submit", no_lookup)
    fetcher = HttpFeedFetcher(total_timeout=5, allowed_networks=("127.0.0.0/8",))
    assert fetcher.fetch(pipeline.server.url("/a.xml"), Validators()).status == 200
