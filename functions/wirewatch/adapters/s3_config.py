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

from wirewatch.core.errors import RulesError
from wirewatch.core.watchfile import load_watch, load_watch_bytes

# Earlier versions tried when the newest is refused at a cold start: enough to skip a
# few bad uploads in a row, few enough to keep a cold start quick.
_VERSIONS_TRIED = 5

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
        # The rejection is S3 failing to answer, not a refused file: it ends when S3 answers.
        self._unreachable = False

    def current(self) -> WatchConfig:
        """The configuration for this cycle; never fails once any valid one is known.

        Raises:
            RulesError: S3 holds no valid version and the bundled file is invalid too.
        """
        try:
            arguments = {"Bucket": self.bucket, "Key": self.key}
            if self._etag and self._config is not None:
                arguments["IfNoneMatch"] = self._etag
            response = self.client.get_object(**arguments)  # type: ignore[arg-type]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"304", "NotModified"} and self._config is not None:
                if self._unreachable:  # S3 answers again, with the version in force
                    self.rejected, self._unreachable = None, False
                return self._config
            if code in {"NoSuchKey", "404"}:
                if self._etag is not None or self.rejected is not None:
                    # Deleted since it was read (or refused): the bundled file, as at a cold
                    # start, and nothing refused any more. Never uploaded: the bundled file
                    # already in force, not parsed again at every call.
                    self._etag, self._config, self.rejected, self._unreachable = None, None, None, False
                return self._bundled()
            return self._unavailable(code)
        except BotoCoreError as exc:
            return self._unavailable(type(exc).__name__)
        etag = response.get("ETag")
        try:
            config = load_watch_bytes(response["Body"].read(), self.uri)
        except RulesError as exc:
            self.rejected, self._unreachable = str(exc), False
            self._etag = etag  # not re-read every cycle; a new upload has a new ETag
            return self._config or self._last_good_version() or self._bundled()
        self._etag, self._config, self.rejected, self._unreachable = etag, config, None, False
        return config

    def _unavailable(self, reason: str) -> WatchConfig:
        # S3 throttling or down must not stop polling: the rules in force stay in force.
        if self.rejected is None or self._unreachable:  # a refused file stays refused meanwhile
            self.rejected, self._unreachable = (
                f"S3 GetObject {self.uri} failed ({reason}); the rules in force are kept",
                True,
            )
        return self._config or self._last_good_version() or self._bundled()

    def _last_good_version(self) -> WatchConfig | None:
        """After a cold start on a refused upload: the newest earlier version that validates.

        The bucket is versioned, so "the last good one" survives a new container.
        """
        try:
            listed = self.client.list_object_versions(Bucket=self.bucket, Prefix=self.key, MaxKeys=20)
            versions = [v for v in listed.get("Versions", []) if v.get("Key") == self.key and not v.get("IsLatest")]
            for version in sorted(versions, key=lambda v: v["LastModified"], reverse=True)[:_VERSIONS_TRIED]:
                body = self.client.get_object(Bucket=self.bucket, Key=self.key, VersionId=version["VersionId"])
                try:
                    config = load_watch_bytes(body["Body"].read(), self.uri)
                except RulesError:
                    continue
                self._config = config
                return config
        except (ClientError, BotoCoreError):
            return None
        return None

    def _bundled(self) -> WatchConfig:
        if self._config is None:
            self._config = load_watch(self.fallback.read_text(encoding="utf-8"), str(self.fallback))
        return self._config
