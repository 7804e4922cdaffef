"""DynamoDB stores: feed and rule state, seen items and stories, the item archive.

Alert records and their deliveries are in ``dynamodb_alerts``.

Every conditional write carries a why-comment: together they are the dedupe.
SDK errors never leave this module untranslated.
"""

from __future__ import annotations

import itertools
import time
import zlib
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from wirewatch.core.errors import StoreError
from wirewatch.core.model import Item
from wirewatch.core.ports import FeedState, StoryRecord

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, WriteRequestTypeDef

BATCH_READ = 100
BATCH_WRITE = 25


def _chunks(values: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value["S"] if value and "S" in value else None


def _is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _store_error(operation: str, exc: Exception) -> StoreError:
    code = exc.response.get("Error", {}).get("Code", "?") if isinstance(exc, ClientError) else type(exc).__name__
    return StoreError(f"DynamoDB {operation} failed: {code}")


def _conditional(operation: str, call: Callable[[], object]) -> bool:
    """Run a conditional write: True if it applied, False if its condition did not hold.

    Raises:
        StoreError: any other failure, after botocore's retries.
    """
    try:
        call()
    except ClientError as exc:
        if _is_conditional_failure(exc):
            return False
        raise _store_error(operation, exc) from exc
    except BotoCoreError as exc:
        raise _store_error(operation, exc) from exc
    return True


MAX_BATCH_ATTEMPTS = 8


def _backoff(attempt: int, operation: str) -> None:
    """Unprocessed keys or items mean the table is throttling: back off, then give up.

    Raises:
        StoreError: still unprocessed after MAX_BATCH_ATTEMPTS (about 6 s of waiting).
    """
    if attempt + 1 >= MAX_BATCH_ATTEMPTS:
        raise StoreError(f"DynamoDB {operation} kept returning unprocessed requests")
    time.sleep(min(0.05 * 2**attempt, 2.0))


class _Table:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self.client = client
        self.name = table_name

    def _key(self, key: str) -> dict[str, AttributeValueTypeDef]:
        """The primary key of the item ``key`` names (a table keyed by ``pk`` alone, unless overridden)."""
        return {"pk": _s(key)}

    def _name(self, item: dict[str, Any]) -> str:
        """The ``key`` an item read back stands for: ``_key``'s inverse."""
        return str(item["pk"]["S"])

    def batch_get(
        self, keys: Sequence[str], attributes: str | None = "pk", *, consistent: bool = True
    ) -> dict[str, dict[str, Any]]:
        """Items by key (``attributes`` only, or whole), one BatchGetItem per 100 keys.

        Raises:
            StoreError: DynamoDB refused or failed after botocore's retries.
        """
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        try:
            for chunk in _chunks(unique, BATCH_READ):
                spec: dict[str, Any] = {"Keys": [self._key(key) for key in chunk], "ConsistentRead": consistent}
                if attributes:
                    spec["ProjectionExpression"] = attributes
                request: dict[str, Any] = {self.name: spec}
                for attempt in itertools.count():
                    response = self.client.batch_get_item(RequestItems=request)
                    for item in response.get("Responses", {}).get(self.name, []):
                        found[self._name(item)] = dict(item)
                    request = dict(response.get("UnprocessedKeys") or {})
                    if not request:
                        break
                    _backoff(attempt, "BatchGetItem")
        except (ClientError, BotoCoreError) as exc:
            raise _store_error("BatchGetItem", exc) from exc
        return found

    def partition(self, attribute: str, value: str, *, consistent: bool = False) -> Iterator[dict[str, Any]]:
        """Every item whose partition key ``attribute`` is ``value``: one Query, paginated.

        Raises:
            StoreError: DynamoDB refused or failed after botocore's retries.
        """
        pages = self.client.get_paginator("query").paginate(
            TableName=self.name,
            KeyConditionExpression="#key = :value",
            ExpressionAttributeNames={"#key": attribute},
            ExpressionAttributeValues={":value": _s(value)},
            ConsistentRead=consistent,
        )
        try:
            for page in pages:
                yield from page.get("Items", [])
        except (ClientError, BotoCoreError) as exc:
            raise _store_error("Query", exc) from exc

    def batch_put(self, items: Iterable[dict[str, AttributeValueTypeDef]]) -> None:
        requests: list[WriteRequestTypeDef] = [{"PutRequest": {"Item": item}} for item in items]
        try:
            for start in range(0, len(requests), BATCH_WRITE):
                pending: dict[str, Any] = {self.name: requests[start : start + BATCH_WRITE]}
                for attempt in itertools.count():
                    response = self.client.batch_write_item(RequestItems=pending)
                    pending = dict(response.get("UnprocessedItems") or {})
                    if not pending:
                        break
                    _backoff(attempt, "BatchWriteItem")
        except (ClientError, BotoCoreError) as exc:
            raise _store_error("BatchWriteItem", exc) from exc


class DynamoDBStateStore(_Table):
    """Feed state (validators, arming, errors, schedule) and rule arming.

    Keyed by partition ``pk`` and sort key ``sk``: a feed's state is ``feeds#<shard>`` /
    ``<feed id>``, a rule's arming ``rules`` / ``<rule id>``. The scheduler reads every
    feed's state each tick (``all_feeds``); a Query bills the items it returns by their summed size
    (half a unit per 4 KB, eventually consistent), where BatchGetItem bills each item
    as a whole 4 KB: 1,000 states of ~500 bytes cost 62 read units against 500 (bench/polling.py).
    Feeds are spread over a few partitions by a hash of their id.
    """

    SHARDS = 8

    def _key(self, key: str) -> dict[str, AttributeValueTypeDef]:
        kind, _, name = key.partition("#")
        return feed_key(name) if kind == "feed" else {"pk": _s("rules"), "sk": _s(name)}

    def _name(self, item: dict[str, Any]) -> str:
        return f"{'feed' if item['pk']['S'].startswith('feeds#') else 'rule'}#{item['sk']['S']}"

    def load_feeds(self, feed_ids: Sequence[str]) -> dict[str, FeedState]:
        # Eventually consistent, at half the price: a state a second old only costs a
        # feed an extra full download or lookup, never an alert.
        items = self.batch_get([f"feed#{feed_id}" for feed_id in feed_ids], attributes=None, consistent=False)
        return {item["feed_id"]["S"]: feed_state(item) for item in items.values()}

    def all_feeds(self) -> dict[str, FeedState]:
        """Every feed's state, feeds no longer in the watch file included: one Query per shard.

        Raises:
            StoreError: DynamoDB refused or failed after botocore's retries.
        """
        states = (feed_state(item) for shard in range(self.SHARDS) for item in self.partition("pk", f"feeds#{shard}"))
        return {state.feed_id: state for state in states}

    def save_feed(self, state: FeedState) -> None:
        item = self._key(f"feed#{state.feed_id}")
        item.update({name: _attribute(value) for name, value in state.as_record().items()})
        try:
            self.client.put_item(TableName=self.name, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise _store_error("PutItem", exc) from exc

    def armed_rules(self, rule_ids: Sequence[str]) -> dict[str, datetime]:
        found = self.batch_get([f"rule#{rule_id}" for rule_id in rule_ids], attributes="pk, sk, armed_at")
        return {
            key.removeprefix("rule#"): _parse_time(_text(item, "armed_at")) or datetime.fromtimestamp(0, UTC)
            for key, item in found.items()
        }

    def arm_rules(self, rule_ids: Iterable[str], now: datetime) -> None:
        self.batch_put({**self._key(f"rule#{rule_id}"), "armed_at": _s(_time(now))} for rule_id in rule_ids)


def feed_key(feed_id: str) -> dict[str, AttributeValueTypeDef]:
    """The state table's key of a feed's state: its shard, then its id."""
    return {"pk": _s(f"feeds#{zlib.crc32(feed_id.encode()) % DynamoDBStateStore.SHARDS}"), "sk": _s(feed_id)}


def _attribute(value: str | int | bool) -> AttributeValueTypeDef:
    if isinstance(value, bool):
        return {"BOOL": value}
    return _n(value) if isinstance(value, int) else _s(value)


def feed_state(item: dict[str, Any]) -> FeedState:
    """A feed's state from its DynamoDB item (low-level attribute values)."""
    plain: dict[str, object] = {}
    for name, attribute in item.items():
        if "S" in attribute:
            plain[name] = attribute["S"]
        elif "N" in attribute:
            plain[name] = int(attribute["N"])
        elif "BOOL" in attribute:
            plain[name] = attribute["BOOL"]
    return FeedState.from_record(plain)


class DynamoDBSeenStore(_Table):
    """Item keys (``item#…``) and story keys (``story#…``), expiring by TTL."""

    def __init__(self, client: DynamoDBClient, table_name: str, retention: timedelta) -> None:
        super().__init__(client, table_name)
        self.retention = retention

    def _expiry(self, now: datetime) -> AttributeValueTypeDef:
        return _n(int((now + self.retention).timestamp()))

    def seen_items(self, keys: Sequence[str]) -> dict[str, str]:
        found = self.batch_get(keys, attributes="pk, edition")
        return {key: _text(item, "edition") or "" for key, item in found.items()}

    def mark_items_seen(self, editions: Mapping[str, str], now: datetime) -> None:
        expiry = self._expiry(now)
        self.batch_put(
            {"pk": _s(key), "expires_at": expiry, **({"edition": _s(value)} if value else {})}
            for key, value in editions.items()
        )

    def find_stories(self, keys: Sequence[str]) -> dict[str, StoryRecord]:
        items = self.batch_get(keys, attributes="pk, story_id, first_seen, feed_id")
        return {key: _story(item) for key, item in items.items() if "story_id" in item}

    def _story_item(
        self, key: str, story_id: str, *, story_time: datetime, feed_id: str, now: datetime
    ) -> dict[str, AttributeValueTypeDef]:
        return {
            "pk": _s(key),
            "story_id": _s(story_id),
            "first_seen": _s(_time(story_time)),
            "feed_id": _s(feed_id),
            "expires_at": self._expiry(now),
        }

    def claim_story_keys(
        self, keys: Sequence[str], story_id: str, *, story_time: datetime, feed_id: str, now: datetime
    ) -> dict[str, StoryRecord]:
        lost: list[str] = []
        for key in keys:
            item = self._story_item(key, story_id, story_time=story_time, feed_id=feed_id, now=now)
            # First writer wins: two workers seeing the same wire story in two feeds
            # at once must agree on one story id, or the rule would fire twice.
            put = partial(
                self.client.put_item, TableName=self.name, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
            if not _conditional("PutItem", put):
                lost.append(key)
        return self.find_stories(lost) if lost else {}

    def replace_story_key(
        self, key: str, old: StoryRecord, *, story_id: str, story_time: datetime, feed_id: str, now: datetime
    ) -> bool:
        # Only if nobody repointed the key since we read it: a concurrent worker that
        # did so saw the same newer story, or a newer one still.
        put = partial(
            self.client.put_item,
            TableName=self.name,
            Item=self._story_item(key, story_id, story_time=story_time, feed_id=feed_id, now=now),
            ConditionExpression="story_id = :old",
            ExpressionAttributeValues={":old": _s(old.story_id)},
        )
        return _conditional("PutItem", put)


def _story(item: dict[str, Any]) -> StoryRecord:
    first_seen = _parse_time(_text(item, "first_seen")) or datetime.fromtimestamp(0, UTC)
    return StoryRecord(story_id=item["story_id"]["S"], first_seen=first_seen, feed_id=_text(item, "feed_id"))


class DynamoDBItemArchive(_Table):
    """Every new item, normalised, for backtests, keyed by day (in shards) and item."""

    SUMMARY_LIMIT = 2000
    CONTENT_LIMIT = 8000
    # Keyed by day (partition) and item (sort), so a backtest reads a day with a Query
    # and no index doubles every write. Each day is spread over a few partition keys, so
    # a busy tick's writes do not all land on one.
    SHARDS = 8

    def __init__(self, client: DynamoDBClient, table_name: str, retention: timedelta) -> None:
        super().__init__(client, table_name)
        self.retention = retention

    def archive(self, items: Sequence[Item], now: datetime) -> None:
        from wirewatch.core.dedupe import item_key

        expiry = _n(int((now + self.retention).timestamp()))
        day = now.astimezone(UTC).date().isoformat()
        records = []
        for item in items:
            key = item_key(item)
            record: dict[str, AttributeValueTypeDef] = {
                "day": _s(f"{day}#{zlib.crc32(key.encode()) % self.SHARDS}"),
                "item": _s(key),
                "seen_at": _s(_time(now)),
                "feed_id": _s(item.feed_id),
                "title": _s(item.title or "-"),
                "link": _s(item.link or "-"),
                "lang": _s(item.lang),
                "expires_at": expiry,
            }
            if item.summary:
                record["summary"] = _s(item.summary[: self.SUMMARY_LIMIT])
            if item.content:
                # Rules that look at content (fields: [content], content:) backtest on it too.
                record["content"] = _s(item.content[: self.CONTENT_LIMIT])
            if item.guid:
                record["guid"] = _s(item.guid)
            if item.source:
                record["source"] = _s(item.source)
            if item.published:
                record["published"] = _s(_time(item.published))
            records.append(record)
        self.batch_put(records)

    def items_since(self, since: datetime, until: datetime) -> Iterator[Item]:
        # Nothing older than the retention (and TTL's lag of up to two days) can be there:
        # "--since 2000-01-01" is not 9,000 days of queries.
        day = max(since, until - self.retention - _TTL_LAG).astimezone(UTC).date()
        last = until.astimezone(UTC).date()
        while day <= last:
            for shard in range(self.SHARDS):
                yield from map(_archived_item, self.partition("day", f"{day.isoformat()}#{shard}"))
            day += timedelta(days=1)


_TTL_LAG = timedelta(days=2)  # DynamoDB deletes expired items within about two days


def _archived_item(record: dict[str, Any]) -> Item:
    def text(name: str) -> str:
        value = _text(record, name) or ""
        return "" if value == "-" else value

    return Item(
        feed_id=text("feed_id"),
        title=text("title"),
        link=text("link"),
        guid=_text(record, "guid"),
        summary=text("summary"),
        content=text("content"),
        published=_parse_time(_text(record, "published")) or _parse_time(_text(record, "seen_at")),
        lang=text("lang") or "und",
        source=text("source"),
    )
