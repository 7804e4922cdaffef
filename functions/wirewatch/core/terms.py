"""A term as written in a rule → its normalised form (shared by both rule forms)."""

from __future__ import annotations

from wirewatch.core.model import Term
from wirewatch.core.normalize import tokens


def compile_term(text: str) -> Term:
    """``entret*`` → prefix; ``"chef du Pentagone"`` → phrase; case, accents, elisions folded."""
    raw = text.strip()
    prefix = raw.endswith("*")
    body = raw.rstrip("*").strip().strip('"')
    return Term(text=raw, tokens=tuple(tokens(body)), prefix=prefix)
