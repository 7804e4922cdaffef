"""Backtests fold a rule's rewritten report of an event as the poll worker does: the first
report in time alerts and keeps its bands, a later one of the same event within the fold
window is counted as folded, not as another alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import cache
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import pytest
import yaml

from wirewatch.cli import main
from wirewatch.core.backtest import RuleBacktest, backtest
from wirewatch.core.memory_folds import MemoryFoldIndex
from wirewatch.core.model import FeedSource, Item
from wirewatch.core.neardup import FoldRecord
from wirewatch.core.watchfile import load_watch

from .helpers import EXAMPLE_WATCH, ROOT

if TYPE_CHECKING:
    from pathlib import Path

PAIRS = ROOT / "tests" / "fixtures" / "neardup" / "pairs.yaml"
T0 = datetime(2024, 6, 26, 4, tzinfo=UTC)
WIRE = FeedSource("wire", "https://wire.example/rss.xml")
KYIV = FeedSource("kyiv", "https://kyiv.example/rss.xml")
CONTACT = "defense-minister-contact"


@cache
def _pairs() -> dict[str, dict[str, dict[str, str]]]:
    pairs = yaml.safe_load(PAIRS.read_text(encoding="utf-8"))["pairs"]
    return {pair["id"]: pair for pair in pairs}


def _report(pair_id: str, side: str) -> tuple[str, str]:
    text = _pairs()[pair_id][side]
    return text["title"], text["summary"]


# Two real reports of the 25 June 2024 Austin-Belousov call (the integration test's REUTERS and KYIV).
JUNE_CALL = _report("austin-belousov-june-antiwar-vs-zoneyetu", "a")
JUNE_CALL_REWRITTEN = _report("austin-belousov-june-antiwar-vs-zoneyetu", "b")


def _item(feed: FeedSource, text: tuple[str, str], link: str, published: datetime) -> tuple[FeedSource, Item]:
    return feed, Item(feed.id, text[0], link, summary=text[1], published=published)


def _rule_result(
    items: list[tuple[FeedSource, Item]], rule_id: str, *, fold_window: timedelta = timedelta(hours=24)
) -> RuleBacktest:
    config = load_watch(EXAMPLE_WATCH.read_text(encoding="utf-8"), str(EXAMPLE_WATCH))
    report = backtest(
        items, config.rules, since=T0 - timedelta(days=1), story_window=timedelta(hours=48), fold_window=fold_window
    )
    return next(result for result in report.rules if result.rule.id == rule_id)


def test_a_rewritten_report_is_folded_into_the_alert_of_the_first_one_in_time() -> None:
    # Listed newest first, as feeds list them: the earlier report still raises the alert.
    items = [
        _item(KYIV, JUNE_CALL_REWRITTEN, "https://kyiv.example/pentagon-chief", T0 + timedelta(hours=1)),
        _item(WIRE, JUNE_CALL, "https://wire.example/austin-belousov", T0),
    ]

    result = _rule_result(items, CONTACT)

    assert (result.total, result.folded) == (1, 1)
    assert [sample.item.link for sample in result.samples] == ["https://wire.example/austin-belousov"]


def test_a_rewritten_report_after_the_fold_window_alerts_again() -> None:
    items = [
        _item(WIRE, JUNE_CALL, "https://wire.example/austin-belousov", T0),
        _item(KYIV, JUNE_CALL_REWRITTEN, "https://kyiv.example/pentagon-chief", T0 + timedelta(hours=25)),
    ]

    result = _rule_result(items, CONTACT)
    assert (result.total, result.folded) == (2, 0)
    widened = _rule_result(items, CONTACT, fold_window=timedelta(hours=48))
    assert (widened.total, widened.folded) == (1, 1)


def test_two_strikes_sharing_only_the_rules_words_are_two_alerts() -> None:
    # Alike on all their words (neardup.same_event), but only through what the rule matched.
    port = ("Frappe de missiles sur Sébastopol en Crimée", "Une attaque de missiles a visé le port de Sébastopol.")
    airfield = (
        "Drones ukrainiens abattus au-dessus de la Crimée",
        "Une attaque de drones a visé l'aéroport de Saki en Crimée.",
    )
    items = [
        _item(WIRE, port, "https://wire.example/port", T0),
        _item(KYIV, airfield, "https://kyiv.example/airfield", T0 + timedelta(hours=1)),
    ]

    result = _rule_result(items, "crimea-strike")

    assert (result.total, result.folded) == (2, 0)


def test_a_copy_of_an_alerted_story_worded_otherwise_widens_the_net() -> None:
    # The same link under the wording another outlet gave the wire: one story, and a
    # report too far from the first wording to fold on its own folds through the copy.
    first = _report("seed-wire-vs-aussiedlerbote", "b")
    wire = _report("seed-wire-vs-aussiedlerbote", "a")
    later = _report("seed-wire-vs-rt-fr", "b")
    items = [
        _item(WIRE, first, "https://wire.example/austin-belousov", T0),
        _item(KYIV, wire, "https://wire.example/austin-belousov", T0 + timedelta(hours=1)),
        _item(KYIV, later, "https://kyiv.example/choigou", T0 + timedelta(hours=2)),
    ]

    result = _rule_result(items, CONTACT)
    direct = _rule_result([items[0], items[2]], CONTACT)

    assert (result.total, result.folded) == (1, 1)
    assert (direct.total, direct.folded) == (2, 0)


def test_one_story_in_two_feeds_is_one_alert_and_no_folded_report() -> None:
    items = [
        _item(WIRE, JUNE_CALL, "https://wire.example/austin-belousov", T0),
        _item(KYIV, JUNE_CALL, "https://wire.example/austin-belousov", T0 + timedelta(hours=1)),
    ]

    result = _rule_result(items, CONTACT)

    assert (result.total, result.folded) == (1, 0)


def _rss(title: str, summary: str, link: str, published: datetime) -> str:
    item = (
        f"<item><title>{escape(title)}</title><link>{link}</link><description>{escape(summary)}</description>"
        f"<pubDate>{format_datetime(published)}</pubDate></item>"
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{item}</channel></rss>'


def test_the_command_counts_one_alert_and_one_folded_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wire, kyiv = tmp_path / "wire.xml", tmp_path / "kyiv.xml"
    wire.write_text(_rss(*JUNE_CALL, "https://wire.example/austin-belousov", T0), encoding="utf-8")
    kyiv.write_text(
        _rss(*JUNE_CALL_REWRITTEN, "https://kyiv.example/pentagon-chief", T0 + timedelta(hours=1)), encoding="utf-8"
    )
    argv = ["backtest", str(EXAMPLE_WATCH), "--since", "2024-06-01", "--feed", str(wire), str(kyiv), "--rule", CONTACT]

    assert main(argv) == 0

    assert f"{CONTACT}: 1 alert(s) on 1 day(s), 1 folded report(s)" in capsys.readouterr().out


def test_the_command_caps_the_fold_window_as_the_pipeline_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A 60-day window in the file, the stores remembering 29 days: the pipeline would alert
    # on the rewrite 40 days on, so the backtest counts two alerts.
    watch = tmp_path / "watch.yaml"
    watch.write_text(
        EXAMPLE_WATCH.read_text(encoding="utf-8").replace("fold_window: 24h", "fold_window: 60d"), encoding="utf-8"
    )
    wire, kyiv = tmp_path / "wire.xml", tmp_path / "kyiv.xml"
    wire.write_text(_rss(*JUNE_CALL, "https://wire.example/austin-belousov", T0), encoding="utf-8")
    later = T0 + timedelta(days=40)
    kyiv.write_text(_rss(*JUNE_CALL_REWRITTEN, "https://kyiv.example/pentagon-chief", later), encoding="utf-8")
    argv = ["backtest", str(watch), "--since", "2024-06-01", "--feed", str(wire), str(kyiv), "--rule", CONTACT]

    assert main(argv) == 0

    assert f"{CONTACT}: 2 alert(s) on 2 day(s), 0 folded report(s)" in capsys.readouterr().out


# --- the in-memory fold index ------------------------------------------------------------


def _record(alert_key: str, first_seen: datetime) -> FoldRecord:
    return FoldRecord(alert_key, "m1:signature", first_seen)


def test_the_first_claim_keeps_a_band() -> None:
    index = MemoryFoldIndex()
    first, second = _record("alert#r#1", T0), _record("alert#r#2", T0 + timedelta(hours=1))

    index.claim(["band#a", "band#b"], first, T0)
    index.claim(["band#b", "band#c"], second, T0 + timedelta(days=365))

    assert index.find(["band#a", "band#b", "band#c", "band#d"]) == {
        "band#a": first,
        "band#b": first,
        "band#c": second,
    }


def test_a_band_held_past_its_retention_goes_to_the_next_claim() -> None:
    index = MemoryFoldIndex(timedelta(days=30))
    first = _record("alert#r#1", T0)
    index.claim(["band#a"], first, T0)

    index.claim(["band#a"], _record("alert#r#2", T0 + timedelta(days=30)), T0 + timedelta(days=30))
    assert index.find(["band#a"]) == {"band#a": first}

    later = _record("alert#r#3", T0 + timedelta(days=31))
    index.claim(["band#a"], later, T0 + timedelta(days=31))
    assert index.find(["band#a"]) == {"band#a": later}


def test_an_entry_listed_in_two_captures_of_its_feed_is_one_alert() -> None:
    # No GUID, and a link to the site's home page, which names no story: only the seen
    # store's entry key tells the second listing from a new story.
    home = "https://wire.example/"
    first = _item(WIRE, JUNE_CALL, home, T0)
    again = _item(WIRE, JUNE_CALL, home, T0)
    result = _rule_result([first, again], CONTACT)
    assert (result.total, result.folded) == (1, 0)


def test_a_copy_reworded_weeks_later_does_not_open_a_new_fold_window() -> None:
    # The June call relisted (same link) three weeks on with another blurb widens the June
    # alert's net, dated June: the July call, hours after the relisting, still alerts
    # (the texts of tests/integration/test_folding.py).
    june = (
        "Pentagon Chief Speaks With Russian Counterpart, First Time in Over a Year",
        "The Defense Department announced Secretary Lloyd Austin held a phone call with Andrei Belousov, his "
        "Russian counterpart, on Tuesday. Austin has not spoken with a Russian defense minister since his call "
        "with Belousov's predecessor more than a year ago.",
    )
    relisted = (
        "Pentagon chief Austin holds first call with Russian counterpart in over a year",
        "US Defense Secretary Lloyd Austin held phone talks with Russian Defense Minister Andrei Belousov on "
        "Tuesday, the Pentagon said, the first such call in more than a year.",
    )
    july = (
        "Belousov and Austin discuss risk of escalation in phone call",
        "Russian Defense Minister Andrei Belousov and his US counterpart Lloyd Austin held phone talks to discuss "
        'containing the "risk of a possible escalation," the Russian Defense Ministry said Friday.',
    )
    link = "https://wire.example/june-call"
    items = [
        _item(WIRE, june, link, T0),
        _item(KYIV, relisted, link, T0 + timedelta(days=20)),
        _item(KYIV, july, "https://kyiv.example/july-call", T0 + timedelta(days=20, hours=3)),
    ]
    result = _rule_result(items, CONTACT, fold_window=timedelta(hours=24))
    assert (result.total, result.folded) == (2, 0)
