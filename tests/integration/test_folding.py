"""One alert per event across outlets: a report of the same event under another headline,
from another feed, is folded into the rule's first alert and counted there; an entry edited
under its GUID alerts again only for rules that ask for updates, and for rules it matches
for the first time."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import boto3
import pytest
import yaml

from wirewatch.core.ports import PollJob
from wirewatch.handlers.poll_feeds import get_poller
from wirewatch.runner import invoke_poll
from wirewatch.settings import Settings

from .conftest import EXAMPLE, TEST_SUBSCRIBERS

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from wirewatch.core.neardup import FoldRecord

    from .conftest import Pipeline

NOW = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)
# Two real reports of the 25 June 2024 call (tests/fixtures/neardup/pairs.yaml).
REUTERS = (
    "Pentagon Chief Speaks With Russian Counterpart, First Time in Over a Year",
    "The Defense Department announced Secretary Lloyd Austin held a phone call with Andrei Belousov, his Russian "
    "counterpart, on Tuesday. Austin has not spoken with a Russian defense minister since his call with "
    "Belousov's predecessor more than a year ago.",
)
KYIV = (
    "Chief of the Pentagon and the Russian Minister of Defense Talk on Mutual Understanding",
    "The Pentagon announced on Tuesday that U.S. Defense Secretary Lloyd Austin and Russian Defense Minister "
    "Andrei Belousov had a phone conversation on Tuesday during which they talked about the value of open "
    "channels of communication.",
)
# Two strikes on Crimea the same evening: every report the rule matches says "Crimée" and
# "attaque", which is not enough to make them one event.
STRIKE_PORT = ("Frappe de missiles sur Sébastopol en Crimée", "Une attaque de missiles a visé le port de Sébastopol.")
STRIKE_AIRFIELD = (
    "Drones ukrainiens abattus au-dessus de la Crimée",
    "Une attaque de drones a visé l'aéroport de Saki en Crimée.",
)
# The same two men, another call, three weeks later: another event.
JULY = (
    "Belousov and Austin discuss risk of escalation in phone call",
    "Russian Defense Minister Andrei Belousov and his US counterpart Lloyd Austin held phone talks to discuss "
    'containing the "risk of a possible escalation," the Russian Defense Ministry said Friday.',
)


def rss(title: str, summary: str, link: str, published: datetime) -> bytes:
    item = (
        f"<item><title>{escape(title)}</title><link>{link}</link><description>{escape(summary)}</description>"
        f"<pubDate>{format_datetime(published)}</pubDate></item>"
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{item}</channel></rss>'.encode()


def contact_alerts(pipeline: Pipeline) -> list[dict[str, object]]:
    return [a for a in pipeline.received("security-desk") if a.get("rule") == "defense-minister-contact"]


def test_a_rewritten_report_of_the_same_event_is_folded_into_the_first_alert(pipeline: Pipeline) -> None:
    pipeline.server.route("/wire.xml", rss(*REUTERS, "https://wire.example/austin-belousov", NOW - timedelta(hours=2)))
    pipeline.write_config({"wire": "/wire.xml"})
    invoke_poll(now=NOW)
    first = contact_alerts(pipeline)

    pipeline.server.route("/kyiv.xml", rss(*KYIV, "https://kyiv.example/pentagon-chief", NOW - timedelta(hours=1)))
    pipeline.write_config({"wire": "/wire.xml", "kyiv": "/kyiv.xml"})
    later = invoke_poll(now=NOW + timedelta(minutes=5))

    assert [a["title"] for a in first] == [REUTERS[0]]
    assert contact_alerts(pipeline) == []
    assert later["reports_folded"] == 1
    [record] = [r for r in pipeline.alert_records() if r["rule_id"]["S"] == "defense-minister-contact"]
    assert record["folded_feeds"]["SS"] == ["kyiv"]


def test_two_strikes_the_same_evening_are_two_alerts(pipeline: Pipeline) -> None:
    pipeline.server.route("/a.xml", rss(*STRIKE_PORT, "https://a.example/port", NOW - timedelta(hours=2)))
    pipeline.server.route("/b.xml", rss(*STRIKE_AIRFIELD, "https://b.example/saki", NOW - timedelta(hours=1)))
    pipeline.write_config({"a": "/a.xml", "b": "/b.xml"})

    result = invoke_poll(now=NOW)

    strikes = [a["title"] for a in pipeline.received("security-desk") if a.get("rule") == "crimea-strike"]
    assert sorted(strikes) == sorted([STRIKE_PORT[0], STRIKE_AIRFIELD[0]])
    assert result["reports_folded"] == 0


def example_settings(**changes: str) -> dict[str, object]:
    settings: dict[str, object] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["settings"]
    return {**settings, **changes}


def test_fold_bands_last_as_long_as_the_fold_window(pipeline: Pipeline) -> None:
    # TTL deletes a band once it expires: one that expired inside the window would let a
    # later report of the event alert again.
    pipeline.server.route("/wire.xml", rss(*REUTERS, "https://wire.example/austin-belousov", NOW - timedelta(hours=2)))
    pipeline.write_config({"wire": "/wire.xml"}, settings=example_settings(fold_window="10d"))
    invoke_poll(now=NOW)

    bands = [
        item
        for item in boto3.client("dynamodb").scan(TableName=pipeline.settings.seen_table)["Items"]
        if item["pk"]["S"].startswith("band#")
    ]
    assert bands
    assert min(int(item["expires_at"]["N"]) for item in bands) >= (NOW + timedelta(days=10)).timestamp()


def test_a_fold_window_longer_than_the_stores_remember_is_cut_to_what_they_do(pipeline: Pipeline) -> None:
    # Past the retention (30 days here) the first alert and its bands may be gone: folding
    # into them cannot be promised, so a report 40 days on alerts, whatever the file says.
    pipeline.server.route("/wire.xml", rss(*REUTERS, "https://wire.example/austin-belousov", NOW - timedelta(hours=2)))
    pipeline.write_config({"wire": "/wire.xml"}, settings=example_settings(fold_window="60d"))
    invoke_poll(now=NOW)
    contact_alerts(pipeline)

    later = NOW + timedelta(days=40)
    pipeline.server.route("/kyiv.xml", rss(*KYIV, "https://kyiv.example/pentagon-chief", later - timedelta(hours=1)))
    pipeline.write_config({"wire": "/wire.xml", "kyiv": "/kyiv.xml"}, settings=example_settings(fold_window="60d"))
    invoke_poll(now=later)

    assert [a["title"] for a in contact_alerts(pipeline)] == [KYIV[0]]


def test_a_similar_report_outside_the_fold_window_alerts_again(pipeline: Pipeline) -> None:
    pipeline.server.route("/wire.xml", rss(*REUTERS, "https://wire.example/june", NOW - timedelta(hours=2)))
    pipeline.write_config({"wire": "/wire.xml"})
    invoke_poll(now=NOW)
    contact_alerts(pipeline)

    july = NOW + timedelta(days=17)
    pipeline.server.route("/wire.xml", rss(*JULY, "https://wire.example/july", july - timedelta(hours=1)))
    invoke_poll(now=july)

    assert [a["title"] for a in contact_alerts(pipeline)] == [JULY[0]]


def guid_rss(title: str, published: datetime) -> bytes:
    item = (
        f"<item><title>{escape(title)}</title><link>https://wire.example/sevastopol</link>"
        f"<guid isPermaLink='false'>urn:wire:sevastopol-1</guid><pubDate>{format_datetime(published)}</pubDate></item>"
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{item}</channel></rss>'.encode()


def test_an_entry_edited_under_its_guid_alerts_again_only_for_rules_that_ask(pipeline: Pipeline) -> None:
    first = "Missile strike on Sevastopol in Crimea"
    edited = "Missile strike on Sevastopol in Crimea: four killed, Russia says"
    pipeline.server.route("/wire.xml", guid_rss(first, NOW - timedelta(hours=1)))
    rules = yaml_rules(on_edit={"crimea-strike": "update"})
    pipeline.write_config({"wire": "/wire.xml"}, rules=rules)
    invoke_poll(now=NOW)
    before = pipeline.received("security-desk")

    pipeline.server.route("/wire.xml", guid_rss(edited, NOW - timedelta(hours=1)))
    invoke_poll(now=NOW + timedelta(minutes=5))
    after = pipeline.received("security-desk")
    pipeline.server.route("/wire.xml", guid_rss(edited, NOW - timedelta(hours=1)))
    invoke_poll(now=NOW + timedelta(minutes=10))

    assert [a["title"] for a in before] == [first]
    assert [(a["rule"], a["title"]) for a in after] == [("crimea-strike", edited)]
    assert str(after[0]["subject"]).startswith("[CRITICAL UPDATE]")
    assert pipeline.received("security-desk") == []  # the same edition, seen again: nothing


def test_edits_are_ignored_by_default(pipeline: Pipeline) -> None:
    pipeline.server.route("/wire.xml", guid_rss("Missile strike on Sevastopol in Crimea", NOW - timedelta(hours=1)))
    pipeline.write_config({"wire": "/wire.xml"})
    invoke_poll(now=NOW)
    pipeline.received("security-desk")

    pipeline.server.route("/wire.xml", guid_rss("Missile strike on Sevastopol: four killed", NOW - timedelta(hours=1)))
    result = invoke_poll(now=NOW + timedelta(minutes=5))

    assert pipeline.received("security-desk") == []
    assert result["alerts_created"] == 0


@pytest.mark.parametrize("on_edit", ["ignore", "update"])
def test_an_edit_that_makes_a_rule_match_alerts_as_a_new_story_for_it(pipeline: Pipeline, on_edit: str) -> None:
    # The policy is about news of a story a rule alerted on; a rule that had not, because
    # the first headline said too little, must not lose the event when the wire says more.
    pipeline.server.route("/wire.xml", guid_rss("Loud explosions heard overnight", NOW - timedelta(hours=1)))
    pipeline.write_config({"wire": "/wire.xml"}, rules=yaml_rules(on_edit={"crimea-strike": on_edit}))
    invoke_poll(now=NOW)
    before = pipeline.received("security-desk")

    edited = "Ukrainian missile strike on Sevastopol in Crimea"
    pipeline.server.route("/wire.xml", guid_rss(edited, NOW - timedelta(hours=1)))
    result = invoke_poll(now=NOW + timedelta(minutes=5))
    after = pipeline.received("security-desk")

    assert before == []
    assert [(a["rule"], a["title"]) for a in after] == [("crimea-strike", edited)]
    assert "UPDATE" not in str(after[0]["subject"])
    assert result["alerts_created"] == 1


@pytest.mark.parametrize("on_edit", ["ignore", "update"])
def test_an_edit_of_an_old_entry_pages_nobody(pipeline: Pipeline, on_edit: str) -> None:
    # Armed silently on the feed's first poll, ten days old: a fixed typo is no news.
    old = NOW - timedelta(days=10)
    pipeline.server.route("/wire.xml", guid_rss("Missile strike on Sevastopol in Crimea", old))
    pipeline.write_config({"wire": "/wire.xml"}, rules=yaml_rules(on_edit={"crimea-strike": on_edit}))
    invoke_poll(now=NOW)

    pipeline.server.route("/wire.xml", guid_rss("Missile strike on Sevastopol, Crimea", old))
    result = invoke_poll(now=NOW + timedelta(minutes=5))

    assert pipeline.received("security-desk") == []
    assert result["alerts_created"] == 0


def yaml_rules(*, on_edit: dict[str, str]) -> list[dict[str, object]]:
    """The example watch file's rules, with ``on_edit`` set where named."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return [{**rule, **({"on_edit": on_edit[rule["id"]]} if rule["id"] in on_edit else {})} for rule in data["rules"]]


def test_a_band_whose_alert_is_missing_does_not_stop_the_fold(pipeline: Pipeline) -> None:
    from wirewatch.adapters.dynamodb_bands import DynamoDBFoldIndex
    from wirewatch.core.model import Item
    from wirewatch.core.neardup import band_keys, report

    # An earlier copy's bands, its alert gone (expired sooner than its bands, or removed).
    matched = ("Austin", "Belousov", "phone*", "Russian Defense Minister", "Defense Secretary")
    ghost = report(Item("ghost", REUTERS[0], "https://ghost.example/1", summary=REUTERS[1]), matched)
    assert ghost is not None
    index = DynamoDBFoldIndex(boto3.client("dynamodb"), pipeline.settings.seen_table, timedelta(days=7))
    index.claim(
        band_keys(ghost.signature, "defense-minister-contact"),
        ghost.record("alert#defense-minister-contact#gone", NOW - timedelta(hours=3)),
        NOW - timedelta(hours=3),
    )
    pipeline.server.route("/kyiv.xml", rss(*KYIV, "https://kyiv.example/pentagon-chief", NOW - timedelta(hours=1)))
    pipeline.write_config({"kyiv": "/kyiv.xml"})

    result = invoke_poll(now=NOW)

    assert [a["title"] for a in contact_alerts(pipeline)] == [KYIV[0]]  # alerted on its own
    assert result["reports_folded"] == 0


def test_a_job_of_an_earlier_tick_running_late_folds_into_the_later_alert(pipeline: Pipeline) -> None:
    # A job retried, deferred or held back runs after the next tick's jobs: the window
    # looks both ways from its tick.
    pipeline.server.route("/wire.xml", rss(*REUTERS, "https://wire.example/austin-belousov", NOW - timedelta(hours=2)))
    pipeline.server.route("/kyiv.xml", rss(*KYIV, "https://kyiv.example/pentagon-chief", NOW - timedelta(hours=1)))
    pipeline.write_config({"wire": "/wire.xml", "kyiv": "/kyiv.xml"})
    poller = get_poller()

    poller.poll([PollJob("kyiv", NOW + timedelta(minutes=5))])
    late = poller.poll([PollJob("wire", NOW)])

    assert [a["title"] for a in contact_alerts(pipeline)] == [KYIV[0]]
    assert late.total("folded") == 1


def test_an_edit_into_another_outlets_headline_stays_with_its_own_story(pipeline: Pipeline) -> None:
    # Publishers often rewrite their headline in the wire's words: the entry is still the
    # one the rule alerted on, not the other outlet's story, and on_edit: ignore holds.
    first = "Missile strike on Sevastopol in Crimea"
    wire = "Austin and Belousov speak by phone after missile strike on Sevastopol in Crimea"
    rules = [{**rule, "feeds": ["wire"]} if rule["id"] == "crimea-strike" else rule for rule in yaml_rules(on_edit={})]
    other = rss(wire, "", "https://other.example/call", NOW - timedelta(hours=1))
    pipeline.server.route("/wire.xml", guid_rss(first, NOW - timedelta(hours=1)))
    pipeline.server.route("/other.xml", other)
    pipeline.write_config({"wire": "/wire.xml", "other": "/other.xml"}, rules=rules)
    invoke_poll(now=NOW)
    before = [a["title"] for a in pipeline.received("security-desk") if a.get("rule") == "crimea-strike"]

    pipeline.server.route("/wire.xml", guid_rss(wire, NOW - timedelta(hours=1)))
    invoke_poll(now=NOW + timedelta(minutes=5))

    assert before == [first]
    assert [a for a in pipeline.received("security-desk") if a.get("rule") == "crimea-strike"] == []


def test_other_outlets_carrying_the_same_wire_count_as_sources(pipeline: Pipeline) -> None:
    # The identical wire on two other sites is the same story (same headline): no fold
    # lookup is made, yet each outlet is one more source for "also reported by".
    pipeline.server.route("/wire.xml", rss(*REUTERS, "https://wire.example/austin-belousov", NOW - timedelta(hours=2)))
    pipeline.write_config({"wire": "/wire.xml"})
    invoke_poll(now=NOW)
    assert [a["title"] for a in contact_alerts(pipeline)] == [REUTERS[0]]
    pipeline.server.route("/lemonde.xml", rss(*REUTERS, "https://lemonde.example/a/1", NOW - timedelta(hours=1)))
    pipeline.server.route("/figaro.xml", rss(*REUTERS, "https://figaro.example/b/2", NOW - timedelta(hours=1)))
    pipeline.server.route("/kyiv.xml", rss(*KYIV, "https://kyiv.example/pentagon-chief", NOW - timedelta(hours=1)))
    feeds = {"wire": "/wire.xml", "lemonde": "/lemonde.xml", "figaro": "/figaro.xml", "kyiv": "/kyiv.xml"}
    pipeline.write_config(feeds)
    invoke_poll(now=NOW + timedelta(minutes=5))
    invoke_poll(now=NOW + timedelta(minutes=10))  # polled again: counted once per feed

    assert contact_alerts(pipeline) == []
    [record] = [r for r in pipeline.alert_records() if r["rule_id"]["S"] == "defense-minister-contact"]
    assert sorted(record["folded_feeds"]["SS"]) == ["figaro", "kyiv", "lemonde"]


def test_a_relisting_weeks_later_does_not_open_a_new_fold_window(pipeline: Pipeline) -> None:
    # An aggregator lists the June article again three weeks later with another blurb: its
    # bands widen the June alert's net, but dated from June, so the July call still alerts.
    link = "https://wire.example/austin-belousov"
    pipeline.server.route("/wire.xml", rss(*REUTERS, link, NOW - timedelta(hours=2)))
    pipeline.server.route("/agg.xml", rss("Weather for the weekend", "Sunny spells.", "https://agg.example/w", NOW))
    pipeline.server.route("/tass.xml", rss("Football results", "Scores.", "https://tass.example/f", NOW))
    pipeline.write_config({"wire": "/wire.xml", "agg": "/agg.xml", "tass": "/tass.xml"})
    invoke_poll(now=NOW)
    assert [a["title"] for a in contact_alerts(pipeline)] == [REUTERS[0]]
    later = NOW + timedelta(days=20)
    relisted = (
        "Pentagon chief Austin holds first call with Russian counterpart in over a year",
        "US Defense Secretary Lloyd Austin held phone talks with Russian Defense Minister Andrei Belousov on "
        "Tuesday, the Pentagon said, the first such call in more than a year.",
    )
    pipeline.server.route("/agg.xml", rss(*relisted, link, NOW - timedelta(hours=2)))
    invoke_poll(now=later)
    assert contact_alerts(pipeline) == []  # the relisting is the June story

    pipeline.server.route("/tass.xml", rss(*JULY, "https://tass.example/july-call", later + timedelta(hours=2)))
    invoke_poll(now=later + timedelta(hours=3))
    assert [a["title"] for a in contact_alerts(pipeline)] == [JULY[0]]


def test_two_outlets_polled_side_by_side_give_one_alert(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    # One batch, two feeds, the same event reworded: fetched side by side, their reports
    # reach the fold lookup together. Each lookup waits (up to 2 s) for the other, so that
    # without one report at a time per rule both would find no band, and both alert.
    from wirewatch.adapters.dynamodb_bands import DynamoDBFoldIndex

    pipeline.server.route("/wire.xml", rss(*REUTERS, "https://wire.example/austin-belousov", NOW - timedelta(hours=2)))
    pipeline.server.route("/kyiv.xml", rss(*KYIV, "https://kyiv.example/pentagon-chief", NOW - timedelta(hours=1)))
    pipeline.write_config({"wire": "/wire.xml", "kyiv": "/kyiv.xml"})
    together = threading.Barrier(2, timeout=2)
    find = DynamoDBFoldIndex.find

    def find_together(self: DynamoDBFoldIndex, keys: Sequence[str]) -> dict[str, FoldRecord]:
        found = find(self, keys)
        with contextlib.suppress(threading.BrokenBarrierError):
            together.wait()
        return found

    monkeypatch.setattr(DynamoDBFoldIndex, "find", find_together)
    result = invoke_poll(now=NOW)

    assert len(contact_alerts(pipeline)) == 1
    assert result["reports_folded"] == 1


def _alert_records(pipeline: Pipeline, rule: str) -> dict[str, dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=pipeline.settings.alerts_table)["Items"]
    return {item["pk"]["S"]: item for item in items if item["pk"]["S"].startswith(f"alert#{rule}#")}


def _alert_table_item(pipeline: Pipeline, key: str) -> dict[str, Any]:
    table = pipeline.settings.alerts_table
    item: dict[str, Any] = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": key}})["Item"]
    return item


def _race(monkeypatch: pytest.MonkeyPatch, settings: Sequence[Settings], *, lockstep: bool = False) -> list[Any]:
    """Two Lambda containers poll "wire" and "kyiv" side by side. Their fold lookups wait for
    each other, so both find no band and both write an alert; each looks again, and waits
    for the other to have looked before publishing, so that which one withdraws is not left
    to timing. ``lockstep``: the band claims too go one at a time, one worker from the first
    band up, the other from the last down, so that each wins some shared band and sees the
    other's alert. Returns each worker's PollReport."""
    from wirewatch.adapters.dynamodb_bands import DynamoDBFoldIndex
    from wirewatch.bootstrap import build_poller
    from wirewatch.service import Poller

    # The timeout only turns a deadlock (a worker that never reaches the barrier) into a
    # failure; it bounds no step's speed.
    looked_up, settled, step = (threading.Barrier(2, timeout=300) for _ in range(3))
    first_lookup = threading.local()
    find, settle_race, claim = DynamoDBFoldIndex.find, Poller._settle_race, DynamoDBFoldIndex.claim
    turns: dict[str, int] = {}
    turn_lock, one_at_a_time = threading.Lock(), threading.Lock()

    def find_together(self: DynamoDBFoldIndex, keys: Sequence[str]) -> dict[str, FoldRecord]:
        found = find(self, keys)
        if not getattr(first_lookup, "done", False):
            first_lookup.done = True
            looked_up.wait()
        return found

    def settle_together(self: Poller, *args: Any, **kwargs: Any) -> bool:
        # One after the other: moto's conditional writes are not atomic across threads
        # (DynamoDB's are), and both workers may withdraw the same alert.
        with one_at_a_time:
            withdrawn = settle_race(self, *args, **kwargs)
        settled.wait()
        return withdrawn

    def claim_in_step(self: DynamoDBFoldIndex, keys: Sequence[str], record: FoldRecord, now: datetime) -> None:
        with turn_lock:
            turns.setdefault(record.alert_key, len(turns))
        for key in keys if turns[record.alert_key] == 0 else list(reversed(keys)):
            step.wait()
            claim(self, [key], record, now)

    monkeypatch.setattr(DynamoDBFoldIndex, "find", find_together)
    monkeypatch.setattr(Poller, "_settle_race", settle_together)
    if lockstep:
        monkeypatch.setattr(DynamoDBFoldIndex, "claim", claim_in_step)
    workers = [build_poller(one) for one in settings]
    reports: list[Any] = [None, None]

    def run(position: int, feed_id: str) -> None:
        reports[position] = workers[position].poll([PollJob(feed_id, NOW)])

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(["wire", "kyiv"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return reports


def _serve_the_call_twice(pipeline: Pipeline, **overrides: Any) -> None:
    pipeline.server.route("/wire.xml", rss(*REUTERS, "https://wire.example/austin-belousov", NOW - timedelta(hours=2)))
    pipeline.server.route("/kyiv.xml", rss(*KYIV, "https://kyiv.example/pentagon-chief", NOW - timedelta(hours=1)))
    pipeline.write_config({"wire": "/wire.xml", "kyiv": "/kyiv.xml"}, **overrides)


@pytest.mark.parametrize("lockstep", [False, True])
def test_two_workers_alerting_on_one_event_at_once_send_one_alert(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, lockstep: bool
) -> None:
    _serve_the_call_twice(pipeline)
    reports = _race(monkeypatch, [Settings.from_env(), Settings.from_env()], lockstep=lockstep)

    assert len(contact_alerts(pipeline)) == 1
    assert sum(report.messages_sent for report in reports) == 2  # one alert, to its two recipients
    records = _alert_records(pipeline, "defense-minister-contact")
    assert len(records) == 2  # both were written
    [(withdrawn, record)] = [(key, r) for key, r in records.items() if "withdrawn_into" in r]
    [kept] = set(records) - {withdrawn}
    assert record["withdrawn_into"] == {"S": kept}
    assert withdrawn > kept  # written at the same tick: the later key is the one withdrawn
    # The kept alert counts the other outlet ("also reported by 1 source"); its pin keeps it.
    assert set(records[kept]["folded_feeds"]["SS"]) == {record["feed_id"]["S"]}
    assert "pinned" in records[kept]
    # Counted once, even when both workers saw the pair and both withdrew it (lockstep).
    assert sum(report.total("withdrawn") for report in reports) == 1

    # A third outlet carrying the withdrawn alert's very story is one more source of the kept one.
    withdrawn_feed = record["feed_id"]["S"]
    copy = REUTERS if withdrawn_feed == "wire" else KYIV
    link = "https://wire.example/austin-belousov" if withdrawn_feed == "wire" else "https://kyiv.example/pentagon-chief"
    pipeline.server.route("/copy.xml", rss(*copy, link, NOW - timedelta(minutes=30)))
    pipeline.write_config({"wire": "/wire.xml", "kyiv": "/kyiv.xml", "copy": "/copy.xml"})
    invoke_poll(now=NOW + timedelta(minutes=5))
    assert contact_alerts(pipeline) == []
    records = _alert_records(pipeline, "defense-minister-contact")
    assert "copy" in records[kept]["folded_feeds"]["SS"]
    assert "folded_feeds" not in records[withdrawn]


def test_an_alert_with_a_recipient_the_other_lacks_is_not_withdrawn_in_the_race(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The watch file gains a digest subscriber while two batches run: one worker routes with
    # the old file, the other with the new one. Withdrawing the new file's alert into the
    # old one's would cancel the analyst's delivery, which the old alert never had.
    _serve_the_call_twice(pipeline)
    old = tmp_path / "old-watch.yaml"
    old.write_text(pipeline.config_path.read_text(encoding="utf-8"), encoding="utf-8")
    analyst = {"id": "analyst", "email": "analyst@example.org", "rules": ["*"], "delivery": "digest"}
    _serve_the_call_twice(pipeline, subscribers=[*TEST_SUBSCRIBERS, analyst])
    new = Settings.from_env()

    _race(monkeypatch, [dataclasses.replace(new, config_path=old), new], lockstep=True)

    records = _alert_records(pipeline, "defense-minister-contact")
    kyiv_alert = next(key for key, record in records.items() if record["feed_id"]["S"] == "kyiv")
    analyst_delivery = _alert_table_item(pipeline, f"delivery#analyst/email#{kyiv_alert.removeprefix('alert#')}")
    assert analyst_delivery["status"]["S"] == "PENDING"  # waits for the analyst's digest
    assert "withdrawn_into" not in records[kyiv_alert]


def test_a_job_retried_after_its_withdrawal_failed_finishes_it(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kyiv's alert is written beside wire's (its fold lookup missed wire's bands, claimed a
    # moment later); withdrawing it, the cancel after the mark is throttled and the job
    # fails. Its retry must finish the withdrawal, not fold the report into wire's alert and
    # leave its own half withdrawn, its deliveries going out from the sweep.
    from wirewatch.adapters.dynamodb_alerts import DynamoDBAlertStore
    from wirewatch.adapters.dynamodb_bands import DynamoDBFoldIndex
    from wirewatch.bootstrap import build_poller
    from wirewatch.core.errors import StoreError
    from wirewatch.status import read_recent_alerts

    _serve_the_call_twice(pipeline)
    poller = build_poller(Settings.from_env())
    assert poller.poll([PollJob("wire", NOW)]).total("alerts_created") == 1
    find, set_status = DynamoDBFoldIndex.find, DynamoDBAlertStore._set_status
    lookups = []

    def first_lookup_misses(self: DynamoDBFoldIndex, keys: Sequence[str]) -> dict[str, FoldRecord]:
        lookups.append(keys)
        return {} if len(lookups) == 1 else find(self, keys)

    def cancel_throttled(self: DynamoDBAlertStore, key: str, update: str, *args: Any, **kwargs: Any) -> bool:
        if ":cancelled" in update:
            raise StoreError("DynamoDB UpdateItem failed: ProvisionedThroughputExceededException")
        return set_status(self, key, update, *args, **kwargs)

    monkeypatch.setattr(DynamoDBFoldIndex, "find", first_lookup_misses)
    monkeypatch.setattr(DynamoDBAlertStore, "_set_status", cancel_throttled)
    failed = poller.poll([PollJob("kyiv", NOW)])
    assert failed.feeds[0].retry
    monkeypatch.setattr(DynamoDBAlertStore, "_set_status", set_status)

    retried = poller.poll([PollJob("kyiv", NOW)])  # SQS hands the job out again
    invoke_poll(now=NOW + timedelta(minutes=1))  # the sweep sends what is due

    records = _alert_records(pipeline, "defense-minister-contact")
    kyiv_alert = next(key for key, record in records.items() if record["feed_id"]["S"] == "kyiv")
    statuses = {_alert_table_item(pipeline, key)["status"]["S"] for key in records[kyiv_alert]["deliveries"]["SS"]}
    assert statuses == {"CANCELLED"}
    assert retried.total("withdrawn") + failed.total("withdrawn") == 1
    recent = read_recent_alerts(boto3.client("dynamodb"), pipeline.settings.alerts_table, NOW - timedelta(days=1))
    assert [alert.rule_id for alert in recent].count("defense-minister-contact") == 1


def test_a_report_folded_into_an_alert_pins_it(pipeline: Pipeline) -> None:
    # Its event now rests on that alert: nothing may withdraw it (`_settle_race`).
    _serve_the_call_twice(pipeline)
    pipeline.write_config({"wire": "/wire.xml"})
    invoke_poll(now=NOW)
    [(first, record)] = _alert_records(pipeline, "defense-minister-contact").items()
    assert "pinned" not in record
    pipeline.write_config({"wire": "/wire.xml", "kyiv": "/kyiv.xml"})
    invoke_poll(now=NOW + timedelta(minutes=5))
    assert "pinned" in _alert_records(pipeline, "defense-minister-contact")[first]


def test_a_google_news_relay_of_the_publishers_article_is_the_same_story(pipeline: Pipeline) -> None:
    # Google News links are opaque tokens and its titles end in " - Reuters": only the
    # headline, once the outlet is taken off, says it is Reuters' own story.
    title = "Austin speaks with Russian counterpart Belousov"
    summary = "US Defense Secretary Lloyd Austin spoke by phone on Tuesday with his Russian counterpart Belousov."
    relay = "https://news.google.com/rss/articles/CBMiqAFBVV95cUxNX0V4YW1wbGVUb2tlbg?oc=5"
    reuters = "https://www.reuters.com/world/us/austin-belousov-call-2024-06-25/"
    pipeline.server.route("/reuters.xml", rss(title, summary, reuters, NOW - timedelta(hours=2)))
    pipeline.write_config({"reuters": "/reuters.xml"})
    invoke_poll(now=NOW)
    assert [a["title"] for a in contact_alerts(pipeline)] == [title]
    google_news = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>"Belousov" - Google News</title><item>'
        f"<title>{title} - Reuters</title><link>{relay}</link><pubDate>{format_datetime(NOW)}</pubDate>"
        f'<description>{escape(title)}</description><source url="https://www.reuters.com">Reuters</source>'
        "</item></channel></rss>"
    ).encode()
    pipeline.server.route("/gnews.xml", google_news)
    pipeline.write_config({"reuters": "/reuters.xml", "gnews": "/gnews.xml"})
    invoke_poll(now=NOW + timedelta(minutes=5))

    assert contact_alerts(pipeline) == []
