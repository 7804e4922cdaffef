"""A term as written in a rule → its normalised form (shared by both rule forms and by lists)."""

from __future__ import annotations

import unicodedata

from wirewatch.core.model import Term
from wirewatch.core.normalize import tokens

# Phrase quotes as people type them: straight, curly (pasted from a word processor),
# low-high (German), and French guillemets.
OPENING_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201e": "\u201c", "\u00ab": "\u00bb"}
_QUOTES = "".join(OPENING_QUOTES) + "".join(OPENING_QUOTES.values())


def _star_outside(raw: str) -> str:
    """``"pont de Crim*"`` as ``"pont de Crim"*``: a prefix phrase, however it is quoted
    (``« pont de Crim* »`` too, spaced the French way)."""
    if len(raw) > 2 and raw[-1] in _QUOTES and raw[0] in OPENING_QUOTES:
        inside = raw[1:-1].strip()
        if inside.endswith("*"):
            return f"{raw[0]}{inside[:-1]}{raw[-1]}*"
    return raw


def compile_term(text: str) -> Term:
    """``entret*`` → prefix; ``"chef du Pentagone"`` → phrase; case, accents, elisions folded."""
    raw = text.strip()
    written = _star_outside(raw)
    prefix = written.endswith("*")
    body = written.rstrip("*").strip().strip(_QUOTES)
    return Term(text=raw, tokens=tuple(tokens(body)), prefix=prefix)


def term_problem(text: str) -> str | None:
    """Why a term cannot be matched as written (to follow ``term 'x'``), or None.

    ``compile_term`` reads past a misplaced ``*``: ``*lead`` would become the word
    ``lead``, ``entr*et`` the phrase "entr et", ``a **`` the prefix ``a*``. Every
    place a term is written (a ``match:`` item, a ``query:`` operand, a ``lists:``
    entry) refuses them through this one check.
    """
    if not compile_term(text).tokens:
        return "has no word to match"
    written = _star_outside(text.strip())
    before_prefix_star = written.removesuffix("*")
    if "*" in before_prefix_star:
        return "has a '*' before its end: a '*' only ends a prefix (entret*)"
    if before_prefix_star != before_prefix_star.rstrip():
        return "has a space before its '*': a prefix is written entret*"
    # Composed first: "Crimé*" typed with a combining accent ends on a letter too.
    last = unicodedata.normalize("NFC", before_prefix_star.rstrip(_QUOTES).rstrip())[-1:]
    if written.endswith("*") and not (last and (last.isalnum() or unicodedata.category(last).startswith("M"))):
        # Words split at hyphens: "Su-*" would be the prefix su*, which "sur" and "sud" match.
        return (
            f"has a '*' after '{last}', which is no part of a word: a prefix ends on a letter or "
            "digit (Su-3*); a family such as Su-24, Su-34 is a pattern, /su-\\d+/"
        )
    return None
