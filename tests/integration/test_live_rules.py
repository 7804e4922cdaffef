"""Rules reloaded from S3 without redeploying, `wirewatch push`, and backtests over the
archive the pipeline keeps — on moto, through the handler and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import boto3
import pytest
import yaml

from wirewatch.cli import main
from wirewatch.core.watchfile import load_watch
from wirewatch.local.template import create_buckets, read_template
from wirewatch.runner import invoke_poll, reset_handlers

from .conftest import EXAMPLE, ROOT
from .test_cli_aws import _deploy_stateful_part

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import Pipeline

NOW = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)
WIRE = """<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>
<item><title>Frappe de drones sur Sébastopol en Crimée</title><link>https://a.example/1</link>
<pubDate>Wed, 26 Jun 2024 05:00:00 +0000</pubDate></item>
<item><title>Poutine en visite à Sébastopol</title><link>https://a.example/2</link>
<pubDate>Wed, 26 Jun 2024 05:10:00 +0000</pubDate></item></channel></rss>""".encode()


VISITS_TOO = "(Crimée OR Sébastopol) AND (frappe* OR visite)"
NEXT_VISIT = WIRE.replace(b"https://a.example/2", b"https://a.example/3").replace(
    b"Poutine en visite", b"Nouvelle visite de Poutine"
)


def _live(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> str:
    bucket = create_buckets(read_template(ROOT / "template.yaml"), boto3.client("s3"), "test")["ConfigBucket"]
    monkeypatch.setenv("WIREWATCH_CONFIG_S3", f"s3://{bucket}/watch.yaml")
    reset_handlers()
    return bucket


def _upload(bucket: str, data: dict[str, object] | str) -> None:
    body = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
    boto3.client("s3").put_object(Bucket=bucket, Key="watch.yaml", Body=body.encode())


def _push_visits_rule(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> str:
    """The wire served, the live bucket on, and a pushed version whose rule also wants visits."""
    pipeline.server.route("/a.xml", WIRE)
    pipeline.write_config({"feed-a": "/a.xml"})
    bucket = _live(pipeline, monkeypatch)
    _upload(bucket, _config(pipeline, VISITS_TOO))
    return bucket


def _config(pipeline: Pipeline, rule_query: str) -> dict[str, object]:
    data = yaml.safe_load(pipeline.config_path.read_text(encoding="utf-8"))
    data["rules"] = [
        {
            "id": "crimea-strike",
            "title": "Strike on Crimea",
            "severity": "critical",
            "query": rule_query,
            "notify": ["security-desk"],
        }
    ]
    return data


def test_the_bundled_file_serves_until_a_watch_file_is_pushed(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.server.route("/a.xml", WIRE)
    pipeline.write_config({"feed-a": "/a.xml"})
    _live(pipeline, monkeypatch)

    result = invoke_poll(now=NOW)

    assert result["config_rejected"] == 0
    assert [a["rule"] for a in pipeline.received("security-desk")] == ["crimea-strike"]


@pytest.mark.parametrize(
    ("query", "encoding"),
    [
        pytest.param("(Crimée AND frappe*", "utf-8", id="unbalanced"),
        # Read as UTF-8 with replacement characters it validated, and "Crimée" matched nothing.
        pytest.param("Crimée AND frappe*", "latin-1", id="saved-in-latin1"),
    ],
)
def test_a_pushed_version_applies_next_cycle_and_an_invalid_one_is_refused(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, query: str, encoding: str
) -> None:
    bucket = _push_visits_rule(pipeline, monkeypatch)

    invoke_poll(now=NOW)
    assert len(pipeline.received("security-desk")) == 2

    # A broken version: refused, the last good one stays in force, the refusal is counted.
    body = yaml.safe_dump(_config(pipeline, query), allow_unicode=True).encode(encoding)
    boto3.client("s3").put_object(Bucket=bucket, Key="watch.yaml", Body=body)
    pipeline.server.route("/a.xml", NEXT_VISIT)
    result = invoke_poll(now=NOW.replace(minute=5))

    assert result["config_rejected"] == 2  # the tick and the one poll batch each read it
    assert [a["link"] for a in pipeline.received("security-desk")] == ["https://a.example/3"]


def test_push_validates_then_uploads_to_the_stack_bucket(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = _deploy_stateful_part("wirewatch")
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace("severity: high", "severity: urgent"))

    assert main(["push", str(bad), "--stack", "wirewatch"]) == 1
    assert "'urgent' is not one of low, medium, high, critical" in capsys.readouterr().err
    listed = boto3.client("s3").list_objects_v2(Bucket=outputs["ConfigBucketName"])
    assert listed.get("KeyCount", 0) == 0

    assert main(["push", str(EXAMPLE), "--stack", "wirewatch"]) == 0
    body = boto3.client("s3").get_object(Bucket=outputs["ConfigBucketName"], Key="watch.yaml")["Body"].read()
    assert body == EXAMPLE.read_bytes()


def test_backtest_reads_what_the_pipeline_archived(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from email.utils import format_datetime

    outputs = _deploy_stateful_part("wirewatch")
    monkeypatch.setenv("ITEMS_TABLE", outputs["ItemsTableName"])  # the cycle archives into the stack's table
    today = format_datetime(datetime.now(UTC)).encode()
    pipeline.server.route(
        "/a.xml",
        WIRE.replace(b"Wed, 26 Jun 2024 05:00:00 +0000", today).replace(b"Wed, 26 Jun 2024 05:10:00 +0000", today),
    )
    pipeline.write_config({"feed-a": "/a.xml"})
    invoke_poll(now=datetime.now(UTC))
    capsys.readouterr()

    assert main(["backtest", str(pipeline.config_path), "--stack", "wirewatch", "--since", "1d"]) == 0

    out = capsys.readouterr().out
    assert "2 items since" in out
    assert "crimea-strike: 1 alert(s) on 1 day(s)" in out
    assert "Frappe de drones sur Sébastopol en Crimée" in out

    # From far back: only the days the archive can hold are read (the stack's RetentionDays).
    from wirewatch.adapters.dynamodb import DynamoDBItemArchive

    days: list[str] = []
    partition = DynamoDBItemArchive.partition
    monkeypatch.setattr(
        DynamoDBItemArchive, "partition", lambda self, kind, key: days.append(key) or partition(self, kind, key)
    )
    assert main(["backtest", str(pipeline.config_path), "--stack", "wirewatch", "--since", "2000-01-01"]) == 0
    out = capsys.readouterr().out
    assert "the archive keeps 30 days" in out and "crimea-strike: 1 alert(s)" in out
    assert len({key.partition("#")[0] for key in days}) == 30 + 2 + 1  # its retention, TTL's lag, today


def test_s3_failing_keeps_the_rules_in_force_and_polling_goes_on(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    _push_visits_rule(pipeline, monkeypatch)
    invoke_poll(now=NOW)
    assert len(pipeline.received("security-desk")) == 2

    def throttled(**_: object) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "GetObject")

    pipeline.server.route("/a.xml", NEXT_VISIT)
    with pipeline.fault("s3.GetObject", throttled):
        result = invoke_poll(now=NOW.replace(minute=5))

    # A fresh container with S3 down: the bundled file (crimea-strike without visits).
    assert result["config_rejected"] == 2  # the tick and the one poll batch each read it
    assert result["feeds_polled"] == 1 and result["feed_errors"] == 0


def test_a_cold_start_on_a_refused_upload_uses_the_last_good_version(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = _push_visits_rule(pipeline, monkeypatch)
    _upload(bucket, _config(pipeline, "(Crimée AND frappe*"))  # refused
    reset_handlers()  # a new container: nothing cached

    result = invoke_poll(now=NOW)

    assert result["config_rejected"] == 2  # the tick and the one poll batch each read it
    # The pushed good version (which wants visits too), not the bundled file.
    assert len(pipeline.received("security-desk")) == 2


def test_a_warm_source_stops_reporting_a_rejection_once_s3_answers_again(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from wirewatch.adapters.s3_config import S3ConfigSource

    bucket = _push_visits_rule(pipeline, monkeypatch)
    s3 = boto3.client("s3")
    source = S3ConfigSource(s3, f"s3://{bucket}/watch.yaml", pipeline.config_path)
    source.current()
    answers = s3.get_object

    def throttled(**_: object) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "GetObject")

    monkeypatch.setattr(s3, "get_object", throttled)
    source.current()
    assert source.rejected is not None and "SlowDown" in source.rejected
    monkeypatch.setattr(s3, "get_object", answers)
    source.current()  # 304: the version in force, unchanged
    assert source.rejected is None

    # A refused upload stays reported through an outage and after it.
    _upload(bucket, _config(pipeline, "(Crimée AND frappe*"))
    source.current()
    refused = source.rejected
    assert refused is not None and "unclosed" in refused
    monkeypatch.setattr(s3, "get_object", throttled)
    source.current()
    monkeypatch.setattr(s3, "get_object", answers)
    source.current()
    assert source.rejected == refused


def test_a_deleted_watch_file_gives_way_to_the_bundled_one(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a cold start with no object: a warm function must not keep the deleted rules,
    # nor go on reporting the refusal of a file that is gone.
    from wirewatch.adapters.s3_config import S3ConfigSource

    bucket = _push_visits_rule(pipeline, monkeypatch)
    source = S3ConfigSource(boto3.client("s3"), f"s3://{bucket}/watch.yaml", pipeline.config_path)
    assert len(source.current().rules) == 1  # the pushed version's one rule
    _upload(bucket, _config(pipeline, "(Crimée AND frappe*"))
    source.current()
    assert source.rejected is not None
    boto3.client("s3").delete_object(Bucket=bucket, Key="watch.yaml")

    bundled = source.current()
    assert source.rejected is None
    on_disk = load_watch(pipeline.config_path.read_text(encoding="utf-8"), str(pipeline.config_path))
    assert [rule.id for rule in bundled.rules] == [rule.id for rule in on_disk.rules]
    assert len(bundled.rules) > 1


def test_a_file_nested_too_deeply_is_refused_not_a_crash(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = _push_visits_rule(pipeline, monkeypatch)
    invoke_poll(now=NOW)
    data = _config(pipeline, VISITS_TOO)
    match: object = "Crimée"
    for _ in range(100):
        match = {"all": [match]}
    data["rules"][0].pop("query")  # type: ignore[index]
    data["rules"][0]["match"] = match  # type: ignore[index]
    _upload(bucket, data)
    pipeline.server.route("/a.xml", NEXT_VISIT)

    result = invoke_poll(now=NOW.replace(minute=5))

    assert result["config_rejected"] == 2
    assert [a["link"] for a in pipeline.received("security-desk")][-1:] == ["https://a.example/3"]


def test_without_an_upload_the_bundled_file_is_read_once(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from wirewatch.adapters import s3_config

    pipeline.write_config({"feed-a": "/a.xml"})
    bucket = _live(pipeline, monkeypatch)
    reads: list[str] = []
    load = s3_config.load_watch
    monkeypatch.setattr(s3_config, "load_watch", lambda *args: reads.append(args[1]) or load(*args))
    source = s3_config.S3ConfigSource(boto3.client("s3"), f"s3://{bucket}/watch.yaml", pipeline.config_path)
    first = source.current()
    assert source.current() is first and source.current() is first
    assert len(reads) == 1
