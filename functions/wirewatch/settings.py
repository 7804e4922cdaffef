"""Deployment settings, read once from the environment at the edge; all problems at once."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from wirewatch.core.errors import WirewatchError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping


_CONTACT = re.compile(r"[!-'*-~][ -'*-~]{0,198}[!-'*-~]|[!-'*-~]")  # printable ASCII but ( and )


class SettingsError(WirewatchError):
    """The environment lacks or mangles variables the functions need."""


@dataclass(frozen=True)
class Settings:
    config_path: Path
    state_table: str
    seen_table: str
    alerts_table: str
    items_table: str
    topic_arn: str
    poll_queue_url: str
    retention: timedelta
    cycle_period: timedelta  # the scheduler's tick
    config_s3_uri: str | None = None  # s3://bucket/key: reloaded each tick and batch, config_path as fallback
    # Networks feeds may be fetched from although private (loopback for local runs):
    # everything else that is not a public address is refused.
    allowed_networks: tuple[str, ...] = ()
    poll_concurrency: int = 50  # fetches side by side in one worker: a whole SQS batch at once
    per_host: int = 2  # of which at most this many to one host
    feed_contact: str | None = None  # the operator's URL or address, in every fetch's User-Agent

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Raises SettingsError naming every missing or invalid variable."""
        env = os.environ if env is None else env
        problems: list[str] = []

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                problems.append(f"{name} is not set")
            return value

        def positive_int(name: str, default: int) -> int:
            raw = env.get(name, str(default)).strip()
            if not raw.isdigit() or int(raw) < 1:
                problems.append(f"{name} must be a positive whole number, got {raw!r}")
                return default
            return int(raw)

        def s3_uri() -> str | None:
            uri = env.get("WIREWATCH_CONFIG_S3", "").strip()
            if uri and (not uri.startswith("s3://") or "/" not in uri[5:]):
                problems.append(f"WIREWATCH_CONFIG_S3 must be s3://bucket/key, got {uri!r}")
            return uri or None

        def contact() -> str | None:
            value = env.get("FEED_CONTACT", "").strip()
            # Printable ASCII only, and no parentheses: it goes inside the User-Agent's comment,
            # and a CR or LF there would let it write headers of its own.
            if value and not _CONTACT.fullmatch(value):
                problems.append(f"FEED_CONTACT must be a URL or address in printable ASCII without (), got {value!r}")
                return None
            return value or None

        config = Path(env.get("WIREWATCH_CONFIG", "watch.yaml"))
        if not config.is_absolute():
            config = Path(env.get("LAMBDA_TASK_ROOT", ".")) / config
        settings = cls(
            config_path=config,
            state_table=required("STATE_TABLE"),
            seen_table=required("SEEN_TABLE"),
            alerts_table=required("ALERTS_TABLE"),
            items_table=required("ITEMS_TABLE"),
            topic_arn=required("ALERTS_TOPIC_ARN"),
            poll_queue_url=required("POLL_QUEUE_URL"),
            retention=timedelta(days=positive_int("RETENTION_DAYS", 30)),
            cycle_period=timedelta(minutes=positive_int("CYCLE_MINUTES", 5)),
            config_s3_uri=s3_uri(),
            allowed_networks=tuple(
                network.strip() for network in env.get("WIREWATCH_ALLOWED_NETWORKS", "").split(",") if network.strip()
            ),
            poll_concurrency=positive_int("POLL_CONCURRENCY", 50),
            per_host=positive_int("HOST_CONCURRENCY", 2),
            feed_contact=contact(),
        )
        if problems:
            raise SettingsError("; ".join(problems))
        return settings

    def as_env(self) -> dict[str, str]:
        """The inverse of ``from_env``, for running handlers outside Lambda."""
        return {
            "WIREWATCH_CONFIG": str(self.config_path),
            "STATE_TABLE": self.state_table,
            "SEEN_TABLE": self.seen_table,
            "ALERTS_TABLE": self.alerts_table,
            "ITEMS_TABLE": self.items_table,
            "ALERTS_TOPIC_ARN": self.topic_arn,
            "POLL_QUEUE_URL": self.poll_queue_url,
            "RETENTION_DAYS": str(self.retention.days),
            "CYCLE_MINUTES": str(int(self.cycle_period.total_seconds() // 60)),
            "POLL_CONCURRENCY": str(self.poll_concurrency),
            "HOST_CONCURRENCY": str(self.per_host),
            **({"WIREWATCH_CONFIG_S3": self.config_s3_uri} if self.config_s3_uri else {}),
            **({"WIREWATCH_ALLOWED_NETWORKS": ",".join(self.allowed_networks)} if self.allowed_networks else {}),
            **({"FEED_CONTACT": self.feed_contact} if self.feed_contact else {}),
        }


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore the previous ones."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
