"""`wirewatch run --once` and `wirewatch subscribe` against a deployed stack (moto CloudFormation)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import boto3
import yaml

from wirewatch.cli import main
from wirewatch.local.template import read_template

from .conftest import EXAMPLE, FEEDS, ROOT, TEST_SUBSCRIBERS

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from .conftest import Pipeline

STATEFUL = {"AWS::DynamoDB::Table", "AWS::SNS::Topic", "AWS::S3::Bucket", "AWS::SQS::Queue"}


def _deploy_stateful_part(name: str) -> dict[str, str]:
    """The template's tables, queues and topic as a CloudFormation stack, with the template's outputs.

    The functions and schedule need the SAM transform and a Lambda runtime, which the
    CLI does not use; issue #6 deploys the whole template.
    """
    template = read_template(ROOT / "template.yaml")
    resources = {k: v for k, v in template["Resources"].items() if v["Type"] in STATEFUL}
    outputs = {
        key: output
        for key, output in template["Outputs"].items()
        if json.dumps(output["Value"]).split('"')[3] in resources
    }
    body = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources, "Outputs": outputs}
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(body))
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


DIGEST_READER = {
    "id": "analyst",
    "email": "analyst@example.org",
    "rules": ["*"],
    "delivery": "digest",
    "digest": {"every": "daily", "at": "08:00"},
    "timezone": "Europe/Paris",
}


def _config(tmp_path: Path, pipeline: Pipeline, **changes: Any) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["feeds"] = [{"id": "boursorama-reuters", "url": pipeline.server.url("/seed.xml")}]
    # Without quiet hours, which would hold the officer's alert when the tests run at night.
    data["subscribers"] = [*TEST_SUBSCRIBERS, DIGEST_READER]
    data.update(changes)
    path = tmp_path / "deployed-watch.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _serve_todays_wire(pipeline: Pipeline) -> None:
    """The seed wire at /seed.xml, dated now: --once runs on the real clock, so it must be news today."""
    from email.utils import format_datetime

    fresh = (
        (FEEDS / "boursorama-reuters.xml")
        .read_bytes()
        .replace(b"Wed, 26 Jun 2024 01:29:00 +0200", format_datetime(datetime.now(UTC)).encode())
    )
    pipeline.server.route("/seed.xml", fresh)


def test_run_once_polls_with_the_stack_resources(pipeline: Pipeline, tmp_path: Path) -> None:
    outputs = _deploy_stateful_part("wirewatch")
    _serve_todays_wire(pipeline)
    config = _config(tmp_path, pipeline)

    code = main(["run", "--once", "--stack", "wirewatch", "--config", str(config)])

    assert code == 0
    alerts = boto3.client("dynamodb").scan(TableName=outputs["AlertsTableName"])["Items"]
    assert sorted(a["rule_id"]["S"] for a in alerts if a["pk"]["S"].startswith("alert#")) == [
        "crimea-strike",
        "defense-minister-contact",
    ]
    deliveries = {a["pk"]["S"]: a for a in alerts if a["pk"]["S"].startswith("delivery#")}
    # Sent at once, but for the daily digest's reader: both wait for the next 08:00 in Paris.
    assert {key.split("#")[1] for key, d in deliveries.items() if d["status"]["S"] == "SENT"} == {
        "security-desk/email",
        "duty-officer/email",
        "duty-phone/sms",
    }
    waiting = [d for d in deliveries.values() if d["status"]["S"] == "PENDING"]
    assert [(d["recipient"]["S"], d["mode"]["S"]) for d in waiting] == [("analyst/email", "digest")] * 2
    assert {datetime.fromisoformat(d["due_at"]["S"]).astimezone(ZoneInfo("Europe/Paris")).hour for d in waiting} == {8}


def test_run_once_reads_the_watch_file_pushed_to_the_stack(pipeline: Pipeline, tmp_path: Path) -> None:
    # As the stack's functions do: a catch-up run after an outage must not use the rules
    # of the checkout (functions/watch.yaml names real feeds, unreachable here).
    outputs = _deploy_stateful_part("wirewatch")
    _serve_todays_wire(pipeline)
    assert main(["push", str(_config(tmp_path, pipeline)), "--stack", "wirewatch"]) == 0

    assert main(["run", "--once", "--stack", "wirewatch"]) == 0

    alerts = boto3.client("dynamodb").scan(TableName=outputs["AlertsTableName"])["Items"]
    assert sorted(a["rule_id"]["S"] for a in alerts if a["pk"]["S"].startswith("alert#")) == [
        "crimea-strike",
        "defense-minister-contact",
    ]


def test_run_once_on_a_missing_stack_is_a_clear_error(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--once", "--stack", "no-such-stack"])

    assert code == 1
    assert "cannot read stack 'no-such-stack'" in capsys.readouterr().err


def test_backtest_on_the_archive_without_a_region_is_a_clear_error(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3 as sdk

    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sdk, "DEFAULT_SESSION", None)

    code = main(["backtest", str(EXAMPLE), "--stack", "wirewatch", "--since", "30d"])

    assert code == 1
    assert "error: cannot read stack 'wirewatch': You must specify a region." in capsys.readouterr().err


def _subscriptions(topic_arn: str) -> dict[str, dict[str, Any]]:
    sns = boto3.client("sns")
    found = {}
    for sub in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]:
        if sub["Protocol"] in {"email", "sms"}:
            attributes = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
            found[sub["Endpoint"]] = json.loads(attributes["FilterPolicy"])
    return found


def test_subscribe_creates_updates_and_removes_without_printing_endpoints(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = _deploy_stateful_part("wirewatch")
    topic = outputs["AlertsTopicArn"]

    assert main(["subscribe", str(_config(tmp_path, pipeline)), "--stack", "wirewatch"]) == 0
    created = _subscriptions(topic)
    # Each subscription takes the messages addressed to its recipient: which rules and
    # severities reach it, and when, is decided before publishing.
    assert created == {
        "security-desk@example.org": {"recipient": ["security-desk/email"]},
        "duty.officer@example.org": {"recipient": ["duty-officer/email"]},
        "+33612345678": {"recipient": ["duty-phone/sms"]},
        "analyst@example.org": {"recipient": ["analyst/email"]},
    }

    # The duty officer's mailbox now belongs to the night officer; the phone is dropped.
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["subscribers"] = [dict(s) for s in TEST_SUBSCRIBERS if "sms" not in s]
    data["subscribers"][1]["id"] = "night-officer"
    for rule in data["rules"]:
        rule["notify"] = [{"duty-officer": "night-officer"}.get(n, n) for n in rule["notify"] if n != "duty-phone"]
    assert (
        main(
            [
                "subscribe",
                str(_config(tmp_path, pipeline, subscribers=data["subscribers"], rules=data["rules"])),
                "--stack",
                "wirewatch",
            ]
        )
        == 0
    )

    updated = _subscriptions(topic)
    assert set(updated) == {"security-desk@example.org", "duty.officer@example.org"}  # the analyst left too
    assert updated["duty.officer@example.org"] == {"recipient": ["night-officer/email"]}
    printed = capsys.readouterr().out
    assert "create" in printed and "update" in printed and "remove" in printed
    for secret in ("example.org", "+3361234"):
        assert secret not in printed


def test_cycle_logs_never_contain_contacts(pipeline: Pipeline, caplog: pytest.LogCaptureFixture) -> None:
    from wirewatch.runner import invoke_poll

    pipeline.server.route("/seed.xml", (FEEDS / "boursorama-reuters.xml").read_bytes())
    pipeline.write_config({"boursorama-reuters": "/seed.xml"})  # subscribes: the setup knows the contacts
    caplog.clear()
    caplog.set_level("DEBUG")

    invoke_poll()

    # Every field of every record, structured extras included, as Powertools would emit them.
    logged = "\n".join(json.dumps(vars(record), default=str) for record in caplog.records)
    assert "feed polled" in logged
    for secret in ("example.org", "+33612345678"):
        assert secret not in logged
