"""SMS texts that cost one message: GSM 03.38 where the meaning survives, UCS-2 otherwise.

One SMS carries 160 septets of the GSM 03.38 alphabet, or 70 UTF-16 code units
once a single character falls outside it. A French headline loses that
alphabet to one ``ê`` or one typographic apostrophe, so characters are first
replaced by GSM-7 ones that keep the meaning (``ê`` → ``e``, ``’`` → ``'``);
scripts with no such replacement (Cyrillic, CJK, emoji) are kept and the text
goes UCS-2. Characters GSM-7 has (``é``, ``è``, ``à``, ``ù``, ``Ç``) are never
touched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable

# GSM 03.38 default alphabet in code order (0x1B, the escape to the extension table, left out).
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each costs two septets (escape + code).
GSM7_EXTENSION: Final = frozenset("\f^{}\\[~]|€")
GSM7: Final = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE: Final = 160
GSM7_PART: Final = 153  # a concatenated part loses 7 septets to its header
UCS2_SINGLE: Final = 70
UCS2_PART: Final = 67
ELLIPSIS: Final = "..."  # GSM-7 has no "…"
# Characters of "rule: headline" that must fit beside the link (all of them if fewer),
# per alphabet: below that the SMS no longer says what happened, and the site's name
# replaces the link. The median bundled link (104 characters) leaves 55 in GSM-7.
MIN_WORDS: Final = 50
MIN_WORDS_UCS2: Final = 22

# Replacements NFKD does not give, checked before it. Typographic punctuation has
# no decomposition; œ and the stroked letters are letters of their own to Unicode.
_REPLACEMENTS: Final = {
    **dict.fromkeys("‘’‚‛′‹›`ʼ", "'"),  # "`" is the one printable ASCII GSM-7 lacks
    **dict.fromkeys("“”„‟«»″", '"'),
    **dict.fromkeys("‐‑‒–—―−⁃", "-"),
    "…": ELLIPSIS,
    "•": "-",
    "·": ".",  # Catalan "l·l" is written "l.l" without it
    "⁄": "/",  # NFKD turns "½" into "1⁄2"
    "×": "x",
    "°": "o",  # "n°2" → "no2"; "20°C" stays readable
    "´": "'",  # "d´Ivoire", an acute accent typed for an apostrophe
    "©": "(c)",
    "®": "(R)",
    "œ": "oe",
    "Œ": "OE",
    "ẞ": "SS",
    "ı": "i",
    "ð": "d",
    "Ð": "D",
    "đ": "d",
    "Đ": "D",
    "ħ": "h",
    "Ħ": "H",
    "ł": "l",
    "Ł": "L",
    "ŧ": "t",
    "Ŧ": "T",
    "þ": "th",
    "Þ": "TH",
}
# French quotes hold their words with (no-break) spaces: « non » reads "non", not " non ".
_OPENING_GUILLEMET = re.compile(r"«\s*")
_CLOSING_GUILLEMET = re.compile(r"\s*»")
# Drawn as nothing and meaningless in an SMS; ZWJ/ZWNJ stay for UCS-2 (emoji, Persian).
_INVISIBLE: Final = frozenset("\u00ad\u200b\u2060\ufeff")


@dataclass(frozen=True)
class _Alphabet:
    single: int
    least_words: int
    accepts: Callable[[str], bool]
    cost: Callable[[str], int]  # of one character


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM 03.38 alphabet or its extension."""
    return all(char in GSM7 for char in text)


def septets(text: str) -> int:
    """Septets ``text`` takes in GSM-7, extension characters counting two.

    Raises:
        ValueError: ``text`` has a character outside GSM-7.
    """
    if not is_gsm7(text):
        raise ValueError("text is not GSM-7")
    return sum(_septet_cost(char) for char in text)


def utf16_units(text: str) -> int:
    """UTF-16 code units of ``text``: characters outside the BMP take two."""
    return sum(_utf16_cost(char) for char in text)


def segments(text: str) -> int:
    """SMS messages ``text`` costs: 160/153 septets per part in GSM-7, 70/67 units in UCS-2.

    An empty text costs one message, as sending it would.
    """
    if is_gsm7(text):
        return _parts([_septet_cost(char) for char in text], GSM7_SINGLE, GSM7_PART)
    return _parts([_utf16_cost(char) for char in text], UCS2_SINGLE, UCS2_PART)


def to_gsm7(text: str) -> str:
    """``text`` with characters outside GSM-7 replaced where the meaning is kept.

    Characters without such a replacement are left as they are, so the result is
    GSM-7 exactly when :func:`is_gsm7` says so.
    """
    text = unicodedata.normalize("NFC", text)
    text = _CLOSING_GUILLEMET.sub('"', _OPENING_GUILLEMET.sub('"', text))
    out: list[str] = []
    previous = ""
    for char in text:
        replacement = _beside(previous, char, _gsm7_of(char))
        out.append(char if replacement is None else replacement)
        previous = char
    return "".join(out)


def _beside(previous: str, char: str, replacement: str | None) -> str | None:
    """``char``'s replacement where it follows ``previous``: a fraction or an exponent
    after a digit must not merge into the number (2½ is not 21/2, 10⁶ is not 106)."""
    if replacement is None or not previous.isdigit() or not previous.isascii():
        return replacement
    kind = unicodedata.decomposition(char).partition(" ")[0]
    if kind == "<fraction>":
        return " " + replacement  # 2 1/2
    if kind == "<super>" and (replacement[0].isdigit() or replacement[0] in "+-=()"):
        return "^" + replacement  # 10^6, 10^-3: "^" is in the extension table
    if kind == "<sub>":
        return None  # no GSM-7 notation for it: the text goes UCS-2
    return replacement


def fit_sms(prefix: str, headline: str, link: str) -> str:
    """``prefix: headline link`` in one SMS; the words are cut, the link never is.

    GSM-7 (160 septets) when the replaced text allows it, else UCS-2 (70 units).
    A link that would leave fewer than :data:`MIN_WORDS` characters of the words
    (:data:`MIN_WORDS_UCS2` in UCS-2; all of them, if fewer) gives way to its site's name:
    ``prefix: headline (site)``. An SMS that does not say what happened is no alert,
    and the email and digests carry the link. With no words, the link is sent alone.
    """
    words = ": ".join(part for part in (_one_line(prefix), _one_line(headline)) if part)
    if not words:
        return link
    with_link = _fit(words, f" {link}", keep_words=True) if link else None
    if with_link is not None:
        return with_link
    site = _site(link)
    fitted = _fit(words, f" ({site})", keep_words=False) if site else None
    # Words alone always fit: they are cut to any room.
    return fitted if fitted is not None else _fit(words, "", keep_words=False) or words


def _fit(words: str, tail: str, *, keep_words: bool) -> str | None:
    """``words`` cut to fit one SMS before ``tail``; None if too few would remain.

    Too few: under the alphabet's ``least_words`` (or all the words, if fewer) when
    ``keep_words``, else no room for a word and an ellipsis.
    """
    for alphabet, candidate in ((_GSM7, to_gsm7(words)), (_UCS2, words)):
        if not alphabet.accepts(tail):
            continue
        room = alphabet.single - sum(alphabet.cost(char) for char in tail)
        length = sum(alphabet.cost(char) for char in candidate)
        least = min(alphabet.least_words, length) if keep_words else len(ELLIPSIS) + 1
        if room < least:
            continue  # UCS-2 has less room still
        cut = _cut(candidate, room, alphabet.cost)
        if alphabet.accepts(cut):
            return cut + tail
    return None


def _site(link: str) -> str:
    """The host a link points to, without ``www.``: ``boursorama.com``."""
    try:
        host = urlsplit(link).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _septet_cost(char: str) -> int:
    # Characters outside GSM-7 count one: callers check is_gsm7 on what they keep.
    return 2 if char in GSM7_EXTENSION else 1


def _utf16_cost(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


_GSM7 = _Alphabet(GSM7_SINGLE, MIN_WORDS, is_gsm7, _septet_cost)
_UCS2 = _Alphabet(UCS2_SINGLE, MIN_WORDS_UCS2, lambda _text: True, _utf16_cost)


def _parts(costs: list[int], single: int, part: int) -> int:
    """Messages for characters of these costs; an escape pair or surrogate pair is never split."""
    if sum(costs) <= single:
        return 1
    count, used = 1, 0
    for cost in costs:
        if used + cost > part:
            count, used = count + 1, 0
        used += cost
    return count


@lru_cache(maxsize=4096)
def _gsm7_of(char: str) -> str | None:
    """GSM-7 text for one character, or None when none keeps its meaning."""
    direct = _direct(char)
    if direct is not None:
        return direct
    # Compatibility decomposition without combining marks: ê → e, ﬁ → fi, ² → 2, "\u202f" → " ".
    decomposed = unicodedata.normalize("NFKD", char)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    if base == char:
        return None
    if base != decomposed and not base.isalpha() and not base.isspace():
        return None  # the mark is the meaning: ≠ is not =, ≯ is not >
    parts = [_direct(c) for c in base]
    return None if None in parts else "".join(p for p in parts if p is not None)


def _direct(char: str) -> str | None:
    if char in GSM7:
        return char
    if char in _REPLACEMENTS:
        return _REPLACEMENTS[char]
    category = unicodedata.category(char)
    if char == "\t" or category == "Zs":
        return " "
    if category in ("Zl", "Zp"):
        return "\n"
    if category in ("Cc", "Cf", "Mn"):
        return ""  # controls, invisible formatting, combining marks NFC left alone
    return None


def _one_line(text: str) -> str:
    """NFC text on one line, without controls, lone surrogates or invisible characters."""
    text = " ".join(unicodedata.normalize("NFC", text).split())
    return "".join(c for c in text if c not in _INVISIBLE and unicodedata.category(c) not in ("Cc", "Cs"))


def _cut(text: str, room: int, cost: Callable[[str], int]) -> str:
    """``text`` within ``room``, cut at a word boundary when one is near, ending with ``...``."""
    if sum(cost(char) for char in text) <= room:
        return text
    budget, used, end = room - len(ELLIPSIS), 0, 0
    while used + cost(text[end]) <= budget:  # the whole text is over budget: no IndexError
        used += cost(text[end])
        end += 1
    head = text[:end]
    space = head.rfind(" ")
    # Back to a word boundary only if it keeps more than half, in the alphabet's units
    # (a character outside the BMP costs two in UCS-2, one in len()).
    if space > 0 and sum(cost(char) for char in head[:space].rstrip(" ,;:-")) > used // 2:
        head = head[:space]
    return head.rstrip(" ,;:-") + ELLIPSIS
