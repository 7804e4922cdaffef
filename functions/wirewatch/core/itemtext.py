"""An item tokenised once, in the forms every rule looks it up in.

Each field keeps its folded text (patterns search it), its words and the first
index of each word (single words, the common case, are one dictionary lookup;
phrases and NEAR scan on from there), and on demand a sorted vocabulary
(prefixes) and the Snowball stems of its words per language.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress
from operator import ne
from typing import TYPE_CHECKING, Any, NamedTuple

from wirewatch.core.model import Field
from wirewatch.core.normalize import casefolded_words, fold, stemmable_words, tokens_of_folded

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from wirewatch.core.model import Item, Near, Term

Span = tuple[int, int]  # first and last word index, inclusive


class Hit(NamedTuple):
    """One clause that fired: as written in the rule, where, and which words.

    A named tuple rather than a dataclass: matching thousands of rules builds tens
    of hits per item, and a tuple is built in C.
    """

    clause: str
    field: Field
    span: Span | None  # None for patterns, which match characters, not words
    excerpt: str = ""


@lru_cache(maxsize=65536)
def stem(language: str, word: str) -> str:
    """The Snowball stem of a lower-case word, then folded like every token (PyStemmer)."""
    return fold(_stemmer(language).stemWord(word))


@lru_cache(maxsize=8)
def stemmer_of(language: str) -> Callable[[str], str]:
    """``stem`` for one language as a one-argument function, to ``map`` over words in C."""
    return lru_cache(maxsize=65536)(lambda word: stem(language, word))


@lru_cache(maxsize=16384)
def term_stems(term: Term, language: str) -> tuple[str, ...]:
    """A term's words as stems, read from the term as written (accents matter to Snowball)."""
    words = stemmable_words(term.text.rstrip("*").strip().strip('"'))
    if len(words) != len(term.tokens):
        words = list(term.tokens)
    return tuple(stem(language, word) for word in words)


@lru_cache(maxsize=16384)
def term_stem_forms(term: Term, language: str) -> tuple[tuple[str, ...], ...]:
    """A term's words as stems: of the term as written, then, if they differ, of its words
    without accents (``attaquee``, typed without them, stems to attaque, not attaqu)."""
    written = term_stems(term, language)
    folded = tuple(stem(language, word) for word in term.tokens)
    return (written,) if folded == written or len(folded) != len(written) else (written, folded)


# PyStemmer's stemmers keep state between calls and are not safe to share between
# threads; a poll worker matches from several. One stemmer per language per thread.
_STEMMERS = threading.local()


def _stemmer(language: str) -> Any:
    stemmers: dict[str, Any] | None = getattr(_STEMMERS, "by_language", None)
    if stemmers is None:
        stemmers = _STEMMERS.by_language = {}
    found = stemmers.get(language)
    if found is None:
        import Stemmer

        found = stemmers[language] = Stemmer.Stemmer({"fr": "french", "en": "english"}.get(language, language))
    return found


@lru_cache(maxsize=4096)
def compile_pattern(text: str) -> Any:
    """An RE2 program: linear time whatever the pattern, so no rule can stall matching.

    Raises:
        ValueError: RE2 cannot run the pattern (backreferences, lookarounds, bad syntax).
    """
    import re2

    options = re2.Options()
    options.never_capture = True
    options.log_errors = False  # the error is reported to the rule's author, not to stderr
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"RE2 cannot run {text!r}: {reason}") from exc


class Words:
    """A sequence of words with the first index of each, built in C: most lookups need no more."""

    __slots__ = ("first", "words")

    def __init__(self, words: tuple[str, ...]) -> None:
        self.words = words
        # Walked backwards, so each word's earliest index is the one left in the dict.
        self.first: dict[str, int] = dict(zip(reversed(words), range(len(words) - 1, -1, -1), strict=True))

    def indexes(self, word: str) -> list[int]:
        """Every index of ``word``, in order (``tuple.index`` scans in C from the first one)."""
        found = []
        index = self.first.get(word)
        while index is not None:
            found.append(index)
            try:
                index = self.words.index(word, index + 1)
            except ValueError:
                index = None
        return found

    def spans(self, key: tuple[str, ...], prefix: bool) -> list[Span]:
        """Where the word sequence ``key`` occurs (its last word a prefix if ``prefix``)."""
        first, *rest = key
        length = len(key)
        words = self.words
        if prefix and length == 1:
            return [(i, i) for i, word in enumerate(words) if word.startswith(first)]
        if length == 1:
            return [(i, i) for i in self.indexes(first)]
        spans = []
        for start in self.indexes(first):
            end = start + length - 1
            if end >= len(words):
                break
            window = words[start : end + 1]
            if list(window[1:-1]) != rest[:-1]:
                continue
            last = window[-1]
            if last.startswith(key[-1]) if prefix else last == key[-1]:
                spans.append((start, end))
        return spans


class FieldText:
    """One field of an item, tokenised once; stems and the sorted vocabulary on demand."""

    __slots__ = ("_folded_stems", "_stemmable", "_stems", "_vocabulary", "folded", "plain", "raw")

    def __init__(self, text: str) -> None:
        self.raw = text
        # Folded once: the words come from it, and patterns search it.
        self.folded = fold(text)
        self.plain = Words(tuple(tokens_of_folded(self.folded)))
        self._vocabulary: list[str] | None = None
        self._stems: dict[str, Words] = {}
        self._folded_stems: dict[str, tuple[Words, ...]] = {}
        self._stemmable: Sequence[str] | None = None

    @property
    def words(self) -> tuple[str, ...]:
        return self.plain.words

    @property
    def vocabulary(self) -> list[str]:
        if self._vocabulary is None:
            self._vocabulary = sorted(self.plain.first)
        return self._vocabulary

    def first_with_prefix(self, prefix: str) -> int | None:
        """The index of the alphabetically first word starting with ``prefix``, if any."""
        vocabulary = self.vocabulary
        index = bisect_left(vocabulary, prefix)
        if index < len(vocabulary) and vocabulary[index].startswith(prefix):
            return self.plain.first[vocabulary[index]]
        return None

    @property
    def stemmable(self) -> Sequence[str]:
        """The field's words lower-cased with their accents, one per word: what stemmers read."""
        if self._stemmable is None:
            if self.raw.isascii():
                self._stemmable = self.plain.words  # nothing to fold: the same words
            else:
                words = casefolded_words(self.raw)
                # The cheap split agrees with the folded words on nearly every text; where a
                # character folds into two, the word-by-word alignment decides.
                self._stemmable = words if len(words) == len(self.plain.words) else stemmable_words(self.raw)
        return self._stemmable

    def stemmed(self, language: str) -> Words:
        """The field's words as their Snowball stems in ``language``."""
        found = self._stems.get(language)
        if found is None:
            found = self._stems[language] = Words(tuple(map(stemmer_of(language), self.stemmable)))
        return found

    def stem_views(self, language: str) -> tuple[Words, ...]:
        """The field's stems in ``language``: of its words as written, then, in text with
        accents, of its words without them (``attaquées`` stems to attaqu, ``attaquees`` to
        attaque). A stemmed term matches where any of its forms meets any of these."""
        views = self._folded_stems.get(language)
        if views is None:
            written = self.stemmed(language)
            plain, stemmable = self.plain.words, self.stemmable
            # The stems of the folded words, position by position; only where a word differs
            # from the one as written is it stemmed again (found in C up to there): French
            # text is mostly unaccented words between accented ones, quotes and guillemets.
            changed = list(compress(range(len(plain)), map(ne, plain, stemmable)))
            if not changed:
                views = (written,)
            else:
                stems, stemmer = list(written.words), stemmer_of(language)
                for position in changed:
                    stems[position] = stemmer(plain[position])
                views = (written, Words(tuple(stems)))
            self._folded_stems[language] = views
        return views

    def stem_position(self, language: str, stems: Sequence[str]) -> int | None:
        """The first index of a word having one of ``stems`` in one of the stem views."""
        for view in self.stem_views(language):
            for stemmed in stems:
                position = view.first.get(stemmed)
                if position is not None:
                    return position
        return None

    def spans(self, term: Term, languages: Sequence[str] = ()) -> list[Span]:
        """Every place the term occurs, as word spans; stemmed matching if ``languages``."""
        found = set(self.plain.spans(term.tokens, term.prefix))
        if not term.prefix:  # a prefix is already a family of forms; stems would widen it twice
            for language in languages:
                found.update(self.stem_spans(language, term_stem_forms(term, language)))
        return sorted(found)

    def stem_spans(self, language: str, forms: Sequence[tuple[str, ...]]) -> list[Span]:
        """Where a term's words, one after the other, each meet one of their stems in ``forms``
        in one of the stem views: word by word, since a text may write one word with its
        accents and the next without ("attaquées frappes", "attaquees frappées")."""
        views = self.stem_views(language)
        length = len(forms[0])
        wanted = [frozenset(form[index] for form in forms) for index in range(length)]
        starts = sorted({start for view in views for stem in wanted[0] for start in view.indexes(stem)})
        last = len(views[0].words) - length
        return [
            (start, start + length - 1)
            for start in starts
            if start <= last
            and all(any(view.words[start + index] in wanted[index] for view in views) for index in range(1, length))
        ]

    def first_span(self, term: Term, languages: Sequence[str] = ()) -> Span | None:
        if len(term.tokens) == 1:
            # The common case, by dictionary lookups: one word (or its stems), or one prefix.
            word = term.tokens[0]
            if term.prefix:
                position = self.first_with_prefix(word)
                return None if position is None else (position, position)
            position = self.plain.first.get(word)
            for language in languages:
                if position is not None:
                    break  # found as written: the stem views need not be built
                position = self.stem_position(language, [form[0] for form in term_stem_forms(term, language)])
            return None if position is None else (position, position)
        spans = self.spans(term, languages)
        return spans[0] if spans else None

    def near_span(self, near: Near, languages: Sequence[str] = ()) -> Span | None:
        """The first pair of the two sides at most ``near.distance`` words apart, as one span."""
        lefts = self.spans(near.left, languages)
        if not lefts:
            return None
        rights = self.spans(near.right, languages)
        for left in lefts:
            for right in rights:
                gap = right[0] - left[1] if right[0] > left[1] else left[0] - right[1]
                if 0 < gap <= near.distance:
                    return (min(left[0], right[0]), max(left[1], right[1]))
        return None


@dataclass
class ItemText:
    """An item tokenised once, then checked against any number of rules."""

    item: Item
    fields: dict[Field, FieldText] = field(init=False)

    def __post_init__(self) -> None:
        self.fields = {part: FieldText(self.item.text(part)) for part in Field}


__all__ = [
    "FieldText",
    "Hit",
    "ItemText",
    "Span",
    "Words",
    "compile_pattern",
    "stem",
    "stemmer_of",
    "term_stem_forms",
    "term_stems",
]
