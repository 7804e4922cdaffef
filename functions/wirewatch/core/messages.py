"""Alert texts: an email (subject ≤ 100 characters) and an SMS (≤ 160, link included)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from wirewatch.core.explain import explain
from wirewatch.core.model import Alert

if TYPE_CHECKING:
    from wirewatch.core.model import Delivery, FeedSource, Match

SUBJECT_LIMIT = 99  # SNS: "less than 100 characters"
SMS_LIMIT = 160
EXPLAIN_LINES = 8  # clauses shown in an email; the matched terms line lists them all
_ELLIPSIS = "…"


def shorten(text: str, limit: int, ellipsis: str = _ELLIPSIS) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, ellipsis included."""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[:limit]
    cut = text[: limit - len(ellipsis)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–") + ellipsis


def render(match: Match, feed: FeedSource, key: str, *, update: bool = False) -> Alert:
    """The texts of one alert; an ``update`` is an entry edited since its first alert."""
    rule, item = match.rule, match.item
    severity = rule.severity.label.upper() + (" UPDATE" if update else "")
    subject = shorten(f"[{severity}] {rule.title}: {item.title}", SUBJECT_LIMIT)
    when = item.published.strftime("%Y-%m-%d %H:%M UTC") if item.published else "time not given by the feed"
    excerpt = shorten(item.summary or item.content, 400)
    body_lines = [
        item.title,
        "",
        *([excerpt, ""] if excerpt else []),
        f"Source:   {feed.id} ({feed.url})",
        f"Time:     {when}",
        f"Link:     {item.link or '(none)'}",
        f"Matched:  {', '.join(match.matched)}",
        f"Rule:     {rule.id} - {rule.title} (severity {rule.severity.label})",
        "",
        *(["Why it matched:", *(f"  - {line}" for line in explain(match)[:EXPLAIN_LINES]), ""] if match.hits else []),
        "You receive this because you subscribed to this wirewatch rule.",
    ]
    return Alert(
        key=key,
        rule_id=rule.id,
        severity=rule.severity,
        feed_id=feed.id,
        lang=item.lang,
        subject=subject,
        email="\n".join(body_lines),
        sms=sms_text(f"{rule.title} (update)" if update else rule.title, item.title, item.link),
        link=item.link,
        title=item.title,
        matched=match.matched,
        rule_title=rule.title,
        published=item.published,
    )


def sms_text(rule_title: str, headline: str, link: str) -> str:
    """``rule: headline link`` in one SMS (GSM-7, else UCS-2): the words are cut, never the link,
    which gives way to the site's name when it would leave too few words (``sms.fit_sms``)."""
    # Imported here: only a match needs it, and the SNS adapter imports this module at cold start.
    from wirewatch.core.sms import fit_sms

    return fit_sms(rule_title, headline, link)


def sns_message(delivery: Delivery) -> str:
    """The ``MessageStructure=json`` payload: the recipient's text, JSON for queues."""
    alert = delivery.alert
    machine: dict[str, object] = {
        "recipient": delivery.recipient,
        "channel": delivery.channel,
        "kind": "digest" if delivery.digest is not None else "alert",
        "subject": delivery.subject,
        "text": delivery.text,
    }
    if alert is not None:
        machine |= {
            "rule": alert.rule_id,
            "severity": alert.severity.label,
            "feed": alert.feed_id,
            "lang": alert.lang,
            "title": alert.title,
            "link": alert.link,
            "matched": list(alert.matched),
        }
    if delivery.digest is not None:
        machine["alerts"] = len(delivery.digest.members)
        machine["members"] = list(delivery.digest.members)  # delivery#<recipient>#<rule>#<story>
    machine_text = json.dumps(machine, ensure_ascii=False)
    text = delivery.text
    return json.dumps(
        {"default": text, "email": text, "sms": text, "sqs": machine_text, "lambda": machine_text},
        ensure_ascii=False,
    )


def message_attributes(delivery: Delivery) -> dict[str, str]:
    """Attributes subscription filter policies select on: each subscription takes its recipient's."""
    attributes = {"recipient": delivery.recipient, "kind": "digest" if delivery.digest is not None else "alert"}
    if delivery.alert is not None:
        attributes |= {
            "rule": delivery.alert.rule_id,
            "severity": delivery.alert.severity.label,
            "feed": delivery.alert.feed_id,
            "lang": delivery.alert.lang,
        }
    return attributes
