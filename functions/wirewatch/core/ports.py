"""The small interfaces the service needs from the outside world; adapters implement them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from wirewatch.core.model import Alert, Delivery, Item, WatchConfig
    from wirewatch.core.routing import BudgetWindow


@dataclass(frozen=True)
class Validators:
    """HTTP cache validators of a feed, sent back for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """A fetched feed; ``body`` is empty and ``not_modified`` true for a 304."""

    url: str
    status: int
    body: bytes
    validators: Validators
    content_type: str | None = None
    # Cache-Control max-age of the response, in seconds: a lower bound on the poll interval.
    max_age: float | None = None
    # Where permanent redirects (301/308, every hop from the requested URL) led: the
    # feed's new address, to poll from now on. None when there were none.
    moved_to: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


FINGERPRINT_LENGTH = 16  # characters of dedupe.fingerprint


def recent(fingerprints: Iterable[str]) -> str:
    """``FeedState.recent_items`` for these fingerprints: sorted, end to end."""
    return "".join(sorted(set(fingerprints)))


@dataclass(frozen=True)
class FeedState:
    """What wirewatch remembers of a feed between polls; written only when it changes.

    The schedule keeps no "last polled" time: a feed is due on the ticks its interval
    falls on (``core.schedule``), so an unchanged feed costs no write. What is stored
    is what changes that: the publisher's lower bound on the interval (RSS ``ttl``,
    ``Cache-Control: max-age``), a wait after errors (backoff, ``Retry-After``), a
    permanent move, or a 410.
    """

    feed_id: str
    validators: Validators = Validators()
    armed_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    min_interval: timedelta | None = None  # the publisher's lower bound on the poll interval
    not_before: datetime | None = None  # no poll before this (backoff, Retry-After)
    paused: bool = False  # failed too often in a row: polled at long, growing intervals
    moved_from: str | None = None  # the configured URL that answered a permanent redirect
    moved_to: str | None = None  # where it led: polled instead while the configuration names moved_from
    gone_url: str | None = None  # a URL that answered 410: not polled again until the configuration changes
    # The URL the failures and the wait are counted for: a watch file that names another
    # URL (the operator's fix) is polled at the next tick, from a clean count.
    failing_url: str | None = None
    failing_since: datetime | None = None  # the first failure of the current run of them
    last_new_item_at: datetime | None = None
    # Fingerprints of the item keys in the last full response (``dedupe.fingerprint``):
    # items found here were processed, so an unchanged body costs no read of the seen store.
    # Kept as the sorted fingerprints end to end (``recent``), not as a set: a tick holds
    # every feed's state, and 10,000 feeds of 500 items as sets of strings take over 600 MB.
    recent_items: str = ""

    def remembers(self, fingerprint: str) -> bool:
        """Whether ``fingerprint`` was among the last full response's items (binary search)."""
        low, high = 0, len(self.recent_items) // FINGERPRINT_LENGTH
        while low < high:
            middle = (low + high) // 2
            found = self.recent_items[middle * FINGERPRINT_LENGTH : (middle + 1) * FINGERPRINT_LENGTH]
            if found == fingerprint:
                return True
            if found < fingerprint:
                low = middle + 1
            else:
                high = middle
        return False

    def as_record(self) -> dict[str, str | int | bool]:
        """Flat, with what is unset left out: the form stores and messages carry."""
        record: dict[str, str | int | bool | None] = {
            "feed_id": self.feed_id,
            "etag": self.validators.etag,
            "last_modified": self.validators.last_modified,
            "armed_at": _iso(self.armed_at),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
            "consecutive_failures": self.consecutive_failures,
            "min_interval_s": int(self.min_interval.total_seconds()) if self.min_interval is not None else None,
            "not_before": _iso(self.not_before),
            "paused": self.paused or None,
            "moved_from": self.moved_from,
            "moved_to": self.moved_to,
            "gone_url": self.gone_url,
            "failing_url": self.failing_url,
            "failing_since": _iso(self.failing_since),
            "last_new_item_at": _iso(self.last_new_item_at),
            # Fixed-width fingerprints, concatenated in order: compact, and stable for comparison.
            "recent_items": self.recent_items or None,
        }
        return {name: value for name, value in record.items() if value is not None and value != ""}

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> FeedState:
        """The inverse of ``as_record``; unknown names are ignored, missing ones are defaults.

        Raises:
            ValueError: a value has the wrong type or form.
        """

        def text(name: str) -> str | None:
            value = record.get(name)
            if value is None or isinstance(value, str):
                return value
            raise ValueError(f"{name} must be text, not {value!r}")

        def moment(name: str) -> datetime | None:
            value = text(name)
            return datetime.fromisoformat(value) if value else None

        def number(name: str) -> int | None:
            value = record.get(name)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValueError(f"{name} must be a whole number, not {value!r}")
            return int(value)

        feed_id = text("feed_id")
        if not feed_id:
            raise ValueError("a feed state needs its feed_id")
        interval = number("min_interval_s")
        recent = text("recent_items") or ""
        return cls(
            feed_id=feed_id,
            validators=Validators(etag=text("etag"), last_modified=text("last_modified")),
            armed_at=moment("armed_at"),
            last_error=text("last_error"),
            last_error_at=moment("last_error_at"),
            consecutive_failures=number("consecutive_failures") or 0,
            min_interval=timedelta(seconds=interval) if interval is not None else None,
            not_before=moment("not_before"),
            paused=record.get("paused") is True,
            moved_from=text("moved_from"),
            moved_to=text("moved_to"),
            gone_url=text("gone_url"),
            failing_url=text("failing_url"),
            failing_since=moment("failing_since"),
            last_new_item_at=moment("last_new_item_at"),
            recent_items=recent,
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment is not None else None


@dataclass(frozen=True)
class SettledAlert:
    """A complete alert (``AlertStore.settle``), as the poll worker reads it for a later copy."""

    bands_id: str  # the wording its fold bands were claimed with (``neardup.bands_id``)
    created_at: datetime  # its first report's time: where its fold window starts
    sources: frozenset[str]  # the feeds that carried its event: its own, then those folded in
    withdrawn_into: str = ""  # the alert it was folded into after it was written (``withdraw``)


@dataclass(frozen=True)
class Withdrawal:
    """An alert folded into another after it was written (``AlertStore.withdraw``)."""

    sources: frozenset[str]  # the feeds it counted: its own and those folded into it
    cancelled: int  # its deliveries cancelled by this call
    counted: bool  # this call is the one to count it (nothing of it went out: an alert nobody got)


@dataclass(frozen=True)
class StoryRecord:
    story_id: str
    first_seen: datetime  # when the story was published, or first seen if undated
    feed_id: str | None = None  # the feed the key was first seen in


@dataclass(frozen=True)
class PollJob:
    """One feed to poll, as the scheduler queues it for a worker.

    ``arming`` names the rules whose first tick this is: their matches on old items
    stay silent. Carried in the job so a retried job keeps the same meaning; None when
    too many to carry (a thousand new rules would not fit SQS's message): then they are
    the rules the state store had not armed before the job's tick, as the scheduler
    judged them (``arming_at``).
    """

    feed_id: str
    scheduled: datetime
    arming: tuple[str, ...] | None = ()
    # The feed's state as the scheduler read it a moment before: the worker need not read it again.
    state: FeedState | None = None
    # How often a worker already put this job off (no time left, no memory for a large feed).
    deferrals: int = 0
    # Real time when the scheduler queued it: how late the job runs is measured from this, on
    # the same clock as the worker's (``scheduled`` is the tick's time, replayable).
    queued_at: datetime | None = None


class JobQueue(Protocol):
    def send(self, jobs: Sequence[PollJob], *, delay: timedelta = timedelta(0)) -> None:
        """Queue every job (batched), each visible after ``delay``. Raises JobsNotQueued (a
        StoreError) naming the jobs that could not be queued; the others are."""
        ...


class FeedFetcher(Protocol):
    def fetch(
        self, url: str, validators: Validators, *, on_large_body: Callable[[float], None] | None = None
    ) -> FetchResult:
        """Fetch a feed, conditionally. Raises FeedError.

        ``on_large_body(deadline)`` is called once, before a body the fetcher counts
        as large (``HttpFeedFetcher``'s ``large_body`` bytes) is read further; it may
        wait for memory to be free (not past ``deadline``, ``time.monotonic()``) or
        raise to give the fetch up. Whatever it raises comes out of ``fetch``.
        """
        ...


class StateStore(Protocol):
    def load_feeds(self, feed_ids: Sequence[str]) -> dict[str, FeedState]: ...

    def all_feeds(self) -> dict[str, FeedState]:
        """Every feed's state, feeds no longer in the watch file included: what a tick reads."""
        ...

    def save_feed(self, state: FeedState) -> None: ...

    def armed_rules(self, rule_ids: Sequence[str]) -> dict[str, datetime]:
        """The rules of ``rule_ids`` armed already, with the tick that armed them."""
        ...

    def arm_rules(self, rule_ids: Iterable[str], now: datetime) -> None: ...


class SeenStore(Protocol):
    def seen_items(self, keys: Sequence[str]) -> dict[str, str]:
        """Which of ``keys`` were recorded, with the edition recorded ("" if none); one
        batched read per 100 keys."""
        ...

    def mark_items_seen(self, editions: Mapping[str, str], now: datetime) -> None:
        """Record item keys with their editions (``dedupe.edition``)."""
        ...

    def find_stories(self, keys: Sequence[str]) -> dict[str, StoryRecord]: ...

    def claim_story_keys(
        self, keys: Sequence[str], story_id: str, *, story_time: datetime, feed_id: str, now: datetime
    ) -> dict[str, StoryRecord]:
        """Record keys for a story; returns the keys another writer claimed first."""
        ...

    def replace_story_key(
        self, key: str, old: StoryRecord, *, story_id: str, story_time: datetime, feed_id: str, now: datetime
    ) -> bool:
        """Point ``key`` at another story, if it still points at ``old``'s."""
        ...


class AlertStore(Protocol):
    """Alert records, the deliveries they fan out to, digests and SMS counters."""

    def create(self, alert: Alert, story_id: str, deliveries: Sequence[Delivery], now: datetime) -> bool:
        """Record an alert with its deliveries, atomically; False if this (rule, story) has one."""
        ...

    def due(self, now: datetime) -> list[Delivery]:
        """Deliveries waiting to go out whose ``due_at`` has come."""
        ...

    def claim(self, key: str, now: datetime, mode: str = "immediate") -> bool:
        """Take the right to publish a delivery still in ``mode``; False if sent, gathered,
        moved to another mode, or claimed by a live worker."""
        ...

    def mark_sent(self, key: str, message_id: str, now: datetime) -> None: ...

    def release(self, key: str, error: str) -> None:
        """Give a claimed delivery back after a failed publish."""
        ...

    def postpone(self, key: str, mode: str, due_at: datetime) -> None:
        """Give a claimed delivery back, due later and perhaps in another mode."""
        ...

    def cancel(self, key: str, reason: str) -> None:
        """Mark a delivery that will never be sent: its recipient left the watch file, or no
        longer takes its rule or severity."""
        ...

    def collect(self, digest: Delivery, now: datetime) -> bool:
        """Record a digest and take its members out of the queue, all or nothing."""
        ...

    def take_sms_budget(self, windows: Sequence[BudgetWindow], now: datetime) -> bool:
        """Count one SMS in each window; False (and nothing counted) if one is full."""
        ...

    def return_sms_budget(self, windows: Sequence[BudgetWindow]) -> None:
        """Uncount the SMS ``take_sms_budget`` counted in ``windows``: it was not sent."""
        ...

    def settle(self, alert_key: str, bands_id: str) -> None:
        """Note that an alert is complete: its deliveries and it written, and the fold bands
        of a report worded as ``bands_id`` (``neardup.bands_id``) claimed."""
        ...

    def settled(self, alert_keys: Sequence[str]) -> dict[str, SettledAlert]:
        """The complete alerts among these (``settle``)."""
        ...

    def fold(self, alert_key: str, feed_ids: Iterable[str], now: datetime, *, pin: bool = False) -> bool:
        """Count other reports of an alert's event (their feeds); False if the alert is not
        recorded or was withdrawn. ``pin``: a report of another story rests on this alert,
        which may then never be withdrawn."""
        ...

    def withdraw(self, alert_key: str, into: str, now: datetime) -> Withdrawal | None:
        """Fold an alert already written into ``into``, an earlier alert of its rule on the
        same event (two workers wrote both before either claimed a fold band): its deliveries
        still waiting are cancelled. None, and nothing changed, if it is pinned (``fold``),
        withdrawn into another, gone, has a recipient ``into`` lacks, or went out already.
        ``into`` must be pinned first. Again into the same alert, it finishes what an earlier
        call began."""
        ...

    def folded(self, alert_keys: Sequence[str]) -> dict[str, int]:
        """How many other sources reported each alert's event."""
        ...


class ItemArchive(Protocol):
    def archive(self, items: Sequence[Item], now: datetime) -> None:
        """Keep normalised items (title, summary, link, feed, time) for backtests."""
        ...

    def items_since(self, since: datetime, until: datetime) -> Iterator[Item]:
        """Archived items first seen between ``since`` and ``until``."""
        ...


class ConfigSource(Protocol):
    rejected: str | None  # why the newest version was refused while an older one is in force

    def current(self) -> WatchConfig:
        """The configuration to use for this cycle."""
        ...


@dataclass
class StaticConfig:
    """A configuration that never changes (the bundled file)."""

    config: WatchConfig
    rejected: str | None = None

    def current(self) -> WatchConfig:
        return self.config


class AlertPublisher(Protocol):
    def publish(self, delivery: Delivery) -> str:
        """Publish and return the message id. Raises PublishError."""
        ...
