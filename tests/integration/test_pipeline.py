"""The polling pipeline on moto with a real feed server, driven through the Lambda handler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from wirewatch import service
from wirewatch.adapters.dynamodb import DynamoDBStateStore, feed_key
from wirewatch.runner import invoke_poll

from .conftest import FEEDS

if TYPE_CHECKING:
    from .conftest import Pipeline

NOW = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)
SEED = (FEEDS / "boursorama-reuters.xml").read_bytes()
SEED_MIRROR = (FEEDS / "zonebourse-reuters.xml").read_bytes()
SEED_RULES = {"defense-minister-contact", "crimea-strike"}


def _serve_seed(pipeline: Pipeline, path: str = "/boursorama.xml", body: bytes = SEED) -> None:
    pipeline.server.route(path, body, etag='"seed-v1"', last_modified="Wed, 26 Jun 2024 00:00:00 GMT")


def test_seed_article_fires_both_rules_exactly_once_across_two_cycles(pipeline: Pipeline) -> None:
    _serve_seed(pipeline)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml"})

    first = invoke_poll(now=NOW)
    desk = pipeline.received("security-desk")
    second = invoke_poll(now=NOW.replace(minute=5))

    # One message per recipient: the desk gets both rules, the officer and the phone one each.
    assert first["messages_sent"] == 4
    assert sorted(alert["rule"] for alert in desk) == sorted(SEED_RULES)
    assert all("Premier entretien" in alert["title"] for alert in desk)
    assert second["messages_sent"] == 0
    assert pipeline.received("security-desk") == []


def test_same_wire_story_in_two_feeds_alerts_once(pipeline: Pipeline) -> None:
    _serve_seed(pipeline)
    pipeline.server.route("/zonebourse.xml", SEED_MIRROR, etag='"mirror-v1"')
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml", "zonebourse-reuters": "/zonebourse.xml"})

    result = invoke_poll(now=NOW)

    desk = pipeline.received("security-desk")
    assert result["messages_sent"] == 4
    assert sorted(alert["rule"] for alert in desk) == sorted(SEED_RULES)
    # Polled side by side, either copy may be the first one a rule fires on.
    assert all("Premier entretien" in alert["title"] for alert in desk)


def test_mirror_published_in_a_later_cycle_is_still_the_same_story(pipeline: Pipeline) -> None:
    _serve_seed(pipeline)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml", "zonebourse-reuters": "/zonebourse.xml"})
    invoke_poll(now=NOW)  # the mirror answers 404 at first: recorded, skipped
    assert len(pipeline.received("security-desk")) == 2

    pipeline.server.route("/zonebourse.xml", SEED_MIRROR)
    later = invoke_poll(now=NOW.replace(minute=10))

    assert later["feed_errors"] == 0
    assert later["messages_sent"] == 0
    assert pipeline.received("security-desk") == []


def _tick_recording_puts(pipeline: Pipeline) -> tuple[dict[str, Any], list[str], list[str]]:
    """A tick ten minutes on, with the keys of its alert-table and fold-band PutItems."""
    alert_writes: list[str] = []
    band_claims: list[str] = []

    def record(params: dict[str, Any], **_: object) -> None:
        key = params["Item"]["pk"]["S"]
        if params["TableName"] == pipeline.settings.alerts_table:
            alert_writes.append(key)
        elif key.startswith("band#"):
            band_claims.append(key)

    with pipeline.fault("dynamodb.PutItem", record, stage="before-parameter-build"):
        result = invoke_poll(now=NOW.replace(minute=10))
    return result, alert_writes, band_claims


def test_a_mirror_of_a_complete_alert_writes_nothing_for_it(pipeline: Pipeline) -> None:
    _serve_seed(pipeline)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml", "zonebourse-reuters": "/zonebourse.xml"})
    invoke_poll(now=NOW)  # the mirror answers 404 at first
    pipeline.server.route("/zonebourse.xml", SEED_MIRROR)
    later, alert_writes, band_claims = _tick_recording_puts(pipeline)

    assert later["messages_sent"] == 0
    # Both seed rules match the mirror again; their alerts are complete (written, routed,
    # bands claimed), so neither they, their deliveries nor their 32 bands are written again.
    assert (alert_writes, band_claims) == ([], [])


def test_a_mirror_worded_otherwise_only_widens_the_fold_net_of_a_complete_alert(pipeline: Pipeline) -> None:
    _serve_seed(pipeline)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml", "zonebourse-reuters": "/zonebourse.xml"})
    invoke_poll(now=NOW)
    reworded = SEED_MIRROR.replace(b"se sont entretenus mardi", b"ont eu mardi un long entretien")
    assert reworded != SEED_MIRROR
    pipeline.server.route("/zonebourse.xml", reworded)
    later, alert_writes, band_claims = _tick_recording_puts(pipeline)

    assert later["messages_sent"] == 0
    assert alert_writes == []
    # Each seed rule's alert takes the reworded report's bands it does not hold yet.
    assert len(band_claims) == 2 * 32


def test_not_modified_feed_costs_no_parse_and_no_dynamodb_write(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    _serve_seed(pipeline)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml"})
    invoke_poll(now=NOW)
    parses = []
    real_parse = service.parse_feed
    monkeypatch.setattr(service, "parse_feed", lambda *a, **k: parses.append(1) or real_parse(*a, **k))
    pipeline.calls.reset()

    result = invoke_poll(now=NOW.replace(minute=5))

    assert pipeline.server.last_request("/boursorama.xml").headers["if-none-match"] == '"seed-v1"'
    assert parses == []
    assert pipeline.calls.writes() == 0
    assert result["new_items"] == 0


def test_unchanged_body_costs_no_item_lookup_and_no_write(pipeline: Pipeline) -> None:
    # A server without validators: the body comes back whole, every item already seen.
    pipeline.server.route("/boursorama.xml", SEED)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml"})
    invoke_poll(now=NOW)
    pipeline.calls.reset()

    result = invoke_poll(now=NOW.replace(minute=5))

    assert result["new_items"] == 0
    assert pipeline.calls.writes() == 0
    # The scheduler's reads (rule arming, then feed states: a Query per shard, and the
    # due-index query for pending deliveries), whatever the feed and item counts; the
    # worker reads nothing: its job carries the feed's state, and the state lists the
    # items the feed showed last time.
    assert pipeline.calls.counts["dynamodb.BatchGetItem"] == 1
    assert pipeline.calls.counts["dynamodb.Query"] == DynamoDBStateStore.SHARDS + 1


def test_one_new_item_in_a_known_body_is_the_only_key_looked_up(pipeline: Pipeline) -> None:
    pipeline.server.route("/boursorama.xml", SEED)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml"})
    invoke_poll(now=NOW)
    extra = SEED.replace(b"<item>", _NEW_ITEM + b"<item>", 1)
    pipeline.server.route("/boursorama.xml", extra)
    looked_up: list[int] = []

    def count_keys(params: dict[str, Any], **_: object) -> None:
        for table, spec in params["RequestItems"].items():
            if table == pipeline.settings.seen_table:
                looked_up.append(len(spec["Keys"]))

    with pipeline.fault("dynamodb.BatchGetItem", count_keys, stage="before-parameter-build"):
        result = invoke_poll(now=NOW.replace(minute=5))

    assert result["new_items"] == 1
    assert looked_up == [1]


_NEW_ITEM = (
    b"<item><title>Un autre sujet sans rapport</title>"
    b"<link>https://www.example.org/autre-sujet</link><guid>autre-sujet-1</guid>"
    b"<pubDate>Wed, 26 Jun 2024 05:30:00 GMT</pubDate></item>"
)


class Crash(Exception):
    """Stands for the Lambda runtime dying mid-cycle."""


def test_crash_between_pending_write_and_publish_is_delivered_once_next_cycle(pipeline: Pipeline) -> None:
    _serve_seed(pipeline)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml"})

    def die(**_: object) -> None:
        raise Crash

    with pipeline.fault("sns.Publish", die), pytest.raises(Crash):
        invoke_poll(now=NOW)
    assert pipeline.received("security-desk") == []
    statuses = sorted(record["status"]["S"] for record in pipeline.delivery_records())
    # One delivery was claimed when the runtime died; the others never got that far.
    assert statuses == ["PENDING", "PENDING", "PENDING", "PUBLISHING"]

    # The pending alert goes out at once; the one claimed when the runtime died waits
    # for its lease (real time, 10 minutes) to run out, so a slow but alive worker is
    # never doubled. Waiting is simulated by moving the lease into the past.
    early = invoke_poll(now=NOW.replace(minute=1))
    pipeline.expire_leases()
    recovered = invoke_poll(now=NOW.replace(minute=10))
    again = invoke_poll(now=NOW.replace(minute=15))

    assert early["messages_sent"] == 3
    assert recovered["messages_sent"] == 1
    assert sorted(alert["rule"] for alert in pipeline.received("security-desk")) == sorted(SEED_RULES)
    assert again["messages_sent"] == 0
    assert {record["status"]["S"] for record in pipeline.delivery_records()} == {"SENT"}


def test_publish_failure_leaves_alert_pending_then_sends_it(pipeline: Pipeline) -> None:
    from botocore.exceptions import ClientError

    _serve_seed(pipeline)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml"})

    def refuse(**_: object) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "SNS is down"}}, "Publish")

    with pipeline.fault("sns.Publish", refuse):
        failed = invoke_poll(now=NOW)

    assert failed["publish_errors"] == 4
    assert {record["status"]["S"] for record in pipeline.delivery_records()} == {"PENDING"}

    retried = invoke_poll(now=NOW.replace(minute=5))
    assert retried["messages_sent"] == 4
    assert len(pipeline.received("security-desk")) == 2


def test_subscriber_filter_policy_receives_only_its_rule(pipeline: Pipeline) -> None:
    _serve_seed(pipeline)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml"})

    invoke_poll(now=NOW)

    # duty-phone: only crimea-strike, and only critical; duty-officer: high and above.
    phone = pipeline.received("duty-phone")
    officer = pipeline.received("duty-officer")
    assert [alert["rule"] for alert in phone] == ["crimea-strike"]
    # The seed's 135-character link would leave 24 characters of words: the site stands in for it.
    assert phone[0]["text"] == f"Strike or attack on Crimea: {phone[0]['title']} (boursorama.com)"
    assert phone[0]["link"] not in phone[0]["text"]
    assert [alert["rule"] for alert in officer] == ["defense-minister-contact"]


def test_broken_feed_is_recorded_and_others_still_alert(pipeline: Pipeline) -> None:
    _serve_seed(pipeline)
    pipeline.server.route("/broken.xml", b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")
    pipeline.write_config({"broken": "/broken.xml", "boursorama-reuters": "/boursorama.xml"})

    result = invoke_poll(now=NOW)

    assert result["feed_errors"] == 1
    assert result["messages_sent"] == 4
    state = boto3.client("dynamodb").get_item(TableName=pipeline.settings.state_table, Key=feed_key("broken"))
    assert "not-a-feed" in state["Item"]["last_error"]["S"]


def test_first_poll_records_old_items_without_alerting(pipeline: Pipeline) -> None:
    _serve_seed(pipeline)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml"}, settings={"arming_max_age": "24h"})

    # Two days after the wire: too old to alert on a feed seen for the first time.
    first = invoke_poll(now=datetime(2024, 6, 28, tzinfo=UTC))
    second = invoke_poll(now=datetime(2024, 6, 28, 0, 5, tzinfo=UTC))

    assert first["alerts_created"] == 0
    assert first["new_items"] == 2
    assert second["messages_sent"] == 0
    assert pipeline.received("security-desk") == []


@pytest.mark.parametrize("in_the_job", [True, False])
def test_rule_added_later_does_not_alert_on_old_items_but_existing_rules_do(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, in_the_job: bool
) -> None:
    import yaml

    from .conftest import EXAMPLE

    if not in_the_job:
        # Jobs too large to list the arming rules (a thousand new rules): the worker reads
        # which rules are armed, and judges them as the scheduler did.
        monkeypatch.setattr("wirewatch.adapters.sqs.MAX_JOB_BYTES", 10)

    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    crimea_only = [rule for rule in example["rules"] if rule["id"] == "crimea-strike"]
    bce_only = SEED.replace(SEED[SEED.index(b"<item>") : SEED.index(b"</item>") + len(b"</item>")], b"")
    pipeline.server.route("/boursorama.xml", bce_only)
    pipeline.write_config(
        {"boursorama-reuters": "/boursorama.xml"}, rules=crimea_only, settings={"arming_max_age": "24h"}
    )
    invoke_poll(now=datetime(2024, 6, 27, 12, tzinfo=UTC))  # arms the feed and crimea-strike

    # The seed wire (26/06 01:29) appears 35 hours later, together with a new rule.
    pipeline.server.route("/boursorama.xml", SEED)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml"}, settings={"arming_max_age": "24h"})
    result = invoke_poll(now=datetime(2024, 6, 27, 12, 5, tzinfo=UTC))

    assert result["new_items"] == 1
    assert [alert["rule"] for alert in pipeline.received("security-desk")] == ["crimea-strike"]


def test_tick_and_batch_emit_cloudwatch_metrics(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from wirewatch.observability import metrics

    # With metrics disabled (as in the other tests), Powertools keeps but never flushes them.
    metrics.clear_metrics()
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    _serve_seed(pipeline)
    pipeline.server.route("/broken.xml", b"\x00\x01 not a feed", content_type="application/octet-stream")
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml", "broken": "/broken.xml"})

    invoke_poll(now=NOW)

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    batch = emf[-1]  # the one poll batch (the tick sends nothing when nothing went wrong)
    tick = emf[0] if len(emf) > 1 else {}
    assert {blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] for blob in emf} == {"Wirewatch"}
    # Zero counts are not sent (CloudWatch bills every metric-hour), nor counts that are
    # non-zero every hour and only worth a log line.
    assert "FeedsPaused" not in tick and "FeedsQueued" not in tick
    values = {name: batch[name] for name in ("ItemsFetched", "MessagesSent", "FeedErrors")}
    assert values == {"ItemsFetched": [2.0], "MessagesSent": [4.0], "FeedErrors": [1.0]}
    assert not {"Matches", "NewItems", "PublishErrors"} & set(batch)


def test_a_late_retry_of_an_earlier_tick_does_not_move_a_rules_arming_back(pipeline: Pipeline) -> None:
    # Workers that judge arming from the marks (jobs too large to list the rules) would take
    # a rule marked back at the earlier tick for one armed before this tick's jobs ran.
    import boto3

    from wirewatch.adapters.dynamodb import DynamoDBStateStore

    pipeline.server.route("/boursorama.xml", SEED)
    pipeline.write_config({"boursorama-reuters": "/boursorama.xml"})
    tick = datetime(2024, 6, 26, 6, tzinfo=UTC)
    invoke_poll(now=tick)
    invoke_poll(now=tick - timedelta(minutes=5))  # Lambda retrying the tick before, late

    store = DynamoDBStateStore(boto3.client("dynamodb"), pipeline.settings.state_table)
    marks = store.armed_rules(["crimea-strike", "defense-minister-contact"])
    assert set(marks.values()) == {tick}
