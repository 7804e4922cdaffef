"""Who receives an alert, and when: severity thresholds, quiet hours, digests, SMS budgets.

Times are worked out in the subscriber's time zone and stored in UTC, so a
daylight-saving change or a clock that jumps moves nothing that was decided:
a delivery is due at an absolute instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from wirewatch.core.model import Alert, Delivery, Severity, Subscriber, WatchConfig

# Quiet hours hold everything below this; a critical alert wakes people up.
WAKES_UP = Severity.CRITICAL


def delivery_key(subscriber: Subscriber, alert_key: str) -> str:
    return f"delivery#{subscriber.recipient}#{alert_key.removeprefix('alert#')}"


def recipient_of(key: str, alert_key: str) -> str:
    """The recipient of ``alert_key``'s delivery ``key`` (the inverse of ``delivery_key``)."""
    return key.removeprefix("delivery#").removesuffix("#" + alert_key.removeprefix("alert#"))


def route(alert: Alert, config: WatchConfig, now: datetime) -> list[Delivery]:
    """One delivery per recipient of ``alert``: those that want its rule at its severity."""
    deliveries = []
    for subscriber in config.subscribers:
        if alert.severity < subscriber.min_severity:
            continue
        if alert.rule_id not in config.rules_for_subscriber(subscriber):
            continue
        mode, due = first_due(subscriber, alert.severity, now)
        deliveries.append(
            Delivery(
                key=delivery_key(subscriber, alert.key),
                recipient=subscriber.recipient,
                due_at=due,
                created_at=now,
                mode=mode,
                alert=alert,
            )
        )
    return deliveries


def first_due(subscriber: Subscriber, severity: Severity, now: datetime) -> tuple[str, datetime]:
    """How (``immediate`` or ``digest``) and when an alert of ``severity`` reaches ``subscriber``."""
    if subscriber.mode == "digest":
        return "digest", next_digest(subscriber, now)
    if severity >= WAKES_UP:
        return "immediate", now
    return "immediate", quiet_until(subscriber, now) or now


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local(subscriber: Subscriber, moment: datetime) -> datetime:
    return moment.astimezone(_zone(subscriber.timezone))


def _at(day: datetime, clock: time, *, after: datetime | None = None) -> datetime:
    """The instant, in UTC, when the local clock of ``day``'s zone shows ``clock`` on
    ``day``'s date: the first such instant later than ``after`` if given.

    Daylight saving makes that zero, one or two instants. A wall-clock time that
    happens twice (the fall-back night) is the first occurrence later than ``after``;
    one that never happens (the spring-forward night) is the first valid time after
    it, the moment the clock jumps.
    """
    first, second = (
        datetime.combine(day.date(), clock, tzinfo=day.tzinfo).replace(fold=fold).astimezone(UTC) for fold in (0, 1)
    )
    if first > second:  # a skipped time: fold=0 lands after the jump, fold=1 before it
        return _jump_between(second, first, day)
    candidates = sorted({first, second})
    if after is not None:
        later = [candidate for candidate in candidates if candidate > after]
        return later[0] if later else candidates[-1]
    return candidates[0]


def _jump_between(before: datetime, after: datetime, day: datetime) -> datetime:
    """The instant between two UTC instants where the zone's offset changes (to the minute)."""
    zone = day.tzinfo
    low, high = before, after
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
            low = middle
        else:
            high = middle
    # Offsets change on the minute, so the minute ``high`` falls in is the change itself.
    return high.replace(second=0, microsecond=0)


def _next_hour(local: datetime) -> datetime:
    """The first instant after ``local`` when its zone's clock shows a full hour, in UTC.

    Counted in real time, so the night the clock falls back keeps its repeated hour
    (adding an hour to the wall clock would skip it). Every zone's offset is a multiple
    of 15 minutes, so full hours are among the quarter hours.
    """
    candidate = local.astimezone(UTC)
    candidate = candidate.replace(minute=candidate.minute - candidate.minute % 15, second=0, microsecond=0)
    while True:
        candidate += timedelta(minutes=15)
        if candidate.astimezone(local.tzinfo).minute == 0:
            return candidate


def quiet_until(subscriber: Subscriber, moment: datetime) -> datetime | None:
    """When the quiet hours ``moment`` falls in end, or None if it is not in quiet hours."""
    quiet = subscriber.quiet_hours
    if quiet is None or quiet.start == quiet.end:
        return None
    local = _local(subscriber, moment)
    now = local.time()
    if quiet.start < quiet.end:  # within one day, e.g. 12:00-14:00
        if quiet.start <= now < quiet.end:
            return _at(local, quiet.end, after=moment)
        return None
    # Across midnight, e.g. 22:00-07:00.
    if now >= quiet.start:
        return _at(local + timedelta(days=1), quiet.end, after=moment)
    if now < quiet.end:
        return _at(local, quiet.end, after=moment)
    return None


def next_digest(subscriber: Subscriber, after: datetime) -> datetime:
    """The first digest time strictly after ``after`` that is not in quiet hours."""
    slot = _next_slot(subscriber, after)
    # Quiet hours hold a digest too: it goes out when they end, with what came in meanwhile.
    held = quiet_until(subscriber, slot)
    return held if held is not None else slot


def _next_slot(subscriber: Subscriber, after: datetime) -> datetime:
    local = _local(subscriber, after)
    if subscriber.digest.every == "daily":
        # One slot a date: on the night the clock falls back, a digest time in the repeated
        # hour is its first occurrence only, or the daily digest would go out twice.
        slot = _at(local, subscriber.digest.at)
        if slot <= after:
            slot = _at(local + timedelta(days=1), subscriber.digest.at)
        return slot
    # Hourly, on the hour of the subscriber's zone (not UTC's, in half-hour zones).
    return _next_hour(local)


@dataclass(frozen=True)
class BudgetWindow:
    """One SMS counter: ``key`` names the window (an hour, a local day), ``limit`` its size."""

    key: str
    limit: int
    ends_at: datetime


def budget_windows(subscriber: Subscriber, now: datetime) -> list[BudgetWindow]:
    """The counters one more SMS to ``subscriber`` at ``now`` must fit in."""
    budget = subscriber.sms_budget
    if budget is None:
        return []
    local = _local(subscriber, now)
    windows = []
    if budget.per_hour is not None:
        hour = local.replace(minute=0, second=0, microsecond=0)
        windows.append(
            BudgetWindow(
                f"budget#{subscriber.recipient}#hour#{hour.astimezone(UTC):%Y-%m-%dT%H}",
                budget.per_hour,
                _next_hour(local),
            )
        )
    if budget.per_day is not None:
        windows.append(
            BudgetWindow(
                f"budget#{subscriber.recipient}#day#{local:%Y-%m-%d}",
                budget.per_day,
                _at(local + timedelta(days=1), time(0, 0)),
            )
        )
    return windows


def after_budget(subscriber: Subscriber, delivery: Delivery, now: datetime) -> tuple[str, datetime]:
    """Where an SMS the budget refused goes: an alert to the next digest; a digest (which
    is already the overflow) to when the hourly window turns."""
    if delivery.digest is None:
        return "digest", next_digest(subscriber, now)
    # Quiet hours hold it like any digest: a budget that frees at midnight wakes nobody.
    due = _next_hour(_local(subscriber, now))
    return delivery.mode, quiet_until(subscriber, due) or due
