"""Proof under faults: generated schedules run through the real handlers on moto, and the oracle.

A *schedule* is a start time, a few stories (each published by one feed, or by two: the
same headline, one story; some retold by another outlet in the same tick or the next,
under another headline: the same event, for near-duplicate folding) and a few steps.
Each step moves the clock (minutes to a day, across quiet hours, digest times and SMS
budget windows; time-machine moves the wall clock and the tick time together),
publishes the stories due then, and runs one tick
(``wirewatch.runner.invoke_poll``: the scheduler's handler, then the poll handler on
SQS batches) with faults armed on botocore's event hooks:

- ``error``: a call fails ``times`` times in a row, as after botocore's own retries:
  DynamoDB throttling (``ProvisionedThroughputExceededException``), SNS and SQS errors.
  At ``after`` the call *did* happen and its answer was lost (a timeout after a write).
- ``crash``: the runtime dies (``Crash``, a BaseException nothing in the code catches) at
  the n-th call of an operation, ``before`` it was made or ``after`` it was. A crashed
  invocation leaves its SQS messages in flight and its container is gone.
- ``race``: at that point a second worker (another container) runs the same invocation
  (the same poll batch, or the same scheduler event) to the end, then the first goes on:
  conditional-check races between two workers at every step of a cycle.
- ``tick``: at that point the scheduler's tick runs in another container and delivers
  what is due while the batch is delivering.
- ``rival``: at that point another container takes the next poll batch of the tick from
  the queue and runs it to the end (a step may cut the tick's jobs into batches of one):
  two workers on two feeds at once, as when both carry one event reworded.
- a step may have SQS deliver every job twice, or a second worker re-run a poll batch
  right after the first, before either deletes its messages.

After the steps, clean ticks run (the first with ``poll_all``), each moving the clock to
the next due time or lease expiry, until no delivery is pending or publishing.

The oracle: every (rule, event, recipient) that should be delivered was delivered (by
itself or inside a digest; a retelling folded into its story's alert is the event
delivered), nothing unexpected was, and a unit delivered more than once
was inside a message that SNS accepted and that was never marked sent because of a
fault in that window (a crash after Publish or before the SENT write, a lost Publish
answer, the SENT write failing twice); a window left open without a fault is reported.
Retellings alerted beside their story within the fold window are counted (a missed fold
costs a second alert, which the design accepts; it is never a loss).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import time_machine
from botocore.exceptions import ClientError
from hypothesis import strategies as st
from moto import mock_aws

from wirewatch.core.errors import WirewatchError
from wirewatch.local.stack import EMULATOR_ENV
from wirewatch.local.template import create_stack_resources, read_template
from wirewatch.runner import invoke_poll, reset_handlers

from .conftest import AwsCalls, Pipeline
from .feed_server import FeedServer

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------- the watch

FEEDS = ("wire-a", "wire-b", "wire-c")
FOLD_WINDOW = timedelta(hours=24)  # the watch file's settings.fold_window (the default)
STRIKE, HARBOUR, FERRY = "port-strike", "harbour-closed", "ferry-news"
RULES: list[dict[str, Any]] = [
    {"id": STRIKE, "title": "Strike on Sevastopol", "severity": "critical", "query": "Sevastopol AND strike*"},
    {"id": HARBOUR, "title": "Harbour closed", "severity": "high", "query": "harbour AND closed"},
    {"id": FERRY, "title": "Ferry news", "severity": "low", "query": "ferry"},
]
SUBSCRIBERS: list[dict[str, Any]] = [
    # Every alert at once, by email.
    {"id": "desk", "email": "desk@example.org", "rules": ["*"]},
    # High and critical by SMS, at most two an hour; the rest go to its hourly digest.
    {
        "id": "phone",
        "sms": "+33612345678",
        "rules": ["*"],
        "min_severity": "high",
        "sms_budget": {"per_hour": 2},
    },
    # One email a day at 08:00 Paris time.
    {
        "id": "digest",
        "email": "digest@example.org",
        "rules": ["*"],
        "delivery": "digest",
        "digest": {"every": "daily", "at": "08:00"},
        "timezone": "Europe/Paris",
    },
    # Nights in Paris are quiet, but for critical alerts.
    {
        "id": "night",
        "email": "night@example.org",
        "rules": ["*"],
        "timezone": "Europe/Paris",
        "quiet_hours": {"from": "22:00", "to": "07:00"},
    },
]
SEVERITY = {STRIKE: 4, HARBOUR: 3, FERRY: 1}
MIN_SEVERITY = {"desk/email": 1, "phone/sms": 3, "digest/email": 1, "night/email": 1}


def recipients(rule: str) -> list[str]:
    return sorted(r for r, least in MIN_SEVERITY.items() if SEVERITY[rule] >= least)


# ----------------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class Story:
    number: int
    rules: tuple[str, ...]  # what its headline says, so which rules it fires
    feeds: tuple[str, ...]  # two: the same story carried by two sites
    step: int  # published just before this step's tick
    # Another outlet's retelling of story ``retells``: the same event under another headline,
    # which near-duplicate folding should fold into that story's alert.
    retells: int | None = None

    @property
    def event(self) -> int:
        return self.number if self.retells is None else self.retells

    @property
    def headline(self) -> str:
        parts = {
            STRIKE: "Sevastopol strike" if self.retells is None else "strike hits Sevastopol",
            HARBOUR: "harbour closed" if self.retells is None else "harbour is closed",
            FERRY: "ferry halted" if self.retells is None else "ferry stopped",
        }
        return f"{' and '.join(parts[rule] for rule in self.rules)} as {' '.join(_words(self.number, 0, 5))}"

    @property
    def summary(self) -> str:
        # Words of its own, so that near-duplicate folding never takes one event for another;
        # a retelling shares most of them with the story it retells.
        if self.retells is None:
            return " ".join(_words(self.number, 5, 30)) + "."
        return " ".join(_words(self.retells, 5, 25) + _words(self.number, 25, 30)) + "."


def _words(number: int, start: int, end: int) -> list[str]:
    letters = "bcdfghjklmnpqrstvwxz"
    return [
        f"{letters[number % 20]}{letters[j % 20]}{letters[j // 20]}o{letters[(number // 20) % 20]}an"
        for j in range(start, end)
    ]


@dataclass(frozen=True)
class Fault:
    operation: str  # "sns.Publish", "dynamodb.PutItem", ...
    stage: str  # "before" the call is made, or "after" it was
    nth: int  # at the n-th call of the operation in the step
    kind: str  # "error", "crash", "race" or "tick"
    times: int = 1  # calls that fail in a row ("error")

    def __str__(self) -> str:
        times = f" x{self.times}" if self.kind == "error" and self.times > 1 else ""
        return f"{self.kind}{times} {self.stage} {self.operation}#{self.nth}"


@dataclass(frozen=True)
class Step:
    advance: timedelta  # the clock jump before the tick
    faults: tuple[Fault, ...] = ()
    duplicate_jobs: bool = False  # SQS hands every job out twice
    batch_size: int = 50  # the SQS trigger's batches (1: every feed's job in a batch of its own)
    rerun_batch: bool = False  # a second worker takes each batch before the first deletes it


@dataclass(frozen=True)
class Schedule:
    start: datetime
    stories: tuple[Story, ...]
    steps: tuple[Step, ...]

    def __str__(self) -> str:
        lines = [f"start {self.start.isoformat()}"]
        for story in self.stories:
            retells = f", retelling story {story.retells}" if story.retells is not None else ""
            lines.append(
                f"  story {story.number}: {'+'.join(story.rules)} in {','.join(story.feeds)} at step {story.step}"
                + retells
            )
        for n, step in enumerate(self.steps):
            extra = [str(f) for f in step.faults]
            extra += ["duplicate jobs"] * step.duplicate_jobs + ["batch re-run"] * step.rerun_batch
            extra += [f"batches of {step.batch_size}"] * (step.batch_size != 50)
            lines.append(f"  step {n}: +{step.advance} {'; '.join(extra)}")
        return "\n".join(lines)


OPERATIONS = {
    "dynamodb.PutItem": 4,
    "dynamodb.UpdateItem": 5,
    "dynamodb.BatchGetItem": 2,
    "dynamodb.BatchWriteItem": 2,
    "dynamodb.Query": 1,
    "dynamodb.TransactWriteItems": 2,
    "sqs.SendMessageBatch": 1,
    "sns.Publish": 5,
}
ADVANCES = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=5),
    timedelta(minutes=5),
    timedelta(minutes=11),  # past a lease
    timedelta(minutes=40),
    timedelta(hours=2),
    timedelta(hours=7),  # into or out of quiet hours
    timedelta(hours=20),
    timedelta(days=1),  # past a daily digest
)
STARTS = (
    datetime(2024, 6, 26, tzinfo=UTC),
    datetime(2024, 3, 30, 12, tzinfo=UTC),  # Paris springs forward during the night after
    datetime(2024, 10, 26, 12, tzinfo=UTC),  # and falls back
)
STORY_RULES = [
    (STRIKE,),
    (HARBOUR,),
    (FERRY,),
    (STRIKE, HARBOUR),
    (STRIKE, FERRY),
    (HARBOUR, FERRY),
    (STRIKE, HARBOUR, FERRY),
]


def _weighted(options: dict[str, int]) -> st.SearchStrategy[str]:
    return st.sampled_from([name for name, weight in options.items() for _ in range(weight)])


faults = st.builds(
    Fault,
    operation=_weighted(OPERATIONS),
    stage=st.sampled_from(["before", "after"]),
    nth=st.sampled_from([1, 1, 1, 2, 2, 3, 4, 6]),  # early calls: a later one may never come
    kind=_weighted({"error": 4, "crash": 4, "race": 2, "tick": 1, "rival": 2}),
    times=st.integers(1, 3),
)


@st.composite
def schedules(draw: st.DrawFn, max_steps: int = 5, max_stories: int = 3) -> Schedule:
    start = draw(st.sampled_from(STARTS)) + draw(st.integers(0, 24 * 12 - 1)) * timedelta(minutes=5)
    steps = tuple(
        draw(
            st.lists(
                st.builds(
                    Step,
                    advance=st.sampled_from(ADVANCES),
                    faults=st.one_of(st.just(()), st.lists(faults, min_size=1, max_size=3).map(tuple)),
                    duplicate_jobs=st.booleans(),
                    rerun_batch=st.booleans(),
                    batch_size=st.sampled_from([50, 50, 1]),
                ),
                min_size=1,
                max_size=max_steps,
            )
        )
    )
    count = draw(st.integers(1, max_stories))
    stories = [
        Story(
            number=n,
            rules=draw(st.sampled_from(STORY_RULES)),
            feeds=tuple(sorted(draw(st.sets(st.sampled_from(FEEDS), min_size=1, max_size=2)))),
            step=draw(st.integers(0, len(steps) - 1)),
        )
        for n in range(count)
    ]
    # Some stories are retold by another outlet, in the same tick or the next.
    for original in list(stories):
        if draw(st.integers(0, 2)) == 0:
            stories.append(
                Story(
                    number=len(stories),
                    rules=original.rules,
                    feeds=(draw(st.sampled_from([f for f in FEEDS if f not in original.feeds])),),
                    step=min(original.step + draw(st.integers(0, 1)), len(steps) - 1),
                    retells=original.number,
                )
            )
    return Schedule(start, tuple(stories), steps)


# ----------------------------------------------------------------------------- faults


def _is_mark_sent(name: str, params: dict[str, Any]) -> bool:
    return name == "dynamodb.UpdateItem" and ":sent" in params.get("ExpressionAttributeValues", {})


def _is_claim(name: str, params: dict[str, Any]) -> bool:
    return name == "dynamodb.UpdateItem" and ":publishing" in params.get("ExpressionAttributeValues", {})


class Crash(BaseException):
    """The Lambda runtime dying: nothing in the code may catch it (it is no Exception)."""


_ERROR_CODES = {
    "dynamodb": "ProvisionedThroughputExceededException",
    "sns": "Throttling",
    "sqs": "ServiceUnavailable",
}


@dataclass
class Window:
    """A message SNS accepted: open until its delivery is marked SENT."""

    units: list[dict[str, Any]]  # the machine-readable message
    depth: int
    key: str | None  # the delivery or digest, claimed just before the publish
    closed: bool = False
    faults: list[str] = field(default_factory=list)  # faults that fired between the publish and its SENT write
    attachable: bool = True  # until the worker makes a call other than the SENT write


@dataclass
class Injector:
    """Botocore hooks on the default session: counts calls, fires the step's faults, and
    follows every published message until its SENT write."""

    stack: FaultStack
    armed: bool = False
    faults: tuple[Fault, ...] = ()
    duplicate_jobs: bool = False
    calls: Counter[str] = field(default_factory=Counter)
    fired: list[Fault] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    depth: int = 0  # > 0 while a racing worker runs (unfaulted, uncounted)
    claimed: dict[int, str] = field(default_factory=dict)  # depth → the delivery its worker claimed last

    def install(self) -> None:
        events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
        events.register("before-parameter-build", self._params, unique_id="faults-params")
        events.register("before-call", self._before, unique_id="faults-before")
        events.register("after-call", self._after, unique_id="faults-after")

    def arm(self, step: Step) -> None:
        self.faults, self.duplicate_jobs, self.armed = step.faults, step.duplicate_jobs, True
        self.calls.clear()

    def disarm(self) -> None:
        self.armed, self.faults, self.duplicate_jobs = False, (), False

    @staticmethod
    def _name(event_name: str) -> str:
        _, service, operation = event_name.split(".", 2)
        return f"{service}.{operation}"

    def _params(self, event_name: str, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["fault_params"] = dict(params)

    # The calls are sequential (POLL_CONCURRENCY=1; a racing worker runs to its end inside
    # the hook that starts it), so no lock: a lock held across a race would deadlock.

    def _before(self, event_name: str, context: dict[str, Any], **_: Any) -> None:
        name = self._name(event_name)
        top = self._top()
        if top is not None and not _is_mark_sent(name, context.get("fault_params", {})):
            top.attachable = False  # the worker moved on: later faults are not this window's
        if not self.armed or self.depth:
            return
        self.calls[name] += 1
        n = self.calls[name]
        for fault in self.faults:
            if fault.operation != name:
                continue
            last = fault.nth + (fault.times - 1 if fault.kind == "error" else 0)
            if not fault.nth <= n <= last:
                continue
            if fault.stage == "after":
                context.setdefault("fault_after", []).append(fault)
                continue
            self._fire(fault, name)

    def _after(self, event_name: str, context: dict[str, Any], parsed: dict[str, Any], **_: Any) -> None:
        name = self._name(event_name)
        params = context.get("fault_params", {})
        failed = "Error" in parsed
        if name == "sns.Publish" and not failed:
            self._opened(params)
        elif _is_mark_sent(name, params) and not failed:
            self._marked_sent(params["Key"]["pk"]["S"])
        elif _is_claim(name, params) and not failed:
            self.claimed[self.depth] = params["Key"]["pk"]["S"]
        elif name == "sqs.SendMessageBatch" and not failed and self.armed and not self.depth and self.duplicate_jobs:
            # At-least-once: SQS hands each of these jobs out twice.
            self.stack.raw_sqs.send_message_batch(QueueUrl=params["QueueUrl"], Entries=params["Entries"])
            self.stack.stats["jobs duplicated"] += len(params["Entries"])
        for fault in context.pop("fault_after", []):
            self._fire(fault, name)

    def _top(self) -> Window | None:
        """The window of the last message this worker published, while still open to blame."""
        for window in reversed(self.windows):
            if window.depth == self.depth:
                return window if not window.closed and window.attachable else None
        return None

    def _fire(self, fault: Fault, name: str) -> None:
        self.fired.append(fault)
        top = self._top()
        if top is not None:
            top.faults.append(str(fault))
        if fault.kind in ("race", "tick"):
            self._race(fault)
        if fault.kind == "rival":
            self._rival()
        if fault.kind == "crash":
            raise Crash(str(fault))
        if fault.kind == "error":
            service, operation = name.split(".")
            code = _ERROR_CODES[service]
            raise ClientError({"Error": {"Code": code, "Message": f"injected: {fault}"}}, operation)

    def _race(self, fault: Fault) -> None:
        """Another container runs, to the end, the invocation this call is part of (``race``)
        or the scheduler's tick (``tick``); then this one goes on."""
        self.depth += 1
        try:
            with self.stack.other_container():
                if fault.kind == "race" and self.stack.batches:
                    self.stack.poll_handler(self.stack.batches[-1])
                else:
                    payload = self.stack.tick_event or {"source": "wirewatch.schedule"}
                    self.stack.schedule_handler(payload)
        finally:
            self._left_open(self.depth)
            self.depth -= 1

    def _rival(self) -> None:
        """Another container takes the tick's next poll batch and runs it to the end."""
        self.depth += 1
        try:
            with self.stack.other_container():
                try:
                    if next(self.stack.drain(self.stack.batch_size), None) is not None:
                        self.stack.stats["rival batches"] += 1
                except WirewatchError as exc:
                    self.stack.stats[f"rival worker failed: {type(exc).__name__}"] += 1
        finally:
            self._left_open(self.depth)
            self.depth -= 1

    def _opened(self, params: dict[str, Any]) -> None:
        message = json.loads(json.loads(params["Message"])["sqs"])
        self.windows.append(Window([message], self.depth, self.claimed.get(self.depth)))

    def _marked_sent(self, key: str) -> None:
        # The worker that published marks it sent: the last window it opened for that delivery.
        for window in reversed(self.windows):
            if window.depth == self.depth and window.key == key and not window.closed:
                window.closed = True
                return

    def _left_open(self, depth: int) -> None:
        for window in self.windows:
            if window.depth == depth and not window.closed:
                window.depth = -1  # left open for good: that worker is done or dead


# ----------------------------------------------------------------------------- the stack


@dataclass
class Outcome:
    schedule: Schedule
    messages: dict[str, list[dict[str, Any]]]  # recipient → what its inbox received
    titles: dict[str, str]  # "alert#<rule>#<story>" → headline
    fired: list[Fault]
    windows: list[Window]
    errors: Counter[str]  # exceptions the ticks ended with, by type
    convergence_ticks: int
    stuck: list[str]  # deliveries still pending or publishing when the clean ticks gave up
    published: dict[int, datetime] = field(default_factory=dict)  # story number → its publication
    items: list[dict[str, str]] = field(default_factory=list)  # the alerts table at the end (string attributes)

    @property
    def withdrawn(self) -> int:
        """Alerts withdrawn into another on the same event (two workers at once), as counted."""
        return sum(1 for item in self.items if item["pk"].startswith("alert#") and "withdrawal_counted" in item)


class FaultStack:
    """moto (in-process) with the template's resources, a feed server and the inboxes, kept
    for many schedules: ``run`` empties the tables and queues before each one."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.stats: Counter[str] = Counter()
        self.batches: list[dict[str, Any]] = []
        self.tick_event: dict[str, Any] | None = None
        self._exit: list[Any] = []

    def __enter__(self) -> FaultStack:
        self._saved_env = {name: os.environ.get(name) for name in (*EMULATOR_ENV, "AWS_ENDPOINT_URL")}
        os.environ.update(EMULATOR_ENV)
        os.environ.pop("AWS_ENDPOINT_URL", None)
        self._mock = mock_aws()
        self._mock.start()
        self.server = FeedServer().__enter__()
        self.settings = create_stack_resources(read_template(ROOT / "template.yaml"), self.workdir / "watch.yaml", "f")
        env = {
            **self.settings.as_env(),
            "POLL_CONCURRENCY": "1",  # one order of calls: reproducible
            "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false",  # queues emptied between schedules
        }
        self._saved_env |= {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        boto3.setup_default_session()
        self.raw = boto3.session.Session()  # the harness's own calls: no hooks, no faults
        self.raw_sqs = self.raw.client("sqs")
        self.raw_dynamodb = self.raw.client("dynamodb")
        self.pipeline = Pipeline(self.settings, self.server, self.settings.config_path, {}, AwsCalls())
        self.pipeline.write_config(
            {feed: f"/{feed}.xml" for feed in FEEDS},
            rules=RULES,
            subscribers=SUBSCRIBERS,
            lists={},
            settings={"arming_max_age": "24h", "story_window": "48h"},
        )
        from wirewatch.observability import logger

        self._log_level = logger.log_level
        logger.setLevel("ERROR")  # thousands of ticks: their info lines cost more than they tell
        self.injector = Injector(self)
        self.injector.install()
        self._patch_handlers()
        return self

    def __exit__(self, *exc: object) -> None:
        from wirewatch.observability import logger

        logger.setLevel(self._log_level)
        self._unpatch_handlers()
        reset_handlers()
        self.server.close()
        self._mock.stop()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    # -- handlers: the real ones, seen on the way through

    def _patch_handlers(self) -> None:
        from wirewatch import runner
        from wirewatch.handlers import poll_feeds, schedule_feeds

        self._real_poll, self._real_schedule = poll_feeds.lambda_handler, schedule_feeds.lambda_handler
        self.rerun_batch = False
        # The step's SQS batch size, for the ticks invoke_poll runs and for a rival worker.
        self.batch_size = 50
        self.drain = runner.drain_poll_queue
        runner.drain_poll_queue = lambda batch_size=None: self.drain(batch_size or self.batch_size)  # type: ignore[assignment]

        def poll(event: dict[str, Any], context: Any) -> Any:
            self.batches.append(event)
            try:
                response = self._real_poll(event, context)
            finally:
                self.batches.pop()
                self.injector._left_open(self.injector.depth)
            if self.rerun_batch and not self.injector.depth:
                # A second worker got the same messages (the visibility ran out, or SQS
                # handed them out twice) and runs them before the first deletes them.
                self.stats["batches re-run"] += 1
                self.injector.depth += 1
                try:
                    with self.other_container():
                        again = self.poll_handler(event)
                finally:
                    self.injector._left_open(self.injector.depth)
                    self.injector.depth -= 1
                failures = {f["itemIdentifier"] for f in [*response["batchItemFailures"], *again["batchItemFailures"]]}
                response = {"batchItemFailures": [{"itemIdentifier": i} for i in sorted(failures)]}
            return response

        def schedule(event: dict[str, Any], context: Any) -> Any:
            self.tick_event = event
            try:
                return self._real_schedule(event, context)
            finally:
                self.injector._left_open(self.injector.depth)

        poll_feeds.lambda_handler, schedule_feeds.lambda_handler = poll, schedule

    def _unpatch_handlers(self) -> None:
        from wirewatch import runner
        from wirewatch.handlers import poll_feeds, schedule_feeds

        poll_feeds.lambda_handler, schedule_feeds.lambda_handler = self._real_poll, self._real_schedule
        runner.drain_poll_queue = self.drain  # type: ignore[assignment]

    def poll_handler(self, event: dict[str, Any]) -> Any:
        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

        from wirewatch.runner import LocalContext

        try:
            return self._real_poll(event, LocalContext())
        except BatchProcessingError:
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
        except WirewatchError as exc:
            self.stats[f"racing worker failed: {type(exc).__name__}"] += 1
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}

    def schedule_handler(self, event: dict[str, Any]) -> None:
        from wirewatch.runner import LocalContext

        try:
            self._real_schedule(event, LocalContext())
        except WirewatchError as exc:
            self.stats[f"racing tick failed: {type(exc).__name__}"] += 1

    @contextmanager
    def other_container(self) -> Iterator[None]:
        """A second Lambda container, with its own scheduler and poller, for the time of a race."""
        from wirewatch.handlers import poll_feeds, schedule_feeds

        saved = (poll_feeds._poller._value, schedule_feeds._scheduler._value)
        reset_handlers()
        try:
            yield
        finally:
            poll_feeds._poller._value, schedule_feeds._scheduler._value = saved

    # -- one schedule

    def reset(self) -> None:
        for table in (
            self.settings.state_table,
            self.settings.seen_table,
            self.settings.alerts_table,
            self.settings.items_table,
        ):
            self._table(table).items.clear()
        for url in self.raw_sqs.list_queues().get("QueueUrls", []):
            self.raw_sqs.purge_queue(QueueUrl=url)
        self.injector.windows.clear()
        self.injector.fired.clear()
        self.injector.disarm()
        self.batches.clear()
        reset_handlers()

    def serve(self, stories: list[Story], published: dict[int, datetime]) -> None:
        for feed in FEEDS:
            body = _rss(feed, [(s, published[s.number]) for s in stories if feed in s.feeds])
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            self.server.route(f"/{feed}.xml", body, etag=etag)

    def inboxes(self) -> dict[str, list[dict[str, Any]]]:
        received: dict[str, list[dict[str, Any]]] = {}
        for recipient in MIN_SEVERITY:
            url = self.pipeline.inboxes[recipient]
            messages: list[dict[str, Any]] = []
            while batch := self.raw_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                for message in batch:
                    messages.append(json.loads(json.loads(message["Body"])["Message"]))
                    self.raw_sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            received[recipient] = messages
        return received

    @staticmethod
    def _table(name: str) -> Any:
        # The harness reads moto's tables directly: a Scan would cost more than the ticks.
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[DEFAULT_ACCOUNT_ID][EMULATOR_ENV["AWS_DEFAULT_REGION"]].get_table(name)

    def expire_messages(self) -> None:
        """Drop the messages older than their queue's retention period, as SQS does.

        moto keeps them, and an expired message at the head of a queue stops every later
        one from being received (its receive loop breaks on it): without this, a job left
        in flight by a crash and found again after a clock jump of more than an hour
        would block the poll queue for good.
        """
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.core.utils import unix_time
        from moto.sqs.models import sqs_backends

        for queue in sqs_backends[DEFAULT_ACCOUNT_ID][EMULATOR_ENV["AWS_DEFAULT_REGION"]].queues.values():
            retention = int(queue.message_retention_period)
            kept = [m for m in queue._messages if m.sent_timestamp / 1000 + retention > unix_time()]
            if len(kept) != len(queue._messages):
                self.stats["jobs expired"] += len(queue._messages) - len(kept)
                queue._pending_messages = {m for m in queue._pending_messages if m in kept}
                queue._messages = kept

    def alerts_items(self) -> list[dict[str, str]]:
        """The alerts table's items, their string attributes only."""
        return [
            {name: value.value for name, value in item.attrs.items() if value.type == "S"}
            for item in self._table(self.settings.alerts_table).all_items()
        ]

    def run(self, schedule: Schedule, *, max_convergence: int = 40) -> Outcome:
        self.reset()
        received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        errors: Counter[str] = Counter()
        published: dict[int, datetime] = {}

        def collect() -> None:
            from wirewatch.observability import metrics

            metrics.clear_metrics()  # disabled, Powertools keeps them, and prints them at 100
            for recipient, messages in self.inboxes().items():
                received[recipient].extend(messages)

        with time_machine.travel(schedule.start - timedelta(minutes=10), tick=False) as clock:
            # Warm-up: every feed and rule armed, with nothing to say yet.
            self.serve([], published)
            invoke_poll(now=schedule.start - timedelta(minutes=10))
            now = schedule.start - timedelta(minutes=5)
            for n, step in enumerate(schedule.steps):
                now += step.advance if n else timedelta(minutes=5)
                clock.move_to(now)
                for story in schedule.stories:
                    if story.step == n:
                        published[story.number] = now - timedelta(minutes=1)
                self.serve([s for s in schedule.stories if s.number in published], published)
                self.injector.arm(step)
                self.rerun_batch, self.batch_size = step.rerun_batch, step.batch_size
                self.expire_messages()
                try:
                    invoke_poll(now=now)
                except Crash:
                    errors["Crash"] += 1
                    reset_handlers()  # the runtime died: the next tick starts a new container
                except WirewatchError as exc:  # a tick that failed: Lambda's retry is the next tick
                    errors[type(exc).__name__] += 1
                finally:
                    self.injector.disarm()
                    self.rerun_batch, self.batch_size = False, 50
                    self.injector._left_open(0)
                collect()
            # The faults stop: clean ticks until nothing waits.
            ticks = 0
            for ticks in range(1, max_convergence + 1):
                now = max(now + timedelta(minutes=1), self._next_due(now))
                clock.move_to(now)
                self.expire_messages()
                invoke_poll({"poll_all": ticks == 1}, now=now)
                collect()
                if ticks > 1 and not self._waiting():
                    break
            else:
                ticks = max_convergence + 1
        items = self.alerts_items()
        titles = {i["pk"]: i["title"] for i in items if i["pk"].startswith("alert#")}
        # Deliveries carry their alert's title too: a job whose alert write failed after its
        # deliveries were written, and whose retry folded the report into a retelling's
        # alert, leaves deliveries of an alert with no record (sent: a second alert).
        for item in items:
            if item["pk"].startswith("delivery#") and item.get("kind") == "alert":
                titles.setdefault(item["alert_key"], item["title"])
        stuck = [
            f"{item['pk']} {item['status']} mode={item.get('mode')} due={item.get('due_at')}"
            f" lease={item.get('lease_until', '-')}"
            for item in self._waiting()
        ]
        return Outcome(
            schedule,
            dict(received),
            titles,
            list(self.injector.fired),
            list(self.injector.windows),
            errors,
            ticks,
            stuck,
            dict(published),
            items,
        )

    def _waiting(self) -> list[dict[str, str]]:
        """Deliveries and digests still to go out: pending, or claimed and not marked sent."""
        return [
            item
            for item in self.alerts_items()
            if item["pk"].startswith(("delivery#", "digest#")) and item["status"] in ("PENDING", "PUBLISHING")
        ]

    def _next_due(self, now: datetime) -> datetime:
        """The next moment a tick has something to do: a due time, or a lease running out.

        A delivery whose moment has passed and that the last tick left waiting is stuck:
        the clock goes on by the hour (to the digest times) rather than by the minute.
        """
        moments = [
            datetime.fromisoformat(item["due_at"])
            if item["status"] == "PENDING"
            else datetime.fromisoformat(item["lease_until"]) + timedelta(seconds=1)
            for item in self._waiting()
        ]
        return min((m for m in moments if m > now), default=now + timedelta(hours=1))


def _rss(feed: str, stories: list[tuple[Story, datetime]]) -> bytes:
    items = "".join(
        f"<item><title>{s.headline}</title><link>https://{feed}.example.org/news/{s.number}</link>"
        f"<guid>https://{feed}.example.org/news/{s.number}</guid><description>{s.summary}</description>"
        f"<pubDate>{format_datetime(at)}</pubDate></item>"
        for s, at in sorted(stories, key=lambda pair: pair[1], reverse=True)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{feed}</title>'
        f"<link>https://{feed}.example.org/</link><description>{feed}</description>{items}</channel></rss>"
    ).encode()


# ----------------------------------------------------------------------------- the oracle


@dataclass
class Verdict:
    expected: int = 0
    deliveries: int = 0  # (rule, story, recipient) units received, digests opened
    messages: int = 0  # messages received
    losses: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    duplicates: int = 0
    explained: Counter[str] = field(default_factory=Counter)  # duplicates by the fault that opened their window
    unexplained: list[str] = field(default_factory=list)
    open_windows: int = 0
    unfaulted_windows: list[str] = field(default_factory=list)
    retellings: int = 0  # (rule, retelling, recipient): each should fold into its story's alert
    unfolded: int = 0  # of those, alerted beside their story within the fold window
    unfolded_unexplained: list[str] = field(default_factory=list)  # ... in a schedule where no fault fired

    @property
    def ok(self) -> bool:
        return not (
            self.losses or self.unexpected or self.unexplained or self.unfaulted_windows or self.unfolded_unexplained
        )


def _units(message: dict[str, Any], titles: dict[str, str]) -> list[tuple[str, str, str]]:
    if message.get("kind") == "digest":
        units = []
        for member in message["members"]:
            _, recipient, rule, story = member.split("#", 3)
            units.append((rule, titles.get(f"alert#{rule}#{story}", f"?{story}"), recipient))
        return units
    return [(message["rule"], message["title"], message["recipient"])]


def _cause(faults: list[str]) -> str:
    window = [f for f in faults if "sns.Publish" in f or "dynamodb.UpdateItem" in f]
    return (window or faults)[-1].split("#")[0]


def judge(outcome: Outcome) -> Verdict:
    """Losses and unexpected deliveries by event (a retelling folded into its story's alert
    loses nothing); duplicates by story, each to be explained by an open window; retellings
    alerted beside their story within the fold window are counted, as missed folds."""
    verdict = Verdict()
    got: Counter[tuple[str, str, str]] = Counter()
    for recipient, messages in outcome.messages.items():
        for message in messages:
            verdict.messages += 1
            for unit in _units(message, outcome.titles):
                if unit[2] != recipient:
                    verdict.unexpected.append(f"{unit} in {recipient}'s inbox")
                got[unit] += 1
    verdict.deliveries = sum(got.values())
    _judge_events(outcome, got, verdict)
    _judge_records(outcome, got, verdict)
    _judge_duplicates(outcome, got, verdict)
    return verdict


WITHDRAWN = "folded into "  # the reason a withdrawal gives a delivery it cancels


def _judge_records(outcome: Outcome, got: Counter[tuple[str, str, str]], verdict: Verdict) -> None:
    """Each delivery the alerts table holds reached its recipient: as itself (alone or in a
    digest), or, cancelled by a withdrawal, as the alert it was folded into. By event alone,
    a delivery lost from an alert could hide behind another alert on the same event."""
    for item in outcome.items:
        if not item["pk"].startswith("delivery#") or item.get("kind") != "alert":
            continue
        rule, recipient, status = item["rule_id"], item["recipient"], item["status"]
        if status in ("PENDING", "PUBLISHING"):
            continue  # reported as stuck
        title = item["title"]
        if status == "CANCELLED":
            reason = item.get("last_error", "")
            if not reason.startswith(WITHDRAWN):
                verdict.losses.append(f"{item['pk']} cancelled: {reason}")
                continue
            title = outcome.titles.get(reason.removeprefix(WITHDRAWN), "?")
        if (rule, title, recipient) not in got:
            verdict.losses.append(f"{item['pk']} ({status}): {rule} / {title!r} never reached {recipient}")


def _judge_events(outcome: Outcome, got: Counter[tuple[str, str, str]], verdict: Verdict) -> None:
    stories = outcome.schedule.stories
    event_of = {story.headline: story.event for story in stories}
    expected = {
        (rule, story.event, recipient) for story in stories for rule in story.rules for recipient in recipients(rule)
    }
    verdict.expected = len(expected)
    by_event: dict[tuple[str, int, str], set[str]] = defaultdict(set)
    for rule, title, recipient in got:
        if title in event_of:
            by_event[rule, event_of[title], recipient].add(title)
    verdict.losses = [f"{rule} / event {n} / {recipient}" for rule, n, recipient in sorted(expected - set(by_event))]
    verdict.unexpected += [f"{unit}" for unit in sorted(got) if unit[1] not in event_of]
    verdict.unexpected += [f"{unit}" for unit in sorted(set(by_event) - expected)]
    published = {story.headline: outcome.published.get(story.number) for story in stories}
    # Alerts linked by a withdrawal that found the later one already going out: both sent.
    key_of = {(key.split("#")[1], title): key for key, title in outcome.titles.items()}
    into = {item["pk"]: item["withdrawn_into"] for item in outcome.items if "withdrawn_into" in item}
    for (rule, _, recipient), titles in by_event.items():
        moments = sorted(moment for title in titles if (moment := published[title]) is not None)
        if len(titles) > 1 and moments and moments[-1] - moments[0] <= FOLD_WINDOW:
            verdict.unfolded += len(titles) - 1
            keys = {key_of.get((rule, title)) for title in titles}
            linked = any(into.get(key) in keys for key in keys)
            if not linked and not outcome.fired:
                # With no fault at all, nothing excuses a missed fold: folding is broken.
                verdict.unfolded_unexplained.append(f"{rule} / {sorted(titles)} / {recipient}")
    verdict.retellings = sum(
        len(recipients(rule)) for story in stories if story.retells is not None for rule in story.rules
    )


def _judge_duplicates(outcome: Outcome, got: Counter[tuple[str, str, str]], verdict: Verdict) -> None:
    # The windows that stayed open: SNS took the message, its SENT write never came.
    allowed: Counter[tuple[str, str, str]] = Counter()
    causes: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for window in outcome.windows:
        if window.closed:
            continue
        verdict.open_windows += 1
        units = [u for message in window.units for u in _units(message, outcome.titles)]
        if not window.faults:
            verdict.unfaulted_windows.append(f"{units}")
            continue
        for unit in units:
            allowed[unit] += 1
            causes[unit].append(_cause(window.faults))
    for unit, count in got.items():
        extra = count - 1
        if extra <= 0:
            continue
        verdict.duplicates += extra
        if extra > allowed[unit]:
            verdict.unexplained.append(f"{unit} received {count} times, {allowed[unit]} open window(s)")
        for cause in causes[unit][:extra]:
            verdict.explained[cause] += 1


@dataclass
class Totals:
    schedules: int = 0
    steps: int = 0
    faults: Counter[str] = field(default_factory=Counter)  # fired, by kind and stage
    crash_points: Counter[str] = field(default_factory=Counter)
    stats: Counter[str] = field(default_factory=Counter)
    expected: int = 0
    deliveries: int = 0
    messages: int = 0
    losses: int = 0
    duplicates: int = 0
    explained: Counter[str] = field(default_factory=Counter)
    unexplained: int = 0
    open_windows: int = 0
    unfaulted_windows: int = 0
    convergence_ticks: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    retellings: int = 0
    unfolded: int = 0
    withdrawn: int = 0

    def add(self, outcome: Outcome, verdict: Verdict) -> None:
        self.schedules += 1
        self.steps += len(outcome.schedule.steps)
        for fault in outcome.fired:
            self.faults[f"{fault.kind} {fault.stage}"] += 1
            if fault.kind == "crash":
                self.crash_points[f"{fault.stage} {fault.operation}"] += 1
        self.expected += verdict.expected
        self.deliveries += verdict.deliveries
        self.messages += verdict.messages
        self.losses += len(verdict.losses)
        self.duplicates += verdict.duplicates
        self.explained += verdict.explained
        self.unexplained += len(verdict.unexplained)
        self.open_windows += verdict.open_windows
        self.unfaulted_windows += len(verdict.unfaulted_windows)
        self.retellings += verdict.retellings
        self.unfolded += verdict.unfolded
        self.withdrawn += outcome.withdrawn
        self.convergence_ticks = max(self.convergence_ticks, outcome.convergence_ticks)
        self.errors += outcome.errors

    def line(self) -> str:
        fired = sum(self.faults.values())
        return (
            f"{self.schedules} schedules, {self.steps} faulty ticks, {fired} faults injected "
            f"({', '.join(f'{n} {k}' for k, n in sorted(self.faults.items()))}); "
            f"{self.expected} (rule, event, recipient) expected, "
            f"{self.deliveries} delivered in {self.messages} messages; "
            f"losses {self.losses}, duplicates {self.duplicates} "
            f"({sum(self.explained.values())} explained by a fault after SNS accepted and before SENT, "
            f"{self.unexplained} unexplained); "
            f"{self.retellings} (rule, retelling, recipient), {self.unfolded} alerted beside their story"
        )
