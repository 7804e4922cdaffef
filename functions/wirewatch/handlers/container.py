"""What a Lambda container keeps between invocations: built on first use, reused after."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from wirewatch.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


class Warm(Generic[T]):
    """One object per container, built from the environment on the first invocation.

    Not at import: moto and AWS_ENDPOINT_URL must be in place before any client
    exists. Warm invocations then reuse the clients, connections and compiled rules.
    """

    def __init__(self, build: Callable[[Settings], T]) -> None:
        self._build = build
        self._value: T | None = None

    def get(self) -> T:
        if self._value is None:
            self._value = self._build(Settings.from_env())
        return self._value

    def reset(self) -> None:
        """Forget it, as a new container would (tests and local runs that change the environment)."""
        self._value = None
