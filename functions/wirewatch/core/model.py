"""The values that flow through wirewatch: feed → items → matches → alerts."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


class Severity(enum.IntEnum):
    """How urgent a rule's alerts are; subscribers choose a minimum."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]

    def and_above(self) -> list[Severity]:
        return [level for level in Severity if level >= self]


class Field(enum.Enum):
    """The parts of an item a rule can look at."""

    TITLE = "title"
    SUMMARY = "summary"
    CONTENT = "content"

    # Members are singletons: identity hashing spares Enum's Python-level __hash__ on
    # the matcher's hottest dictionary lookups.
    __hash__ = object.__hash__


ALL_FIELDS: tuple[Field, ...] = (Field.TITLE, Field.SUMMARY, Field.CONTENT)


@dataclass(frozen=True)
class FeedSource:
    id: str
    url: str
    tags: frozenset[str] = frozenset()
    poll_every: timedelta | None = None
    lang: str | None = None


@dataclass(frozen=True)
class Term:
    """One term of a rule as written, and its normalised token sequence.

    A single token is a word; several tokens are a phrase. A trailing ``*`` on
    the last token makes it a prefix.
    """

    text: str
    tokens: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class Near:
    """Two terms (words, phrases or prefixes) at most ``distance`` words apart, either order."""

    left: Term
    right: Term
    distance: int
    text: str


@dataclass(frozen=True)
class Pattern:
    """A regular expression over a field's folded text (case and accents removed), run by RE2."""

    text: str


@dataclass(frozen=True)
class Scoped:
    """A condition looked for in one field only (``title:crimea``)."""

    field: Field
    child: Node


@dataclass(frozen=True)
class Group:
    """A boolean group: ``all`` needs every child, ``any`` one child, ``none`` no child."""

    op: str
    children: tuple[Node, ...]


Node = Term | Near | Pattern | Scoped | Group


@dataclass(frozen=True)
class RuleExamples:
    """Texts the rule must match and must not match; ``wirewatch validate`` runs them."""

    match: tuple[str, ...] = ()
    no_match: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    condition: Node
    fields: tuple[Field, ...] = ALL_FIELDS
    feeds: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    notify: tuple[str, ...] = ()
    stem: tuple[str, ...] = ()  # languages whose Snowball stemmer the rule's words match through
    on_edit: str = "ignore"  # or "update": an entry edited under the same GUID alerts again, marked
    examples: RuleExamples = RuleExamples()

    def applies_to(self, feed: FeedSource) -> bool:
        """A rule with neither feeds nor tags watches every feed."""
        if not self.feeds and not self.tags:
            return True
        return feed.id in self.feeds or bool(self.tags & feed.tags)


@dataclass(frozen=True)
class QuietHours:
    """Local hours during which alerts below critical wait; ``start`` > ``end`` spans midnight."""

    start: time
    end: time


@dataclass(frozen=True)
class DigestSchedule:
    every: str = "hourly"  # or "daily"
    at: time = time(8, 0)  # local time of the daily digest


@dataclass(frozen=True)
class SmsBudget:
    per_hour: int | None = None
    per_day: int | None = None  # a local calendar day


@dataclass(frozen=True)
class Subscriber:
    """One channel of one subscriber (someone with an email and an SMS number is two)."""

    id: str
    protocol: str  # "email" or "sms", as SNS names them
    endpoint: str
    min_severity: Severity = Severity.LOW
    rules: tuple[str, ...] = ()
    mode: str = "immediate"  # or "digest"
    timezone: str = "UTC"
    quiet_hours: QuietHours | None = None
    digest: DigestSchedule = DigestSchedule()
    sms_budget: SmsBudget | None = None

    @property
    def recipient(self) -> str:
        """What deliveries and SNS filter policies name: ``<subscriber>/<channel>``."""
        return f"{self.id}/{self.protocol}"


@dataclass(frozen=True)
class WatchSettings:
    """Behaviour the watch file controls (deployment settings live in the environment)."""

    arming_max_age: timedelta = timedelta(hours=24)
    story_window: timedelta = timedelta(hours=48)
    fold_window: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class WatchConfig:
    feeds: tuple[FeedSource, ...]
    rules: tuple[Rule, ...]
    subscribers: tuple[Subscriber, ...]
    settings: WatchSettings = field(default_factory=WatchSettings)
    source: str = "<config>"

    def feed(self, feed_id: str) -> FeedSource:
        for feed in self.feeds:
            if feed.id == feed_id:
                return feed
        raise KeyError(feed_id)

    def recipient(self, recipient: str) -> Subscriber | None:
        for subscriber in self.subscribers:
            if subscriber.recipient == recipient:
                return subscriber
        return None

    def rules_for_subscriber(self, subscriber: Subscriber) -> tuple[str, ...]:
        """Rules a subscriber receives: those naming it in ``notify`` and those it lists."""
        wanted = set(subscriber.rules)
        every = "*" in wanted
        return tuple(rule.id for rule in self.rules if every or rule.id in wanted or subscriber.id in rule.notify)


@dataclass(frozen=True)
class Item:
    """One feed entry, normalised: plain text, canonical link, UTC time."""

    feed_id: str
    title: str
    link: str
    guid: str | None = None
    summary: str = ""
    content: str = ""
    published: datetime | None = None
    lang: str = "und"
    # The outlet an aggregator relays the entry from (RSS <source>: Google News). Its
    # headline then ends in " - <outlet>", which its story key leaves out.
    source: str = ""

    def text(self, part: Field) -> str:
        if part is Field.TITLE:
            return self.title
        if part is Field.SUMMARY:
            return self.summary
        return self.content


@dataclass(frozen=True)
class Match:
    """A rule that fires on an item, and why.

    The explanation (``hits``: each clause that fired, where, on which words) is
    worked out when first read: matches that never reach a message (arming, a
    story already alerted, a backtest's totals) never pay for it. A match is its
    rule and item; the hits follow from them, so they take no part in equality.
    """

    rule: Rule
    item: Item
    explain: Callable[[], tuple[Any, ...]] = field(default=tuple, compare=False, repr=False)

    @cached_property
    def hits(self) -> tuple[Any, ...]:  # matching.Hit
        return self.explain()

    @property
    def matched(self) -> tuple[str, ...]:
        """The clauses that fired, as written in the rule, each once."""
        return tuple(dict.fromkeys(hit.clause for hit in self.hits))


@dataclass(frozen=True)
class Alert:
    """One rule firing on one story; ``key`` makes it unique per (rule, story)."""

    key: str
    rule_id: str
    severity: Severity
    feed_id: str
    lang: str
    subject: str
    email: str
    sms: str
    link: str
    title: str
    matched: tuple[str, ...]
    rule_title: str = ""
    published: datetime | None = None


@dataclass(frozen=True)
class DigestMessage:
    """Several of a recipient's alerts in one message; ``members`` are their deliveries."""

    subject: str
    email: str
    sms: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient: an alert's, or a digest's.

    ``mode`` says how an alert reaches the recipient: on its own (``immediate``) or
    gathered into the next digest (``digest``); ``due_at`` is when it may go out
    (now, the end of quiet hours, a digest time).
    """

    key: str
    recipient: str  # "<subscriber>/<channel>"
    due_at: datetime
    created_at: datetime
    mode: str = "immediate"
    alert: Alert | None = None
    digest: DigestMessage | None = None

    @property
    def channel(self) -> str:
        return self.recipient.rpartition("/")[2]

    @property
    def subscriber_id(self) -> str:
        return self.recipient.rpartition("/")[0]

    @property
    def subject(self) -> str:
        message = self.alert or self.digest
        return message.subject if message is not None else ""

    @property
    def text(self) -> str:
        """The text for the recipient's channel."""
        message = self.alert or self.digest
        if message is None:
            return ""
        return message.sms if self.channel == "sms" else message.email
