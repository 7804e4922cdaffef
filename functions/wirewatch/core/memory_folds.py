"""A fold index in memory (``neardup.FoldIndex``): backtests fold as the pipeline does, without AWS."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime, timedelta

    from wirewatch.core.neardup import FoldRecord


class MemoryFoldIndex:
    """Band keys → the first report that claimed them, kept as ``DynamoDBFoldIndex`` keeps them.

    With a ``retention``, a band held longer than that is free to claim again, as the
    deployed index's band items are once expired; without one, a band is held for good.
    """

    def __init__(self, retention: timedelta | None = None) -> None:
        self.retention = retention
        self._bands: dict[str, tuple[FoldRecord, datetime | None]] = {}

    def find(self, band_keys: Sequence[str]) -> dict[str, FoldRecord]:
        """The records held under any of ``band_keys`` (absent keys are left out)."""
        return {key: held[0] for key in band_keys if (held := self._bands.get(key)) is not None}

    def claim(self, band_keys: Sequence[str], record: FoldRecord, now: datetime) -> None:
        """Hold every band of ``band_keys`` that nobody holds yet for ``record``."""
        expires = None if self.retention is None else now + self.retention
        for key in band_keys:
            held = self._bands.get(key)
            # The first report keeps a band, so every later report of its event folds into
            # one alert; an expired band, as in DynamoDB, goes to whoever claims it next.
            if held is None or (held[1] is not None and held[1] < now):
                self._bands[key] = (record, expires)


__all__ = ["MemoryFoldIndex"]
