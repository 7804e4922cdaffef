"""Safe arming: a new feed or a new rule must not flood anyone with old news."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping, Sequence
    from datetime import datetime

    from wirewatch.core.model import Item, Match


def remembered(retention: timedelta) -> timedelta:
    """How far back the stores are sure to remember an item or an alert: a day less than
    they keep records (DynamoDB's TTL deletes a record up to about two days late, never
    early, but a day's margin keeps an item from alerting on the eve of its expiry)."""
    return max(retention - timedelta(days=1), timedelta(days=1))


def alertable(
    matches: Sequence[Match],
    item: Item,
    *,
    arming_rules: Collection[str],
    max_age: timedelta,
    forget_after: timedelta,
    now: datetime,
) -> list[Match]:
    """The matches that may alert.

    A match of a rule that is arming (its first cycle, or its feed's first poll)
    alerts only if the item is younger than ``max_age``; an undated item is
    treated as old, since nothing says it is news. An item older than
    ``forget_after`` (how long dedupe records live) never alerts: it may well have
    alerted once already, before its records expired.
    """
    if item.published is not None and item.published < now - forget_after:
        return []
    too_old = item.published is None or item.published < now - max_age
    if not too_old:
        return list(matches)
    return [match for match in matches if match.rule.id not in arming_rules]


def arming_at(rule_ids: Iterable[str], armed: Mapping[str, datetime], tick: datetime) -> tuple[str, ...]:
    """The rules whose first tick ``tick`` is: not armed yet, or armed by this very tick.

    Armed by this tick counts as arming: a retry of the tick (Lambda's, or EventBridge
    delivering it twice), or a job of it that reads the store after the scheduler armed
    them, must judge them as the first attempt did.
    """
    return tuple(sorted(rule for rule in set(rule_ids) if rule not in armed or armed[rule] >= tick))
