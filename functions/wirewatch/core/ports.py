"""The small interfaces the service needs from the outside world; adapters implement them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from datetime import datetime

    from wirewatch.core.model import Alert, Item, WatchConfig


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


@dataclass(frozen=True)
class FeedState:
    """What wirewatch remembers of a feed between cycles."""

    feed_id: str
    validators: Validators = Validators()
    armed_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0

    def failed(self, error: str, now: datetime) -> FeedState:
        return replace(self, last_error=error, last_error_at=now, consecutive_failures=self.consecutive_failures + 1)


@dataclass(frozen=True)
class StoryRecord:
    story_id: str
    first_seen: datetime  # when the story was published, or first seen if undated
    feed_id: str | None = None  # the feed the key was first seen in


@dataclass(frozen=True)
class PendingAlert:
    alert: Alert
    created_at: datetime


class FeedFetcher(Protocol):
    def fetch(self, url: str, validators: Validators) -> FetchResult:
        """Fetch a feed, conditionally. Raises FeedError."""
        ...


class StateStore(Protocol):
    def load_feeds(self, feed_ids: Sequence[str]) -> dict[str, FeedState]: ...

    def save_feed(self, state: FeedState) -> None: ...

    def armed_rules(self, rule_ids: Sequence[str]) -> set[str]: ...

    def arm_rules(self, rule_ids: Iterable[str], now: datetime) -> None: ...


class SeenStore(Protocol):
    def seen_items(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` were recorded; one batched read per 100 keys."""
        ...

    def mark_items_seen(self, keys: Sequence[str], now: datetime) -> None: ...

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
    def create_pending(self, alert: Alert, story_id: str, now: datetime) -> bool:
        """Record a new alert as pending; False if this (rule, story) already has one."""
        ...

    def pending(self) -> list[PendingAlert]: ...

    def claim_for_publish(self, key: str, now: datetime) -> bool:
        """Take the right to publish; False if sent or another worker holds a live claim."""
        ...

    def mark_sent(self, key: str, message_id: str, now: datetime) -> None: ...

    def release(self, key: str, error: str) -> None:
        """Give a claimed alert back to pending after a failed publish."""
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
    def publish(self, alert: Alert) -> str:
        """Publish and return the message id. Raises PublishError."""
        ...
