"""The monthly AWS bill of polling 100, 1,000 and 10,000 feeds every 5 minutes.

Reads what bench/polling.py measured (bench/polling-calls.json: API calls, DynamoDB
capacity units, item sizes, log bytes, metrics and per-batch times of a tick where
nothing changed and of one where 5 % of the feeds had one new item) and prices a
steady month at the list prices below. No network access: the prices are constants.

    .venv/bin/python bench/cost.py                     # POLL_CONCURRENCY 50 (the default)
    .venv/bin/python bench/cost.py --concurrency 16
    .venv/bin/python bench/cost.py --markdown          # the tables as Markdown

Model (each assumption is a named constant below):
- Every feed is polled every tick (8,760 ticks a month). bench/polling.py reports how many
  the scheduler would really queue (95 %: feeds with a publisher ttl are polled less often).
- A feed gets NEW_ITEMS_PER_FEED_PER_DAY new items, each in a different tick (so that many
  polls a day parse a body and write the feed's state); every other poll is a 304.
- Per unchanged poll: what tick 2 cost per feed. Per poll with a new item: tick 3 minus
  tick 2, per changed feed. DynamoDB write units per archived item from tick 1 (the real
  captures' items, not tick 3's short synthetic ones).
- Lambda duration: each measured invocation's wall time plus its own CPU (not moto's)
  stretched by the share of a vCPU its memory buys (bench/polling.lambda_seconds).
- Lambda architecture: ARCHITECTURE (template.yaml's Architectures), priced at the durations
  measured on this x86_64 machine, which cannot run arm64: no Graviton speed-up is assumed.
  The levers table prices x86_64 at the same durations.
- The SQS event source keeps ESM_IDLE_POLLERS long polls (20 s) open on the empty queue.

The alert side is not measured (bench/polling.py's ticks raise almost no alerts): it is
counted from the code's calls, as a function of ALERTS_PER_MONTH and RECIPIENTS_PER_ALERT
(see AlertSide and alert_side() below for each call and what it is billed):
- An alert writes one delivery per recipient (a conditional PutItem each, the record
  carrying the alert's texts, ~2.5 KB as measured, plus its due-index entry: projection
  ALL), then the alert record (~0.4 KB, one PutItem) and its story key.
- An immediate delivery is claimed and marked sent (two UpdateItems, each rewriting the
  record and its due-index entry) around its own SNS Publish: one Publish per recipient.
- DIGEST_RECIPIENTS_PER_ALERT of the recipients take an hourly digest: a digest is one
  TransactWriteItems (2 write units per KB per item: the digest's Put and one Update per
  member), then claimed, published and marked sent like any delivery. Digests a month:
  the hours with at least one alert in them (Poisson: HOURS x (1 - e^-alerts/HOURS)).
- SMS_PER_DAY of the immediate deliveries are SMS; each takes its budget in one
  TransactWriteItems of SMS_BUDGET_WINDOWS small updates.
- The near-duplicate fold index: each new-alert candidate (CANDIDATES_PER_ALERT per
  alert: the other sources of a wire story fold into it) reads its FOLD_BANDS band keys
  (one strongly consistent BatchGetItem, 1 unit each: a band item is under 4 KB); a new
  alert writes them (FOLD_BANDS conditional PutItems, 1 unit each), then reads them again
  (the same BatchGetItem: another worker's alert on the same event written at the same
  instant is folded into the earlier one); a folded candidate counts itself on the alert,
  pinning it (one UpdateItem).
- Fixed: CLOUDWATCH_ALARMS alarms and CLOUDWATCH_DASHBOARDS dashboard (template.yaml).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from polling import lambda_seconds

ROOT = Path(__file__).resolve().parents[1]
CALLS_JSON = Path(__file__).resolve().parent / "polling-calls.json"

# --- unit prices: us-east-1, list prices as assumed on 2026-11-27 (no free tier unless said) ---
REGION = "us-east-1"
PRICES_AS_OF = "2026-11-27"
LAMBDA_PER_REQUEST = 0.20 / 1e6
# Per GB-second by architecture; requests cost the same on both.
LAMBDA_PER_GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
ARCHITECTURE = "arm64"  # template.yaml's Globals: Architectures [arm64]
LAMBDA_FREE_GB_SECONDS = 400_000  # a month, on either architecture
DYNAMODB_PER_WRITE_UNIT = 0.625 / 1e6  # on-demand write request unit
DYNAMODB_PER_READ_UNIT = 0.125 / 1e6  # on-demand read request unit
DYNAMODB_PER_GB_MONTH = 0.25  # Standard table class, tables and GSIs
DYNAMODB_PITR_PER_GB_MONTH = 0.20  # continuous backups (PointInTimeRecoveryEnabled on every table)
SQS_PER_REQUEST = 0.40 / 1e6  # standard queue, per 64 KB chunk of a request
SCHEDULER_PER_INVOCATION = 1.00 / 1e6  # EventBridge Scheduler
S3_PER_GET = 0.0004 / 1000  # the watch file, GetObject If-None-Match (304 billed as a GET)
SNS_PER_PUBLISH = 0.50 / 1e6
SNS_PER_EMAIL = 2.00 / 100_000
SNS_PER_SMS = 0.00883  # United States: 0.00581 + carrier fee (~0.003); France is ~0.07-0.08
LOGS_PER_GB_INGESTED = 0.50  # CloudWatch Logs, standard class
LOGS_PER_GB_STORED = 0.03  # per month, on compressed size
METRICS_PER_METRIC_MONTH = 0.30  # custom metrics (EMF), first 10,000; prorated by the hour
XRAY_PER_TRACE = 5.00 / 1e6  # traces recorded
ALARM_PER_MONTH = 0.10  # CloudWatch standard-resolution metric alarm
DASHBOARD_PER_MONTH = 3.00  # CloudWatch dashboard
# The always-free tier, for the second total only (one stack alone in the account). Lambda
# compute's (LAMBDA_FREE_GB_SECONDS at the workload's architecture's price) is added in bill().
FREE_TIER = {
    "Lambda requests": 1_000_000 * LAMBDA_PER_REQUEST,
    "DynamoDB storage": 25 * DYNAMODB_PER_GB_MONTH,
    "SQS requests": 1_000_000 * SQS_PER_REQUEST,
    "EventBridge Scheduler": 14_000_000 * SCHEDULER_PER_INVOCATION,
    "CloudWatch Logs": 5 * LOGS_PER_GB_INGESTED,
    "CloudWatch metrics": 10 * METRICS_PER_METRIC_MONTH,
    "X-Ray traces": 100_000 * XRAY_PER_TRACE,
    "SNS publish + email": 1_000_000 * SNS_PER_PUBLISH + 1_000 * SNS_PER_EMAIL,
    "CloudWatch alarms": 10 * ALARM_PER_MONTH,
    "CloudWatch dashboard": 3 * DASHBOARD_PER_MONTH,
}

# --- the workload ----------------------------------------------------------------------------
FEED_COUNTS = (100, 1_000, 10_000)
TICK_MINUTES = 5
HOURS_PER_MONTH = 730
TICKS_PER_MONTH = HOURS_PER_MONTH * 60 // TICK_MINUTES  # 8,760
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
NEW_ITEMS_PER_FEED_PER_DAY = 20
SENSITIVITY_ITEMS = (5, 20, 50, 100)
RETENTION_DAYS = 30  # template.yaml's RetentionDays default: SeenTable and ItemsTable TTL
# The alert side (not measured: counted from the code's calls, see alert_side()).
ALERTS_PER_MONTH = 300  # about 10 a day
RECIPIENTS_PER_ALERT = 3  # deliveries per alert: one per recipient (subscriber and channel)
DIGEST_RECIPIENTS_PER_ALERT = 1  # of those, one takes the hourly digest; the others are immediate
SMS_PER_DAY = 3  # of the immediate deliveries, to the duty phone (critical alerts); the rest are emails
SMS_BUDGET_WINDOWS = 2  # per SMS, one TransactWriteItems of 1-2 counter updates (per hour, per day)
CANDIDATES_PER_ALERT = 2.0  # new-alert candidates per new alert: a wire story's second source folds
FOLD_BANDS = 32  # near-duplicate band keys per candidate (read) and per new alert (written)
ALERT_RECORD_BYTES = 400  # the alert record: keys, rule, story, link, title (the texts are on deliveries)
DELIVERY_KEY_BYTES = 95  # and each of its deliveries' keys, named there so that a withdrawal can cancel them
DIGEST_RECORD_BYTES = 3_000  # a digest delivery: its texts and members' keys
STORY_KEY_WRITE_UNITS = 1  # per new alert, the story's key
DELIVERY_SECONDS = 0.1  # ScheduleFunction time per delivery sent (a claim, a Publish, a mark): assumed
CLOUDWATCH_ALARMS = 7  # template.yaml (tests/unit/test_template_ops.py counts them)
CLOUDWATCH_DASHBOARDS = 1
ALERT_SENSITIVITY = ((100, 1), (300, 3), (1_000, 3), (3_000, 3), (300, 10), (3_000, 10))
ESM_IDLE_POLLERS = 5  # SQS event source: long polls kept open on an empty queue
LONG_POLL_SECONDS = 20
LAMBDA_PLATFORM_LOG_BYTES = 450  # START, END and REPORT lines per invocation
LOG_COMPRESSION = 0.15  # stored size / ingested size
LOG_RETENTION_MONTHS = 1  # template.yaml's LogRetentionDays default, 30
DYNAMODB_ITEM_OVERHEAD = 100  # bytes per item (and per GSI entry) DynamoDB adds for storage
XRAY_RESERVOIR_PER_SECOND = 1  # X-Ray's default sampling: the first request each second...
XRAY_FIXED_RATE = 0.05  # ... and 5 % of the others


@dataclass(frozen=True)
class Measured:
    """Per-feed and per-tick figures taken from one run of bench/polling.py."""

    concurrency: int
    batch_size: int
    workers: int
    memory_mb: dict[str, int]
    # per unchanged poll (tick 2 / feeds)
    read_units_per_poll: float
    sqs_requests_per_poll: float
    log_bytes_per_poll: float
    poll_seconds_per_feed: float  # PollFunction, 304s
    schedule_seconds_per_feed: float
    # fixed per tick
    read_units_per_tick: float
    emf_bytes_per_invocation: float
    metrics: int
    steady_metrics: int  # sent by the unchanged and the 5 %-changed ticks: what runs every hour
    # per poll with news, per new item (tick 3 - tick 2, and tick 1 for archive sizes)
    extra_seconds_per_changed_poll: float
    state_write_units_per_changed_poll: float
    read_units_per_new_item: float
    seen_write_units_per_item: float
    archive_write_units_per_item: float  # table + GSI
    # storage
    state_item_bytes: float
    seen_item_bytes: float
    archive_item_bytes: float
    alert_item_bytes: float


def measured(data: dict[str, Any], concurrency: int) -> Measured:
    run = next(r for r in data["runs"] if r["poll_concurrency"] == concurrency)
    tables = next(r["tables"] for r in data["runs"] if "tables" in r)
    first, unchanged, changed_tick = run["ticks"]
    feeds, changed = data["feeds"], run["changed_feeds"]
    memory = data["memory_mb"]
    units2, units3, units1 = unchanged["dynamodb_units"], changed_tick["dynamodb_units"], first["dynamodb_units"]
    items1 = first["dynamodb_items"]

    def sqs(tick: dict[str, Any]) -> float:
        # The runner's receives and deletes stand for the event source mapping's.
        return sum(n for name, n in tick["calls"].items() if name.startswith("sqs.") and "GetQueue" not in name)

    def own_cpu(tick: dict[str, Any]) -> float:
        return sum(max(b["cpu_s"] - b["aws_cpu_s"], 0.0) for b in tick["batches"])

    scale = max(1769 / memory["PollFunction"], 1.0)
    invocations = 1 + len(unchanged["batches"])
    # The rules' arming read: consistent, one unit a rule key (tiny items); the rest of the
    # state table's reads is the scheduler's Query of every feed's state, billed by size.
    rules = 1.0 * unchanged["dynamodb_items"].get("StateTable.BatchGetItem", 0)
    state_reads = units2.get("StateTable.read", 0.0) - rules
    extra = (own_cpu(changed_tick) - own_cpu(unchanged)) * scale + (changed_tick["aws_cpu_s"] - unchanged["aws_cpu_s"])
    return Measured(
        concurrency=concurrency,
        batch_size=run["batch_size"],
        workers=data.get("max_poll_workers", 5),
        memory_mb=memory,
        read_units_per_poll=state_reads / feeds,  # the feed's share of the tick's Query, eventually consistent
        sqs_requests_per_poll=sqs(unchanged) / feeds,
        log_bytes_per_poll=(unchanged["logs"]["bytes"] - unchanged["logs"]["emf_bytes"]) / feeds,
        poll_seconds_per_feed=sum(lambda_seconds(b, memory["PollFunction"]) for b in unchanged["batches"]) / feeds,
        schedule_seconds_per_feed=lambda_seconds(unchanged["scheduler"], memory["ScheduleFunction"]) / feeds,
        read_units_per_tick=rules + units2.get("AlertsTable.read", 0.0),
        emf_bytes_per_invocation=unchanged["logs"]["emf_bytes"] / invocations,
        metrics=len(set(first["logs"]["metrics"]) | set(unchanged["logs"]["metrics"])),
        steady_metrics=len(set(unchanged["logs"]["metrics"]) | set(changed_tick["logs"]["metrics"])),
        extra_seconds_per_changed_poll=max(extra, 0.0) / changed,
        state_write_units_per_changed_poll=units3.get("StateTable.write", 0.0) / changed,
        read_units_per_new_item=(units3.get("SeenTable.read", 0.0) - units2.get("SeenTable.read", 0.0)) / changed,
        seen_write_units_per_item=units3.get("SeenTable.write", 0.0) / changed,
        archive_write_units_per_item=(units1.get("ItemsTable.write", 0.0) + units1.get("ItemsTable.gsi-write", 0.0))
        / items1["ItemsTable.BatchWriteItem"],
        state_item_bytes=tables["StateTable"]["feed"]["avg_bytes"],
        seen_item_bytes=tables["SeenTable"]["item"]["avg_bytes"],
        archive_item_bytes=tables["ItemsTable"]["item"]["avg_bytes"],
        # A delivery record carries its alert's texts; runs written before the table was
        # split by kind have only the average of alerts and deliveries.
        alert_item_bytes=tables["AlertsTable"].get("delivery", tables["AlertsTable"].get("item", {}))["avg_bytes"],
    )


@dataclass(frozen=True)
class Workload:
    feeds: int
    items_per_day: float = NEW_ITEMS_PER_FEED_PER_DAY
    alerts_per_month: float = ALERTS_PER_MONTH
    recipients_per_alert: float = RECIPIENTS_PER_ALERT
    digest_recipients_per_alert: float = DIGEST_RECIPIENTS_PER_ALERT
    sms_per_day: float = SMS_PER_DAY
    candidates_per_alert: float = CANDIDATES_PER_ALERT
    log_every_poll: bool = False  # True: one log line per feed polled (before session 3's change)
    metrics_every_hour: bool = False  # True: every metric sent every invocation, zeros included (before)
    tracing: bool = True
    feeds_per_message: int = 1  # poll jobs per SQS message (a design change: now 1)
    archive_day_index: bool = False  # True: ItemsTable's old day-index GSI (projection ALL), written with every item
    architecture: str = ARCHITECTURE  # Lambda's, a key of LAMBDA_PER_GB_SECOND (same durations on both)


def write_units(item_bytes: float) -> int:
    """Standard write units of one write of an item that size (1 KB each, rounded up)."""
    return max(math.ceil(item_bytes / 1024), 1)


@dataclass(frozen=True)
class AlertSide:
    """What a month of alerts costs in calls and units (everything but the polling)."""

    alerts: float
    deliveries: float  # one per recipient per alert
    immediate: float  # sent on their own: claim, Publish, mark sent
    digest_members: float  # gathered into digests
    digests: float  # digest deliveries: one transaction each, then claim, Publish, mark sent
    sms: float
    candidates: float  # new-alert candidates looked up in the fold index
    write_units: float
    read_units: float
    publishes: float
    emails: float
    stored_bytes: float  # kept for RETENTION_DAYS (the alerts table's TTL)
    lambda_seconds: float


def alert_side(m: Measured, w: Workload) -> AlertSide:
    alerts = w.alerts_per_month
    deliveries = alerts * w.recipients_per_alert
    digest_members = alerts * min(w.digest_recipients_per_alert, w.recipients_per_alert)
    immediate = deliveries - digest_members
    # One hourly digest per digest recipient in each hour that saw at least one of its alerts.
    digests = w.digest_recipients_per_alert * HOURS_PER_MONTH * (1 - math.exp(-alerts / HOURS_PER_MONTH))
    sms = min(w.sms_per_day * DAYS_PER_MONTH, immediate)
    candidates = alerts * w.candidates_per_alert
    delivery = write_units(m.alert_item_bytes)  # a delivery carries the alert's texts (~2.5 KB: 3 units)
    digest = write_units(DIGEST_RECORD_BYTES)
    alert_bytes = ALERT_RECORD_BYTES + DELIVERY_KEY_BYTES * w.recipients_per_alert
    record = write_units(alert_bytes)
    # Each pending delivery is also in due-index (projection ALL): every write to it
    # writes (or, when `pending` goes, deletes) its index entry too, the same size.
    units = (
        deliveries * 2 * delivery  # conditional PutItem + index entry
        + immediate * 2 * 2 * delivery  # claim, mark sent: UpdateItem + index entry each
        + digest_members * (2 * delivery + delivery)  # the digest's transactional Update + index delete
        + digests * ((2 * digest + digest) + 2 * 2 * digest)  # transactional Put + index; claim, mark sent
        + alerts * (record + STORY_KEY_WRITE_UNITS)  # the alert record (not indexed), its story key
        + sms * SMS_BUDGET_WINDOWS * 2  # TransactWriteItems: 2 units per counter (< 1 KB)
        + alerts * FOLD_BANDS  # the new alert's band keys, 1 unit each
        + (candidates - alerts) * record  # a folded candidate counts itself on the alert (UpdateItem)
    )
    reads = (
        candidates * FOLD_BANDS  # BatchGetItem of the band keys, strongly consistent: 1 unit each
        + alerts * FOLD_BANDS  # read again once the new alert claimed them (two workers at once)
        + (immediate + digest_members + digests) * 0.5  # read once through due-index's Query
        + digest_members * 0.5  # a digest reads its members' "also reported" counts (BatchGetItem)
    )
    kept = RETENTION_DAYS / DAYS_PER_MONTH
    stored = kept * (
        alerts * (alert_bytes + DYNAMODB_ITEM_OVERHEAD)
        + deliveries * (m.alert_item_bytes + DYNAMODB_ITEM_OVERHEAD)
        + digests * (DIGEST_RECORD_BYTES + DYNAMODB_ITEM_OVERHEAD)
        + alerts * FOLD_BANDS * (m.seen_item_bytes + DYNAMODB_ITEM_OVERHEAD)
    )
    return AlertSide(
        alerts=alerts,
        deliveries=deliveries,
        immediate=immediate,
        digest_members=digest_members,
        digests=digests,
        sms=sms,
        candidates=candidates,
        write_units=units,
        read_units=reads,
        publishes=immediate + digests,
        emails=immediate - sms + digests,
        stored_bytes=stored,
        lambda_seconds=(immediate + digests) * DELIVERY_SECONDS,
    )


@dataclass
class Bill:
    lines: dict[str, float]
    quantities: dict[str, str]
    free_tier: dict[str, float]

    @property
    def before_sms(self) -> float:
        return sum(value for name, value in self.lines.items() if name != "SNS SMS")

    @property
    def after_free_tier(self) -> float:
        return sum(
            max(value - self.free_tier.get(name, 0.0), 0.0) for name, value in self.lines.items() if name != "SNS SMS"
        )


def bill(m: Measured, w: Workload) -> Bill:
    ticks = TICKS_PER_MONTH
    polls = w.feeds * ticks
    ticks_per_day = 24 * 60 / TICK_MINUTES
    changed_polls = w.feeds * min(w.items_per_day, ticks_per_day) * DAYS_PER_MONTH
    new_items = w.feeds * w.items_per_day * DAYS_PER_MONTH
    batches_per_tick = math.ceil(w.feeds / m.batch_size)
    poll_invocations = batches_per_tick * ticks
    invocations = poll_invocations + ticks
    alerting = alert_side(m, w)

    schedule_seconds = m.schedule_seconds_per_feed * w.feeds * ticks + alerting.lambda_seconds
    schedule_gb_s = schedule_seconds * m.memory_mb["ScheduleFunction"] / 1024
    poll_seconds = m.poll_seconds_per_feed * polls + m.extra_seconds_per_changed_poll * changed_polls
    poll_gb_s = poll_seconds * m.memory_mb["PollFunction"] / 1024
    read_units = (
        m.read_units_per_poll * polls
        + m.read_units_per_tick * ticks
        + m.read_units_per_new_item * new_items
        + alerting.read_units
    )
    write_units = (
        m.state_write_units_per_changed_poll * changed_polls
        + (m.seen_write_units_per_item + m.archive_write_units_per_item * (2 if w.archive_day_index else 1)) * new_items
        + alerting.write_units
    )
    kept = w.items_per_day * RETENTION_DAYS * w.feeds
    table_bytes = (
        w.feeds * (m.state_item_bytes + DYNAMODB_ITEM_OVERHEAD)
        + kept * (m.seen_item_bytes + DYNAMODB_ITEM_OVERHEAD)
        + kept * (m.archive_item_bytes + DYNAMODB_ITEM_OVERHEAD)
        + alerting.stored_bytes
    )
    gsi_bytes = kept * (m.archive_item_bytes + DYNAMODB_ITEM_OVERHEAD) * w.archive_day_index  # projection ALL
    idle_receives = ESM_IDLE_POLLERS * HOURS_PER_MONTH * 3600 / LONG_POLL_SECONDS
    sqs_requests = m.sqs_requests_per_poll / w.feeds_per_message * polls + idle_receives
    logged_polls = polls if w.log_every_poll else changed_polls + poll_invocations
    log_bytes = (
        m.log_bytes_per_poll * logged_polls
        + m.emf_bytes_per_invocation * invocations
        + LAMBDA_PLATFORM_LOG_BYTES * invocations
    )
    log_gb = log_bytes / 1e9
    # Every metric ever sent, every hour; or those the steady ticks send (each hour), plus
    # about one metric's worth for the alert counts, sent only in the hours alerts happen.
    metrics = m.metrics if w.metrics_every_hour else m.steady_metrics + 1
    batch_seconds = m.poll_seconds_per_feed * m.batch_size
    span = math.ceil(batches_per_tick / m.workers) * batch_seconds  # seconds a tick's invocations spread over
    sampled = min(batches_per_tick, XRAY_RESERVOIR_PER_SECOND * span)
    traces = (1 + sampled + XRAY_FIXED_RATE * (batches_per_tick - sampled)) * ticks if w.tracing else 0.0

    per_gb_second = LAMBDA_PER_GB_SECOND[w.architecture]
    lines = {
        "Lambda requests": invocations * LAMBDA_PER_REQUEST,
        "Lambda compute": (schedule_gb_s + poll_gb_s) * per_gb_second,
        "DynamoDB reads": read_units * DYNAMODB_PER_READ_UNIT,
        "DynamoDB writes": write_units * DYNAMODB_PER_WRITE_UNIT,
        "DynamoDB storage": (table_bytes + gsi_bytes) / 1e9 * DYNAMODB_PER_GB_MONTH,
        "DynamoDB backups (PITR)": table_bytes / 1e9 * DYNAMODB_PITR_PER_GB_MONTH,
        "SQS requests": sqs_requests * SQS_PER_REQUEST,
        "EventBridge Scheduler": ticks * SCHEDULER_PER_INVOCATION,
        "S3 (watch file)": invocations * S3_PER_GET,
        "CloudWatch Logs": log_gb * LOGS_PER_GB_INGESTED
        + log_gb * LOG_COMPRESSION * LOG_RETENTION_MONTHS * LOGS_PER_GB_STORED,
        "CloudWatch metrics": metrics * METRICS_PER_METRIC_MONTH,
        "X-Ray traces": traces * XRAY_PER_TRACE,
        "CloudWatch alarms": CLOUDWATCH_ALARMS * ALARM_PER_MONTH,
        "CloudWatch dashboard": CLOUDWATCH_DASHBOARDS * DASHBOARD_PER_MONTH,
        "SNS publish + email": alerting.publishes * SNS_PER_PUBLISH + alerting.emails * SNS_PER_EMAIL,
        "SNS SMS": alerting.sms * SNS_PER_SMS,
    }
    quantities = {
        "Lambda requests": f"{invocations / 1e3:,.0f}k invocations ({batches_per_tick} poll + 1 schedule a tick)",
        "Lambda compute": (
            f"{schedule_gb_s + poll_gb_s:,.0f} GB-s {w.architecture} (poll {m.memory_mb['PollFunction']} MB: "
            f"{poll_seconds / poll_invocations:.2f} s an invocation; schedule {m.memory_mb['ScheduleFunction']} MB: "
            f"{m.schedule_seconds_per_feed * w.feeds:.2f} s a tick)"
        ),
        "DynamoDB reads": f"{read_units / 1e6:,.2f} M read units",
        "DynamoDB writes": f"{write_units / 1e6:,.2f} M write units ({new_items / 1e3:,.0f}k new items)",
        "DynamoDB storage": f"{(table_bytes + gsi_bytes) / 1e9:,.2f} GB (tables)",
        "DynamoDB backups (PITR)": f"{table_bytes / 1e9:,.2f} GB",
        "SQS requests": f"{sqs_requests / 1e6:,.2f} M (of which {idle_receives / 1e6:.2f} M idle long polls)",
        "EventBridge Scheduler": f"{ticks:,} invocations",
        "S3 (watch file)": f"{invocations / 1e3:,.0f}k conditional GETs",
        "CloudWatch Logs": f"{log_gb:,.2f} GB ingested",
        "CloudWatch metrics": f"{metrics} metrics",
        "X-Ray traces": f"{traces / 1e3:,.0f}k traces",
        "CloudWatch alarms": f"{CLOUDWATCH_ALARMS} alarms",
        "CloudWatch dashboard": f"{CLOUDWATCH_DASHBOARDS} dashboard",
        "SNS publish + email": (
            f"{alerting.alerts:,.0f} alerts x {w.recipients_per_alert:g} recipients: {alerting.publishes:,.0f} "
            f"publishes ({alerting.immediate:,.0f} immediate, {alerting.digests:,.0f} digests), "
            f"{alerting.emails:,.0f} emails"
        ),
        "SNS SMS": f"{alerting.sms:,.0f} SMS",
    }
    return Bill(lines, quantities, FREE_TIER | {"Lambda compute": LAMBDA_FREE_GB_SECONDS * per_gb_second})


def money(value: float) -> str:
    return f"{value:,.2f}" if value >= 0.995 or value == 0 else f"{value:.3f}".rstrip("0").rstrip(".")


def print_table(m: Measured, markdown: bool) -> dict[int, Bill]:
    bills = {feeds: bill(m, Workload(feeds)) for feeds in FEED_COUNTS}
    names = list(bills[FEED_COUNTS[0]].lines)
    header = ["USD / month", *(f"{feeds:,} feeds" for feeds in FEED_COUNTS)]
    rows = [[name, *(money(bills[feeds].lines[name]) for feeds in FEED_COUNTS)] for name in names if name != "SNS SMS"]
    rows.append(["**total before SMS**", *(f"**{money(bills[f].before_sms)}**" for f in FEED_COUNTS)])
    rows.append(
        ["total before SMS, after the always-free tier", *(money(bills[f].after_free_tier) for f in FEED_COUNTS)]
    )
    rows.append([f"SNS SMS ({SMS_PER_DAY}/day, US)", *(money(bills[f].lines["SNS SMS"]) for f in FEED_COUNTS)])
    print_rows(header, rows, markdown)
    return bills


def print_rows(header: list[str], rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(str(row[i]).replace("**", "")) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [str(cell).replace("**", "") for cell in row]
        print("  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--concurrency", type=int, default=50, help="which POLL_CONCURRENCY run to price")
    parser.add_argument("--calls", type=Path, default=CALLS_JSON)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    data = json.loads(args.calls.read_text(encoding="utf-8"))
    m = measured(data, args.concurrency)
    print(
        f"Monthly bill, {REGION} list prices assumed on {PRICES_AS_OF}, every feed polled every {TICK_MINUTES} min "
        f"({TICKS_PER_MONTH:,} ticks), {NEW_ITEMS_PER_FEED_PER_DAY} new items per feed per day, "
        f"{ALERTS_PER_MONTH} alerts/month to {RECIPIENTS_PER_ALERT} recipients each "
        f"({DIGEST_RECIPIENTS_PER_ALERT} by hourly digest), {SMS_PER_DAY} SMS/day; "
        f"measured with POLL_CONCURRENCY {m.concurrency}, BatchSize {m.batch_size}, "
        f"ScheduleFunction {m.memory_mb['ScheduleFunction']} MB, PollFunction {m.memory_mb['PollFunction']} MB; "
        f"Lambda on {ARCHITECTURE} at the durations measured on x86_64\n"
    )
    bills = print_table(m, args.markdown)
    target = bills[1_000].before_sms
    print(
        f"\ntarget: 1,000 feeds every 5 minutes under 3 USD a month before SMS: {money(target)} USD, "
        f"{'met' if target < 3 else 'NOT met'} (after the always-free tier: {money(bills[1_000].after_free_tier)})"
    )
    print(
        f"\nper feed polled: 304 {m.poll_seconds_per_feed * 1000:.1f} ms of PollFunction, "
        f"{m.schedule_seconds_per_feed * 1000:.1f} ms of ScheduleFunction, {m.read_units_per_poll:.3f} read unit, "
        f"{m.sqs_requests_per_poll:.3f} SQS requests, {m.log_bytes_per_poll:.0f} log bytes; "
        f"with news +{m.extra_seconds_per_changed_poll * 1000:.0f} ms and "
        f"{m.state_write_units_per_changed_poll:.2f} write units (state); per new item "
        f"{m.read_units_per_new_item:.1f} read + {m.seen_write_units_per_item:.1f} + "
        f"{m.archive_write_units_per_item:.2f} write units (seen, archive); "
        f"{m.emf_bytes_per_invocation:.0f} EMF bytes an invocation"
    )
    print("\nwhat the 1,000-feed figures are made of:")
    for name, quantity in bills[1_000].quantities.items():
        print(f"  {name:<24} {quantity}")

    side = alert_side(m, Workload(1_000))
    print(
        f"\nalert side, {side.alerts:,.0f} alerts x {RECIPIENTS_PER_ALERT} recipients: "
        f"{side.deliveries:,.0f} deliveries ({side.immediate:,.0f} immediate, {side.digest_members:,.0f} in "
        f"{side.digests:,.0f} hourly digests), {side.sms:,.0f} SMS, {side.candidates:,.0f} fold-index candidates: "
        f"{side.write_units / 1e3:,.1f}k write units "
        f"({side.write_units / side.alerts:.0f} an alert, of which {FOLD_BANDS} fold-index band keys), "
        f"{side.read_units / 1e3:,.1f}k read units, {side.publishes:,.0f} SNS publishes, {side.emails:,.0f} emails"
    )

    print(
        "\nalert side by alerts per month and recipients per alert (a third of them by hourly digest), "
        "1,000 feeds (USD / month before SMS; the alert side without the fixed alarms and dashboard):"
    )
    header = ["alerts/month x recipients", "alert side", "total before SMS", "after free tier"]
    rows = []
    for alerts, recipients in ALERT_SENSITIVITY:
        workload = Workload(
            1_000, alerts_per_month=alerts, recipients_per_alert=recipients, digest_recipients_per_alert=recipients // 3
        )
        quiet = bill(m, replace(workload, alerts_per_month=0, sms_per_day=0))
        loud = bill(m, workload)
        rows.append(
            [
                f"{alerts:,} x {recipients}",
                money(loud.before_sms - quiet.before_sms),
                money(loud.before_sms),
                money(loud.after_free_tier),
            ]
        )
    print_rows(header, rows, args.markdown)

    print("\nsensitivity to new items per feed per day, 1,000 feeds (USD / month before SMS):")
    header = ["items/feed/day", *(str(n) for n in SENSITIVITY_ITEMS)]
    rows = [["total", *(money(bill(m, Workload(1_000, items_per_day=n)).before_sms) for n in SENSITIVITY_ITEMS)]]
    for name in ("DynamoDB writes", "DynamoDB storage", "Lambda compute"):
        rows.append([name, *(money(bill(m, Workload(1_000, items_per_day=n)).lines[name]) for n in SENSITIVITY_ITEMS)])
    print_rows(header, rows, args.markdown)

    print("\nlevers, 1,000 feeds (USD / month before SMS):")
    base = Workload(1_000)
    levers: list[tuple[str, Measured, Workload]] = [
        ("as measured (the code as it is)", m, base),
        ("before: one log line per feed polled", m, replace(base, log_every_poll=True)),
        ("before: every metric every invocation, zeros included", m, replace(base, metrics_every_hour=True)),
        ("before: archive with a day-index GSI (projection ALL)", m, replace(base, archive_day_index=True)),
        ("X-Ray tracing off", m, replace(base, tracing=False)),
        ("no alerts at all (polling only)", m, replace(base, alerts_per_month=0, sms_per_day=0)),
        ("before: Lambda on x86_64 (same durations)", m, replace(base, architecture="x86_64")),
    ]
    other = [r["poll_concurrency"] for r in data["runs"] if r["poll_concurrency"] != m.concurrency]
    if other:
        levers.append((f"POLL_CONCURRENCY {other[0]} instead of {m.concurrency}", measured(data, other[0]), base))
    levers.append(("design: 10 feeds per SQS message (a job = 10 feeds)", m, replace(base, feeds_per_message=10)))
    levers.append(("X-Ray off and 10 feeds per message", m, replace(base, tracing=False, feeds_per_message=10)))
    print(f"  {'':<56} {'list':>6} {'after free tier':>16}")
    for label, lever_m, workload in levers:
        lever = bill(lever_m, workload)
        print(f"  {label:<56} {money(lever.before_sms):>6} {money(lever.after_free_tier):>16}")


if __name__ == "__main__":
    main()
