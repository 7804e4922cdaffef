"""SMS texts in one message: GSM-7 replacements, UCS-2 fallback, segment counts."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wirewatch.core.feeds import parse_feed
from wirewatch.core.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    MIN_WORDS,
    MIN_WORDS_UCS2,
    fit_sms,
    is_gsm7,
    segments,
    septets,
    to_gsm7,
    utf16_units,
)
from wirewatch.core.watchfile import load_watch

from .helpers import EXAMPLE_WATCH, FEEDS_DIR, NOW

PURE = settings(database=None, deadline=None)
LINK = "https://www.boursorama.com/bourse/actualites/premier-entretien-8c2a5f1e0f8b.html"
SHORT_LINK = "https://lemde.fr/3xYz9Ab"

# ---------------------------------------------------------------- the alphabet


def test_the_alphabet_has_127_characters_and_10_extensions() -> None:
    # 128 codes, one of them the escape to the extension table.
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


def test_extension_characters_count_two_septets() -> None:
    assert septets("abc") == 3
    assert septets("€[]{}^~\\|") == 18
    assert septets("50 €") == 5


def test_septets_refuses_text_outside_gsm7() -> None:
    with pytest.raises(ValueError, match="not GSM-7"):
        septets("forêt")


def test_french_letters_gsm7_has_are_kept() -> None:
    text = "éèùìòàÇÉäöüñÄÖÜÑæÆøØåÅß"
    assert is_gsm7(text)
    assert to_gsm7(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("forêt âge île hôtel sûr", "foret age ile hotel sur"),
        ("Noël maïs", "Noel mais"),
        ("ça français", "ca francais"),
        ("cœur Œuvre", "coeur OEuvre"),
        ("À Paris, Île-de-France, Ève", "A Paris, Ile-de-France, Eve"),
        ("l’été ‘x’ “y”", "l'été 'x' \"y\""),
        ("il dit « non » ici", 'il dit "non" ici'),
        ("Paris – Lyon — Marseille", "Paris - Lyon - Marseille"),
        ("et puis…", "et puis..."),
        ("10\u00a0000 km\u202f!", "10 000 km !"),
        ("n°2, 20°C, ½, CO₂", "no2, 20oC, 1/2, CO2"),
        ("Łódź, Kraków, İstanbul, Đoàn", "Lodz, Krakow, Istanbul, Doàn"),
        ("soft\u00adhyphen zero\u200bwidth", "softhyphen zerowidth"),
        ("e\u0302tre", "etre"),  # decomposed input is composed first
        ("`code`", "'code'"),  # the one printable ASCII character GSM-7 lacks
    ],
)
def test_to_gsm7_replaces_where_meaning_is_kept(text: str, expected: str) -> None:
    assert to_gsm7(text) == expected
    assert is_gsm7(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("la BCE vise 2½ %", "la BCE vise 2 1/2 %"),  # not 21/2
        ("10⁶ personnes", "10^6 personnes"),  # not 106
        ("10⁻³ mm", "10^-3 mm"),
        ("2¹⁰ octets", "2^10 octets"),
        ("½ litre, 20 m², CO₂, H₂O", "1/2 litre, 20 m2, CO2, H2O"),  # no digit before: as before
        ("le 1º de maio, la 2ª", "le 1o de maio, la 2a"),  # ordinals are no exponents
        ("Côte d´Ivoire", "Cote d'Ivoire"),  # an acute accent typed for an apostrophe
    ],
)
def test_fractions_and_exponents_after_a_digit_stay_apart_from_it(text: str, expected: str) -> None:
    assert to_gsm7(text) == expected


@pytest.mark.parametrize("text", ["Salaires ≠ inflation", "x ≯ y", "indice 10₂"])
def test_no_replacement_that_changes_the_meaning(text: str) -> None:
    # Dropping the stroke turns ≠ into =; a subscript after a digit has no GSM-7 notation.
    assert not is_gsm7(to_gsm7(text))


@pytest.mark.parametrize("text", ["Сергей Шойгу", "北京", "Αθήνα", "alerte 🚨"])
def test_scripts_without_a_gsm7_form_are_kept(text: str) -> None:
    assert to_gsm7(text) == text
    assert not is_gsm7(to_gsm7(text))


# ---------------------------------------------------------------- segments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("a" * 152 + "€" + "a" * 6, 1),
        ("a" * 152 + "€" + "a" * 152, 3),  # 306 septets, but an escape pair is never split
        ("ж" * 66 + "🚨" + "ж" * 66, 3),  # nor a surrogate pair
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("ж" * 134, 2),
        ("ж" * 135, 3),
        ("🚨" * 35, 1),  # outside the BMP: two code units each
        ("🚨" * 36, 2),
    ],
)
def test_segments(text: str, expected: int) -> None:
    assert segments(text) == expected


def test_utf16_units_count_surrogate_pairs() -> None:
    assert utf16_units("ж🚨") == 3


# ---------------------------------------------------------------- fit_sms


def test_short_text_is_prefix_headline_and_link() -> None:
    assert fit_sms("Strike on Crimea", "Missile attack on Sevastopol", LINK) == (
        f"Strike on Crimea: Missile attack on Sevastopol {LINK}"
    )


def test_empty_parts_leave_no_separator() -> None:
    assert fit_sms("Rule", "Headline", "") == "Rule: Headline"
    assert fit_sms("", "Headline", SHORT_LINK) == f"Headline {SHORT_LINK}"
    assert fit_sms("", "", SHORT_LINK) == SHORT_LINK


def test_headline_is_put_on_one_line() -> None:
    assert fit_sms("Rule", "  two\nlines\t here ", "") == "Rule: two lines here"


def test_french_headline_goes_gsm7_within_160() -> None:
    headline = (
        "Forêt de Fontainebleau : la maîtresse d’école et l’élève sauvés, « un soulagement » pour "
        "le maire — Noël, cœur du village, reçoit les secours français et suisses dès l’aube"
    )
    text = fit_sms("Incendies en Île-de-France", headline, SHORT_LINK)
    assert text == (
        "Incendies en Ile-de-France: Foret de Fontainebleau : la maitresse d'école et l'élève sauvés, "
        f'"un soulagement" pour le maire - Noel... {SHORT_LINK}'
    )
    assert is_gsm7(text)
    assert septets(text) <= 160
    assert segments(text) == 1


def test_russian_headline_goes_ucs2_within_70() -> None:
    headline = "Министр обороны России Андрей Белоусов провёл телефонный разговор с Ллойдом Остином"
    text = fit_sms("Минобороны", headline, SHORT_LINK)
    assert not is_gsm7(text)
    assert utf16_units(text) <= 70
    assert segments(text) == 1
    assert text == f"Минобороны: Министр обороны России Андрей... {SHORT_LINK}"


def test_ucs2_text_keeps_its_accents() -> None:
    # Once the message is UCS-2 nothing is gained by dropping them.
    text = fit_sms("Défense", "Белоусов à la tête du ministère", "")
    assert text == "Défense: Белоусов à la tête du ministère"


def test_a_non_gsm7_character_past_the_cut_keeps_gsm7() -> None:
    headline = "word " * 40 + "Шойгу"
    text = fit_sms("Rule", headline, SHORT_LINK)
    assert is_gsm7(text)
    assert len(text) > 70


def test_extension_characters_in_the_link_count_twice() -> None:
    link = "https://x.example/~user/" + "a" * 50
    text = fit_sms("Rule", "word " * 40, link)
    assert text.endswith(link)
    assert septets(text) <= 160
    assert septets(text) >= 158  # filled, with the tilde counted twice
    assert len(text) <= 159


@pytest.mark.parametrize("length", [146, 150, 160, 300])
def test_a_link_leaving_too_few_words_gives_way_to_its_site(length: int) -> None:
    link = "https://www.x.example/" + "a" * (length - len("https://www.x.example/"))
    assert fit_sms("Rule", "Headline", link) == "Rule: Headline (x.example)"


def test_short_words_keep_a_long_link_they_fit_beside() -> None:
    link = "https://x.example/" + "a" * (145 - len("https://x.example/"))
    assert fit_sms("Rule", "Headline", link) == f"Rule: Headline {link}"


def test_long_words_keep_the_link_while_50_characters_of_them_fit() -> None:
    link = "https://x.example/" + "a" * (109 - len("https://x.example/"))
    text = fit_sms("Rule", "word " * 40, link)
    words = text.removesuffix(f" {link}")
    assert words.startswith("Rule: word word") and words.endswith("word...")
    assert 45 <= len(words) <= 50  # cut at a word boundary within the 50 left
    longer = link + "a"
    assert fit_sms("Rule", "word " * 40, longer).endswith("... (x.example)")


def test_a_ucs2_headline_beside_a_long_link_gives_way_to_its_site() -> None:
    # 70 - 61 leaves 9 units (under 22): too few words to say what happened.
    assert fit_sms("Правило", "Заголовок", LINK[:60]) == "Правило: Заголовок (boursorama.com)"


def test_a_link_without_a_host_leaves_the_words_alone() -> None:
    assert fit_sms("Rule", "word " * 40, "x" * 150) == f"Rule: {'word ' * 29}word..."


def test_a_site_too_long_for_ucs2_leaves_the_words_alone() -> None:
    link = "https://" + "a" * 63 + ".example/" + "b" * 80
    assert fit_sms("Правило", "Заголовок", link) == "Правило: Заголовок"


def test_seed_article_title_fits_gsm7_with_its_link() -> None:
    config = load_watch(EXAMPLE_WATCH.read_text("utf-8"))
    feed = config.feed("boursorama-reuters")
    item = parse_feed((FEEDS_DIR / "boursorama-reuters.xml").read_bytes(), feed, now=NOW).items[0]
    rule = next(rule for rule in config.rules if rule.id == "defense-minister-contact")
    assert item.title == "Premier entretien en un an entre les ministres US et russe de la Défense"
    # "é" is in GSM-7: the title goes as written.
    text = fit_sms(rule.title, item.title, SHORT_LINK)
    assert text == f"US and Russian defence ministers in contact: {item.title} {SHORT_LINK}"
    assert segments(text) == 1
    # The article's own 135-character link would leave 24 septets: "US and Russian...",
    # which says nothing of what happened. The site's name takes its place.
    text = fit_sms(rule.title, item.title, item.link)
    assert text == f"US and Russian defence ministers in contact: {item.title} (boursorama.com)"
    assert segments(text) == 1


def _units(text: str) -> int:
    return septets(text) if is_gsm7(text) else utf16_units(text)


_LINK_TAILS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_/.?=&%~", max_size=40)


@PURE
@given(prefix=st.text(max_size=60), headline=st.text(max_size=400), tail=_LINK_TAILS)
@example(prefix="0" * 13, headline="0" * 11 + "\U00010000\U00010000" + "0" * 4, tail="0" * 12)  # found in CI
def test_any_headline_fits_one_message_with_the_link_or_its_site(prefix: str, headline: str, tail: str) -> None:
    link = f"https://news.example.org/{tail}"
    assert len(link) <= 65
    text = fit_sms(prefix, headline, link)
    assert segments(text) == 1
    if text.endswith(f" {link}"):
        words = text[: -len(link) - 1]
        # The room left for words is at least the alphabet's minimum (or all the words),
        # in its own units; the cut then backs up to a word boundary, never past half.
        least = MIN_WORDS if is_gsm7(text) else MIN_WORDS_UCS2
        words_only = fit_sms(prefix, headline, "")
        assert _units(words) >= min(least, _units(words_only)) // 2
    elif text != link:  # a link alone when there are no words
        assert text.endswith(" (news.example.org)")
        assert is_gsm7(text) or utf16_units(text) <= 70


@PURE
@given(prefix=st.text(max_size=60), headline=st.text(max_size=400))
def test_any_headline_without_link_fits_one_message(prefix: str, headline: str) -> None:
    assert segments(fit_sms(prefix, headline, "")) == 1


@PURE
@given(text=st.text(max_size=200))
def test_to_gsm7_never_touches_gsm7_text(text: str) -> None:
    gsm = "".join(char for char in text if char in GSM7_BASIC)
    assert to_gsm7(gsm) == gsm
