"""One error hierarchy; boundaries (CLI, handlers) turn these into messages and metrics."""

from __future__ import annotations

from dataclasses import dataclass


class WirewatchError(Exception):
    """Base of every error wirewatch raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a watch file, located for the person who wrote it."""

    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.message}"


class RulesError(WirewatchError):
    """A watch file cannot be used; carries every problem found, each with its line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class FeedError(WirewatchError):
    """A feed could not be fetched or parsed; the feed is skipped and the error recorded.

    ``retry_after`` (seconds) is the server's Retry-After on a 429 or 503: no poll
    before that much time has passed.
    """

    def __init__(self, kind: str, detail: str, *, retry_after: float | None = None) -> None:
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"{kind}: {detail}")


class StoreError(WirewatchError):
    """The state store failed in a way a retry of the whole cycle may fix."""


class JobsNotQueued(StoreError):
    """A send queued some jobs and not others: ``unsent`` are the positions of the others."""

    def __init__(self, message: str, unsent: tuple[int, ...]) -> None:
        super().__init__(message)
        self.unsent = unsent


class PublishError(WirewatchError):
    """The alert could not be published; it stays pending and is retried next cycle.

    ``refused``: SNS answered that it did not take the message (or was never reached).
    Otherwise the answer was lost (a read timeout, a connection closed): SNS may have
    sent it, and the retry may send it again.
    """

    def __init__(self, message: str, *, refused: bool = True) -> None:
        super().__init__(message)
        self.refused = refused
