"""A worker's slots for large feed bodies: one per feed, always given back, refused in time."""

from __future__ import annotations

import time

import pytest

from wirewatch.service import LargeBodies, _NoRoomForLargeBody


def test_a_feed_holds_one_slot_however_often_it_asks_and_gives_it_back() -> None:
    slots = LargeBodies(1)
    with slots.lease(None) as take:
        take(time.monotonic() + 5)
        take(time.monotonic() + 5)  # the fetcher asking again takes nothing more
    with slots.lease(None) as take:
        take(time.monotonic() + 5)  # free again: it would wait its whole 5 s otherwise


def test_the_slot_comes_back_when_the_feed_fails_after_taking_it() -> None:
    slots = LargeBodies(1)
    with pytest.raises(RuntimeError), slots.lease(None) as take:
        take(time.monotonic() + 5)
        raise RuntimeError("parse failed")
    with slots.lease(None) as take:
        take(time.monotonic() + 5)


def test_no_free_slot_by_the_deadline_is_refused() -> None:
    slots = LargeBodies(1)
    with slots.lease(None) as holder:
        holder(time.monotonic() + 5)
        with slots.lease(time.monotonic()) as waiter, pytest.raises(_NoRoomForLargeBody):
            waiter(time.monotonic() + 5)  # the invocation's deadline, already past, comes first


def test_a_worker_has_at_least_one_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        LargeBodies(0)
