"""Text normalisation shared by items and rules, so both sides compare equal.

English and French: case-folded, accents removed (``Crimée`` = ``crimee``),
French elisions dropped (``l'attaque`` → ``attaque``), hyphens and punctuation
split words (``États-Unis`` → ``etats unis``).
"""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

# Elided articles and pronouns; matched on case-folded text only (case-insensitive
# matching would cost twice the time of the whole substitution).
_ELISION = re.compile(r"\b(?:[ldjmnstc]|qu|jusqu|lorsqu|puisqu|quoiqu)['’‘ʼ]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SPACE = re.compile(r"\s+")
# Characters that draw nothing and can do harm in a subject, an SMS or a terminal.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TAG = re.compile(r"<[^>]*>?")
# Ligatures NFKD leaves whole: "manœuvre" must match "manoeuvre".
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ﬁ": "fi", "ﬂ": "fl"})
# Only complete references: "&not me" is text, "&amp;eacute;" is a feed escaping twice.
_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")

# Elements after which text reads as a new sentence; without the break, "</p><p>"
# would glue the last word of one paragraph to the first of the next.
_BLOCK_TAGS = frozenset(
    {
        "p",
        "br",
        "div",
        "li",
        "ul",
        "ol",
        "tr",
        "td",
        "th",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "figure",
        "figcaption",
        "section",
        "article",
        "header",
        "footer",
        "hr",
        "img",
        "table",
        "pre",
    }
)
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed,
    control characters (NUL, escape sequences' ESC, DEL, C1) removed."""
    markup = _CONTROL.sub("", markup)
    if "<" not in markup and "&" not in markup:
        return _composed(one_line(markup))
    extractor = _TextExtractor()
    try:
        extractor.feed(markup)
        extractor.close()
    except AssertionError:
        # html.parser asserts on some malformed declarations ("<![ bogus"): fall back
        # to dropping anything tag-shaped, which keeps every word of the text.
        extractor.parts = [html.unescape(_TAG.sub(" ", markup))]
    # Some feeds escape twice ("&amp;eacute;"): decode what is left of complete references.
    text = _ENTITY.sub(lambda found: html.unescape(found.group(0)), "".join(extractor.parts))
    # References decode to controls too ("&#1;", "&#x1b;"), and to combining marks.
    return _composed(one_line(text))


def _composed(text: str) -> str:
    """NFC, after the markup is parsed (composed before, ">" and a combining stroke would
    become "≯" and hide a tag): some feeds send accents as separate combining marks, which
    highlighting, SMS and the eye all take better as one character."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def one_line(text: str) -> str:
    """``text`` on one line without control characters: for messages stored and shown as
    they came (a server's HTTP reason phrase can carry terminal escape sequences)."""
    return _SPACE.sub(" ", _CONTROL.sub("", text)).strip()


def fold(text: str) -> str:
    """Case-fold and strip accents: ``CRIMÉE`` → ``crimee``, ``Andreï`` → ``andrei``."""
    if text.isascii():
        return text.lower()  # nothing to decompose: the common case of English text
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LIGATURES))
    # Folded again: compatibility forms decompose to capitals too ("№" → "No", "℃" → "°C").
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def tokens(text: str) -> list[str]:
    """Normalised words of a text, in order."""
    return tokens_of_folded(fold(text))


def tokens_of_folded(folded: str) -> list[str]:
    """``tokens`` of a text already passed through ``fold`` (callers that keep both)."""
    return _WORD.findall(_ELISION.sub(" ", folded))


def casefolded_words(text: str) -> list[str]:
    """The words of a text lower-cased, accents kept, elisions dropped: a stemmer's input.

    Word for word like ``tokens`` on nearly all text; ``stemmable_words`` aligns
    exactly when a character splits differently once folded.
    """
    return _WORD.findall(_ELISION.sub(" ", text.casefold()))


_ELIDED = frozenset({"l", "d", "j", "m", "n", "s", "t", "c", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu"})
_APOSTROPHES = "'’‘ʼ"


_CHUNK = re.compile(r"\S+")


def token_spans(text: str) -> list[tuple[int, int]] | None:
    """Character span in ``text`` of each word ``tokens(text)`` returns, for highlighting.

    Word by word within each run of non-space characters; where folding makes words of
    characters that are none (``№5`` folds to ``no5``), each word of the run spans the
    whole run. None if the words still cannot be aligned, so callers show the text
    unhighlighted rather than misplaced.
    """
    spans: list[tuple[int, int]] = []
    for chunk in _CHUNK.finditer(text):
        words = len(tokens(chunk.group()))
        exact = _word_spans(chunk.group(), chunk.start())
        spans.extend(exact if len(exact) == words else [chunk.span()] * words)
    return spans if len(spans) == len(tokens(text)) else None


def _word_spans(text: str, offset: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for found in _WORD.finditer(text):
        folded = fold(found.group(0))
        following = text[found.end() : found.end() + 1]
        if folded in _ELIDED and following and following in _APOSTROPHES:
            continue
        spans.extend((offset + found.start(), offset + found.end()) for _ in _WORD.findall(folded))
    return spans


def stemmable_words(text: str) -> list[str]:
    """The words of ``tokens(text)`` lower-cased but with their accents, as stemmers want them.

    Snowball's French rules read accents (``attaquée`` → ``attaqu``, but ``attaquee`` →
    ``attaque``). Falls back to the folded tokens where the two cannot be aligned.
    """
    spans = token_spans(text)
    words = tokens(text)
    if spans is None:
        return words
    # A run of text that stands for a word (``№5``) is no word to stem: its folded form is.
    return [
        raw if _WORD.fullmatch(raw := text[start:end].casefold()) else word
        for (start, end), word in zip(spans, words, strict=True)
    ]


def normalized_title(text: str) -> str:
    """A headline reduced to its words, for comparing the same wire story across feeds."""
    return " ".join(tokens(text))
