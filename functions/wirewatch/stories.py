"""Which story an item tells: found by any of its keys, shared by concurrent workers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wirewatch.core.dedupe import story_id_for, story_keys, within_window
from wirewatch.core.ports import StoryRecord

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from wirewatch.core.model import Item
    from wirewatch.core.ports import SeenStore


class StoryResolver:
    """Story ids from the seen store: the same link, GUID or headline (across feeds, within
    ``window``) is the same story; a key claimed by another worker first wins."""

    def __init__(self, seen: SeenStore, window: timedelta) -> None:
        self.seen = seen
        self.window = window

    def resolve(self, item: Item, now: datetime, *, edit: bool = False) -> str:
        """The id of the story ``item`` belongs to, found by any of its keys, else a new one.

        An ``edit`` (an entry processed before, under a changed headline) stays with the
        story its own keys name: a headline edited into another outlet's wording is not a
        move to that outlet's story, where the rules that alerted on the entry would
        alert again.

        Workers poll side by side, so two of them may read the same story's keys at
        once. Every write is conditional, and the one that loses a race takes the
        winner's story: a stale headline is re-pointed first (if another worker did
        it first, its story is this one), then the item's new keys are claimed (if
        another worker claimed one first, likewise).
        """
        keys = story_keys(item)
        known = self.seen.find_stories([k.key for k in keys])
        stale: dict[str, StoryRecord] = {}
        found: list[StoryRecord] = []
        for key in keys:
            record = known.get(key.key)
            if record is None:
                continue
            if key.kind == "title" and not self._same_headline_same_story(record, item, now):
                if not self._within_window(record, item, now):
                    stale[key.key] = record
                continue
            found.append(record)
        # Another feed's record first: a key of this feed pointing elsewhere was left by an
        # earlier attempt at this same item that did not finish (its alerts, if any, exist
        # under that story too), while the other feed's story may already have alerted.
        # An edit's own keys were written by a finished poll: they name its story.
        record = next((r for r in found if (r.feed_id == item.feed_id) == edit), found[0] if found else None)
        story_id: str | None = record.story_id if record is not None else None
        story_time = item.published or now
        mine = story_id_for(item)
        if story_id is None:
            story_id = self._repoint_stale(stale, mine, item, story_time, now)
        new_keys = [k.key for k in keys if k.key not in known]
        if story_id != mine:  # a known story: its keys are claimed for it, whoever wins them
            self.seen.claim_story_keys(new_keys, story_id, story_time=story_time, feed_id=item.feed_id, now=now)
            return story_id
        return self._claim_new_story(new_keys, [*stale], mine, item, story_time=story_time, now=now)

    def _claim_new_story(
        self, new_keys: list[str], stale: list[str], mine: str, item: Item, *, story_time: datetime, now: datetime
    ) -> str:
        """Claim a new story's keys; the story id to use, another worker's if it claimed one first.

        Keys are claimed one at a time in one order shared by every worker (sorted), and
        the first key lost to another worker decides: its story is this item's, and the
        keys claimed so far (and headlines re-pointed) are moved to it. In any other order
        two workers could each win a key the other needs and each adopt the other's story:
        two stories, two alerts for one rule.
        """
        story_id = mine
        ours: list[str] = []
        for key in sorted(new_keys):
            lost = self.seen.claim_story_keys([key], story_id, story_time=story_time, feed_id=item.feed_id, now=now)
            winner = lost.get(key)
            if winner is None:
                ours.append(key)
                continue
            if story_id == mine and winner.story_id != mine:
                # Another worker recorded the same story between our read and our write.
                story_id = winner.story_id
                claimed = StoryRecord(mine, story_time, item.feed_id)
                for earlier in [*stale, *ours]:
                    self.seen.replace_story_key(
                        earlier, claimed, story_id=story_id, story_time=story_time, feed_id=item.feed_id, now=now
                    )
        return story_id

    def _repoint_stale(
        self, stale: dict[str, StoryRecord], mine: str, item: Item, story_time: datetime, now: datetime
    ) -> str:
        """Point headlines last seen outside the window at this newer story; the story to use."""
        for key, old in stale.items():
            if self.seen.replace_story_key(
                key, old, story_id=mine, story_time=story_time, feed_id=item.feed_id, now=now
            ):
                continue
            current = self.seen.find_stories([key]).get(key)
            if current is not None and self._same_headline_same_story(current, item, now):
                return current.story_id  # another feed's copy, re-pointed a moment ago
        return mine

    def _within_window(self, record: StoryRecord, item: Item, now: datetime) -> bool:
        window = self.window.total_seconds()
        return within_window(record.first_seen, item.published, now, window)

    def _same_headline_same_story(self, record: StoryRecord, item: Item, now: datetime) -> bool:
        # Same headline means the same wire story only across feeds and close in time:
        # one feed reusing a headline ("Ukraine war: latest") is telling a new story.
        return record.feed_id != item.feed_id and self._within_window(record, item, now)
