"""A term as written in a rule → its normalised form (shared by both rule forms and by lists)."""

from __future__ import annotations

from wirewatch.core.model import Term
from wirewatch.core.normalize import tokens


def compile_term(text: str) -> Term:
    """``entret*`` → prefix; ``"chef du Pentagone"`` → phrase; case, accents, elisions folded."""
    raw = text.strip()
    prefix = raw.endswith("*")
    body = raw.rstrip("*").strip().strip('"')
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
    before_prefix_star = text.strip().removesuffix("*")
    if "*" in before_prefix_star:
        return "has a '*' before its end: a '*' only ends a prefix (entret*)"
    if before_prefix_star != before_prefix_star.rstrip():
        return "has a space before its '*': a prefix is written entret*"
    return None
