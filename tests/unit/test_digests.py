"""Digest texts: grouping, order, local times, the cap, and one-segment SMS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wirewatch.core.digests import ENTRY_LIMIT, DigestEntry, DigestText, render_digest
from wirewatch.core.model import Severity
from wirewatch.core.sms import segments

PURE = settings(database=None, deadline=None)
PARIS = ZoneInfo("Europe/Paris")
UNTIL = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)  # 08:00 in Paris (CEST)
SINCE = UNTIL - timedelta(hours=1)
SEED_TITLE = "Premier entretien en un an entre les ministres US et russe de la Défense"

CRIMEA = ("crimea-strike", "Strike or attack on Crimea", Severity.CRITICAL)
DEFENCE = ("defense-minister-contact", "US and Russian defence ministers in contact", Severity.HIGH)
MARKETS = ("markets", "Markets", Severity.LOW)


def entry(
    rule: tuple[str, str, Severity],
    headline: str,
    published: datetime | None,
    *,
    created_at: datetime | None = None,
    also_reported: int = 0,
    source: str = "boursorama-reuters",
) -> DigestEntry:
    rule_id, rule_title, severity = rule
    return DigestEntry(
        rule_id=rule_id,
        rule_title=rule_title,
        severity=severity,
        headline=headline,
        source=source,
        published=published,
        link=f"https://news.example.org/{rule_id}/{'-'.join(headline.split())[:40]}",
        also_reported=also_reported,
        created_at=created_at or (published or UNTIL) + timedelta(minutes=2),
    )


def render(entries: list[DigestEntry], *, since: datetime | None = SINCE, until: datetime = UNTIL) -> DigestText:
    digest = render_digest(entries, recipient="ana@example.org", tz=PARIS, since=since, until=until)
    assert digest is not None
    return digest


def minutes_ago(minutes: int) -> datetime:
    return UNTIL - timedelta(minutes=minutes)


def test_no_entries_no_digest() -> None:
    assert render_digest([], recipient="ana@example.org", tz=PARIS, since=SINCE, until=UNTIL) is None


def test_rules_most_severe_first_and_entries_newest_first() -> None:
    digest = render(
        [
            entry(MARKETS, "CAC 40 en baisse", minutes_ago(5)),
            entry(DEFENCE, SEED_TITLE, minutes_ago(31)),
            entry(CRIMEA, "Frappe sur Sébastopol", minutes_ago(50)),
            entry(CRIMEA, "Missiles sur la Crimée", minutes_ago(10)),
            entry(CRIMEA, "Pont de Kertch fermé", minutes_ago(30)),
        ]
    )
    heads = [
        line for line in digest.email.splitlines() if line.startswith("26 Jun") or line.endswith(("alert", "alerts"))
    ]
    assert heads == [
        "Strike or attack on Crimea (crimea-strike, critical): 3 alerts",
        "26 Jun 07:50  Missiles sur la Crimée",
        "26 Jun 07:30  Pont de Kertch fermé",
        "26 Jun 07:10  Frappe sur Sébastopol",
        "US and Russian defence ministers in contact (defense-minister-contact, high): 1 alert",
        f"26 Jun 07:29  {SEED_TITLE}",
        "Markets (markets, low): 1 alert",
        "26 Jun 07:55  CAC 40 en baisse",
    ]


def test_rules_of_equal_severity_go_by_title() -> None:
    digest = render(
        [
            entry(("b-rule", "Zeta", Severity.HIGH), "z", minutes_ago(1)),
            entry(("a-rule", "alpha", Severity.HIGH), "a", minutes_ago(2)),
        ]
    )
    assert digest.email.index("alpha (a-rule") < digest.email.index("Zeta (b-rule")


def test_entry_lines_carry_time_headline_source_link_and_also_reported() -> None:
    seed = entry(DEFENCE, SEED_TITLE, minutes_ago(31), also_reported=2)
    digest = render([seed, entry(CRIMEA, "Frappe", minutes_ago(20), also_reported=1, source="zonebourse-reuters")])
    lines = digest.email.splitlines()
    at = lines.index(f"26 Jun 07:29  {SEED_TITLE}")
    assert lines[at + 1 : at + 3] == [
        "              boursorama-reuters, also reported by 2 sources",
        f"              {seed.link}",
    ]
    assert "              zonebourse-reuters, also reported by 1 source" in lines


def test_an_undated_entry_is_placed_and_shown_by_its_alert_time() -> None:
    digest = render(
        [
            entry(CRIMEA, "Dated", minutes_ago(40)),
            entry(CRIMEA, "Undated", None, created_at=minutes_ago(20)),
        ]
    )
    lines = digest.email.splitlines()
    assert lines.index("26 Jun 07:40  Undated") < lines.index("26 Jun 07:20  Dated")
    assert "              boursorama-reuters, undated by the feed (time of the alert)" in lines


def test_header_footer_and_subject() -> None:
    digest = render([entry(CRIMEA, "Frappe", minutes_ago(20))])
    assert digest.subject == "wirewatch digest: 1 alert, 1 rule (26 Jun 08:00)"
    lines = digest.email.splitlines()
    assert lines[:2] == [
        "wirewatch digest: 1 alert from 1 rule",
        "Period: 26 Jun 2024 07:00 CEST to 26 Jun 2024 08:00 CEST",
    ]
    assert lines[-3:] == [
        "-- ",
        "You receive this digest at ana@example.org because you subscribed to digests of these wirewatch rules.",
        "Times are in Europe/Paris.",
    ]


def test_first_digest_has_no_start() -> None:
    digest = render([entry(CRIMEA, "Frappe", minutes_ago(20))], since=None)
    assert "Period: until 26 Jun 2024 08:00 CEST" in digest.email
    assert digest.sms == "wirewatch: 1 alert (crimea-strike 1)"


def test_a_period_across_the_autumn_dst_change_names_the_zone() -> None:
    # 27 Oct 2024: 03:00 CEST became 02:00 CET at 01:00 UTC, so 02:30 happened twice.
    until = datetime(2024, 10, 27, 7, 0, tzinfo=UTC)
    before = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    after = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    digest = render(
        [entry(CRIMEA, "Before", before), entry(CRIMEA, "After", after)],
        since=until - timedelta(days=1),
        until=until,
    )
    lines = digest.email.splitlines()
    assert lines.index("27 Oct 02:30 CET   After") < lines.index("27 Oct 02:30 CEST  Before")
    assert lines[1] == "Period: 26 Oct 2024 09:00 CEST to 27 Oct 2024 08:00 CET"
    assert digest.subject == "wirewatch digest: 2 alerts, 1 rule (27 Oct 08:00 CET)"
    assert digest.sms == "wirewatch: 2 alerts (crimea-strike 2) since 26 Oct 09:00 CEST"


def test_a_winter_period_is_in_cet_without_naming_it_on_lines() -> None:
    until = datetime(2024, 11, 27, 7, 0, tzinfo=UTC)
    digest = render(
        [entry(CRIMEA, "Frappe", until - timedelta(minutes=15))], since=until - timedelta(hours=1), until=until
    )
    assert "27 Nov 07:45  Frappe" in digest.email.splitlines()
    assert digest.subject == "wirewatch digest: 1 alert, 1 rule (27 Nov 08:00)"


def test_sms_counts_alerts_by_rule_since_the_start() -> None:
    digest = render(
        [entry(CRIMEA, f"Frappe {n}", minutes_ago(n)) for n in range(5)]
        + [entry(DEFENCE, f"Contact {n}", minutes_ago(n)) for n in range(2)]
    )
    assert digest.sms == "wirewatch: 7 alerts (crimea-strike 5, defense-minister-contact 2) since 07:00"
    assert digest.subject == "wirewatch digest: 7 alerts, 2 rules (26 Jun 08:00)"


def test_sms_of_many_rules_folds_the_rest_and_stays_one_segment() -> None:
    rules = [(f"rule-with-a-rather-long-name-{n:02}", f"Rule {n}", Severity.MEDIUM) for n in range(12)]
    digest = render([entry(rule, "x", minutes_ago(1)) for rule in rules])
    assert segments(digest.sms) == 1
    assert digest.sms.startswith("wirewatch: 12 alerts (rule-with-a-rather-long-name-00 1, ")
    assert digest.sms.endswith(" more) since 07:00")


def test_sms_of_a_cyrillic_rule_id_stays_one_segment() -> None:
    digest = render([entry(("удар-по-крыму", "Удар по Крыму", Severity.HIGH), "Удар", minutes_ago(3))])
    assert digest.sms == "wirewatch: 1 alert (удар-по-крыму 1) since 07:00"
    assert segments(digest.sms) == 1


def test_the_cap_deals_slots_to_every_rule() -> None:
    noisy = [entry(CRIMEA, f"Frappe numéro {n}", minutes_ago(n)) for n in range(60)]
    quiet = [entry(DEFENCE, f"Contact {n}", minutes_ago(n)) for n in range(3)]
    digest = render([*noisy, *quiet])
    lines = digest.email.splitlines()
    listed = [line for line in lines if "  Frappe" in line or "  Contact" in line]
    assert len(listed) == ENTRY_LIMIT
    assert sum("Contact" in line for line in listed) == 3
    assert "... and 13 more for this rule" in lines
    assert "Strike or attack on Crimea (crimea-strike, critical): 60 alerts" in lines
    assert digest.subject == "wirewatch digest: 63 alerts, 2 rules (26 Jun 08:00)"


def test_rules_beyond_the_cap_are_named_at_the_end() -> None:
    rules = [(f"rule-{n:02}", f"Rule {n:02}", Severity.MEDIUM) for n in range(ENTRY_LIMIT + 3)]
    digest = render([entry(rule, "x", minutes_ago(1)) for rule in rules])
    assert "And 3 more alerts from 3 more rules: rule-50, rule-51, rule-52" in digest.email.splitlines()


def test_headlines_are_put_on_one_line_and_clipped() -> None:
    digest = render([entry(CRIMEA, "Frappe\n  sur " + "Sébastopol " * 60, minutes_ago(1))])
    line = next(line for line in digest.email.splitlines() if line.startswith("26 Jun 07:59  "))
    assert line.startswith("26 Jun 07:59  Frappe sur Sébastopol")
    assert line.endswith("…")
    assert len(line) <= len("26 Jun 07:59  ") + 300


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        render([entry(CRIMEA, "x", datetime(2024, 6, 26, 7, 0))])


@PURE
@given(
    counts=st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=15),
    rule_ids=st.lists(st.text(min_size=1, max_size=40), min_size=15, max_size=15, unique=True),
)
def test_digest_sms_is_always_one_segment_and_subject_short(counts: list[int], rule_ids: list[str]) -> None:
    entries = [
        entry((rule_id, rule_id, Severity.MEDIUM), f"h{n}", minutes_ago(n))
        for rule_id, count in zip(rule_ids, counts, strict=False)
        for n in range(count)
    ]
    digest = render(entries)
    assert segments(digest.sms) == 1
    assert len(digest.subject) < 100
    assert digest.sms.startswith("wirewatch: ")
