"""`wirewatch status` over the template's tables in moto: feed health and alerts per rule."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from wirewatch.adapters.dynamodb import DynamoDBStateStore
from wirewatch.cli_status import add_status_command
from wirewatch.core.ports import FeedState
from wirewatch.core.watchfile import load_watch
from wirewatch.local.stack import EMULATOR_ENV
from wirewatch.local.template import create_tables, read_template
from wirewatch.status import format_status, gather_status

from .conftest import ROOT
from .test_cli_aws import _deploy_stateful_part

if TYPE_CHECKING:
    from collections.abc import Iterator

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

WATCH = """\
version: 1
feeds:
  - {id: steady, url: "https://steady.example/rss"}
  - {id: flaky, url: "https://flaky.example/rss"}
  - {id: dead, url: "https://dead.example/rss"}
  - {id: gone, url: "https://gone.example/rss"}
  - {id: moved, url: "https://old.example/rss"}
  - {id: fresh, url: "https://fresh.example/rss"}
rules:
  - {id: crimea, title: Crimea, severity: critical, match: {any: [Crimea]}, notify: [desk]}
  - {id: quiet, title: Quiet, severity: low, match: {any: [nothing]}, notify: [desk]}
subscribers:
  - {id: desk, email: desk@example.org}
"""


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name, value in EMULATOR_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield create_tables(read_template(ROOT / "template.yaml"), boto3.client("dynamodb"), "test")


def _seed_states(table: str) -> None:
    store = DynamoDBStateStore(boto3.client("dynamodb"), table)
    hour = timedelta(hours=1)
    for state in [
        # Recovered: an old error stays on record, the feed is ok.
        FeedState("steady", last_new_item_at=NOW - 2 * hour, last_error="timeout", last_error_at=NOW - 72 * hour),
        FeedState(
            "flaky",
            consecutive_failures=2,
            last_error="http-503",
            last_error_at=NOW - 10 * timedelta(minutes=1),
            not_before=NOW + 20 * timedelta(minutes=1),
        ),
        FeedState("dead", consecutive_failures=6, paused=True, last_error="dns", last_error_at=NOW - hour),
        FeedState(
            "gone",
            consecutive_failures=1,
            gone_url="https://gone.example/rss",
            last_error="http-410",
            last_error_at=NOW - 5 * hour,
        ),
        FeedState("moved", moved_from="https://old.example/rss", moved_to="https://new.example/rss"),
        # No longer in the watch file; its state stays.
        FeedState("retired", last_new_item_at=NOW - 400 * hour),
    ]:
        store.save_feed(state)
    store.arm_rules(["crimea"], NOW - 1000 * hour)  # rule# items are not feeds


def _alert(table: str, key: str, rule: str, age: timedelta, status: str = "SENT", now: datetime = NOW) -> None:
    moment = (now - age).isoformat(timespec="seconds")
    item: dict[str, Any] = {
        "pk": {"S": key},
        "rule_id": {"S": rule},
        "created_at": {"S": moment},
        "status": {"S": status},
    }
    boto3.client("dynamodb").put_item(TableName=table, Item=item)


def _seed_alerts(table: str) -> None:
    _alert(table, "alert#crimea#s1", "crimea", timedelta(hours=1))
    _alert(table, "alert#crimea#s2", "crimea", timedelta(hours=23, minutes=59), status="PENDING")
    _alert(table, "alert#crimea#s3", "crimea", timedelta(days=3))
    _alert(table, "alert#crimea#s4", "crimea", timedelta(days=8))  # older than a week
    _alert(table, "alert#dropped#s5", "dropped", timedelta(days=2))  # a rule since removed
    # A per-recipient record repeats its alert's rule and time: not a second alert.
    _alert(table, "delivery#desk#crimea#s1", "crimea", timedelta(hours=1), status="PENDING")


def test_status_reads_feed_health_and_alerts_per_rule(tables: dict[str, str]) -> None:
    _seed_states(tables["StateTable"])
    _seed_alerts(tables["AlertsTable"])
    config = load_watch(WATCH, "watch.yaml")

    report = gather_status(
        boto3.client("dynamodb"),
        state_table=tables["StateTable"],
        alerts_table=tables["AlertsTable"],
        config=config,
        now=NOW,
    )

    feeds = {feed.feed_id: feed for feed in report.feeds}
    assert [feed.feed_id for feed in report.feeds] == ["steady", "flaky", "dead", "gone", "moved", "fresh", "retired"]
    assert {feed_id: (feed.state, feed.failures) for feed_id, feed in feeds.items()} == {
        "steady": ("ok", 0),
        "flaky": ("failing", 2),
        "dead": ("paused", 6),
        "gone": ("gone", 1),
        "moved": ("moved", 0),
        "fresh": ("new", 0),
        "retired": ("removed", 0),
    }
    assert feeds["steady"].last_error == "timeout"
    assert feeds["steady"].last_new_item_at == NOW - timedelta(hours=2)
    assert feeds["flaky"].next_try_at == NOW + timedelta(minutes=20)
    assert feeds["gone"].next_try_at is None
    assert "https://new.example/rss" in feeds["moved"].note
    assert [(r.rule_id, r.last_24h, r.last_7d, r.in_watch_file) for r in report.rules] == [
        ("crimea", 2, 3, True),
        ("quiet", 0, 0, True),
        ("dropped", 0, 1, False),
    ]
    assert report.rules[0].last_alert_at == NOW - timedelta(hours=1)

    text = format_status(report)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("FEED"))
    flaky = next(line for line in lines if line.startswith("flaky"))
    # Aligned: each cell of a row starts where its column's header does.
    assert flaky.index("failing 2×") == header.index("STATE")
    assert flaky.index("http-503") == header.index("LAST ERROR")
    assert "next try in 20 min" in flaky
    assert next(line for line in lines if line.startswith("dead")).split()[1:3] == ["paused", "(6×)"]
    assert "gone (410)" in next(line for line in lines if line.startswith("gone"))
    assert "dropped (not in watch file)" in text
    assert not any(line.endswith(" ") for line in lines)


def test_status_without_a_watch_file_lists_what_the_tables_hold(tables: dict[str, str]) -> None:
    _seed_states(tables["StateTable"])
    _seed_alerts(tables["AlertsTable"])

    report = gather_status(
        boto3.client("dynamodb"),
        state_table=tables["StateTable"],
        alerts_table=tables["AlertsTable"],
        config=None,
        now=NOW,
    )

    assert {feed.feed_id: feed.state for feed in report.feeds} == {
        "dead": "paused",
        "flaky": "failing",
        "gone": "gone",
        "moved": "moved",
        "retired": "ok",
        "steady": "ok",
    }
    assert [(r.rule_id, r.last_7d) for r in report.rules] == [("crimea", 3), ("dropped", 1)]


def _status(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wirewatch")
    add_status_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["status", *argv])
    code: int = args.handler(args)
    return code


def test_status_command_reads_the_stacks_tables_and_live_watch_file(
    tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = _deploy_stateful_part("wirewatch")
    _seed_states(outputs["StateTableName"])
    _alert(outputs["AlertsTableName"], "alert#crimea#new", "crimea", timedelta(minutes=1), now=datetime.now(UTC))
    # The live watch file, as `wirewatch push` leaves it, names the feeds and rules.
    boto3.client("s3").put_object(Bucket=outputs["ConfigBucketName"], Key="watch.yaml", Body=WATCH.encode())

    assert _status(["--stack", "wirewatch", "--json"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert [feed["id"] for feed in printed["feeds"]][:6] == ["steady", "flaky", "dead", "gone", "moved", "fresh"]
    flaky = printed["feeds"][1]
    assert flaky["state"] == "failing"
    assert flaky["consecutive_failures"] == 2
    assert flaky["last_error"] == "http-503"
    # The command runs on the real clock: an alert a minute old is in both windows.
    crimea = printed["rules"][0]
    assert (crimea["id"], crimea["alerts_24h"], crimea["alerts_7d"]) == ("crimea", 1, 1)


def test_status_on_a_missing_stack_is_a_clear_error(tables: dict[str, str]) -> None:
    from wirewatch.core.errors import WirewatchError

    with pytest.raises(WirewatchError, match="cannot read stack 'nope'"):
        _status(["--stack", "nope"])


def test_status_local_reports_on_the_demo_ticks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)

    assert _status(["--local"]) == 0

    out = capsys.readouterr().out
    assert "Feeds (15, 0 needing attention)" in out
    rules = {line.split()[0]: line.split()[1:3] for line in out.splitlines() if line.startswith(("crimea", "defense"))}
    # The demo's seed wire alerts once per rule, on the first tick.
    assert rules == {"defense-minister-contact": ["1", "1"], "crimea-strike": ["1", "1"]}
