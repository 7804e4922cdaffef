"""The seen and state stores on moto, tables created from template.yaml: the conditional writes that
make story dedupe safe between concurrent workers (alerts and deliveries: test_alert_store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3

from wirewatch.adapters.dynamodb import DynamoDBSeenStore, DynamoDBStateStore
from wirewatch.core.dedupe import story_keys
from wirewatch.core.model import Item
from wirewatch.core.ports import FeedState, StoryRecord
from wirewatch.stories import StoryResolver

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .conftest import Pipeline

NOW = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)


def test_racing_workers_agree_on_one_story_id(pipeline: Pipeline) -> None:
    client = boto3.client("dynamodb")
    worker_a = DynamoDBSeenStore(client, pipeline.settings.seen_table, timedelta(days=30))
    worker_b = DynamoDBSeenStore(client, pipeline.settings.seen_table, timedelta(days=30))
    keys = ["story#title-of-the-wire", "story#link-a"]

    lost_by_a = worker_a.claim_story_keys(keys, "story-a", story_time=NOW, feed_id="feed-a", now=NOW)
    lost_by_b = worker_b.claim_story_keys(
        ["story#title-of-the-wire", "story#link-b"], "story-b", story_time=NOW, feed_id="feed-b", now=NOW
    )

    assert lost_by_a == {}
    assert {key: (r.story_id, r.feed_id) for key, r in lost_by_b.items()} == {
        "story#title-of-the-wire": ("story-a", "feed-a")
    }


def test_a_story_key_is_repointed_only_from_the_story_it_was_read_with(pipeline: Pipeline) -> None:
    store = DynamoDBSeenStore(boto3.client("dynamodb"), pipeline.settings.seen_table, timedelta(days=30))
    store.claim_story_keys(["story#title"], "old", story_time=NOW, feed_id="a", now=NOW)
    old = store.find_stories(["story#title"])["story#title"]
    later = NOW + timedelta(days=10)

    assert store.replace_story_key("story#title", old, story_id="new", story_time=later, feed_id="b", now=later)
    assert not store.replace_story_key("story#title", old, story_id="newer", story_time=later, feed_id="c", now=later)
    assert store.find_stories(["story#title"])["story#title"].story_id == "new"


class StaleReads(DynamoDBSeenStore):
    """A worker whose first read of story keys happened before another worker's write."""

    def __init__(self, *args: object, snapshot: dict[str, StoryRecord]) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.snapshot: dict[str, StoryRecord] | None = snapshot

    def find_stories(self, keys: Sequence[str]) -> dict[str, StoryRecord]:
        if self.snapshot is not None:
            snapshot, self.snapshot = self.snapshot, None
            return {key: record for key, record in snapshot.items() if key in keys}
        return super().find_stories(keys)


def test_two_feeds_renewing_a_stale_headline_at_once_agree_on_one_story(pipeline: Pipeline) -> None:
    client = boto3.client("dynamodb")
    seen = DynamoDBSeenStore(client, pipeline.settings.seen_table, timedelta(days=30))
    headline = "Frappe de missiles sur Sébastopol en Crimée cette nuit"
    a = Item("feed-a", headline, "https://a.example/new", published=NOW)
    b = Item("feed-b", headline, "https://b.example/new", published=NOW)
    title_key = next(key.key for key in story_keys(a) if key.kind == "title")
    long_ago = NOW - timedelta(days=10)
    seen.claim_story_keys([title_key], "old-story", story_time=long_ago, feed_id="feed-z", now=long_ago)
    before_either = seen.find_stories([key.key for key in story_keys(b)])
    slow = StaleReads(client, pipeline.settings.seen_table, timedelta(days=30), snapshot=before_either)

    story_a = StoryResolver(seen, timedelta(hours=48)).resolve(a, NOW)
    story_b = StoryResolver(slow, timedelta(hours=48)).resolve(b, NOW)

    assert story_b == story_a
    assert seen.find_stories([title_key])[title_key].story_id == story_a


class ClaimsThenWaits(DynamoDBSeenStore):
    """A worker that, once it has claimed its first story key, lets another run whole."""

    def __init__(self, *args: object, meanwhile: Callable[[], None]) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.meanwhile: Callable[[], None] | None = meanwhile

    def claim_story_keys(
        self, keys: Sequence[str], story_id: str, *, story_time: datetime, feed_id: str, now: datetime
    ) -> dict[str, StoryRecord]:
        lost = dict(super().claim_story_keys(keys[:1], story_id, story_time=story_time, feed_id=feed_id, now=now))
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        lost.update(super().claim_story_keys(keys[1:], story_id, story_time=story_time, feed_id=feed_id, now=now))
        return lost


def test_two_copies_claimed_at_once_with_different_keys_agree_on_one_story(pipeline: Pipeline) -> None:
    # One story, two feeds: A's copy has a link and a headline, B's a GUID too. Both read
    # before either writes; had each won a key the other needs, each would have taken the
    # other's story: two stories, two alerts for one rule.
    client, table, memory = boto3.client("dynamodb"), pipeline.settings.seen_table, timedelta(days=30)
    title, link = "Crimée : frappe de missiles", "https://news.example/2024/06/26/crimee-frappe"
    a = Item("feed-a", title, link, published=NOW)
    b = Item("feed-b", title, link, guid="urn:uuid:7f1e-b", published=NOW)
    b_reads_first = StaleReads(client, table, memory, snapshot={})
    stories: dict[str, str] = {}

    def b_runs() -> None:
        stories["b"] = StoryResolver(b_reads_first, timedelta(hours=48)).resolve(b, NOW)

    a_waits = ClaimsThenWaits(client, table, memory, meanwhile=b_runs)
    stories["a"] = StoryResolver(a_waits, timedelta(hours=48)).resolve(a, NOW)

    assert stories["a"] == stories["b"]
    keys = [key.key for key in story_keys(b)]
    assert {record.story_id for record in a_waits.find_stories(keys).values()} == {stories["a"]}


def test_seen_items_are_read_in_batches_of_100(pipeline: Pipeline) -> None:
    store = DynamoDBSeenStore(boto3.client("dynamodb"), pipeline.settings.seen_table, timedelta(days=30))
    keys = [f"item#{n}" for n in range(250)]
    store.mark_items_seen({key: "e1" if n % 2 else "" for n, key in enumerate(keys[:120])}, NOW)
    pipeline.calls.reset()

    seen = store.seen_items(keys)

    assert seen == {key: "e1" if n % 2 else "" for n, key in enumerate(keys[:120])}
    assert pipeline.calls.counts["dynamodb.BatchGetItem"] == 3


def test_a_key_left_by_an_unfinished_attempt_gives_way_to_another_feeds_story(pipeline: Pipeline) -> None:
    seen = DynamoDBSeenStore(boto3.client("dynamodb"), pipeline.settings.seen_table, timedelta(days=30))
    headline = "Frappe de missiles sur Sébastopol en Crimée"
    a = Item("feed-a", headline, "https://a.example/strike", published=NOW)
    b = Item("feed-b", headline, "https://b.example/strike", published=NOW)
    link_b = next(k.key for k in story_keys(b) if k.kind == "link")
    # Feed B's first attempt wrote its link key, then failed (the write's answer was lost)...
    seen.claim_story_keys([link_b], "story-b", story_time=NOW, feed_id="feed-b", now=NOW)
    # ...and feed A's copy took the headline meanwhile, and alerted.
    story_a = StoryResolver(seen, timedelta(hours=48)).resolve(a, NOW)

    retried = StoryResolver(seen, timedelta(hours=48)).resolve(b, NOW)

    assert retried == story_a


def test_every_feed_state_comes_back_from_one_query_per_shard_and_rules_stay_apart(pipeline: Pipeline) -> None:
    store = DynamoDBStateStore(boto3.client("dynamodb"), pipeline.settings.state_table)
    for n in range(40):
        store.save_feed(FeedState(f"feed-{n}", consecutive_failures=n % 3, last_error="timeout" if n % 3 else None))
    store.arm_rules(["crimea-strike"], NOW)
    pipeline.calls.reset()

    states = store.all_feeds()

    assert sorted(states) == sorted(f"feed-{n}" for n in range(40))
    assert states["feed-5"] == FeedState("feed-5", consecutive_failures=2, last_error="timeout")
    assert pipeline.calls.counts == {"dynamodb.Query": DynamoDBStateStore.SHARDS}
    # Keyed reads still find single feeds, and rules are their own partition.
    assert store.load_feeds(["feed-7", "feed-missing"]) == {"feed-7": states["feed-7"]}
    assert store.armed_rules(["crimea-strike", "other"]) == {"crimea-strike": NOW}
