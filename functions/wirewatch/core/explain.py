"""Why a rule matched, in words a reader can check: each clause, where, and the words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wirewatch.core.normalize import token_spans

if TYPE_CHECKING:
    from wirewatch.core.model import Match

CONTEXT_WORDS = 8


def highlight(text: str, first: int, last: int, context: int = CONTEXT_WORDS) -> str:
    """The words ``first..last`` of ``text`` marked *like this*, with some words around."""
    spans = token_spans(text)
    if not spans or last >= len(spans):
        return text[:160]
    # Where the context reaches the first or last word, it runs to the text's edge: an
    # elision before it ("L'Ukraine") or the punctuation after it ("next?") is not cut.
    start = spans[first - context][0] if first > context else 0
    end = spans[last + context][1] if last + context < len(spans) - 1 else len(text)
    marked = f"{text[start : spans[first][0]]}*{text[spans[first][0] : spans[last][1]]}*{text[spans[last][1] : end]}"
    return ("…" if start > 0 else "") + " ".join(marked.split()) + ("…" if end < len(text) else "")


def explain(match: Match) -> list[str]:
    """One line per clause that fired: ``"Crimée" in content: …péninsule de *Crimée*, annexée…``."""
    lines = []
    for hit in match.hits:
        where = hit.field.value
        if hit.span is None:
            lines.append(f"{hit.clause} in {where}: matched {hit.excerpt!r}")
            continue
        excerpt = highlight(match.item.text(hit.field), *hit.span)
        lines.append(f"{hit.clause} in {where}: {excerpt}")
    # Once each: several entries of a $list can fire on the same words (russe, russes and
    # Russie stem alike), and the reader needs the place once.
    return list(dict.fromkeys(lines))
