"""Text normalisation: both items and rules go through it, so equal meaning must give equal tokens."""

from __future__ import annotations

import pytest

from wirewatch.core.normalize import fold, html_to_text, normalized_title, tokens

# ---------------------------------------------------------------- case and accents


@pytest.mark.parametrize("text", ["Crimée", "crimee", "CRIMÉE", "CriméE", "crimée"])
def test_case_and_accents_fold_to_one_form(text: str) -> None:
    assert fold(text) == "crimee"
    assert tokens(text) == ["crimee"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Andreï", "andrei"),
        ("Choïgou", "choigou"),
        ("Sébastopol", "sebastopol"),
        ("Théodosie", "theodosie"),
        ("Djankoï", "djankoi"),
        ("Noël à Zürich", "noel a zurich"),
        ("São Paulo", "sao paulo"),
        ("Straße", "strasse"),
    ],
)
def test_fold_strips_diacritics_and_case(text: str, expected: str) -> None:
    assert fold(text) == expected


def test_fold_keeps_non_latin_letters() -> None:
    # Cyrillic is case-folded, not dropped: a rule written in Russian can still match.
    assert fold("Севастополь") == "севастополь"
    assert tokens("Удар по Севастополю") == ["удар", "по", "севастополю"]


# ---------------------------------------------------------------- French elisions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("l'attaque", ["attaque"]),
        ("l’attaque", ["attaque"]),
        ("L’ATTAQUE", ["attaque"]),
        ("s'entretenir", ["entretenir"]),
        ("s’entretenir", ["entretenir"]),
        ("d'Andreï Belousov", ["andrei", "belousov"]),
        ("d’Andreï Belousov", ["andrei", "belousov"]),
        ("jusqu'à Kyiv", ["a", "kyiv"]),
        ("jusqu’à Kyiv", ["a", "kyiv"]),
        ("qu’il a", ["il", "a"]),
        ("lorsqu'elle", ["elle"]),
        ("puisqu’on", ["on"]),
        ("n'a pas", ["a", "pas"]),
        ("c’est l’Élysée", ["est", "elysee"]),
        ("lʼarmée", ["armee"]),
    ],
)
def test_french_elisions_are_dropped(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_elision_needs_a_word_start() -> None:
    # "aujourd'hui" ends in "d'" but it is not the elided article: it splits, it is not dropped.
    assert tokens("aujourd’hui") == ["aujourd", "hui"]
    # English possessive: the name survives whole.
    assert tokens("Austin’s call") == ["austin", "s", "call"]


def test_straight_and_curly_apostrophes_give_the_same_tokens() -> None:
    assert tokens("l'attaque d'Andreï jusqu'à Kyiv") == tokens("l’attaque d’Andreï jusqu’à Kyiv")


# ---------------------------------------------------------------- hyphens and punctuation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("États-Unis", ["etats", "unis"]),
        ("Etats-Unis", ["etats", "unis"]),
        ("porte-parole", ["porte", "parole"]),
        ("Nato-Russia", ["nato", "russia"]),
        ("compte-rendus", ["compte", "rendus"]),
    ],
)
def test_hyphens_split_words(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_punctuation_and_spacing_are_not_words() -> None:
    assert tokens("« Monde », dit-il : “Crimée” — (Kerch)… 2e!") == [
        "monde",
        "dit",
        "il",
        "crimee",
        "kerch",
        "2e",
    ]
    assert tokens("_ - ** ... «\u00a0»") == []


def test_normalized_title_joins_tokens_with_single_spaces() -> None:
    assert normalized_title("  Premier entretien — en un an !  ") == "premier entretien en un an"
    assert normalized_title("Premier ENTRETIEN en un an") == normalized_title("premier entretien, en un an")


# ---------------------------------------------------------------- html_to_text


def test_html_to_text_drops_tags() -> None:
    assert html_to_text('<p>Lloyd <b>Austin</b> et <a href="https://x.example/">Andreï Belousov</a></p>') == (
        "Lloyd Austin et Andreï Belousov"
    )


def test_html_to_text_inline_tags_do_not_split_words() -> None:
    assert html_to_text("<b>Cri</b>mée") == "Crimée"


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("</p><p>", ""),
        ("<p>missiles</p><p>Entrée dans sa troisième année</p>", "missiles Entrée dans sa troisième année"),
        ("fin<br>début", "fin début"),
        ("fin<br/>début", "fin début"),
        ("<li>un</li><li>deux</li>", "un deux"),
        ("<div>titre</div>texte", "titre texte"),
        ('texte<img src="pixel.gif">suite', "texte suite"),
    ],
)
def test_html_to_text_block_tags_separate_words(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("Cr&eacute;e &amp; d&eacute;truit", "Crée & détruit"),
        ("l&#8217;attaque", "l\u2019attaque"),
        ("l&#x2019;attaque", "l\u2019attaque"),
        ("&laquo;&nbsp;Monde&nbsp;&raquo;", "« Monde »"),  # no-break spaces collapse like spaces
        ("AT&amp;T", "AT&T"),
    ],
)
def test_html_to_text_decodes_entities(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("Crim&amp;eacute;e", "Crimée"),
        ("l&amp;#8217;attaque", "l\u2019attaque"),
        ("&amp;quot;opération militaire spéciale&amp;quot;", '"opération militaire spéciale"'),
    ],
)
def test_html_to_text_decodes_double_escaped_entities(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


def test_html_to_text_drops_script_and_style_content() -> None:
    markup = (
        "<p>Avant</p><script>var headline = 'Crimée attaque';</script>"
        "<style>p { color: red }</style><noscript>Activez JavaScript</noscript><p>Après</p>"
    )
    assert html_to_text(markup) == "Avant Après"


def test_html_to_text_drops_comments() -> None:
    assert html_to_text("un <!-- Crimée --> deux") == "un deux"


def test_html_to_text_collapses_whitespace() -> None:
    assert html_to_text("\n  Premier\t\tentretien \n\n en un an  ") == "Premier entretien en un an"
    assert html_to_text("<p>\n Premier </p>\n<p> entretien\n</p>") == "Premier entretien"


def test_html_to_text_leaves_plain_text_comparisons_alone() -> None:
    assert html_to_text("3 < 4 and 5 > 2") == "3 < 4 and 5 > 2"


def test_html_to_text_of_nothing_is_empty() -> None:
    assert html_to_text("") == ""
    assert html_to_text("<p></p><br>") == ""


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("manœuvres militaires", "manoeuvres militaires"),
        ("le cœur de Sébastopol", "le coeur de Sebastopol"),
        ("ex æquo", "ex aequo"),
    ],
)
def test_french_ligatures_fold_like_their_spelled_out_form(text: str, same_as: str) -> None:
    assert tokens(text) == tokens(same_as)


def test_compatibility_characters_fold_to_lower_case() -> None:
    assert tokens("Résolution № 2231, 10 ℃") == ["resolution", "no", "2231", "10", "c"]


def test_text_from_feeds_is_composed() -> None:
    # Accents sent as combining marks (NFD) come out as one character each.
    assert html_to_text("De\u0301fense en Crime\u0301e") == "Défense en Crimée"
    assert html_to_text("<p>Crime&#x301;e</p>") == "Crimée"


def test_a_combining_mark_after_a_tag_does_not_hide_it() -> None:
    # Composed before parsing, ">" and a combining stroke would become "≯" and swallow the tag.
    assert html_to_text("<p>\u0338Crimée attaquée</p> suite") == "\u0338Crimée attaquée suite"
