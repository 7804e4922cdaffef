"""Polling at scale on moto: the job queue, partial batch failures, politeness towards publishers."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from wirewatch import service
from wirewatch.adapters.dynamodb import feed_key
from wirewatch.adapters.sqs import decode_job
from wirewatch.handlers import schedule_feeds
from wirewatch.runner import LocalContext, drain_poll_queue, invoke_poll

from .conftest import FEEDS
from .feed_server import FeedServer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .conftest import Pipeline

NOW = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)
SEED = (FEEDS / "boursorama-reuters.xml").read_bytes()
OTHER_NEWS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>b</title><item><title>Weather</title>'
    b"<link>https://b.example/1</link><pubDate>Wed, 26 Jun 2024 05:00:00 GMT</pubDate></item></channel></rss>"
)


def feed_state(pipeline: Pipeline, feed_id: str) -> dict[str, Any]:
    item = boto3.client("dynamodb").get_item(TableName=pipeline.settings.state_table, Key=feed_key(feed_id))
    return item.get("Item", {})


def queue_counts(queue_url: str) -> tuple[int, int]:
    """Messages waiting, and messages taken but neither deleted nor back yet."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def dead_letters() -> list[str]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="test-PollJobsDeadLetterQueue")["QueueUrl"]  # the fixture's prefix
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [message["Body"] for message in messages]


# ---------------------------------------------------------------- the queue


def test_a_job_whose_state_cannot_be_saved_is_retried_alone(pipeline: Pipeline) -> None:
    pipeline.server.route("/a.xml", SEED)
    pipeline.server.route("/b.xml", OTHER_NEWS, etag='"b"')
    pipeline.write_config({"feed-a": "/a.xml", "feed-b": "/b.xml"})

    def store_down_for_b(params: dict[str, Any], **_: object) -> None:
        if params["Item"].get("sk", {}).get("S") == "feed-b":
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "PutItem")

    with pipeline.fault("dynamodb.PutItem", store_down_for_b, stage="before-parameter-build"):
        result = invoke_poll(now=NOW)

    assert result["jobs_retried"] == 1
    # feed-b's message went back to the queue (in flight until its visibility timeout);
    # feed-a's was deleted, its alerts delivered.
    assert queue_counts(pipeline.settings.poll_queue_url) == (0, 1)
    assert len(pipeline.received("security-desk")) == 2
    assert feed_state(pipeline, "feed-a")["armed_at"]
    assert feed_state(pipeline, "feed-b") == {}


def test_a_message_that_is_not_a_job_ends_in_the_dead_letter_queue(pipeline: Pipeline) -> None:
    pipeline.write_config({"feed-a": "/a.xml"})
    sqs = boto3.client("sqs")
    # Back at once instead of after twelve minutes, so the retries happen within the test.
    sqs.set_queue_attributes(QueueUrl=pipeline.settings.poll_queue_url, Attributes={"VisibilityTimeout": "0"})
    sqs.send_message(QueueUrl=pipeline.settings.poll_queue_url, MessageBody='{"hello": "world"}')

    for _ in drain_poll_queue(batch_size=1):
        pass

    assert queue_counts(pipeline.settings.poll_queue_url) == (0, 0)
    assert dead_letters() == ['{"hello": "world"}']


# ---------------------------------------------------------------- politeness


def test_retry_after_holds_the_feed_back(pipeline: Pipeline) -> None:
    pipeline.server.route("/a.xml", b"busy", status=429, headers={"Retry-After": "3600"})
    pipeline.write_config({"feed-a": "/a.xml"})

    first = invoke_poll(now=NOW)
    later = [invoke_poll(now=NOW + timedelta(minutes=m)) for m in (5, 30, 55)]

    assert first["feed_errors"] == 1
    assert feed_state(pipeline, "feed-a")["not_before"]["S"] == (NOW + timedelta(hours=1)).isoformat()
    assert [result["feeds_queued"] for result in later] == [0, 0, 0]
    assert pipeline.server.hits["/a.xml"] == 1
    assert invoke_poll(now=NOW + timedelta(hours=1))["feeds_queued"] == 1


def test_a_permanent_redirect_moves_the_feed(pipeline: Pipeline) -> None:
    pipeline.server.route("/old.xml", status=301, redirect_to="/new.xml")
    pipeline.server.route("/new.xml", SEED, etag='"v1"')
    pipeline.write_config({"feed-a": "/old.xml"})

    invoke_poll(now=NOW)
    invoke_poll(now=NOW + timedelta(minutes=5))

    assert feed_state(pipeline, "feed-a")["moved_to"]["S"] == pipeline.server.url("/new.xml")
    assert pipeline.server.hits["/old.xml"] == 1
    assert pipeline.server.hits["/new.xml"] == 2
    assert pipeline.server.last_request("/new.xml").headers["if-none-match"] == '"v1"'


def test_a_gone_feed_is_not_polled_again(pipeline: Pipeline) -> None:
    pipeline.server.route("/gone.xml", b"gone", status=410)
    pipeline.write_config({"feed-a": "/gone.xml"})

    invoke_poll(now=NOW)
    later = invoke_poll(now=NOW + timedelta(minutes=5), event={"poll_all": True})

    assert pipeline.server.hits["/gone.xml"] == 1
    assert later["feeds_gone"] == 1
    assert later["feeds_queued"] == 0


def test_a_feed_failing_again_and_again_is_paused_then_comes_back_by_itself(pipeline: Pipeline) -> None:
    pipeline.server.route("/down.xml", b"oops", status=500)
    pipeline.write_config({"feed-a": "/down.xml"})

    moment = NOW
    for _ in range(5):
        invoke_poll(event={"poll_all": True}, now=moment)
        moment += timedelta(minutes=5)
    state = feed_state(pipeline, "feed-a")

    assert state["paused"] == {"BOOL": True}
    assert invoke_poll(now=moment)["feeds_paused"] == 1
    # Once its wait is over the feed is tried again, and a success ends the pause.
    pipeline.server.route("/down.xml", SEED)
    until = datetime.fromisoformat(state["not_before"]["S"])
    back = invoke_poll(now=until + timedelta(minutes=5))
    assert back["feeds_queued"] == 1
    assert "paused" not in feed_state(pipeline, "feed-a")


def test_feeds_failing_counts_a_feed_only_once_it_has_failed_for_an_hour(pipeline: Pipeline) -> None:
    # FeedsFailing pages the operator: a blip its next poll clears must not.
    pipeline.server.route("/down.xml", b"oops", status=500)
    pipeline.write_config({"feed-a": "/down.xml"})
    counts = []
    moment = NOW
    for _ in range(13):  # a tick every 5 minutes, each polling the feed: the first failure at NOW
        counts.append(invoke_poll(event={"poll_all": True}, now=moment)["feeds_failing"])
        moment += timedelta(minutes=5)
    assert counts == [0] * 12 + [1]  # counted from the tick an hour after the first failure

    pipeline.server.route("/down.xml", SEED)
    invoke_poll(event={"poll_all": True}, now=moment)
    assert invoke_poll(event={"poll_all": True}, now=moment + timedelta(minutes=5))["feeds_failing"] == 0


def test_a_tick_run_twice_queues_its_jobs_with_the_same_arming(pipeline: Pipeline) -> None:
    # Lambda retries a failed tick, EventBridge may deliver one twice: the second run must
    # still tell the workers which rules are new, or they alert on the feeds' backlog.
    pipeline.server.route("/a.xml", SEED)
    pipeline.write_config({"feed-a": "/a.xml"})
    event = {"source": "wirewatch.schedule", "scheduled_time": NOW.isoformat(), "poll_all": True}
    sqs = boto3.client("sqs")
    queue = pipeline.settings.poll_queue_url
    armings = []
    for _ in range(2):
        schedule_feeds.lambda_handler(event, LocalContext())
        [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        armings.append(decode_job(message["Body"]).arming)
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert armings[0] == armings[1] != ()
    later = {**event, "scheduled_time": (NOW + timedelta(minutes=5)).isoformat()}
    schedule_feeds.lambda_handler(later, LocalContext())
    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert decode_job(message["Body"]).arming == ()  # armed by the first tick


# ---------------------------------------------------------------- side by side


class Gauge:
    """Requests in progress on a server, and the most there ever were."""

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def slow_body(self) -> Iterator[bytes]:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(0.3)
            yield SEED
        finally:
            with self._lock:
                self.active -= 1


def test_feeds_are_fetched_side_by_side_with_at_most_two_per_host(pipeline: Pipeline) -> None:
    here, there = Gauge(), Gauge()
    with FeedServer(host="127.0.0.2") as other:
        feeds = {}
        for n in range(6):
            pipeline.server.route(f"/a{n}.xml", stream=here.slow_body)
            other.route(f"/b{n}.xml", stream=there.slow_body)
            feeds[f"here-{n}"] = f"/a{n}.xml"
            feeds[f"there-{n}"] = other.url(f"/b{n}.xml")
        pipeline.write_config(feeds)

        result = invoke_poll(now=NOW)

    assert result["feeds_polled"] == 12
    assert result["batches"] == 1
    assert (here.peak, there.peak) == (2, 2)


def test_poll_jobs_carry_the_feed_state_so_workers_do_not_read_it(pipeline: Pipeline) -> None:
    pipeline.server.route("/a.xml", SEED, etag='"v1"')
    pipeline.write_config({"feed-a": "/a.xml"})
    invoke_poll(now=NOW)

    schedule_feeds.lambda_handler({"scheduled_time": (NOW + timedelta(minutes=5)).isoformat()}, LocalContext())
    message = boto3.client("sqs").receive_message(QueueUrl=pipeline.settings.poll_queue_url)["Messages"][0]
    job = json.loads(message["Body"])

    assert job["feed"] == "feed-a"
    assert job["state"]["etag"] == '"v1"'
    assert len(job["state"]["recent_items"]) == 2 * 16  # the two items' fingerprints


def test_large_bodies_are_held_two_at_a_time_so_a_batch_of_them_stays_in_memory(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sixteen 4 MB bodies on eight hosts, fetched side by side, would each be held whole
    # (chunks, then joined, then decoded) at once. Past 1 MiB a body waits for one of
    # two slots, kept until its feed is done and its garbage collected: the batch then
    # peaks near two feeds' worth (measured: 47-51 MB against 142-158 with a slot for every
    # feed; 75-100 MB before slots were released through a collection, when the garbage of
    # every large feed so far waited for the collector's own timing).
    body = b"not a feed " * (4 * 1024 * 1024 // 11)
    slots = service.LargeBodies
    with contextlib.ExitStack() as hosts:
        servers = [hosts.enter_context(FeedServer(host=f"127.0.0.{n}")) for n in range(2, 10)]
        for n in range(16):
            servers[n % 8].route(f"/big{n}", body=body, content_type="text/plain")
        feeds = {f"big-{n}": servers[n % 8].url(f"/big{n}") for n in range(16)}
        with monkeypatch.context() as unbounded:
            unbounded.setattr(service, "LargeBodies", lambda _: slots(16))
            pipeline.write_config(feeds)
            everyone = _peak_memory(lambda: invoke_poll(now=NOW))
        pipeline.write_config({**feeds, "trigger": servers[0].url("/none")})  # a new config: a new poller
        result: dict[str, Any] = {}
        batch = _peak_memory(lambda: result.update(invoke_poll(now=NOW + timedelta(hours=1))))

    assert result["feeds_polled"] == 17
    # Each one read whole, then reported as no feed: none deferred, none cut short.
    assert all(feed_state(pipeline, f"big-{n}")["last_error"]["S"].startswith("not-a-feed") for n in range(16))
    assert batch < 0.6 * everyone, (batch / 2**20, everyone / 2**20)


def _peak_memory(work: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_feed_that_gets_no_large_body_slot_is_queued_again_not_counted_as_failing(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.server.route("/big.xml", SEED + b" " * (2 * 1024 * 1024))  # past 1 MiB, declared
    pipeline.write_config({"big": "/big.xml"})

    @contextlib.contextmanager
    def no_room(self: service.LargeBodies, deadline: float | None) -> Iterator[Callable[[float], None]]:
        def take(fetch_deadline: float) -> None:
            raise service._NoRoomForLargeBody  # other large feeds held both slots to the end

        yield take

    monkeypatch.setattr(service.LargeBodies, "lease", no_room)
    result = invoke_poll(now=NOW)

    assert (result["feeds_deferred"], result["jobs_retried"]) == (1, 0)
    # Its message is done with; the job is back as a new one, a minute later, its receives untouched.
    assert queue_counts(pipeline.settings.poll_queue_url) == (0, 0)
    delayed = boto3.client("sqs").get_queue_attributes(
        QueueUrl=pipeline.settings.poll_queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
    assert delayed == "1"
    assert feed_state(pipeline, "big") == {}  # no failure recorded: the feed did nothing wrong
