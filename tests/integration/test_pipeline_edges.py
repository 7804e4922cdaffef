"""Edge cases of story identity, hostile entries and time, through the handler on moto."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from wirewatch import service
from wirewatch.adapters.dynamodb import feed_key
from wirewatch.adapters.sqs import decode_job
from wirewatch.bootstrap import build_poller, build_scheduler
from wirewatch.core.errors import JobsNotQueued
from wirewatch.core.ports import FeedState, PollJob
from wirewatch.runner import invoke_poll
from wirewatch.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from .conftest import Pipeline

NOW = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)
HEADLINE = "Frappe de missiles sur Sébastopol en Crimée"


def rss(*items: tuple[str, str, datetime] | tuple[str, str, datetime, str]) -> bytes:
    """An RSS feed of (title, link, published[, guid]) items."""
    body = "".join(
        f"<item><title>{i[0]}</title><link>{i[1]}</link><pubDate>{format_datetime(i[2])}</pubDate>"
        + (f"<guid isPermaLink='false'>{i[3]}</guid>" if len(i) > 3 else "")
        + "</item>"
        for i in items
    )
    head = '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
    return f"{head}{body}</channel></rss>".encode()


def crimea_alerts(pipeline: Pipeline) -> list[str]:
    return [a["link"] for a in pipeline.received("security-desk") if a["rule"] == "crimea-strike"]


def test_headline_seen_long_ago_does_not_hide_or_double_todays_wire(pipeline: Pipeline) -> None:
    pipeline.server.route("/a.xml", rss((HEADLINE, "https://a.example/old", NOW)))
    pipeline.server.route("/b.xml", rss())
    pipeline.write_config({"feed-a": "/a.xml", "feed-b": "/b.xml"})
    invoke_poll(now=NOW)
    assert crimea_alerts(pipeline) == ["https://a.example/old"]

    # Ten days later the same headline is a new story, carried by both feeds.
    later = NOW + timedelta(days=10)
    pipeline.server.route("/a.xml", rss((HEADLINE, "https://a.example/new", later)))
    pipeline.server.route("/b.xml", rss((HEADLINE, "https://b.example/new", later)))
    invoke_poll(now=later)

    assert len(crimea_alerts(pipeline)) == 1


def test_one_feed_reusing_a_headline_tells_two_stories(pipeline: Pipeline) -> None:
    # A column's headline, too short to be taken for one event by near-duplicate folding
    # (a specific headline repeated within the fold window is folded: test_folding).
    column = "Crimée : les frappes du jour"
    pipeline.server.route("/a.xml", rss((column, "https://a.example/1", NOW)))
    pipeline.write_config({"feed-a": "/a.xml"})
    invoke_poll(now=NOW)
    pipeline.server.route("/a.xml", rss((column, "https://a.example/2", NOW + timedelta(hours=3))))

    invoke_poll(now=NOW + timedelta(hours=3))

    assert crimea_alerts(pipeline) == ["https://a.example/1", "https://a.example/2"]


def test_a_guid_shared_by_several_entries_identifies_none_of_them(pipeline: Pipeline) -> None:
    pipeline.server.route(
        "/a.xml",
        rss(
            ("Bourse de Paris en hausse", "https://a.example/1", NOW, "same"),
            (HEADLINE, "https://a.example/2", NOW, "same"),
        ),
    )
    pipeline.write_config({"feed-a": "/a.xml"})

    invoke_poll(now=NOW)

    assert crimea_alerts(pipeline) == ["https://a.example/2"]


def test_a_malformed_entry_costs_itself_only(pipeline: Pipeline) -> None:
    pipeline.server.route(
        "/a.xml", rss(("Crimée: attaque", "http://[::1", NOW), (HEADLINE, "https://a.example/ok", NOW))
    )
    pipeline.write_config({"feed-a": "/a.xml"})

    result = invoke_poll(now=NOW)

    assert result["feed_errors"] == 0
    assert crimea_alerts(pipeline) == ["https://a.example/ok"]


def test_an_unexpected_failure_in_one_feed_is_recorded_and_the_others_go_on(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.server.route("/bug.xml", rss(("trigger", "https://bug.example/1", NOW)))
    pipeline.server.route("/a.xml", rss((HEADLINE, "https://a.example/1", NOW)))
    pipeline.write_config({"bug": "/bug.xml", "feed-a": "/a.xml"})
    real_parse = service.parse_feed

    def parse(body: bytes, *args: object, **kwargs: object) -> object:
        if b"trigger" in body:
            raise RecursionError("a bug the hostile feed found")
        return real_parse(body, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "parse_feed", parse)

    result = invoke_poll(now=NOW)

    assert result["feed_errors"] == 1
    assert crimea_alerts(pipeline) == ["https://a.example/1"]
    state = boto3.client("dynamodb").get_item(TableName=pipeline.settings.state_table, Key=feed_key("bug"))
    assert state["Item"]["last_error"]["S"] == "internal: RecursionError"


def test_items_older_than_the_dedupe_memory_never_alert(pipeline: Pipeline) -> None:
    ancient = NOW - timedelta(days=40)
    pipeline.server.route("/a.xml", rss((HEADLINE, "https://a.example/1", NOW)))
    pipeline.write_config({"feed-a": "/a.xml"})
    invoke_poll(now=NOW)  # arms the feed
    pipeline.received("security-desk")
    pipeline.server.route("/a.xml", rss((HEADLINE + " (archives)", "https://a.example/0", ancient)))

    invoke_poll(now=NOW + timedelta(minutes=5))

    # 40 days old: its seen records (30 days) may have expired; it must not alert again.
    assert crimea_alerts(pipeline) == []


def test_what_a_feed_lists_after_an_empty_first_answer_is_news_even_a_day_late(pipeline: Pipeline) -> None:
    # The first answer arms the feed, even an empty one. A story it lists next is news, also
    # when a crash or an outage has it processed a day late: judged as a first poll's backlog,
    # it was silenced and lost (the proof under faults found it: seed 20240626, schedule 295).
    pipeline.server.route("/a.xml", rss())
    pipeline.write_config({"feed-a": "/a.xml"})
    invoke_poll(now=NOW)
    pipeline.server.route("/a.xml", rss((HEADLINE, "https://a.example/new", NOW + timedelta(minutes=5))))

    invoke_poll(now=NOW + timedelta(days=1, hours=2))  # past arming_max_age (24 h), within what is remembered

    assert crimea_alerts(pipeline) == ["https://a.example/new"]


def test_a_304_after_errors_ends_the_backoff_and_keeps_the_error_on_record(pipeline: Pipeline) -> None:
    pipeline.server.route("/a.xml", rss((HEADLINE, "https://a.example/1", NOW)), etag='"v1"')
    pipeline.write_config({"feed-a": "/a.xml"})
    invoke_poll(now=NOW)
    dynamodb = boto3.client("dynamodb")
    dynamodb.update_item(
        TableName=pipeline.settings.state_table,
        Key=feed_key("feed-a"),
        UpdateExpression="SET last_error = :e, consecutive_failures = :n",
        ExpressionAttributeValues={":e": {"S": "timeout: read"}, ":n": {"N": "3"}},
    )

    invoke_poll(now=NOW + timedelta(minutes=5))

    item = dynamodb.get_item(TableName=pipeline.settings.state_table, Key=feed_key("feed-a"))["Item"]
    assert item["consecutive_failures"]["N"] == "0"
    assert "not_before" not in item
    assert item["last_error"]["S"] == "timeout: read"  # history, for whoever looks at the feed's health


def deferred_poll(pipeline: Pipeline, job: PollJob) -> tuple[service.PollReport, list[dict[str, Any]]]:
    """Poll ``job`` with no time left, recording what the worker sends back to the queue."""
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.extend(params["Entries"])

    with pipeline.fault("sqs.SendMessageBatch", record, stage="before-parameter-build"):
        report = build_poller(Settings.from_env()).poll([job], deadline=time.monotonic() - 1)
    return report, sent


def test_a_job_past_the_deadline_is_queued_again_not_retried(pipeline: Pipeline) -> None:
    # Retried, it would use up one of the three receives after which SQS moves it to the
    # dead-letter queue, whose alarm is for jobs that fail, not for a busy worker.
    pipeline.server.route("/a.xml", rss((HEADLINE, "https://a.example/1", NOW)))
    pipeline.write_config({"feed-a": "/a.xml"})
    job = PollJob("feed-a", NOW, ("crimea-strike",), state=FeedState("feed-a"), deferrals=1)

    report, sent = deferred_poll(pipeline, job)

    assert [(o.status, o.retry, o.requeued) for o in report.feeds] == [("deferred", None, True)]
    assert pipeline.server.hits["/a.xml"] == 0
    assert [decode_job(entry["MessageBody"]) for entry in sent] == [
        PollJob("feed-a", NOW, ("crimea-strike",), state=None, deferrals=2)
    ]
    assert [entry["DelaySeconds"] for entry in sent] == [int(service.REQUEUE_DELAY.total_seconds())]
    queue = boto3.client("sqs").get_queue_attributes(
        QueueUrl=pipeline.settings.poll_queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert queue["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"


def test_a_job_deferred_too_often_is_retried_like_a_failure(pipeline: Pipeline) -> None:
    pipeline.server.route("/a.xml", rss((HEADLINE, "https://a.example/1", NOW)))
    pipeline.write_config({"feed-a": "/a.xml"})

    report, sent = deferred_poll(pipeline, PollJob("feed-a", NOW, deferrals=service.MAX_DEFERRALS))

    assert [(o.status, bool(o.retry), o.requeued) for o in report.feeds] == [("deferred", True, False)]
    assert sent == []


def test_a_deferred_job_the_queue_refuses_is_retried(pipeline: Pipeline) -> None:
    pipeline.server.route("/a.xml", rss((HEADLINE, "https://a.example/1", NOW)))
    pipeline.write_config({"feed-a": "/a.xml"})

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessageBatch")

    with pipeline.fault("sqs.SendMessageBatch", refuse):
        report = build_poller(Settings.from_env()).poll([PollJob("feed-a", NOW)], deadline=time.monotonic() - 1)

    assert [(o.status, bool(o.retry), o.requeued) for o in report.feeds] == [("deferred", True, False)]


def sqs_down_at_request(number: int) -> Callable[..., None]:
    """A fault for SendMessageBatch: that request (counted from 1) fails, the others go through."""
    requests: list[int] = []

    def fail(**_: Any) -> None:
        requests.append(1)
        if len(requests) == number:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessageBatch")

    return fail


def test_deferred_jobs_the_queue_took_are_not_retried_as_well(pipeline: Pipeline) -> None:
    # Fifteen jobs go back ten to a request; the second request fails. Retrying all fifteen
    # would run the ten queued again twice, and each copy could be deferred again.
    feeds = {f"feed-{n}": f"/{n}.xml" for n in range(15)}
    for path in feeds.values():
        pipeline.server.route(path, rss((HEADLINE, f"https://a.example{path}", NOW)))
    pipeline.write_config(feeds)

    with pipeline.fault("sqs.SendMessageBatch", sqs_down_at_request(2)):
        report = build_poller(Settings.from_env()).poll(
            [PollJob(feed, NOW) for feed in feeds], deadline=time.monotonic() - 1
        )

    assert [(o.requeued, bool(o.retry)) for o in report.feeds] == [(True, False)] * 10 + [(False, True)] * 5


def test_a_refused_batch_of_jobs_holds_back_none_of_the_next(pipeline: Pipeline) -> None:
    # 25 feeds due, the first request refused: the other 15 jobs are queued all the same,
    # and the tick sends what is due before failing (to be run again).
    feeds = {f"feed-{n}": f"/{n}.xml" for n in range(25)}
    pipeline.write_config(feeds)

    with pipeline.fault("sqs.SendMessageBatch", sqs_down_at_request(1)), pytest.raises(JobsNotQueued) as caught:
        build_scheduler(Settings.from_env()).tick(NOW, poll_all=True)

    assert caught.value.unsent == tuple(range(10))
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=pipeline.settings.poll_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "15"


def test_the_operators_contact_is_in_every_fetchs_user_agent(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.server.route("/a.xml", rss((HEADLINE, "https://a.example/1", NOW)))
    pipeline.write_config({"feed-a": "/a.xml"})
    monkeypatch.setenv("FEED_CONTACT", "mailto:newsdesk@example.org")

    build_poller(Settings.from_env()).poll([PollJob("feed-a", NOW)])

    sent = pipeline.server.last_request("/a.xml").headers["user-agent"]
    assert sent.endswith("; mailto:newsdesk@example.org)")


@pytest.mark.parametrize("late", [timedelta(0), timedelta(minutes=24)])
def test_retry_after_counts_from_the_answer_even_when_the_job_runs_late(pipeline: Pipeline, late: timedelta) -> None:
    # A job retried or queued again runs minutes after its tick; the server asked for an hour
    # from its answer, so the next poll waits an hour from then, not from the tick.
    pipeline.server.route("/a.xml", b"busy", status=503, headers={"Retry-After": "3600"})
    pipeline.write_config({"feed-a": "/a.xml"})
    job = PollJob("feed-a", NOW, queued_at=datetime.now(UTC) - late)

    build_poller(Settings.from_env()).poll([job])

    item = boto3.client("dynamodb").get_item(TableName=pipeline.settings.state_table, Key=feed_key("feed-a"))["Item"]
    waited = datetime.fromisoformat(item["not_before"]["S"]) - NOW
    assert timedelta(hours=1) + late <= waited < timedelta(hours=1) + late + timedelta(minutes=1)


def test_the_scheduler_stamps_each_job_with_the_real_time_it_queued_it(pipeline: Pipeline) -> None:
    from wirewatch.handlers import schedule_feeds
    from wirewatch.runner import LocalContext

    pipeline.server.route("/a.xml", rss((HEADLINE, "https://a.example/1", NOW)))
    pipeline.write_config({"feed-a": "/a.xml"})
    before = datetime.now(UTC).replace(microsecond=0)

    schedule_feeds.lambda_handler({"source": "wirewatch.schedule", "scheduled_time": NOW.isoformat()}, LocalContext())

    [message] = boto3.client("sqs").receive_message(QueueUrl=pipeline.settings.poll_queue_url)["Messages"]
    job = decode_job(message["Body"])
    assert job.scheduled == NOW  # the tick's time, replayable
    assert job.queued_at is not None and before <= job.queued_at <= datetime.now(UTC)
