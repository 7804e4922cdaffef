"""Deployment settings from the environment: every problem named at once."""

from __future__ import annotations

import pytest

from wirewatch.settings import Settings, SettingsError

REQUIRED = {
    "STATE_TABLE": "state",
    "SEEN_TABLE": "seen",
    "ALERTS_TABLE": "alerts",
    "ITEMS_TABLE": "items",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    "POLL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/poll",
}


@pytest.mark.parametrize("contact", ["mailto:newsdesk@example.org", "https://example.org/feeds-bot", "ops desk"])
def test_a_feed_contact_is_kept_and_survives_the_round_trip(contact: str) -> None:
    settings = Settings.from_env({**REQUIRED, "FEED_CONTACT": f" {contact} "})
    assert settings.feed_contact == contact
    assert Settings.from_env(settings.as_env()).feed_contact == contact


@pytest.mark.parametrize("contact", ["ops\r\nX-Injected: 1", "bot (beta)", "rédaction@example.org", "x" * 201])
def test_a_contact_that_would_break_the_user_agent_is_refused(contact: str) -> None:
    # CR/LF would write a header of its own; parentheses would end the User-Agent's comment.
    with pytest.raises(SettingsError, match="FEED_CONTACT"):
        Settings.from_env({**REQUIRED, "FEED_CONTACT": contact})


def test_no_contact_is_none_and_every_missing_variable_is_named() -> None:
    assert Settings.from_env(REQUIRED).feed_contact is None
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"RETENTION_DAYS": "0"})
    assert all(name in str(caught.value) for name in [*REQUIRED, "RETENTION_DAYS"])
