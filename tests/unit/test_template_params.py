"""What operators change in template.yaml (parameters), how `sam` is configured to build
and deploy it (samconfig.toml, functions/Makefile), and the sample events its functions
are invoked with (events/)."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest

from wirewatch.adapters.sqs import decode_job
from wirewatch.core.watchfile import load_watch
from wirewatch.handlers.schedule_feeds import scheduled_time
from wirewatch.local.template import read_template, resources_of_type

from .helpers import ROOT

TEMPLATE = read_template(ROOT / "template.yaml")
PARAMETERS = TEMPLATE["Parameters"]
SAMCONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
EVENTS = ROOT / "events"
# What operators change, each with a default that deploys as is.
OPERATOR_PARAMETERS = ("ScheduleRateMinutes", "RetentionDays", "LogRetentionDays", "AlarmEmail", "SmsMonthlySpendLimit")


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def _overrides() -> dict[str, str]:
    text = SAMCONFIG["default"]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in text.split())


@pytest.mark.parametrize("name", OPERATOR_PARAMETERS)
def test_operator_parameters_have_a_default_and_a_description(name: str) -> None:
    assert "Default" in PARAMETERS[name]
    assert PARAMETERS[name]["Description"].strip()


def test_every_parameter_is_used_by_the_template() -> None:
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    for name in PARAMETERS:
        assert f"!Ref {name}" in text or f"${{{name}}}" in text or f"Ref: {name}" in text, name


def test_retention_parameters_reach_what_they_configure() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["RETENTION_DAYS"] == {"Ref": "RetentionDays"}
    assert variables["CYCLE_MINUTES"] == {"Ref": "ScheduleRateMinutes"}
    for group in resources_of_type(TEMPLATE, "AWS::Logs::LogGroup").values():
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_samconfig_deploys_with_the_templates_defaults_and_no_flags() -> None:
    deploy = SAMCONFIG["default"]["deploy"]["parameters"]
    assert deploy["stack_name"] == "wirewatch"
    assert deploy["resolve_s3"] is True
    assert "CAPABILITY_IAM" in deploy["capabilities"].split()
    assert deploy["confirm_changeset"] is True
    for name, value in _overrides().items():
        assert name in PARAMETERS, f"samconfig.toml overrides {name}, which the template does not declare"
        assert value == str(PARAMETERS[name]["Default"]), f"{name}: samconfig {value} != template default"
    assert SAMCONFIG["default"]["validate"]["parameters"]["lint"] is True


def test_both_functions_run_on_arm64_and_are_built_with_its_wheels() -> None:
    functions = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
    assert set(functions) == {"ScheduleFunction", "PollFunction"}
    default = TEMPLATE["Globals"]["Function"]["Architectures"]
    for name, properties in functions.items():
        assert properties.get("Architectures", default) == ["arm64"], name
    # The build host is x86_64: the Makefile must ask pip for the runtime's wheels.
    makefile = (ROOT / "functions" / "Makefile").read_text(encoding="utf-8")
    version = re.escape(TEMPLATE["Globals"]["Function"]["Runtime"].removeprefix("python"))
    assert re.search(r"^RUNTIME_ARCH\s*:?=\s*aarch64$", makefile, re.MULTILINE)
    assert re.search(rf"^RUNTIME_PYTHON\s*:?=\s*{version}$", makefile, re.MULTILINE)


def test_the_scheduled_sample_is_the_schedules_payload() -> None:
    function = resources_of_type(TEMPLATE, "AWS::Serverless::Function")["ScheduleFunction"]
    schedule = function["Events"]["Schedule"]["Properties"]
    payload = json.loads(schedule["Input"])
    sample = _event("scheduled.json")
    assert sample.keys() == payload.keys()
    assert sample["source"] == payload["source"]
    assert scheduled_time(sample).isoformat() == "2024-06-26T06:00:00+00:00"
    assert "events/scheduled.json" in TEMPLATE["Metadata"]["wirewatch"]["Schedule"]


def test_the_poll_sample_is_an_sqs_batch_of_jobs_for_bundled_feeds() -> None:
    watch = ROOT / "functions" / "watch.yaml"
    feeds = {feed.id for feed in load_watch(watch.read_text(encoding="utf-8"), str(watch)).feeds}
    records = _event("poll.json")["Records"]
    assert records
    for record in records:
        assert record["eventSource"] == "aws:sqs"
        job = decode_job(record["body"])
        assert job.feed_id in feeds
        assert job.scheduled.tzinfo is not None


def _requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            names.add(re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_the_functions_are_built_with_the_packages_the_project_depends_on() -> None:
    # SAM builds from functions/requirements.txt; a package only pyproject.toml names (tzdata,
    # for subscribers' time zones on runtimes with no tz database) would be missing in AWS.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    built = (ROOT / "functions" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert _requirement_names(built) == _requirement_names(project)
