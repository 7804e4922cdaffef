"""Near-duplicate folding: one alert per event, however many outlets report it.

A report's title and summary become a set of word features; a MinHash signature of the
set gives LSH band keys under which earlier reports of the same event can be looked up
without a scan. A candidate found through a band is folded only if the poll worker's check
(``same_event_in_rule``) on the two feature sets says they are one event: the bands give
recall, the check gives precision.

Choices, measured on the labelled pairs of ``tests/fixtures/neardup/pairs.yaml``
(``bench/folding.py``, ``bench/RESULTS.md``):

- Words, not word n-grams: rewritten headlines keep an event's names and key words but
  not their order. EN and FR stop words dropped, then each word cut to its first 5
  letters: a language-blind stem (``recalls``/``recalled``, ``décédé``/``décès``) that
  works on items of unknown language too. Measured when chosen, on the first 79 pairs,
  with the signature estimate, as the best recall with no different events of a day
  folded: bigrams 0.67, words cut to 5 letters 0.87, whole words 0.64, Snowball stems
  0.69, 4 or 6 letters 0.82.
- The check is on the overlap coefficient (shared features over the shorter report's): a
  short headline copied into a long lede stays the same event however long the lede.
- Half the shorter report's features in common (``SHARE_IN_RULE``). The 28 same-day pairs
  added on 2026-11-28 have two different strikes on Crimea a few hours apart, and two
  calls between the same ministers two days apart, at up to 0.476 (the first 79 pairs'
  closest different events of a day: 0.375). Precision 1.0 on the 107 pairs costs
  recall: 0.46 (0.80 at a third, with 7 different events folded).
- Within a rule every report shares some of the rule's words, so at least 2 shared words
  and 4 of each report's must be others (guards for short reports: no labelled pair is
  decided by them); two reports naming weekdays ("Tuesday", "vendredi") but none in
  common, beyond the rule's words, are two events whatever else they share, which keeps
  the June and July 2024 Austin-Belousov calls apart even in a window of weeks.
- The window does real work: different events weeks apart reach 0.5 (two Shenzhou
  crews), and only the 24 h window keeps them apart.
- 256 permutations, 32 bands of 1 row: similar events share few words, and single-value
  bands make 104 of the 107 pairs candidates (4 rows per band: 11 of the first 45
  same-event pairs); the extra candidates cost one set comparison each, not an alert.
- Hashes are blake2b, not Python's ``hash``, which is salted per process and would give
  every Lambda container different keys.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wirewatch.core.normalize import tokens

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from datetime import datetime, timedelta

    from wirewatch.core.model import Item

PERMUTATIONS = 256
BANDS = 32
ROWS = 1
MIN_FEATURES = 4  # fewer distinct words ("Live", "Breaking news") say nothing about an event
STEM_LENGTH = 5
MAX_SUMMARY_WORDS = 60  # ledes run on into background that other outlets do not share
THRESHOLD = 0.33  # of the signature estimate alone (``same_event``), which bench/folding.py compares
# The poll worker's check (``same_event_in_rule``): half the words of the shorter report in
# common. Lower, two different strikes on Crimea the same day, or two calls between the same
# ministers two days apart, fold (0.476 is the closest such pair of the labelled set).
SHARE_IN_RULE = 0.5
MIN_SHARED_BEYOND_RULE = 2  # and the rule's words alone, however many, never make one event

_MERSENNE = (1 << 61) - 1
_MAX_HASH = (1 << 32) - 1
_VERSION = "m1"  # in every serialised signature and band key: a parameter change starts afresh

_ENGLISH_STOP_WORDS = (
    "a an and are as at be been being but by can could did do does for from had has have he her his "
    "i in into is it its me my no not of on or our over says said say she so than that the their "
    "them then there these they this those to up us was we were what when where which while who "
    "will with would you your also after about before more new just"
)
# Folded as the tokens are: no accents, elisions already gone.
_FRENCH_STOP_WORDS = (
    "au aux avec ce ces cet cette comme dans de des du elle elles en est et etre etait ete il ils "
    "je la le les leur leurs lui mais me meme mes ne nos notre nous on ont ou par pas plus pour "
    "qu que qui sa se selon ses son sont sur ta te tes toi ton tu un une vos votre vous y apres "
    "aussi ainsi dont entre fait tout tous"
)
_STOP_WORDS = frozenset(_ENGLISH_STOP_WORDS.split()) | frozenset(_FRENCH_STOP_WORDS.split())
_WEEKDAY_FEATURE = "weekday:"
# Days of the week, EN and FR, singular and plural, as folded tokens: each becomes one
# feature, "weekday:tuesday" for "Tuesday" and "mardi" alike, found on the whole word so
# that "Saturn" or "vendre" (to sell) are not taken for days.
_WEEKDAYS = {
    name: f"{_WEEKDAY_FEATURE}{english}"
    for english, french in (
        ("monday", "lundi"),
        ("tuesday", "mardi"),
        ("wednesday", "mercredi"),
        ("thursday", "jeudi"),
        ("friday", "vendredi"),
        ("saturday", "samedi"),
        ("sunday", "dimanche"),
    )
    for name in (english, f"{english}s", french, f"{french}s")
}


def _permutations() -> tuple[tuple[int, int], ...]:
    # Fixed and derived from a hash rather than a random generator, so every worker
    # and every release computes the same signature for the same text.
    pairs = []
    for index in range(PERMUTATIONS):
        digest = hashlib.blake2b(f"wirewatch-minhash-{index}".encode(), digest_size=16).digest()
        a, b = struct.unpack("<QQ", digest)
        pairs.append((a % (_MERSENNE - 1) + 1, b % _MERSENNE))
    return tuple(pairs)


_PERMUTATIONS = _permutations()


@dataclass(frozen=True)
class Signature:
    """The MinHash of a report's features, and how many features it had."""

    values: tuple[int, ...]
    size: int

    def to_text(self) -> str:
        """A compact ASCII form (about 1.4 kB) to store next to the band items."""
        packed = struct.pack(f"<I{len(self.values)}I", self.size, *self.values)
        return f"{_VERSION}:{base64.b85encode(packed).decode('ascii')}"

    @classmethod
    def from_text(cls, text: str) -> Signature:
        """The signature ``to_text`` wrote.

        Raises:
            ValueError: not a signature of this version.
        """
        version, _, body = text.partition(":")
        if version != _VERSION:
            raise ValueError(f"unknown signature version {version!r}")
        try:
            packed = base64.b85decode(body)
        except ValueError as exc:
            raise ValueError("signature is not base85") from exc
        if len(packed) != 4 * (PERMUTATIONS + 1):
            raise ValueError(f"signature has {len(packed)} bytes, expected {4 * (PERMUTATIONS + 1)}")
        size, *values = struct.unpack(f"<I{PERMUTATIONS}I", packed)
        return cls(tuple(values), size)


@dataclass(frozen=True)
class FoldRecord:
    """The first report of an event for a rule: the alert it raised, its signature, and
    (for the check made within a rule) its features and those the rule matched."""

    alert_key: str
    signature: str
    first_seen: datetime
    features: str = ""  # space-separated
    rule_words: str = ""  # space-separated


@dataclass(frozen=True)
class Report:
    """A report as one rule sees it: its features, and those of the words the rule matched.

    Every report a rule matches shares the rule's words (two strikes on Crimea both say
    "Crimée" and "attaque"), so within a rule they are not enough to make one event: the
    check wants other words in common too.
    """

    signature: Signature
    features: frozenset[str]
    rule_words: frozenset[str]

    def record(self, alert_key: str, first_seen: datetime) -> FoldRecord:
        return FoldRecord(
            alert_key,
            self.signature.to_text(),
            first_seen,
            " ".join(sorted(self.features)),
            " ".join(sorted(self.rule_words)),
        )


def report(item: Item, matched: Iterable[str]) -> Report | None:
    """``item`` as a rule that matched the clauses ``matched`` (as written: ``attaqu*``) sees it."""
    found = features(item.title, item.summary)
    if len(found) < MIN_FEATURES:
        return None
    return Report(Signature(minhash(found), len(found)), found, _rule_words(matched))


def _rule_words(matched: Iterable[str]) -> frozenset[str]:
    """The features of the clauses a rule matched; a prefix such as ``vendred*`` also stands
    for the day it begins (the text's feature is the day's, not the cut word)."""
    words: set[str] = set()
    for clause in matched:
        words |= features(clause.replace("*", ""), "")
        if clause.endswith("*"):
            prefix = tokens(clause[:-1])[-1:]
            words |= {
                day for name, day in _WEEKDAYS.items() if prefix and len(prefix[0]) >= 3 and name.startswith(prefix[0])
            }
    return frozenset(words)


def same_event_in_rule(report_: Report, record: FoldRecord) -> bool:
    """Whether ``report_`` and the stored first report are one event, as the poll worker judges
    within a rule: half the shorter one's features in common, 2 of them and 4 of each one's not
    the rule's words, and no two different days of the week named."""
    if not record.features:
        return False  # stored before features were kept: no evidence either way, no fold
    return _same_beyond_rule(
        report_.features, report_.rule_words, frozenset(record.features.split()), frozenset(record.rule_words.split())
    )


def same_event_recorded(a: FoldRecord, b: FoldRecord) -> bool:
    """``same_event_in_rule`` between two stored first reports (two workers' alerts)."""
    if not a.features or not b.features:
        return False
    return _same_beyond_rule(
        frozenset(a.features.split()),
        frozenset(a.rule_words.split()),
        frozenset(b.features.split()),
        frozenset(b.rule_words.split()),
    )


def _same_beyond_rule(
    features_a: frozenset[str], words_a: frozenset[str], features_b: frozenset[str], words_b: frozenset[str]
) -> bool:
    ruled = words_a | words_b
    mine, theirs = features_a - ruled, features_b - ruled
    if min(len(mine), len(theirs)) < MIN_FEATURES or len(mine & theirs) < MIN_SHARED_BEYOND_RULE:
        return False  # too little beyond the rule's words to tell one event from another
    if _named_days_differ(mine, theirs):  # a day the rule names ("Black Friday") is in every report
        return False
    return len(features_a & features_b) / min(len(features_a), len(features_b)) >= SHARE_IN_RULE


def _named_days_differ(features_a: frozenset[str], features_b: frozenset[str]) -> bool:
    """Whether both reports name a day of the week and none in common: two calls between the
    same ministers a few days apart share every other word, and the day is what tells them."""
    days_a = {feature for feature in features_a if feature.startswith(_WEEKDAY_FEATURE)}
    days_b = {feature for feature in features_b if feature.startswith(_WEEKDAY_FEATURE)}
    return bool(days_a and days_b and not days_a & days_b)


@dataclass(frozen=True)
class Rivals:
    """Other alerts of a rule on the same event as one just written, found on its bands
    (two workers each alerted before either claimed a band): ``first`` is the one to
    fold into, if earlier than ours; ``later`` are those to fold into ours otherwise."""

    first: FoldRecord | None
    later: tuple[FoldRecord, ...]


def rivals(mine: FoldRecord, holders: Mapping[str, FoldRecord], window: timedelta) -> Rivals:
    """The alerts holding bands of ``mine`` that are the same event within ``window``,
    ordered as ``first_reports`` orders them: by first report, then alert key."""
    same = _earliest(
        {key: record for key, record in holders.items() if record.alert_key != mine.alert_key},
        mine.first_seen,
        window,
        lambda record: same_event_recorded(mine, record),
    )
    order = (mine.first_seen, mine.alert_key)
    earlier = [record for record in same if (record.first_seen, record.alert_key) < order]
    if earlier:
        return Rivals(earlier[0], ())
    return Rivals(None, tuple(same))


def first_reports(
    report_: Report, candidates: Mapping[str, FoldRecord], now: datetime, window: timedelta
) -> list[FoldRecord]:
    """The candidates first seen within ``window`` of ``now`` that are the same event as
    ``report_`` within its rule, earliest first (the poll worker's check)."""
    return _earliest(candidates, now, window, lambda record: same_event_in_rule(report_, record))


def _earliest(
    candidates: Mapping[str, FoldRecord],
    now: datetime,
    window: timedelta,
    same: Callable[[FoldRecord], bool],
) -> list[FoldRecord]:
    """The distinct candidates first seen within ``window`` of ``now`` that ``same`` accepts,
    earliest first.

    Within on either side: ``now`` is the tick of the job at hand, and a job retried,
    deferred or held back runs after the next tick's jobs, whose alerts it must fold into.
    """
    matching = [
        record
        for record in {record.alert_key: record for record in candidates.values()}.values()
        if abs(now - record.first_seen) <= window and same(record)
    ]
    return sorted(matching, key=lambda record: (record.first_seen, record.alert_key))


class FoldIndex(Protocol):
    """Band keys → the first report that claimed them, shared by every worker."""

    def find(self, band_keys: Sequence[str]) -> dict[str, FoldRecord]:
        """The records stored under any of ``band_keys`` (absent keys are left out)."""
        ...

    def claim(self, band_keys: Sequence[str], record: FoldRecord, now: datetime) -> None:
        """Store ``record`` under every key nobody holds yet; the first report keeps a band."""
        ...


def features(title: str, summary: str) -> frozenset[str]:
    """The words a report is compared on: folded, stop words dropped, cut to a stem (a day
    of the week to its one feature)."""
    words = tokens(title) + tokens(summary)[:MAX_SUMMARY_WORDS]
    return frozenset(
        _WEEKDAYS.get(word) or word[:STEM_LENGTH]
        for word in words
        if word not in _STOP_WORDS and (len(word) > 1 or word.isdigit())
    )


def minhash(values: Iterable[str]) -> tuple[int, ...]:
    """The minimum of each fixed permutation over the 64-bit hashes of ``values``."""
    hashes = [int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "little") for value in values]
    return tuple(min(((a * h + b) % _MERSENNE) & _MAX_HASH for h in hashes) for a, b in _PERMUTATIONS)


def signature(item: Item) -> Signature | None:
    """The signature of an item's title and summary; None if too short to identify an event."""
    found = features(item.title, item.summary)
    if len(found) < MIN_FEATURES:
        return None
    return Signature(minhash(found), len(found))


def bands_id(bands: Sequence[str]) -> str:
    """One short id for a report's band keys: the same for reports worded alike, "" for none."""
    return hashlib.blake2b("".join(bands).encode(), digest_size=12).hexdigest() if bands else ""


def band_keys(sig: Signature, scope: str) -> list[str]:
    """One key per LSH band, specific to ``scope`` (a rule id): reports sharing a key are candidates."""
    keys = []
    for band in range(BANDS):
        rows = sig.values[band * ROWS : (band + 1) * ROWS]
        material = f"{_VERSION}\x1f{scope}\x1f{band}\x1f{','.join(map(str, rows))}".encode()
        keys.append("band#" + hashlib.blake2b(material, digest_size=24).hexdigest())
    return keys


def similarity(a: Signature, b: Signature) -> float:
    """The estimated Jaccard similarity of the two feature sets."""
    return sum(x == y for x, y in zip(a.values, b.values, strict=True)) / PERMUTATIONS


def overlap(a: Signature, b: Signature) -> float:
    """The estimated overlap coefficient: shared features over the smaller set's size."""
    jaccard = similarity(a, b)
    shared = jaccard * (a.size + b.size) / (1 + jaccard)
    return min(1.0, shared / min(a.size, b.size))


def same_event(a: Signature, b: Signature) -> bool:
    """Whether two reports are close enough to be folded into one alert."""
    return overlap(a, b) >= THRESHOLD


def find_original(
    sig: Signature, candidates: Mapping[str, FoldRecord], now: datetime, window: timedelta
) -> FoldRecord | None:
    """The earliest candidate first seen within ``window`` of ``now`` that is the same event
    on signatures alone (no rule): the check the labelled pairs measure (bench/folding.py)."""
    found = _earliest(candidates, now, window, lambda record: _same_event_text(sig, record.signature))
    return found[0] if found else None


def _same_event_text(sig: Signature, stored: str) -> bool:
    try:
        return same_event(sig, Signature.from_text(stored))
    except ValueError:
        return False  # written by another version: its bands cannot match ours anyway


__all__ = [
    "BANDS",
    "PERMUTATIONS",
    "ROWS",
    "THRESHOLD",
    "FoldIndex",
    "FoldRecord",
    "Report",
    "Rivals",
    "Signature",
    "band_keys",
    "features",
    "find_original",
    "first_reports",
    "minhash",
    "overlap",
    "report",
    "rivals",
    "same_event",
    "same_event_in_rule",
    "same_event_recorded",
    "signature",
    "similarity",
]
