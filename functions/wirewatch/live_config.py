"""The watch configuration in force, reloaded from its source when a tick or batch begins."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wirewatch.core.model import WatchConfig
from wirewatch.core.ports import StaticConfig

if TYPE_CHECKING:
    from wirewatch.core.ports import ConfigSource


class LiveConfig:
    """A fixed configuration, or one read from a source (S3) that may change between calls."""

    def __init__(self, config: WatchConfig | ConfigSource) -> None:
        self.source: ConfigSource = StaticConfig(config) if isinstance(config, WatchConfig) else config
        # Read by the first refresh, not here: a cold start reads S3 once, not twice.
        self._current: WatchConfig | None = None

    def refresh(self) -> WatchConfig:
        """The configuration to use from now on (the source's, or the last good one)."""
        self._current = self.source.current()
        return self._current

    @property
    def current(self) -> WatchConfig:
        return self._current if self._current is not None else self.refresh()

    @property
    def rejected(self) -> str | None:
        """Why the newest version was refused, while an older one stays in force."""
        return self.source.rejected
