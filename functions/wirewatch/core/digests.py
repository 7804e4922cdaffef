"""Digest texts: the alerts of a period, grouped by rule, as one email and one SMS.

The scheduled digest function reads alert records, turns them into
:class:`DigestEntry` values and calls :func:`render_digest`; an empty period
gives no digest at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, Final

from wirewatch.core.sms import fit_sms, segments, to_gsm7

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from wirewatch.core.model import Severity

# 50 entries of three lines each is a mail read in one scroll, and far below the
# 256 KB an SNS message may carry whatever the links. Slots are dealt to the rules
# in turn, so one noisy rule cannot push a quiet, severe one out of the digest.
ENTRY_LIMIT: Final = 50
HEADLINE_LIMIT: Final = 300  # feeds bound titles at 1,000; a digest line needs far less
# strftime's %b follows the process locale; a digest must not.
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, kw_only=True)
class DigestEntry:
    """One alert as a digest shows it; datetimes are aware."""

    rule_id: str
    rule_title: str
    severity: Severity
    headline: str
    source: str  # feed id
    published: datetime | None
    link: str
    also_reported: int = 0  # other sources folded into this alert
    created_at: datetime  # when the alert was created; orders undated entries

    @property
    def when(self) -> datetime:
        return self.published or self.created_at


@dataclass(frozen=True)
class DigestText:
    subject: str  # < 100 characters (SNS)
    email: str  # plain text
    sms: str  # one segment


@dataclass(frozen=True)
class _Group:
    rule_id: str
    rule_title: str
    severity: Severity
    entries: tuple[DigestEntry, ...]  # newest first


def render_digest(
    entries: Sequence[DigestEntry], *, recipient: str, tz: ZoneInfo, since: datetime | None, until: datetime
) -> DigestText | None:
    """The digest of ``entries`` for one subscriber, times in ``tz``; None when there is nothing to send.

    Raises:
        ValueError: a datetime is naive (its local time would depend on the machine).
    """
    if not entries:
        return None
    groups = _groups(entries)
    clock = _Clock(tz, [until, *([since] if since else []), *(entry.when for entry in entries)])
    return DigestText(
        subject=_subject(len(entries), len(groups), clock.short(until)),
        email=_email(groups, recipient=recipient, clock=clock, since=since, until=until),
        sms=_sms(groups, clock=clock, since=since, until=until),
    )


def _groups(entries: Iterable[DigestEntry]) -> list[_Group]:
    """Entries by rule, newest first; the rules most severe first, then by title."""

    def newest_first(entry: DigestEntry) -> tuple[float, float, str]:
        return (-entry.when.timestamp(), -entry.created_at.timestamp(), entry.headline)

    by_rule = sorted(entries, key=lambda entry: entry.rule_id)
    groups = []
    for rule_id, members in groupby(by_rule, key=lambda entry: entry.rule_id):
        ordered = tuple(sorted(members, key=newest_first))
        # A rule edited within the period: its newest alert carries the current title.
        groups.append(_Group(rule_id, ordered[0].rule_title, ordered[0].severity, ordered))
    return sorted(groups, key=lambda group: (-group.severity, group.rule_title.casefold(), group.rule_id))


class _Clock:
    """Local times of one digest; the zone is named on each time only when the period crosses a DST change."""

    def __init__(self, tz: ZoneInfo, moments: Iterable[datetime]) -> None:
        self.tz = tz
        self.mixed = len({self.local(moment).utcoffset() for moment in moments}) > 1
        # Width of short(): "27 Nov 07:42", or "27 Oct 02:30 CEST" when zones are named.
        self.width = 17 if self.mixed else 12

    def local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime in a digest: {moment.isoformat()}")
        return moment.astimezone(self.tz)

    def short(self, moment: datetime) -> str:
        local = self.local(moment)
        text = f"{local.day} {_MONTHS[local.month - 1]} {local:%H:%M}"
        return f"{text} {local:%Z}" if self.mixed else text

    def long(self, moment: datetime) -> str:
        local = self.local(moment)
        return f"{local.day} {_MONTHS[local.month - 1]} {local.year} {local:%H:%M %Z}"

    def time(self, moment: datetime, *, day_of: datetime) -> str:
        """Hours and minutes, with the day when it is not ``day_of``'s."""
        local = self.local(moment)
        if self.local(day_of).date() != local.date():
            return self.short(moment)
        return f"{local:%H:%M}"


def _subject(alerts: int, rules: int, until: str) -> str:
    # Counts and a date only: well under the 100 characters SNS takes, whatever the rules are called.
    return f"wirewatch digest: {_count(alerts, 'alert')}, {_count(rules, 'rule')} ({until})"


def _email(groups: Sequence[_Group], *, recipient: str, clock: _Clock, since: datetime | None, until: datetime) -> str:
    total = sum(len(group.entries) for group in groups)
    period = f"{clock.long(since)} to {clock.long(until)}" if since else f"until {clock.long(until)}"
    lines = [
        f"wirewatch digest: {_count(total, 'alert')} from {_count(len(groups), 'rule')}",
        f"Period: {period}",
        "",
    ]
    slots = _deal(ENTRY_LIMIT, [len(group.entries) for group in groups])
    unlisted = [group for group, slot in zip(groups, slots, strict=True) if not slot]
    for group, slot in zip(groups, slots, strict=True):
        if slot:
            lines += _group_lines(group, slot, clock)
    if unlisted:
        hidden = sum(len(group.entries) for group in unlisted)
        names = ", ".join(group.rule_id for group in unlisted)
        lines += [f"And {_count(hidden, 'more alert')} from {_count(len(unlisted), 'more rule')}: {names}", ""]
    lines += [
        "-- ",  # the signature delimiter: mail readers dim what follows
        f"You receive this digest at {recipient} because you subscribed to digests of these wirewatch rules.",
        f"Times are in {clock.tz.key or 'your time zone'}.",  # no key: a zone read from a file
    ]
    return "\n".join(lines)


def _group_lines(group: _Group, shown: int, clock: _Clock) -> list[str]:
    name = " ".join(group.rule_title.split())
    title = f"{name} ({group.rule_id}, {group.severity.label}): {_count(len(group.entries), 'alert')}"
    lines = [title, "-" * min(len(title), 72)]
    for entry in group.entries[:shown]:
        lines += _entry_lines(entry, clock)
    if len(group.entries) > shown:
        lines += [f"... and {len(group.entries) - shown} more for this rule", ""]
    return lines


def _entry_lines(entry: DigestEntry, clock: _Clock) -> list[str]:
    headline = _clip(" ".join(entry.headline.split()), HEADLINE_LIMIT) or "(no headline)"
    about = [entry.source]
    if entry.published is None:
        about.append("undated by the feed (time of the alert)")
    if entry.also_reported:
        about.append(f"also reported by {_count(entry.also_reported, 'source')}")
    indent = " " * (clock.width + 2)
    return [
        f"{clock.short(entry.when):<{clock.width}}  {headline}",
        f"{indent}{', '.join(about)}",
        f"{indent}{entry.link or '(no link)'}",
        "",
    ]


def _sms(groups: Sequence[_Group], *, clock: _Clock, since: datetime | None, until: datetime) -> str:
    """``7 alerts (crimea-strike 5, defence 2) since 07:00``, dropping rules from the end to fit."""
    total = _count(sum(len(group.entries) for group in groups), "alert")
    when = f" since {clock.time(since, day_of=until)}" if since else ""
    counts = [f"{group.rule_id} {len(group.entries)}" for group in groups]
    bodies = (_sms_body(total, counts, shown, when) for shown in range(len(counts), 0, -1))
    fitting = next((body for body in bodies if segments(to_gsm7(f"wirewatch: {body}")) == 1), None)
    # Rule ids too long for even one: fit_sms cuts the words, the total comes first.
    return fit_sms("wirewatch", fitting or _sms_body(total, counts, 0, when), "")


def _sms_body(total: str, counts: Sequence[str], shown: int, when: str) -> str:
    listed = [*counts[:shown], *([f"+{len(counts) - shown} more"] if shown < len(counts) else [])]
    return f"{total} ({', '.join(listed)}){when}"


def _deal(limit: int, sizes: Sequence[int]) -> list[int]:
    """Slots per group, dealt one at a time in group order up to ``limit`` in all."""
    slots = [0] * len(sizes)
    left = limit
    while left > 0 and any(slot < size for slot, size in zip(slots, sizes, strict=True)):
        for index, size in enumerate(sizes):
            if left > 0 and slots[index] < size:
                slots[index] += 1
                left -= 1
    return slots


def _clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut after a word when one ends in the second half."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head) + "…"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
