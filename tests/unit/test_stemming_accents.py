"""Stemming is accent-insensitive too: a rule typed without accents catches the inflected
forms a rule with them catches (Snowball reads accents, so both forms are stemmed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wirewatch.core.index import RuleIndex
from wirewatch.core.matching import match_item
from wirewatch.core.model import FeedSource, Item
from wirewatch.core.watchfile import load_watch

FEED = FeedSource("wire", "https://wire.example/feed")


def watch(term: str, stem: str = "[fr]") -> str:
    return (
        "feeds:\n  - id: wire\n    url: https://wire.example/feed\n"
        "subscribers:\n  - {id: desk, email: desk@example.org, rules: ['*']}\n"
        f"rules:\n  - id: r\n    title: R\n    stem: {stem}\n    match: {{any: [{term}]}}\n"
    )


def fired(text: str, title: str) -> tuple[bool, bool]:
    """Whether the rule fires on ``title``: by the naive loop and by the index (they must agree)."""
    rules = load_watch(text).rules
    item = Item("wire", title, "https://wire.example/1", published=datetime(2024, 6, 26, tzinfo=UTC))
    return bool(match_item(item, FEED, rules)), bool(RuleIndex(rules).match(item, FEED))


@pytest.mark.parametrize(
    ("term", "title"),
    [
        ("attaquee", "Deux villes attaquées par des drones"),  # typed without accents
        ("attaquée", "Deux villes attaquées par des drones"),  # as written
        ("frappee", "Les zones frappées cette nuit"),
        ('"villes attaquees"', "Deux villes attaquées par des drones"),  # a phrase, word by word
        ("attaquee NEAR/3 drones", "Villes attaquées par des drones"),
        # A text writing one word with its accents and the next without: word by word.
        ('"attaquée frappées"', "Villes attaquees frappés"),
        ('"attaquée frappées"', "Villes attaquées frappes"),
        ('"villes attaquées"', "Des villes attaquees"),
    ],
)
def test_a_stemmed_term_typed_without_accents_catches_the_accented_forms(term: str, title: str) -> None:
    text = watch(term) if "NEAR" not in term else watch("x").replace("match: {any: [x]}", f"query: {term}")
    assert fired(text, title) == (True, True)


def test_stemming_without_accents_does_not_widen_to_other_words() -> None:
    assert fired(watch("frappee"), "Le frappeur de l'équipe") == (False, False)
    assert fired(watch("attaquee"), "Une attaque de drones") == (False, False)  # attaque stems to attaqu


@pytest.mark.parametrize(
    "title",
    [
        "Villes attaque\u0301es sous 40℃",  # an NFD accent splits a word as written, ℃ one folded
        "Villes attaque\u0301es, 1½ million d'habitants",
    ],
)
def test_index_and_naive_loop_agree_where_written_and_folded_words_do_not_align(title: str) -> None:
    naive, indexed = fired(watch("attaquee"), title)
    assert naive == indexed
