"""template.yaml tested like code: deployed into moto's CloudFormation, the pipeline run on
what the stack created, and each function's AWS calls checked against its role.

The SAM translator turns the template into CloudFormation, moto creates the stack
(``stack.py``: which types moto cannot create, and how those are made instead), and
the real handlers run in-process, configured only from the functions' environment
variables as Lambda reads them back (``get_function_configuration``), with the
sample events of ``events/`` (the ones ``sam local invoke -e`` takes). Only what
Lambda's runtime adds is added: the code directory (LAMBDA_TASK_ROOT, holding the
bundled watch.yaml) and, because the test's feeds are served on 127.0.0.1, the
loopback network the address guard refuses in production.

While each handler runs, botocore's hooks record every API call it makes as IAM
action and resource (``iam.py``); the function's inline policies, read back from
IAM, must allow each, and grant nothing the run did not use unless it is listed
below with the path that needs it. The roles are the template's own (no managed
policy attached): no ``*`` action, and no ``*`` resource but X-Ray's, whose Put
APIs take none.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from wirewatch.adapters.sns import SNSSubscriptionManager
from wirewatch.core.subscriptions import Desired, filter_policy
from wirewatch.core.watchfile import load_watch
from wirewatch.local.samples import SampleFeedServer
from wirewatch.local.stack import EMULATOR_ENV, localised_config
from wirewatch.runner import LocalContext, reset_handlers
from wirewatch.settings import Settings, environment

from .iam import CallRecorder, allows, grants, listed, used
from .stack import ROOT, UNSUPPORTED_BY_MOTO, Deployed, deploy, load_event, role_statements

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

STACK = "wirewatch"
# Not the defaults, so the test sees each parameter reach what it configures.
PARAMETERS = {
    "ScheduleRateMinutes": "5",
    "RetentionDays": "7",
    "LogRetentionDays": "14",
    "AlarmEmail": "ops@example.org",
}
WATCH = ROOT / "functions" / "watch.yaml"
FEEDS = ROOT / "examples" / "feeds"
# The morning the bundled Reuters wire was news (the demo's replay).
MORNING = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)


FUNCTIONS = ("ScheduleFunction", "PollFunction")
# Named after the stack (FunctionName), and so are their log groups: /aws/lambda/<name>.
FUNCTION_NAMES = {"ScheduleFunction": f"{STACK}-schedule", "PollFunction": f"{STACK}-poll"}
# What the Lambda SQS trigger (the event source mapping) does with the function's role.
EVENT_SOURCE = "PollFunction (its SQS event source mapping)"
BATCH_SIZE = 50  # template.yaml: PollFunction's SQS trigger
# Whose calls each function's role must allow: the function's, and Lambda's on its behalf.
ACTING_WITH_ROLE = {"ScheduleFunction": ("ScheduleFunction",), "PollFunction": ("PollFunction", EVENT_SOURCE)}


def _lambda_itself(log_group: str) -> dict[tuple[str, str], str]:
    """What Lambda's runtime does with every function's role, out of the code's sight."""
    return {
        ("logs:CreateLogStream", f"{log_group}:*"): "Lambda itself: a log stream per execution environment",
        ("logs:PutLogEvents", f"{log_group}:*"): "Lambda itself: the function's log lines (EMF metrics among them)",
        ("xray:PutTraceSegments", "*"): "Lambda's X-Ray daemon (Tracing: Active): the invocation's segments",
        ("xray:PutTelemetryRecords", "*"): "Lambda's X-Ray daemon (Tracing: Active): its telemetry",
    }


# Granted, but not exercised by the run: each with the path that needs it.
NOT_EXERCISED = {
    "ScheduleFunction": {
        **_lambda_itself("ScheduleFunctionLogGroup"),
        ("s3:ListBucket", "ConfigBucket"): "lets S3 answer NoSuchKey (not AccessDenied) before the first push",
        ("sqs:SendMessage", "PollDeadLetterQueue"): "Lambda itself: OnFailure destination of a failed tick",
    },
    "PollFunction": {
        **_lambda_itself("PollFunctionLogGroup"),
        ("s3:ListBucket", "ConfigBucket"): "lets S3 answer NoSuchKey (not AccessDenied) before the first push",
        ("sqs:GetQueueAttributes", "PollQueue"): "the SQS trigger reads the queue's settings; the test plays its "
        "receives and deletes only",
        ("sqs:SendMessage", "PollQueue"): "a deferred job queued again (no time left in the batch): "
        "tests/integration/test_pipeline_edges.py",
    },
}
# The one "*" resource allowed: X-Ray's Put APIs support no resource-level permissions.
RESOURCELESS_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# The SQS actions of AWSLambdaSQSQueueExecutionRole (which grants them on every queue):
# PollFunction's role grants them on PollQueue alone, for its trigger.
SQS_TRIGGER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


@dataclass
class Run:
    deployed: Deployed
    recorder: CallRecorder
    ticks: list[dict[str, Any]]
    received: list[Counter[str]]  # per tick: subscriber -> messages
    subjects: list[str]  # of the first tick's emails to security-desk


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    scratch = tmp_path_factory.mktemp("stack")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in EMULATOR_ENV.items():
            mp.setenv(name, value)
        # Lambda sets no such switch: metrics go out as EMF log lines (no API call to record).
        mp.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws(), SampleFeedServer(FEEDS) as feeds:
            boto3.setup_default_session()
            deployed = deploy(STACK, PARAMETERS)
            # moto's own SQS trigger would run the function in Docker on every send: off.
            # The test plays the trigger (receive a batch, invoke in-process, delete).
            for mapping in boto3.client("lambda").list_event_source_mappings()["EventSourceMappings"]:
                boto3.client("lambda").update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
            account = boto3.client("sts").get_caller_identity()["Account"]
            recorder = CallRecorder(account=account, region=boto3.DEFAULT_SESSION.region_name)  # type: ignore[union-attr]
            boto3.DEFAULT_SESSION.events.register("before-parameter-build.*.*", recorder.hook)  # type: ignore[union-attr]
            reset_handlers()
            try:
                yield _run_pipeline(deployed, recorder, feeds, scratch)
            finally:
                reset_handlers()


def _run_pipeline(deployed: Deployed, recorder: CallRecorder, feeds: SampleFeedServer, scratch: Path) -> Run:
    # The watch file, pushed to the stack's bucket as `wirewatch push` does, and bundled
    # in the code directory as the fallback; its feeds point at the local server.
    watch, _ = localised_config(WATCH, feeds, scratch)
    task_root = scratch / "task"
    task_root.mkdir()
    (task_root / "watch.yaml").write_text(watch.read_text(encoding="utf-8"), encoding="utf-8")
    env = {f: deployed.environment(f) for f in FUNCTIONS}
    bucket, key = deployed.resources["ConfigBucket"], "watch.yaml"  # as `wirewatch push` uploads it
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=watch.read_bytes())
    runtime = {"LAMBDA_TASK_ROOT": str(task_root), "WIREWATCH_ALLOWED_NETWORKS": "127.0.0.0/8"}
    inboxes = _subscribe_inboxes(watch, deployed.resources["AlertsTopic"])

    from wirewatch.handlers import poll_feeds, schedule_feeds

    ticks, received, subjects = [], [], []
    cycle = timedelta(minutes=int(PARAMETERS["ScheduleRateMinutes"]))
    contexts = {f: _context(deployed, f) for f in FUNCTIONS}
    for n in range(3):
        if n == 1:
            # A refused upload (`wirewatch push` validates, a hand upload may not) met by
            # new containers: both functions fall back to the last good version in S3.
            boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"version: 1\nfeeds: [unclosed\n")
            reset_handlers()
        if n == 2:
            # Digests are due at a subscriber's local time by the wall clock: the
            # analyst's daily digest, as if 08:00 in Paris had come. The third tick's
            # scheduler sends it (the scheduler's side of delivery).
            _make_pending_deliveries_due(deployed)
        moment = MORNING + n * cycle
        event = {**load_event("scheduled.json"), "scheduled_time": moment.isoformat().replace("+00:00", "Z")}
        with recorder.acting_as("ScheduleFunction"), environment({**env["ScheduleFunction"], **runtime}):
            tick = dict(schedule_feeds.lambda_handler(event, contexts["ScheduleFunction"]))
        tick["batches"] = tick["failed_jobs"] = 0
        queue_url = deployed.resources["PollQueue"]
        if n == 1:
            # A worker that died: its batch comes back, and the jobs are read as retried
            # (their feed state is read from the table, not trusted from the message).
            _abandon(_receive(recorder, queue_url), queue_url)
        while batch := _receive(recorder, queue_url):
            event = {"Records": [_record(message, deployed) for message in batch]}
            with recorder.acting_as("PollFunction"), environment({**env["PollFunction"], **runtime}):
                response = poll_feeds.lambda_handler(event, contexts["PollFunction"])
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            _delete(recorder, queue_url, [m for m in batch if m["MessageId"] not in failed])
            tick["batches"] += 1
            tick["failed_jobs"] += len(failed)
        ticks.append(tick)
        counts: Counter[str] = Counter()
        for subscriber, url in inboxes.items():
            for message in _drain(url):
                counts[subscriber] += 1
                if n == 0 and subscriber == "security-desk/email":
                    subjects.append(message["subject"])
        received.append(counts)
    return Run(deployed, recorder, ticks, received, subjects)


def _make_pending_deliveries_due(deployed: Deployed) -> None:
    dynamodb = boto3.client("dynamodb")
    table = deployed.resources["AlertsTable"]
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    for item in dynamodb.scan(TableName=table)["Items"]:
        if "pending" in item:
            dynamodb.update_item(
                TableName=table,
                Key={"pk": item["pk"]},
                UpdateExpression="SET due_at = :past",
                ExpressionAttributeValues={":past": {"S": past}},
            )


def _context(deployed: Deployed, function: str) -> LocalContext:
    config = deployed.function_configuration(function)
    return LocalContext(
        function_name=config["FunctionName"],
        memory_limit_in_mb=config["MemorySize"],
        invoked_function_arn=config["FunctionArn"],
        log_group_name=f"/aws/lambda/{config['FunctionName']}",
    )


def _receive(recorder: CallRecorder, queue_url: str) -> list[dict[str, Any]]:
    """Up to a batch (the template's BatchSize) of jobs, as the SQS trigger gathers them."""
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    with recorder.acting_as(EVENT_SOURCE):
        while len(messages) < BATCH_SIZE:
            got = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(10, BATCH_SIZE - len(messages)),
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            messages += got
    return messages


def _abandon(messages: list[dict[str, Any]], queue_url: str) -> None:
    """As if the visibility timeout of a batch had run out."""
    sqs = boto3.client("sqs")
    for start in range(0, len(messages), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ],
        )


def _delete(recorder: CallRecorder, queue_url: str, messages: list[dict[str, Any]]) -> None:
    sqs = boto3.client("sqs")
    with recorder.acting_as(EVENT_SOURCE):
        for start in range(0, len(messages), 10):
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages[start : start + 10])
                ],
            )


def _record(message: dict[str, Any], deployed: Deployed) -> dict[str, Any]:
    """A record of Lambda's SQS event for ``message``, shaped as the sample events/poll.json."""
    (sample,) = load_event("poll.json")["Records"]
    queue_arn = deployed.arn("PollQueue")
    return {
        **sample,
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def _subscribe_inboxes(watch: Path, topic_arn: str) -> dict[str, str]:
    """An SQS inbox per recipient, subscribed with that recipient's filter policy."""
    config = load_watch(watch.read_text(encoding="utf-8"), str(watch))
    sqs = boto3.client("sqs")
    inboxes, extra = {}, []
    for subscriber in config.subscribers:
        url = sqs.create_queue(QueueName=f"inbox-{subscriber.id}-{subscriber.protocol}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        extra.append(Desired(subscriber.id, "sqs", arn, filter_policy(subscriber)))
        inboxes[subscriber.recipient] = url
    SNSSubscriptionManager(boto3.client("sns"), topic_arn).sync(config, extra=extra)
    return inboxes


def _drain(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(json.loads(json.loads(message["Body"])["Message"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


# ─── The stack ──────────────────────────────────────────────────────────────────────────


def test_the_stack_holds_every_resource_of_the_template(run: Run) -> None:
    deployed = run.deployed
    assert set(deployed.template["Resources"]) == set(deployed.resources)
    # By hand: the types moto cannot create, and the dashboard, which names the alarms.
    assert set(deployed.hand_made.values()) <= UNSUPPORTED_BY_MOTO | {"AWS::CloudWatch::Dashboard"}
    assert {"AWS::DynamoDB::Table", "AWS::Lambda::Function", "AWS::IAM::Role", "AWS::SQS::Queue"}.isdisjoint(
        deployed.hand_made.values()
    )


def test_tables_are_created_with_the_templates_keys_indexes_and_ttl(run: Run) -> None:
    dynamodb = boto3.client("dynamodb")
    for logical_id in run.deployed.logical_ids("AWS::DynamoDB::Table"):
        properties = run.deployed.template["Resources"][logical_id]["Properties"]
        table = dynamodb.describe_table(TableName=run.deployed.resources[logical_id])["Table"]
        assert table["KeySchema"] == properties["KeySchema"]
        indexes = {i["IndexName"]: i["KeySchema"] for i in table.get("GlobalSecondaryIndexes", [])}
        assert indexes == {i["IndexName"]: i["KeySchema"] for i in properties.get("GlobalSecondaryIndexes", [])}
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        ttl = dynamodb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in properties:
            assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_functions_read_the_stacks_resources_and_parameters_from_their_environment(run: Run) -> None:
    deployed = run.deployed
    for function in FUNCTIONS:
        env = deployed.environment(function)
        settings = Settings.from_env(env)  # every variable the code needs is set, and valid
        assert settings.state_table == deployed.resources["StateTable"]
        assert settings.seen_table == deployed.resources["SeenTable"]
        assert settings.alerts_table == deployed.resources["AlertsTable"]
        assert settings.items_table == deployed.resources["ItemsTable"]
        assert settings.topic_arn == deployed.resources["AlertsTopic"]
        assert settings.poll_queue_url == deployed.resources["PollQueue"]
        assert settings.config_s3_uri == f"s3://{deployed.resources['ConfigBucket']}/watch.yaml"
        assert settings.retention == timedelta(days=int(PARAMETERS["RetentionDays"]))
        assert settings.cycle_period == timedelta(minutes=int(PARAMETERS["ScheduleRateMinutes"]))


def test_the_schedule_the_trigger_and_the_log_groups_follow_the_parameters(run: Run) -> None:
    deployed = run.deployed
    (schedule_id,) = deployed.logical_ids("AWS::Scheduler::Schedule")
    schedule = boto3.client("scheduler").get_schedule(Name=deployed.resources[schedule_id])
    assert schedule["ScheduleExpression"] == f"rate({PARAMETERS['ScheduleRateMinutes']} minutes)"
    assert schedule["Target"]["Arn"] == deployed.function_configuration("ScheduleFunction")["FunctionArn"]
    payload = json.loads(schedule["Target"]["Input"])
    assert payload.keys() == load_event("scheduled.json").keys()
    assert schedule["Target"]["DeadLetterConfig"]["Arn"] == deployed.arn("PollDeadLetterQueue")

    (mapping,) = boto3.client("lambda").list_event_source_mappings(FunctionName=deployed.resources["PollFunction"])[
        "EventSourceMappings"
    ]
    assert mapping["EventSourceArn"] == deployed.arn("PollQueue")
    assert mapping["BatchSize"] == BATCH_SIZE

    groups = boto3.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
    retention = {g["logGroupName"]: g.get("retentionInDays") for g in groups}
    for function in FUNCTIONS:
        # The group Lambda writes to (/aws/lambda/<function name>) is the template's.
        assert deployed.resources[function] == FUNCTION_NAMES[function]
        assert deployed.resources[f"{function}LogGroup"] == f"/aws/lambda/{FUNCTION_NAMES[function]}"
        assert retention[f"/aws/lambda/{deployed.resources[function]}"] == int(PARAMETERS["LogRetentionDays"])

    subscriptions = boto3.client("sns").list_subscriptions_by_topic(TopicArn=deployed.resources["OperatorAlarmsTopic"])
    assert [s["Endpoint"] for s in subscriptions["Subscriptions"]] == [PARAMETERS["AlarmEmail"]]


# ─── The pipeline, on what the stack created ────────────────────────────────────────────


def test_the_pipeline_alerts_once_through_the_stacks_functions(run: Run) -> None:
    first, second, _ = run.ticks
    assert first["feeds_queued"] > 0
    assert first["config_rejected"] == 0
    # The refused upload: reported, and the last good version in force.
    assert second["config_rejected"] == 1
    assert second["feeds_queued"] > 0
    assert first["batches"] >= 1
    assert all(tick["failed_jobs"] == 0 for tick in run.ticks)
    assert len(run.subjects) == 2
    assert any(s.startswith("[CRITICAL] Strike or attack on Crimea") for s in run.subjects)
    assert any(s.startswith("[HIGH] US and Russian defence ministers in contact") for s in run.subjects)
    assert run.received[0]["duty-phone/sms"] == 1
    assert sum(run.received[1].values()) == 0  # dedupe through the stack's tables
    # The scheduler's side: the analyst's daily digest, sent by the tick at its time. Quiet
    # hours go by the wall clock: run by day, the duty officer's alert went out in the first
    # tick; run between 22:00 and 07:00 in Paris, it was held and goes out with the digest.
    assert run.received[2]["analyst/email"] == 1, run.received
    assert run.received[0]["duty-officer/email"] + run.received[2]["duty-officer/email"] == 1, run.received
    assert set(run.received[2]) <= {"analyst/email", "duty-officer/email"}, run.received


# ─── IAM: each function's calls against its role ────────────────────────────────────────


def test_every_call_of_each_function_is_allowed_by_its_role(run: Run) -> None:
    assert set(run.recorder.needs) == {*FUNCTIONS, EVENT_SOURCE}
    for function in FUNCTIONS:
        statements = run.deployed.role_statements(function)
        for actor in ACTING_WITH_ROLE[function]:
            denied = sorted(n for n in run.recorder.needs[actor] if not allows(statements, n))
            assert not denied, f"{function}'s role lacks, for {actor}: " + "; ".join(
                f"{n.action} on {run.deployed.named(n.resource)} ({n.call})" for n in denied
            )


def test_the_sqs_trigger_only_reads_and_deletes_poll_jobs(run: Run) -> None:
    queue = run.deployed.arn("PollQueue")
    needs = run.recorder.needs[EVENT_SOURCE]
    assert {n.action for n in needs} <= SQS_TRIGGER_ACTIONS
    assert {n.resource for n in needs} == {queue}
    # And the role grants the trigger's actions on PollQueue alone.
    granted = {(a, r) for a, r in grants(run.deployed.role_statements("PollFunction")) if a in SQS_TRIGGER_ACTIONS}
    assert granted == {(action, queue) for action in SQS_TRIGGER_ACTIONS}


def test_no_wildcard_action_and_no_wildcard_resource_but_x_rays(run: Run) -> None:
    for function in FUNCTIONS:
        statements = run.deployed.role_statements(function)
        log_streams = f"{run.deployed.arn(f'{function}LogGroup')}:*"
        for action, resource in grants(statements):
            assert "*" not in action, f"{function}: {action}"
            if resource == "*":
                assert action in RESOURCELESS_ACTIONS, f"{function}: {action} on every resource"
            elif "*" in resource:
                # The streams of the function's own log group (IAM authorises PutLogEvents
                # on the stream); object ARNs name the one key, the rest are named whole.
                assert action.startswith("logs:"), f"{function}: {action} on {resource}"
                assert resource == log_streams, f"{function}: {action} on {resource}, not its own log group"
        # Exactly one statement names "*": X-Ray's, and nothing else is in it.
        everywhere = [s for s in statements if "*" in listed(s["Resource"])]
        assert [set(listed(s["Action"])) for s in everywhere] == [RESOURCELESS_ACTIONS], everywhere
        for statement in statements:
            assert not {"NotAction", "NotResource", "Condition"} & statement.keys(), statement


def test_no_function_is_granted_what_it_does_not_use(run: Run) -> None:
    for function in FUNCTIONS:
        statements = run.deployed.role_statements(function)
        needs = {n for actor in ACTING_WITH_ROLE[function] for n in run.recorder.needs[actor]}
        unused = {
            (action, run.deployed.named(resource))
            for action, resource in grants(statements)
            if not used((action, resource), needs)
        }
        assert unused == set(NOT_EXERCISED[function]), (
            f"{function}: granted but unused, and not listed in NOT_EXERCISED: "
            f"{sorted(unused - set(NOT_EXERCISED[function]))}; listed but now used or gone: "
            f"{sorted(set(NOT_EXERCISED[function]) - unused)}"
        )


def test_the_functions_roles_are_the_templates_with_no_managed_policy(run: Run) -> None:
    # SAM generates a role (with AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess and, for
    # an SQS event, AWSLambdaSQSQueueExecutionRole: every log group, every queue) only for a
    # function without Role; each function names its own.
    for function in FUNCTIONS:
        role = run.deployed.template["Resources"][function]["Properties"]["Role"]
        assert role == {"Fn::GetAtt": [f"{function}Role", "Arn"]}
        assert run.deployed.managed_policies(function) == []
    roles = run.deployed.logical_ids("AWS::IAM::Role")
    assert {f"{function}Role" for function in FUNCTIONS} <= set(roles)
    for name in roles:
        assert "ManagedPolicyArns" not in run.deployed.template["Resources"][name]["Properties"], name


def test_the_scheduler_role_only_invokes_the_tick_and_records_undelivered_ones(run: Run) -> None:
    # The role SAM generates for the ScheduleV2 event: Scheduler assumes it to invoke
    # ScheduleFunction and to send what it could not deliver to the dead-letter queue.
    deployed = run.deployed
    (schedule_id,) = deployed.logical_ids("AWS::Scheduler::Schedule")
    schedule = boto3.client("scheduler").get_schedule(Name=deployed.resources[schedule_id])
    role = schedule["Target"]["RoleArn"].rsplit("/", 1)[1]
    statements = role_statements(role)
    assert {(action, deployed.named(resource)) for action, resource in grants(statements)} == {
        ("lambda:InvokeFunction", "ScheduleFunction"),
        ("sqs:SendMessage", "PollDeadLetterQueue"),
    }
    assert not boto3.client("iam").list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    trust = boto3.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": ["scheduler.amazonaws.com"]}]


def test_the_code_calls_no_metrics_or_tracing_api(run: Run) -> None:
    # Powertools writes metrics as EMF log lines and X-Ray segments go to the daemon:
    # no cloudwatch:PutMetricData or xray:Put* that would need a "*" resource.
    calls = {c for function in FUNCTIONS for c in run.recorder.calls[function]}
    assert not {c for c in calls if c.split(".")[0] in {"cloudwatch", "xray", "logs"}}


# ─── Last: it adds a second stack to the moto the tests above read ──────────────────────


def test_stacks_side_by_side_each_have_functions_log_groups_and_roles_of_their_own(run: Run) -> None:
    other = deploy(f"{STACK}-staging", PARAMETERS)
    for function in FUNCTIONS:
        assert other.resources[function] not in {run.deployed.resources[f] for f in FUNCTIONS}
        assert other.resources[f"{function}LogGroup"] == f"/aws/lambda/{other.resources[function]}"
        assert other.role_name(function) != run.deployed.role_name(function)
        # Each role writes to its own stack's log group only.
        (log_streams,) = {r for a, r in grants(other.role_statements(function)) if a.startswith("logs:")}
        assert log_streams == f"{other.arn(f'{function}LogGroup')}:*"
