"""The operations part of template.yaml: alarms on metrics the code really sends, and the dashboard.

A metric renamed in observability.py, or one moved to the log lines only, breaks
these tests instead of leaving an alarm that can never fire.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from wirewatch.local.template import read_template, resources_of_type
from wirewatch.observability import _HEARTBEATS, _LOGGED_ONLY, _POLL_METRICS, _TICK_METRICS, metrics
from wirewatch.scheduling import FAILING_ALARM_AFTER

from .helpers import ROOT

TEMPLATE = read_template(ROOT / "template.yaml")
ALARMS = resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm")
# What reaches CloudWatch: every metric of the tables, less those kept to the log lines.
SENT = (set(_POLL_METRICS) | set(_TICK_METRICS)) - _LOGGED_ONLY
SERVICE = [{"Name": "service", "Value": metrics.service}]
DEAD_LETTER_QUEUES = {"PollJobsDeadLetterQueue", "PollDeadLetterQueue"}


def _alarms_on(metric: str) -> list[dict[str, Any]]:
    return [alarm for alarm in ALARMS.values() if alarm["MetricName"] == metric]


def _one_alarm_on(metric: str) -> dict[str, Any]:
    found = _alarms_on(metric)
    assert len(found) == 1, f"one alarm on {metric}, found {len(found)}"
    return found[0]


def test_seven_alarms_each_on_one_metric() -> None:
    # 0.10 USD a month each: a new alarm should be a decision, not an accident. The seventh
    # (ConfigRejected) was one: rules pushed and refused are rules silently not running.
    assert len(ALARMS) == 7
    for alarm in ALARMS.values():
        assert "Metrics" not in alarm  # metric math would bill every metric it reads


def test_every_wirewatch_alarm_reads_a_metric_the_code_sends_with_its_dimensions() -> None:
    wirewatch = [alarm for alarm in ALARMS.values() if alarm["Namespace"] == "Wirewatch"]
    assert metrics.namespace == "Wirewatch"
    assert {alarm["MetricName"] for alarm in wirewatch} == {
        "FeedsFailing",
        "PublishErrors",
        "ItemsFetched",
        "ConfigRejected",
    }
    for alarm in wirewatch:
        assert alarm["MetricName"] in SENT
        # Powertools adds the service dimension, and only that one; an alarm on other
        # dimensions would watch a metric nobody sends.
        assert alarm["Dimensions"] == SERVICE


def test_missing_data_is_breaching_only_for_heartbeats() -> None:
    for alarm in ALARMS.values():
        if alarm["Namespace"] != "Wirewatch":
            continue
        # The other metrics are sent only when non-zero: their silence is good news.
        expected = "breaching" if alarm["MetricName"] in _HEARTBEATS else "notBreaching"
        assert alarm["TreatMissingData"] == expected, alarm["MetricName"]


def test_feeds_failing_alarm() -> None:
    alarm = _one_alarm_on("FeedsFailing")
    assert "FeedsFailing" in _TICK_METRICS
    assert alarm["Threshold"] == {"Ref": "FeedsFailingAlarmThreshold"}
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    # The ticks count feeds failing for an hour (scheduling.FAILING_ALARM_AFTER): one
    # quarter hour at the threshold fires it, in either of the last two.
    assert timedelta(hours=1) == FAILING_ALARM_AFTER
    assert (alarm["Statistic"], alarm["Period"]) == ("Maximum", 900)
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (2, 1)
    assert TEMPLATE["Parameters"]["FeedsFailingAlarmThreshold"]["Default"] == 1


def test_publish_errors_alarm() -> None:
    alarm = _one_alarm_on("PublishErrors")
    assert "PublishErrors" in _POLL_METRICS
    assert "PublishErrors" in _TICK_METRICS
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == ("Sum", "GreaterThanThreshold", 0)


def test_config_rejected_alarm_fires_on_any_refusal_from_ticks_or_batches() -> None:
    alarm = _one_alarm_on("ConfigRejected")
    assert "ConfigRejected" in _POLL_METRICS
    assert "ConfigRejected" in _TICK_METRICS
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == ("Sum", "GreaterThanThreshold", 0)
    assert alarm["AlarmActions"] == [{"Ref": "OperatorAlarmsTopic"}]


def test_no_item_fetched_in_an_hour_alarm() -> None:
    alarm = _one_alarm_on("ItemsFetched")
    assert "ItemsFetched" in _HEARTBEATS
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Sum", 3600, 1)
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["TreatMissingData"] == "breaching"


def test_sms_spend_alarm_fires_at_the_accounts_sms_spend_limit() -> None:
    alarm = _one_alarm_on("SMSMonthToDateSpentUSD")
    assert alarm["Namespace"] == "AWS/SNS"
    assert "Dimensions" not in alarm  # an account-wide metric
    assert alarm["Threshold"] == {"Ref": "SmsMonthlySpendLimit"}
    assert (alarm["Statistic"], alarm["ComparisonOperator"]) == ("Maximum", "GreaterThanOrEqualToThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"


def test_dead_letter_queue_alarms() -> None:
    alarms = _alarms_on("ApproximateNumberOfMessagesVisible")
    queues = set()
    for alarm in alarms:
        assert alarm["Namespace"] == "AWS/SQS"
        [dimension] = alarm["Dimensions"]
        assert dimension["Name"] == "QueueName"
        queues.add(dimension["Value"]["Fn::GetAtt"][0])
        assert dimension["Value"]["Fn::GetAtt"][1] == "QueueName"
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["TreatMissingData"] == "notBreaching"
    assert queues == DEAD_LETTER_QUEUES
    for queue in DEAD_LETTER_QUEUES:
        assert TEMPLATE["Resources"][queue]["Type"] == "AWS::SQS::Queue"


def test_alarms_notify_the_operator_topic_never_the_alerts_topic() -> None:
    for alarm in ALARMS.values():
        assert alarm["AlarmActions"] == [{"Ref": "OperatorAlarmsTopic"}]
        assert alarm["OKActions"] == [{"Ref": "OperatorAlarmsTopic"}]
    resources = TEMPLATE["Resources"]
    assert resources["OperatorAlarmsTopic"]["Type"] == "AWS::SNS::Topic"
    # CloudWatch cannot publish to a topic encrypted with the AWS-managed key.
    assert "KmsMasterKeyId" not in resources["OperatorAlarmsTopic"].get("Properties", {})
    subscription = resources["OperatorAlarmsEmail"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert TEMPLATE["Parameters"]["AlarmEmail"]["Default"] == ""
    assert TEMPLATE["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}


def _dashboard() -> dict[str, Any]:
    [dashboard] = resources_of_type(TEMPLATE, "AWS::CloudWatch::Dashboard").values()
    body: str = dashboard["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}]+)\}", body))
    for name in names:
        # Every substitution names a pseudo parameter or a resource (or its attribute) of the template.
        assert name.startswith("AWS::") or name.split(".")[0] in TEMPLATE["Resources"], name
    parsed: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", r"<\1>", body))
    return parsed


def _widget_metrics(widget: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(line[0], line[1], line[3]) for line in widget["properties"].get("metrics", [])]


def test_dashboard_shows_the_pipeline() -> None:
    widgets = _dashboard()["widgets"]
    shown = [metric for widget in widgets for metric in _widget_metrics(widget)]
    for needed in [
        ("Wirewatch", "ItemsFetched", "wirewatch"),
        ("Wirewatch", "FeedErrors", "wirewatch"),
        ("Wirewatch", "PublishErrors", "wirewatch"),
        ("AWS/Lambda", "Duration", "<ScheduleFunction>"),
        ("AWS/Lambda", "Duration", "<PollFunction>"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "<PollJobsDeadLetterQueue.QueueName>"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "<PollDeadLetterQueue.QueueName>"),
    ]:
        assert needed in shown
    for namespace, name, _ in shown:
        if namespace == "Wirewatch":
            assert name in SENT, f"the dashboard plots {name}, which the code does not send"
    [alarm_widget] = [widget for widget in widgets if widget["type"] == "alarm"]
    assert {arn.strip("<>").removesuffix(".Arn") for arn in alarm_widget["properties"]["alarms"]} == set(ALARMS)


@pytest.mark.parametrize("field", ["rule", "severity"])
def test_alerts_per_rule_come_from_the_poll_workers_alert_lines(field: str) -> None:
    [log_widget] = [widget for widget in _dashboard()["widgets"] if widget["type"] == "log"]
    query = log_widget["properties"]["query"]
    assert query.startswith("SOURCE '<PollFunctionLogGroup>' |")
    # Alerts withdrawn after they were written (two workers on one event) count minus one.
    assert "filter message in ['alert created', 'alert withdrawn']" in query
    assert "coalesce(tally, 1) as n" in query  # lines logged before tally existed count one
    assert "sum(n)" in query
    assert re.search(rf"\bby\b.*\b{field}\b", query)
