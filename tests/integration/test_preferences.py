"""Subscribers' preferences through the real handlers on moto, the wall clock travelled:
quiet hours hold and release, a daily digest gathers (with "also reported by"), an SMS
budget moves the overflow into a digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import time_machine

from wirewatch.runner import invoke_poll

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .conftest import Pipeline

PARIS = ZoneInfo("Europe/Paris")
EVENING = datetime(2024, 6, 26, 23, 0, tzinfo=PARIS)  # 21:00 UTC, in the officer's quiet hours
SUBSCRIBERS = [
    {"id": "security-desk", "email": "security-desk@example.org"},
    {
        "id": "duty-officer",
        "email": "duty.officer@example.org",
        "min_severity": "high",
        "timezone": "Europe/Paris",
        "quiet_hours": {"from": "22:00", "to": "07:00"},
    },
    {
        "id": "duty-phone",
        "sms": "+33612345678",
        "min_severity": "critical",
        "timezone": "Europe/Paris",
        "sms_budget": {"per_hour": 1},
    },
    {
        "id": "analyst",
        "email": "analyst@example.org",
        "rules": ["*"],
        "delivery": "digest",
        "digest": {"every": "daily", "at": "08:00"},
        "timezone": "Europe/Paris",
    },
]
CONTACT = (
    "Premier entretien en un an entre les ministres US et russe de la Défense",
    "Lloyd Austin et Andreï Belousov se sont entretenus mardi par téléphone.",
)
STRIKES = [
    ("Frappe de missiles sur Sébastopol en Crimée", "Une attaque de missiles a visé le port de Sébastopol."),
    ("Drones ukrainiens abattus au-dessus de la Crimée", "Une attaque de drones a visé l'aéroport de Saki en Crimée."),
]


def rss(items: Sequence[tuple[str, str, str]], published: datetime) -> bytes:
    body = "".join(
        f"<item><title>{escape(title)}</title><link>https://wire.example/{slug}</link>"
        f"<description>{escape(summary)}</description><pubDate>{format_datetime(published)}</pubDate></item>"
        for title, summary, slug in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()


def tick(pipeline: Pipeline, moment: datetime) -> dict[str, list[dict[str, Any]]]:
    """A tick with the wall clock (leases, quiet hours, digests, budgets) at ``moment``;
    what each subscriber received, read at the same time (SQS expires messages by age)."""
    with time_machine.travel(moment, tick=False):
        invoke_poll(now=moment.astimezone(UTC))
        return {s["id"]: pipeline.received(s["id"]) for s in SUBSCRIBERS}


def test_quiet_hours_hold_an_alert_until_they_end_but_not_a_critical_one(pipeline: Pipeline) -> None:
    pipeline.server.route("/wire.xml", rss([(*CONTACT, "contact"), (*STRIKES[0], "strike")], EVENING))
    pipeline.write_config({"wire": "/wire.xml"}, subscribers=SUBSCRIBERS)

    night = tick(pipeline, EVENING + timedelta(minutes=5))
    too_early = tick(pipeline, datetime(2024, 6, 27, 6, 55, tzinfo=PARIS))
    morning = tick(pipeline, datetime(2024, 6, 27, 7, 0, tzinfo=PARIS))

    assert night["duty-officer"] == []  # high: held
    assert [m["rule"] for m in night["duty-phone"]] == ["crimea-strike"]  # critical: at once
    assert len(night["security-desk"]) == 2  # no quiet hours
    assert too_early["duty-officer"] == []
    assert [m["rule"] for m in morning["duty-officer"]] == ["defense-minister-contact"]


def test_a_daily_digest_gathers_the_days_alerts_once(pipeline: Pipeline) -> None:
    pipeline.server.route("/wire.xml", rss([(*CONTACT, "contact"), (*STRIKES[0], "strike")], EVENING))
    pipeline.write_config({"wire": "/wire.xml"}, subscribers=SUBSCRIBERS)

    evening = tick(pipeline, EVENING + timedelta(minutes=5))
    morning = tick(pipeline, datetime(2024, 6, 27, 8, 0, tzinfo=PARIS))
    next_morning = tick(pipeline, datetime(2024, 6, 28, 8, 0, tzinfo=PARIS))

    assert evening["analyst"] == []
    [digest] = morning["analyst"]
    assert digest["kind"] == "digest"
    assert digest["alerts"] == 2
    assert CONTACT[0] in str(digest["text"]) and STRIKES[0][0] in str(digest["text"])
    assert next_morning["analyst"] == []  # an empty digest is not sent


def test_sms_over_the_hourly_budget_go_to_the_next_digest(pipeline: Pipeline) -> None:
    strikes = [(*STRIKES[0], "strike-1"), (*STRIKES[1], "strike-2")]
    pipeline.server.route("/wire.xml", rss(strikes, EVENING))
    pipeline.write_config({"wire": "/wire.xml"}, subscribers=SUBSCRIBERS)

    first_hour = tick(pipeline, EVENING + timedelta(minutes=5))["duty-phone"]
    next_hour = tick(pipeline, EVENING + timedelta(hours=1))["duty-phone"]

    assert len(first_hour) == 1 and first_hour[0]["kind"] == "alert"
    [summary] = next_hour  # the second strike, in the hourly digest that took the overflow
    assert summary["kind"] == "digest" and summary["alerts"] == 1
    assert len(str(summary["text"])) <= 160
