"""When each feed is polled: intervals, publishers' hints, backoff, pauses, moves and 410s.

A feed is due on the scheduler ticks its interval falls on, shifted by a phase
drawn from its id so that a thousand hourly feeds do not all fall on the hour.
That needs no "last polled" record: a feed that answers 304 costs no write.
The interval is the feed's own (``poll_every``, at least one tick), raised to
what the publisher asks for (RSS ``ttl``, ``Cache-Control: max-age``). After an
error the feed waits (``not_before``), exponentially longer with each failure in
a row, with jitter so that feeds failing together do not retry together, and at
least as long as a ``Retry-After`` says. After ``failures_to_pause`` failures in
a row it is *paused*: reported as such and tried at long, still growing
intervals, so it comes back by itself when the publisher does.

A permanent redirect (301/308) moves the feed: the new URL is polled while the
watch file still names the old one. A 410 stops polling the URL until the
watch file names another.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from wirewatch.core.normalize import one_line

if TYPE_CHECKING:
    from datetime import datetime

    from wirewatch.core.model import FeedSource
    from wirewatch.core.ports import FeedState, FetchResult


@dataclass(frozen=True)
class PollPolicy:
    tick: timedelta  # how often the scheduler runs: no feed is polled more often
    failures_to_pause: int = 5
    # Publishers' hints (ttl, max-age, Retry-After) are honoured up to a day: a feed
    # claiming a week must not go unread for a week because of a misconfigured header.
    longest_hint: timedelta = timedelta(days=1)
    longest_wait: timedelta = timedelta(days=1)  # backoff's cap, paused feeds included


def polled_url(feed: FeedSource, state: FeedState) -> str:
    """The URL to fetch: the configured one, or where it permanently moved."""
    if state.moved_to and state.moved_from == feed.url:
        return state.moved_to
    return feed.url


def is_gone(feed: FeedSource, state: FeedState) -> bool:
    """The configured URL (or the one it moved to) answered 410 Gone."""
    return state.gone_url is not None and state.gone_url in (feed.url, polled_url(feed, state))


def interval(feed: FeedSource, state: FeedState, policy: PollPolicy) -> timedelta:
    own = feed.poll_every or policy.tick
    return max(own, state.min_interval or policy.tick, policy.tick)


def is_due(feed: FeedSource, state: FeedState, now: datetime, policy: PollPolicy) -> bool:
    """Whether the tick at ``now`` polls ``feed``."""
    if is_gone(feed, state):
        return False
    if state.not_before is not None and not waits_for_another_url(feed, state):
        if now < state.not_before:
            return False
        if now - policy.tick < state.not_before:
            return True  # the first tick after a wait polls at once
    every = interval(feed, state, policy).total_seconds()
    # The tick polls the feed if its interval's next multiple (shifted by the phase)
    # falls in the span since the previous tick.
    shifted = now.timestamp() - _phase(feed.id, every)
    return int(shifted // every) != int((shifted - policy.tick.total_seconds()) // every)


ERROR_LIMIT = 500  # characters of an error kept in a feed's state (and in every job carrying it)


def failing_for(state: FeedState, now: datetime) -> timedelta | None:
    """How long a feed has been failing, from the first failure of a run of at least two;
    None for a feed that works or failed once (a blip its next poll may clear)."""
    if state.consecutive_failures < 2:
        return None
    since = state.failing_since or state.last_error_at  # states written before failing_since
    return now - since if since is not None else None


def waits_for_another_url(feed: FeedSource, state: FeedState) -> bool:
    """The wait was earned by a URL the watch file no longer leads to (a fixed typo)."""
    return state.failing_url is not None and state.failing_url != polled_url(feed, state)


def _phase(feed_id: str, every: float) -> float:
    # crc32, not hash(): the phase must be the same in every process.
    return float(zlib.crc32(feed_id.encode("utf-8")) % max(int(every), 1))


def after_success(
    feed: FeedSource,
    state: FeedState,
    result: FetchResult,
    *,
    ttl: timedelta | None,
    new_items: bool,
    recent_items: str | None = None,
    now: datetime,
    policy: PollPolicy,
) -> FeedState:
    """The state after a poll that worked (200 or 304): waits cleared, hints and moves kept.

    The publisher's hints are read from full responses only: a 304 has no body to
    carry a ``ttl``, and servers often drop ``Cache-Control`` from it, so taking its
    silence for "no hint" would flip the state, and cost a write, at every poll.
    """
    min_interval = state.min_interval
    if not result.not_modified:
        hints = [hint for hint in (ttl, _seconds(result.max_age)) if hint is not None]
        # A hint no longer than a tick changes nothing: not stored, so it cannot cost writes.
        min_interval = min(max(hints), policy.longest_hint) if hints and max(hints) > policy.tick else None
    moved = (feed.url, result.moved_to) if result.moved_to else (state.moved_from, state.moved_to)
    if moved[0] != feed.url:
        moved = (None, None)  # the watch file names another URL now: the old move is moot
    return replace(
        state,
        validators=result.validators,
        consecutive_failures=0,
        not_before=None,
        paused=False,
        min_interval=min_interval,
        moved_from=moved[0],
        moved_to=moved[1],
        gone_url=None,
        failing_url=None,
        failing_since=None,
        last_new_item_at=now if new_items else state.last_new_item_at,
        recent_items=state.recent_items if recent_items is None else recent_items,
    )


def after_failure(
    feed: FeedSource,
    state: FeedState,
    *,
    error: str,
    gone: bool = False,
    retry_after: float | None = None,
    now: datetime,
    policy: PollPolicy,
    jitter: float,
) -> FeedState:
    """The state after a failed poll: the error recorded and the wait before the next try.

    ``jitter`` is a number in [0, 1) (random in production, fixed in tests): the wait
    is between half and all of the exponential backoff, so feeds that failed together
    spread out.
    """
    url = polled_url(feed, state)
    # Failures of another URL (before the operator fixed it) are not this one's.
    earlier = 0 if waits_for_another_url(feed, state) else state.consecutive_failures
    failures = earlier + 1
    since = (state.failing_since or state.last_error_at or now) if earlier else now
    failed = replace(
        state,
        last_error=one_line(error)[:ERROR_LIMIT],
        last_error_at=now,
        consecutive_failures=failures,
        failing_url=url,
        failing_since=since,
    )
    if gone:
        return replace(failed, gone_url=polled_url(feed, state), not_before=None)
    # Capped in seconds before it becomes a timedelta: a daily feed dead for a month
    # would otherwise overflow timedelta (2**32 days).
    backoff = interval(feed, state, policy).total_seconds() * 2.0 ** min(failures - 1, 32)
    wait = timedelta(seconds=min(backoff, policy.longest_wait.total_seconds())) * (0.5 + jitter / 2)
    asked = _seconds(retry_after)
    if asked is not None:
        wait = max(wait, min(asked, policy.longest_hint))
    return replace(failed, not_before=now + wait, paused=failures >= policy.failures_to_pause)


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=max(value, 0.0))


__all__ = ["PollPolicy", "after_failure", "after_success", "interval", "is_due", "is_gone", "polled_url"]
