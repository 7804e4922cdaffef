"""When feeds are polled: intervals and phases, publishers' hints, backoff, pauses, moves, 410s."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wirewatch.adapters.sqs import decode_job, encode_job
from wirewatch.core.ports import FeedState, FetchResult, PollJob, Validators, recent
from wirewatch.core.schedule import (
    PollPolicy,
    after_failure,
    after_success,
    failing_for,
    interval,
    is_due,
    is_gone,
    polled_url,
)

from .helpers import make_feed

TICK = timedelta(minutes=5)
POLICY = PollPolicy(tick=TICK)
NOW = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)
FEED = make_feed("wire")


def ticks(start: datetime, span: timedelta) -> list[datetime]:
    return [start + TICK * n for n in range(int(span / TICK))]


def polls(feed_state: FeedState, span: timedelta, feed: object = FEED) -> list[datetime]:
    return [moment for moment in ticks(NOW, span) if is_due(feed, feed_state, moment, POLICY)]  # type: ignore[arg-type]


def ok(*, max_age: float | None = None, moved_to: str | None = None, status: int = 200) -> FetchResult:
    return FetchResult(
        url="https://x", status=status, body=b"", validators=Validators('"e"'), max_age=max_age, moved_to=moved_to
    )


# ---------------------------------------------------------------- due ticks


def test_a_feed_without_its_own_interval_is_polled_every_tick() -> None:
    assert len(polls(FeedState("wire"), timedelta(hours=1))) == 12


def test_an_hourly_feed_is_polled_once_an_hour_at_its_own_minute() -> None:
    hourly = [make_feed(f"feed-{n}", poll_every=timedelta(hours=1)) for n in range(40)]
    first_polls = []
    for feed in hourly:
        moments = polls(FeedState(feed.id), timedelta(hours=3), feed)
        assert [b - a for a, b in pairwise(moments)] == [timedelta(hours=1)] * 2
        first_polls.append(moments[0])
    # The phase spreads them over the hour rather than all on the hour.
    assert len(set(first_polls)) > 6


@given(st.text(min_size=1, max_size=20), st.integers(min_value=1, max_value=48))
@settings(max_examples=100)
def test_every_interval_is_honoured_exactly(feed_id: str, tick_multiple: int) -> None:
    feed = make_feed(feed_id, poll_every=TICK * tick_multiple)
    moments = polls(FeedState(feed_id), TICK * tick_multiple * 3, feed)
    assert len(moments) == 3
    assert all(b - a == TICK * tick_multiple for a, b in pairwise(moments))


def test_a_publishers_ttl_lowers_the_polling_rate_and_a_304_keeps_it() -> None:
    state = after_success(
        FEED, FeedState("wire"), ok(), ttl=timedelta(minutes=30), new_items=False, now=NOW, policy=POLICY
    )
    assert interval(FEED, state, POLICY) == timedelta(minutes=30)
    assert len(polls(state, timedelta(hours=2))) == 4
    # A 304 carries no ttl and often no Cache-Control: silence is not a change.
    after_304 = after_success(FEED, state, ok(status=304), ttl=None, new_items=False, now=NOW, policy=POLICY)
    assert after_304 == state


def test_max_age_is_a_lower_bound_and_the_larger_hint_wins() -> None:
    state = after_success(
        FEED, FeedState("wire"), ok(max_age=3600), ttl=timedelta(minutes=10), new_items=False, now=NOW, policy=POLICY
    )
    assert state.min_interval == timedelta(hours=1)


def test_hints_shorter_than_the_tick_or_absurdly_long_are_bounded() -> None:
    short = after_success(FEED, FeedState("wire"), ok(max_age=0), ttl=None, new_items=False, now=NOW, policy=POLICY)
    week = after_success(
        FEED, FeedState("wire"), ok(max_age=7 * 86400), ttl=None, new_items=False, now=NOW, policy=POLICY
    )
    assert interval(FEED, short, POLICY) == TICK
    assert interval(FEED, week, POLICY) == POLICY.longest_hint


# ---------------------------------------------------------------- failures


def failed(
    state: FeedState, *, jitter: float = 0.999, retry_after: float | None = None, at: datetime = NOW
) -> FeedState:
    return after_failure(
        FEED, state, error="http-500: boom", retry_after=retry_after, now=at, policy=POLICY, jitter=jitter
    )


def test_backoff_doubles_with_each_failure_in_a_row() -> None:
    state = FeedState("wire")
    waits = []
    for _ in range(4):
        state = failed(state)
        assert state.not_before is not None
        waits.append(state.not_before - NOW)
    assert [round(wait / TICK) for wait in waits] == [1, 2, 4, 8]
    assert state.last_error == "http-500: boom"


def test_jitter_spreads_the_wait_between_half_and_all_of_the_backoff() -> None:
    low = failed(FeedState("wire", consecutive_failures=3), jitter=0.0)
    high = failed(FeedState("wire", consecutive_failures=3), jitter=0.999)
    assert low.not_before is not None and high.not_before is not None
    assert low.not_before - NOW == TICK * 8 * 0.5
    assert TICK * 8 * 0.99 < high.not_before - NOW <= TICK * 8


def test_a_waiting_feed_is_skipped_then_polled_at_the_first_tick_after_its_wait() -> None:
    state = failed(FeedState("wire", consecutive_failures=2))  # ~20 minutes
    moments = polls(state, timedelta(hours=1))
    assert state.not_before is not None
    assert moments[0] >= state.not_before
    assert moments[0] - state.not_before < TICK


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    state = failed(FeedState("wire"), retry_after=3600)
    assert state.not_before == NOW + timedelta(hours=1)
    assert failed(FeedState("wire"), retry_after=30 * 86400).not_before == NOW + POLICY.longest_hint


def test_repeated_failures_pause_the_feed_which_keeps_trying_at_growing_intervals() -> None:
    state = FeedState("wire")
    waits = []
    for _ in range(POLICY.failures_to_pause + 8):
        state = failed(state)
        assert state.not_before is not None
        waits.append(state.not_before - NOW)
    assert state.paused
    assert waits == sorted(waits)
    assert waits[-1] == POLICY.longest_wait * (0.5 + 0.999 / 2)
    # It comes back by itself: after the wait it is polled, and a success unpauses it.
    assert polls(state, timedelta(days=2))
    recovered = after_success(FEED, state, ok(), ttl=None, new_items=True, now=NOW, policy=POLICY)
    assert (recovered.paused, recovered.consecutive_failures, recovered.not_before) == (False, 0, None)


def test_a_paused_feed_whose_url_the_operator_fixes_is_polled_at_the_next_tick() -> None:
    state = FeedState("wire")
    for _ in range(POLICY.failures_to_pause + 2):
        state = failed(state)  # 404s on a mistyped URL: paused, next try hours away
    assert state.paused and state.not_before is not None and state.not_before - NOW > timedelta(hours=2)
    fixed = make_feed("wire", url="https://feeds.example.org/fixed.xml")
    assert polls(state, TICK * 2, feed=fixed)[0] == NOW
    assert polls(state, TICK * 2) == []  # the URL that failed still waits
    # If the new URL fails too, its count starts afresh: one failure, not eight.
    again = after_failure(fixed, state, error="http-500", now=NOW, policy=POLICY, jitter=0.0)
    assert (again.consecutive_failures, again.paused, again.failing_url) == (1, False, fixed.url)
    assert again.not_before == NOW + TICK * 0.5


def test_status_does_not_call_a_feed_paused_once_its_url_is_fixed() -> None:
    from wirewatch.status import feed_health

    state = FeedState("wire")
    for _ in range(POLICY.failures_to_pause + 1):
        state = failed(state)
    fixed = make_feed("wire", url="https://feeds.example.org/fixed.xml")
    [health] = feed_health([fixed], {"wire": state})
    assert (health.state, health.next_try_at) == ("ok", None)
    assert health.note == f"failed at {FEED.url}; the new URL is tried next"
    [before] = feed_health([FEED], {"wire": state})
    assert before.state == "paused"


def test_an_error_is_recorded_on_one_line_without_control_characters() -> None:
    # A server chooses its HTTP reason phrase: escape sequences in it would reach the terminal.
    reason = "\x1b]0;owned\x07\x1b[2J\x1b[31mFAKE\r\nOK\x9b"
    error = f"http-503: HTTP 503 {reason}"
    state = after_failure(FEED, FeedState("wire"), error=error, now=NOW, policy=POLICY, jitter=0)
    assert state.last_error == "http-503: HTTP 503 ]0;owned[2J[31mFAKE OK"


def test_status_shows_since_when_a_feed_fails_and_escapes_what_it_cannot_print() -> None:
    from wirewatch.status import StatusReport, feed_health, format_status

    state = FeedState("wire")
    for hours in range(POLICY.failures_to_pause + 1):
        state = failed(state, at=NOW + timedelta(hours=hours))
    # As a state written before errors were cleaned holds it.
    state = replace(state, last_error="http-503: HTTP 503 \x1b[2J\x1b[31mFAKE OK")
    [health] = feed_health([FEED], {"wire": state})
    assert (health.state, health.failing_since) == ("paused", NOW)
    text = format_status(StatusReport(NOW + timedelta(days=4), (health,), ()))
    header, row = (line for line in text.splitlines() if line.split(" ")[0] in ("FEED", "wire"))
    assert row.index("4 d ago") == header.index("FAILING SINCE")
    assert "\x1b" not in text and "HTTP 503 \\x1b[2J\\x1b[31mFAKE" in text
    [recovered] = feed_health([FEED], {"wire": replace(state, consecutive_failures=0, paused=False)})
    assert recovered.failing_since is None


def test_a_failure_records_the_url_it_counts_for_and_a_success_clears_it() -> None:
    state = failed(FeedState("wire"))
    assert state.failing_url == FEED.url
    assert FeedState.from_record(state.as_record()).failing_url == FEED.url
    assert after_success(FEED, state, ok(), ttl=None, new_items=False, now=NOW, policy=POLICY).failing_url is None


def test_a_run_of_failures_is_dated_from_its_first_and_a_blip_is_no_run() -> None:
    once = failed(FeedState("wire"), at=NOW)
    assert once.failing_since == NOW and failing_for(once, NOW + timedelta(hours=5)) is None
    twice = failed(once, at=NOW + timedelta(minutes=50))
    assert twice.failing_since == NOW
    assert failing_for(twice, NOW + timedelta(hours=1)) == timedelta(hours=1)
    recovered = after_success(FEED, twice, ok(), ttl=None, new_items=False, now=NOW, policy=POLICY)
    assert (recovered.failing_since, failing_for(recovered, NOW)) == (None, None)
    # A state written before failing_since was kept: dated from its last failure.
    legacy = FeedState("wire", consecutive_failures=3, last_error="timeout", last_error_at=NOW)
    assert failing_for(legacy, NOW + timedelta(hours=2)) == timedelta(hours=2)


def test_a_daily_feed_dead_for_months_keeps_its_capped_wait() -> None:
    daily = make_feed("wire", poll_every=timedelta(days=1))
    state = after_failure(
        daily, FeedState("wire", consecutive_failures=90), error="x", now=NOW, policy=POLICY, jitter=0.999
    )
    assert state.not_before is not None
    assert state.not_before - NOW <= POLICY.longest_wait


def test_a_hint_no_longer_than_a_tick_is_not_kept() -> None:
    # Kept, it would only cost writes whenever a server varies it.
    short = after_success(FEED, FeedState("wire"), ok(max_age=60), ttl=None, new_items=False, now=NOW, policy=POLICY)
    assert short.min_interval is None


def test_a_410_stops_polling_that_url_until_the_watch_file_names_another() -> None:
    gone = after_failure(FEED, FeedState("wire"), error="http-410: Gone", gone=True, now=NOW, policy=POLICY, jitter=0.5)
    assert is_gone(FEED, gone)
    assert polls(gone, timedelta(days=1)) == []
    elsewhere = make_feed("wire", url="https://new.example/feed.xml")
    assert not is_gone(elsewhere, gone)
    assert polls(gone, timedelta(hours=1), elsewhere)


# ---------------------------------------------------------------- moves


def test_a_permanent_move_is_followed_while_the_watch_file_names_the_old_url() -> None:
    moved = after_success(
        FEED,
        FeedState("wire"),
        ok(moved_to="https://new.example/rss"),
        ttl=None,
        new_items=False,
        now=NOW,
        policy=POLICY,
    )
    assert polled_url(FEED, moved) == "https://new.example/rss"
    # Later polls of the new URL (no redirect any more) keep the move.
    again = after_success(FEED, moved, ok(), ttl=None, new_items=False, now=NOW, policy=POLICY)
    assert polled_url(FEED, again) == "https://new.example/rss"
    # The operator edits the URL: the move no longer applies.
    edited = make_feed("wire", url="https://other.example/feed")
    assert polled_url(edited, again) == "https://other.example/feed"


# ---------------------------------------------------------------- records and jobs


FULL_STATE = FeedState(
    feed_id="wire",
    validators=Validators('"etag"', "Wed, 26 Jun 2024 00:00:00 GMT"),
    armed_at=NOW,
    last_error="timeout: read",
    last_error_at=NOW,
    consecutive_failures=3,
    min_interval=timedelta(minutes=30),
    not_before=NOW + TICK,
    paused=True,
    moved_from="https://old.example/rss",
    moved_to="https://new.example/rss",
    gone_url="https://gone.example/rss",
    failing_url="https://old.example/rss",
    failing_since=NOW - TICK,
    last_new_item_at=NOW,
    recent_items="0123456789abcdeffedcba9876543210",
)


@given(st.sets(st.text(alphabet="0123456789abcdef", min_size=16, max_size=16), max_size=60), st.data())
@settings(database=None, deadline=None)
def test_a_state_remembers_exactly_the_fingerprints_it_was_given(fingerprints: set[str], data: st.DataObject) -> None:
    # Kept as one sorted string (a tick holds every feed's state), searched by bisection.
    state = FeedState("wire", recent_items=recent(fingerprints))
    assert all(state.remembers(fingerprint) for fingerprint in fingerprints)
    other = data.draw(st.text(alphabet="0123456789abcdef", min_size=16, max_size=16))
    assert state.remembers(other) == (other in fingerprints)
    assert FeedState.from_record(state.as_record()) == state


@pytest.mark.parametrize("state", [FeedState("wire"), FULL_STATE])
def test_feed_state_survives_its_record_and_a_queued_job(state: FeedState) -> None:
    assert FeedState.from_record(state.as_record()) == state
    job = PollJob("wire", NOW, ("crimea-strike",), state)
    assert decode_job(encode_job(job)) == job


@pytest.mark.parametrize(
    "body",
    ["", "[]", '{"feed": 3}', '{"feed": "x", "scheduled": "2024-06-26T06:00:00"}', '{"feed": "x"}', "not json"],
)
def test_a_message_that_is_not_a_job_is_refused(body: str) -> None:
    with pytest.raises(ValueError):
        decode_job(body)
