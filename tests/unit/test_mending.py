"""Repairs of feed bytes before parsing: stray non-UTF-8 bytes and surrogate references."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wirewatch.core.mending import mend

UTF8_DOC = '<?xml version="1.0" encoding="UTF-8"?><rss><title>{}</title></rss>'


def test_valid_utf8_is_left_alone() -> None:
    body = UTF8_DOC.format("Crimée : l’armée").encode()
    assert mend(body, None) == (body, [])


def test_stray_windows_1252_bytes_in_utf8_are_read_as_windows_1252_only_there() -> None:
    body = UTF8_DOC.format("arrêtés ").encode() + "Défense – 2024".encode("cp1252")
    mended, problems = mend(body, None)
    assert mended.decode("utf-8").endswith("</rss>Défense – 2024")
    assert "arrêtés" in mended.decode("utf-8")
    assert problems and problems[0].startswith("encoding:")


def test_a_document_declaring_another_encoding_is_not_touched() -> None:
    body = '<?xml version="1.0" encoding="ISO-8859-15"?><rss><title>Défense €</title></rss>'.encode("iso-8859-15")
    assert mend(body, None) == (body, [])


def test_a_latin1_declaration_is_read_as_windows_1252() -> None:
    body = '<?xml version="1.0" encoding="ISO-8859-1"?><rss><title>Défense…</title></rss>'.encode("cp1252")
    assert mend(body, None) == (body.replace(b"ISO-8859-1", b"windows-1252"), [])


def test_a_header_naming_another_charset_wins_over_silence() -> None:
    body = "<rss><title>Défense</title></rss>".encode("latin-1")
    assert mend(body, "text/xml; charset=ISO-8859-1") == (body, [])


@pytest.mark.parametrize(
    ("references", "expected"),
    [
        ("&#xD83D;&#xDE00;", "&#x1F600;"),  # a pair: the emoji it stands for
        ("&#55357;&#56832;", "&#x1F600;"),  # the same in decimal
        ("&#xD800;", "&#xFFFD;"),  # a lone high surrogate
        ("&#xDC00;&#xD800;", "&#xFFFD;&#xFFFD;"),  # low then high: no pair
        ("&#xE9;&#x1F600;", "&#xE9;&#x1F600;"),  # ordinary references stay as they are
    ],
)
def test_surrogate_references_become_their_character_or_a_replacement(references: str, expected: str) -> None:
    mended, _ = mend(UTF8_DOC.format(references).encode(), None)
    assert mended == UTF8_DOC.format(expected).encode()


def test_utf16_bodies_are_left_to_the_parser() -> None:
    body = codecs.BOM_UTF16_LE + UTF8_DOC.format("&#xD800;").encode("utf-16-le")
    assert mend(body, None) == (body, [])


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200))
def test_any_valid_utf8_text_comes_back_unchanged(text: str) -> None:
    body = UTF8_DOC.format(text.replace("&", "and")).encode()
    assert mend(body, None) == (body, [])
