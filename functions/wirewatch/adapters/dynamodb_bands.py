"""The near-duplicate fold index on the seen table: one item per LSH band, expiring by TTL.

A band item (``band#…``) names the alert of the first report that had the band, with
that report's signature, so a worker that finds a candidate through any band can verify
it without another read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from wirewatch.adapters.dynamodb import _conditional, _n, _parse_time, _s, _Table, _text, _time
from wirewatch.core.neardup import FoldRecord

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

_ATTRIBUTES = "pk, alert_key, signature, first_seen, features, rule_words"


class DynamoDBFoldIndex(_Table):
    """Band keys → the first report of an event per rule (``FoldIndex``), on the seen table."""

    def __init__(self, client: DynamoDBClient, table_name: str, retention: timedelta) -> None:
        super().__init__(client, table_name)
        self.retention = retention  # the fold window plus a margin: a band outliving it folds nothing

    def find(self, band_keys: Sequence[str]) -> dict[str, FoldRecord]:
        """The records held under any of ``band_keys``, one BatchGetItem per 100 keys.

        Raises:
            StoreError: DynamoDB refused or failed after botocore's retries.
        """
        items = self.batch_get(band_keys, attributes=_ATTRIBUTES)
        return {key: record for key, item in items.items() if (record := _record(item)) is not None}

    def claim(self, band_keys: Sequence[str], record: FoldRecord, now: datetime) -> None:
        """Hold every band of ``band_keys`` that no live item holds yet for ``record``.

        Raises:
            StoreError: a write failed for another reason than a band already held.
        """
        expires_at = _n(int((now + self.retention).timestamp()))
        for key in dict.fromkeys(band_keys):
            item: dict[str, AttributeValueTypeDef] = {
                "pk": _s(key),
                "alert_key": _s(record.alert_key),
                "signature": _s(record.signature),
                "first_seen": _s(_time(record.first_seen)),
                "expires_at": expires_at,
                **({"features": _s(record.features)} if record.features else {}),
                **({"rule_words": _s(record.rule_words)} if record.rule_words else {}),
            }
            # The first report owns a band: two workers folding the same event at once
            # must both point at one alert. An item past its expiry is fair game, since
            # TTL deletes it up to two days late.
            put = partial(
                self.client.put_item,
                TableName=self.name,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": _n(int(now.timestamp()))},
            )
            _conditional("PutItem", put)


def _record(item: dict[str, Any]) -> FoldRecord | None:
    alert_key, signature = _text(item, "alert_key"), _text(item, "signature")
    if alert_key is None or signature is None:
        return None  # not a band item: nothing to fold into
    first_seen = _parse_time(_text(item, "first_seen")) or datetime.fromtimestamp(0, UTC)
    return FoldRecord(
        alert_key=alert_key,
        signature=signature,
        first_seen=first_seen,
        features=_text(item, "features") or "",
        rule_words=_text(item, "rule_words") or "",
    )


__all__ = ["DynamoDBFoldIndex"]
