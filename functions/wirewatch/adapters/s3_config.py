"""The watch file from S3, reloaded without redeploying; an invalid version never replaces a good one.

Each cycle asks S3 for the object with ``If-None-Match`` (a 304 costs no parsing).
A new version is validated before use: if it is invalid, the last good
configuration stays in force and the rejection is reported (``ConfigRejected``
metric, error log). With no object in the bucket, the file bundled with the
function is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from wirewatch.core.errors import RulesError, StoreError
from wirewatch.core.watchfile import load_watch

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_s3.client import S3Client

    from wirewatch.core.model import WatchConfig


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key).

    Raises:
        ValueError: not an s3:// URI with a bucket and a key.
    """
    if not uri.startswith("s3://") or "/" not in uri[5:] or uri.endswith("/"):
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


class S3ConfigSource:
    """The current watch configuration: S3's version when valid, else the last good one."""

    def __init__(self, client: S3Client, uri: str, fallback: Path) -> None:
        self.client = client
        self.uri = uri
        self.bucket, self.key = parse_s3_uri(uri)
        self.fallback = fallback
        self._etag: str | None = None
        self._config: WatchConfig | None = None
        self.rejected: str | None = None  # why the newest version was refused, while it is

    def current(self) -> WatchConfig:
        """Raises StoreError if S3 fails, RulesError if no valid configuration exists at all."""
        try:
            arguments = {"Bucket": self.bucket, "Key": self.key}
            if self._etag and self._config is not None:
                arguments["IfNoneMatch"] = self._etag
            response = self.client.get_object(**arguments)  # type: ignore[arg-type]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"304", "NotModified"} and self._config is not None:
                return self._config
            if code in {"NoSuchKey", "404"}:
                return self._bundled()
            raise StoreError(f"S3 GetObject {self.uri} failed: {code}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"S3 GetObject {self.uri} failed: {type(exc).__name__}") from exc
        etag = response.get("ETag")
        text = response["Body"].read().decode("utf-8", errors="replace")
        try:
            config = load_watch(text, self.uri)
        except RulesError as exc:
            self.rejected = str(exc)
            self._etag = etag  # not re-read every cycle; a new upload has a new ETag
            return self._config or self._bundled()
        self._etag, self._config, self.rejected = etag, config, None
        return config

    def _bundled(self) -> WatchConfig:
        if self._config is None:
            self._config = load_watch(self.fallback.read_text(encoding="utf-8"), str(self.fallback))
        return self._config
