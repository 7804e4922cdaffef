"""Unit tests are pure: no socket may be opened, and paths come from the repository root."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pytest_socket import disable_socket, enable_socket

from .helpers import repo_root as _repo_root

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    """Any socket a unit test opens (DNS, HTTP, AWS) fails with SocketBlockedError."""
    disable_socket()
    yield
    enable_socket()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return _repo_root()
