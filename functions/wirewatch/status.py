"""``wirewatch status``: each feed's health and each rule's recent alerts, from the deployed tables.

Reading (``read_feed_states``, ``read_recent_alerts``) takes the boto3 client it
is given; building rows (``feed_health``, ``rule_activity``) and printing them
(``format_status``, ``status_json``) take plain data, so each can be tried alone.

The state table keeps no "last polled" time (it would cost a write at every poll
of every feed, 304s included): a feed whose last poll worked shows as ``ok``,
one that failed shows how many times in a row and when it last failed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from wirewatch.adapters.dynamodb import DynamoDBStateStore
from wirewatch.core.errors import StoreError, WirewatchError
from wirewatch.core.model import FeedSource
from wirewatch.core.schedule import is_gone, polled_url, waits_for_another_url

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from wirewatch.core.model import WatchConfig
    from wirewatch.core.ports import FeedState

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
# A person has something to do about these (fix or change a URL); "removed" is only leftover state.
_NEEDS_ATTENTION = frozenset({"failing", "paused", "gone", "moved"})


@dataclass(frozen=True)
class AlertRecord:
    """What status counts of an alert record: its rule and when it was created."""

    rule_id: str
    created_at: datetime


@dataclass(frozen=True)
class FeedHealth:
    feed_id: str
    state: str  # ok · failing · paused · gone (410) · moved (301/308) · new (no state yet) · removed
    failures: int = 0
    last_new_item_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    next_try_at: datetime | None = None  # a failing feed's backoff ends then
    # A failing or paused feed's first failure in a row: its last success was before then.
    failing_since: datetime | None = None
    note: str = ""


@dataclass(frozen=True)
class RuleActivity:
    rule_id: str
    last_24h: int
    last_7d: int
    last_alert_at: datetime | None
    in_watch_file: bool = True


@dataclass(frozen=True)
class StatusReport:
    at: datetime
    feeds: tuple[FeedHealth, ...]
    rules: tuple[RuleActivity, ...]


def _read_error(table: str, exc: Exception) -> WirewatchError:
    code = exc.response.get("Error", {}).get("Code", "?") if isinstance(exc, ClientError) else type(exc).__name__
    return WirewatchError(f"cannot read table {table}: {code}")


def _scan(client: DynamoDBClient, table: str, **arguments: Any) -> Iterator[dict[str, Any]]:
    try:
        for page in client.get_paginator("scan").paginate(TableName=table, **arguments):
            yield from page.get("Items", [])
    except (ClientError, BotoCoreError) as exc:
        raise _read_error(table, exc) from exc


def read_feed_states(client: DynamoDBClient, table: str) -> dict[str, FeedState]:
    """Every feed's state, feeds no longer in the watch file included (they keep their state,
    and status shows them): the state table's feed partitions, queried whole.

    Raises:
        WirewatchError: the table cannot be read with these credentials.
    """
    try:
        return DynamoDBStateStore(client, table).all_feeds()
    except StoreError as exc:
        raise WirewatchError(f"cannot read table {table}: {exc}") from exc


def read_recent_alerts(client: DynamoDBClient, table: str, since: datetime) -> list[AlertRecord]:
    """Alert records (``alert#<rule>#<story>``, one per rule and story) created at or after ``since``.

    A paginated Scan with a filter: DynamoDB reads (and bills) the whole table, which
    holds RetentionDays of alerts, a few hundred records for most desks. Good enough
    for a command run by hand; an index on ``created_at`` would cost a second write on
    every alert, for this command alone. Only ``alert#`` keys count: other records the
    table may hold (per-recipient deliveries) repeat an alert's rule and time; an alert
    withdrawn into another on the same event (two workers at once) before any of it went
    out is not counted (one that reached a recipient first is).

    Raises:
        WirewatchError: the table cannot be read with these credentials.
    """
    items = _scan(
        client,
        table,
        FilterExpression=" AND ".join(
            ("begins_with(pk, :alert)", "created_at >= :since", "attribute_not_exists(withdrawal_counted)")
        ),
        ProjectionExpression="rule_id, created_at",
        ExpressionAttributeValues={
            ":alert": {"S": "alert#"},
            ":since": {"S": since.astimezone(UTC).isoformat(timespec="seconds")},
        },
    )
    return [
        AlertRecord(rule_id=item["rule_id"]["S"], created_at=datetime.fromisoformat(item["created_at"]["S"]))
        for item in items
        if "rule_id" in item and "created_at" in item
    ]


def gather_status(
    client: DynamoDBClient, *, state_table: str, alerts_table: str, config: WatchConfig | None, now: datetime
) -> StatusReport:
    """Read both tables and build the report; ``config`` None shows what the tables hold.

    Raises:
        WirewatchError: a table cannot be read.
    """
    states = read_feed_states(client, state_table)
    alerts = read_recent_alerts(client, alerts_table, now - WEEK)
    feeds = config.feeds if config is not None else None
    rule_ids = [rule.id for rule in config.rules] if config is not None else None
    return StatusReport(
        at=now,
        feeds=tuple(feed_health(feeds, states)),
        rules=tuple(rule_activity(rule_ids, alerts, now)),
    )


def feed_health(feeds: Sequence[FeedSource] | None, states: Mapping[str, FeedState]) -> list[FeedHealth]:
    """One row per feed of the watch file (in its order), then per feed only the state table knows.

    ``feeds`` None (no watch file at hand): every feed of the state table, as if listed.
    """
    if feeds is None:
        return [_health(state, _listed(state)) for state in sorted(states.values(), key=lambda s: s.feed_id)]
    rows = [
        _health(states[feed.id], feed) if feed.id in states else FeedHealth(feed.id, "new", note="not polled yet")
        for feed in feeds
    ]
    listed = {feed.id for feed in feeds}
    rows += [_health(states[feed_id], None) for feed_id in sorted(set(states) - listed)]
    return rows


def _listed(state: FeedState) -> FeedSource:
    # Without the watch file, the URL that state records is the best guess of the configured one.
    return FeedSource(id=state.feed_id, url=state.moved_from or state.gone_url or "")


def _health(state: FeedState, feed: FeedSource | None) -> FeedHealth:
    failures = state.consecutive_failures
    health = FeedHealth(
        state.feed_id,
        "ok",
        failures=failures,
        last_new_item_at=state.last_new_item_at,
        last_error=state.last_error,
        last_error_at=state.last_error_at,
        # The backoff's end only means something while the feed is failing.
        next_try_at=state.not_before if failures else None,
        failing_since=(state.failing_since or state.last_error_at) if failures else None,
    )
    if feed is None:
        return replace(health, state="removed", next_try_at=None, note="not in the watch file; its state is kept")
    if is_gone(feed, state):
        # Checked first: a 410 also counts as a failure, but no backoff will bring it back.
        return replace(health, state="gone", next_try_at=None, note=f"{state.gone_url} is gone: name another URL")
    if failures and waits_for_another_url(feed, state):
        # The watch file names another URL since: polled at the next tick, from a clean count.
        state, failures = replace(state, paused=False), 0
        note = f"failed at {state.failing_url}; the new URL is tried next"
        health = replace(health, failures=0, next_try_at=None, failing_since=None, note=note)
    if state.paused:
        return replace(health, state="paused", note="retried at long intervals")
    if failures:
        return replace(health, state="failing")
    url = polled_url(feed, state)
    if url != feed.url:
        return replace(health, state="moved", note=f"polled at {url}: update the watch file")
    return health


def state_label(feed: FeedHealth) -> str:
    """How the table shows a state: ``failing 3×``, ``paused (5×)``, ``gone (410)``."""
    if feed.state == "failing":
        return f"failing {feed.failures}×"
    if feed.state == "paused":
        return f"paused ({feed.failures}×)"
    if feed.state == "gone":
        return "gone (410)"
    return feed.state


def rule_activity(rule_ids: Sequence[str] | None, alerts: Iterable[AlertRecord], now: datetime) -> list[RuleActivity]:
    """Alerts per rule in the last 24 hours and 7 days; rules of the watch file first, in its order,
    then rules the alerts name that the watch file no longer has."""
    by_rule: dict[str, list[AlertRecord]] = {}
    for alert in alerts:
        by_rule.setdefault(alert.rule_id, []).append(alert)
    known = list(rule_ids) if rule_ids is not None else sorted(by_rule)
    others = sorted(set(by_rule) - set(known))
    rows = []
    for rule_id in [*known, *others]:
        recent = [alert for alert in by_rule.get(rule_id, []) if alert.created_at >= now - WEEK]
        rows.append(
            RuleActivity(
                rule_id=rule_id,
                last_24h=sum(1 for alert in recent if alert.created_at >= now - DAY),
                last_7d=len(recent),
                last_alert_at=max((alert.created_at for alert in recent), default=None),
                in_watch_file=rule_ids is None or rule_id in rule_ids,
            )
        )
    return rows


def ago(moment: datetime | None, now: datetime) -> str:
    """``5 min ago``, ``3 h ago``, ``2 d ago``; ``in 12 min`` for a moment to come; ``-`` for none."""
    if moment is None:
        return "-"
    seconds = int((now - moment).total_seconds())
    span = abs(seconds)
    if span < 60:
        return "just now"
    if span < 3600:
        text = f"{span // 60} min"
    elif span < 2 * 86400:
        text = f"{span // 3600} h"
    else:
        text = f"{span // 86400} d"
    return f"{text} ago" if seconds > 0 else f"in {text}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell; the last one is left ragged (no trailing spaces).

    Cells are shown escaped where not printable: an error comes from a feed's server (its
    HTTP reason phrase), and escape sequences in it would drive the operator's terminal.
    """
    rows = [[_printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _printable(text: str) -> str:
    return text if text.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _shorten(text: str | None, limit: int) -> str:
    if not text:
        return "-"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_status(report: StatusReport, *, error_width: int = 48) -> str:
    """Two aligned tables (feeds, then rules) for a terminal; plain text, so it greps and pipes."""
    now = report.at
    feed_rows = []
    for feed in report.feeds:
        note = feed.note
        if feed.next_try_at is not None:
            note = "; ".join(filter(None, [f"next try {ago(feed.next_try_at, now)}", note]))
        feed_rows.append(
            [
                feed.feed_id,
                state_label(feed),
                ago(feed.failing_since, now),
                ago(feed.last_new_item_at, now),
                _shorten(feed.last_error, error_width),
                ago(feed.last_error_at, now) if feed.last_error else "-",
                note or "-",
            ]
        )
    rule_rows = [
        [
            rule.rule_id if rule.in_watch_file else f"{rule.rule_id} (not in watch file)",
            str(rule.last_24h),
            str(rule.last_7d),
            ago(rule.last_alert_at, now),
        ]
        for rule in report.rules
    ]
    attention = sum(1 for feed in report.feeds if feed.state in _NEEDS_ATTENTION)
    lines = [
        f"wirewatch status at {now.astimezone(UTC).isoformat(timespec='seconds')}",
        "",
        f"Feeds ({len(report.feeds)}, {attention} needing attention)",
        *_table(["FEED", "STATE", "FAILING SINCE", "LAST NEW ITEM", "LAST ERROR", "ERROR AT", "NOTE"], feed_rows),
        "",
        f"Rules ({len(report.rules)})",
        *_table(["RULE", "24 H", "7 D", "LAST ALERT"], rule_rows),
    ]
    return "\n".join(lines)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment is not None else None


def status_json(report: StatusReport) -> dict[str, Any]:
    """The report as JSON-ready data for scripts: times in ISO 8601 UTC, nothing shortened."""
    return {
        "at": _iso(report.at),
        "feeds": [
            {
                "id": feed.feed_id,
                "state": feed.state,
                "consecutive_failures": feed.failures,
                "last_new_item_at": _iso(feed.last_new_item_at),
                "last_error": feed.last_error,
                "last_error_at": _iso(feed.last_error_at),
                "next_try_at": _iso(feed.next_try_at),
                "failing_since": _iso(feed.failing_since),
                "note": feed.note or None,
            }
            for feed in report.feeds
        ],
        "rules": [
            {
                "id": rule.rule_id,
                "alerts_24h": rule.last_24h,
                "alerts_7d": rule.last_7d,
                "last_alert_at": _iso(rule.last_alert_at),
                "in_watch_file": rule.in_watch_file,
            }
            for rule in report.rules
        ],
    }
