"""The fold index on moto, seen table created from template.yaml: the first report of an
event owns its bands, whatever concurrent workers do."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3

from wirewatch.adapters.dynamodb_bands import DynamoDBFoldIndex
from wirewatch.core.model import Item
from wirewatch.core.neardup import FoldRecord, band_keys, find_original, signature

if TYPE_CHECKING:
    from .conftest import Pipeline

NOW = datetime(2024, 6, 26, 6, 0, tzinfo=UTC)
WINDOW = timedelta(hours=24)
RETENTION = WINDOW + timedelta(hours=6)
SEED = Item(
    feed_id="boursorama",
    title="Premier entretien en un an entre les ministres US et russe de la Défense",
    link="https://www.boursorama.com/a",
    summary="Lloyd Austin et Andreï Belousov se sont entretenus mardi par téléphone, ont déclaré Washington et Moscou.",
)


def _index(pipeline: Pipeline) -> DynamoDBFoldIndex:
    return DynamoDBFoldIndex(boto3.client("dynamodb"), pipeline.settings.seen_table, RETENTION)


def _record(alert_key: str, first_seen: datetime = NOW) -> FoldRecord:
    sig = signature(SEED)
    assert sig is not None
    return FoldRecord(alert_key=alert_key, signature=sig.to_text(), first_seen=first_seen)


def _keys(scope: str = "crimea-strike") -> list[str]:
    sig = signature(SEED)
    assert sig is not None
    return band_keys(sig, scope)


def test_the_first_claim_of_a_band_wins(pipeline: Pipeline) -> None:
    worker_a, worker_b = _index(pipeline), _index(pipeline)

    worker_a.claim(_keys(), _record("alert#a"), NOW)
    worker_b.claim(_keys(), _record("alert#b", NOW + timedelta(minutes=1)), NOW + timedelta(minutes=1))

    found = worker_b.find(_keys())
    assert set(found) == set(_keys())
    assert {record.alert_key for record in found.values()} == {"alert#a"}
    assert next(iter(found.values())).first_seen == NOW


def test_two_concurrent_claims_of_a_band_leave_one_owner(pipeline: Pipeline) -> None:
    start = threading.Barrier(2)
    band = _keys()[:1]
    errors: list[BaseException] = []

    def claim(alert_key: str) -> None:
        index = _index(pipeline)
        start.wait()
        try:
            index.claim(band, _record(alert_key), NOW)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(key,)) for key in ("alert#a", "alert#b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    found = _index(pipeline).find(band)
    assert len(found) == 1
    (owner,) = found.values()
    assert owner.alert_key in {"alert#a", "alert#b"}
    sig = signature(SEED)
    assert sig is not None
    original = find_original(sig, found, NOW + timedelta(hours=1), WINDOW)
    assert original == owner


def test_bands_are_per_rule(pipeline: Pipeline) -> None:
    index = _index(pipeline)
    index.claim(_keys("crimea-strike"), _record("alert#strike"), NOW)

    assert index.find(_keys("defense-minister-contact")) == {}


def test_an_expired_band_can_be_claimed_again(pipeline: Pipeline) -> None:
    index = _index(pipeline)
    index.claim(_keys(), _record("alert#old"), NOW)
    later = NOW + RETENTION + timedelta(minutes=1)  # TTL has not deleted it yet

    index.claim(_keys(), _record("alert#new", later), later)

    assert {record.alert_key for record in index.find(_keys()).values()} == {"alert#new"}


def test_find_reads_more_than_one_batch_and_skips_other_items(pipeline: Pipeline) -> None:
    index = _index(pipeline)
    keys = [f"band#{n:03d}" for n in range(150)]
    index.claim(keys, _record("alert#many"), NOW)
    boto3.client("dynamodb").put_item(TableName=pipeline.settings.seen_table, Item={"pk": {"S": "item#x"}})

    found = index.find([*keys, "item#x", "band#absent"])

    assert set(found) == set(keys)
    assert pipeline.calls.counts["dynamodb.BatchGetItem"] == 2
