"""DynamoDB: alert records, the deliveries they fan out to, digests and SMS budgets.

One table holds four kinds of item, told apart by their key's prefix:

- ``alert#<rule>#<story>``: one per (rule, story); its conditional put is the dedupe.
- ``delivery#<recipient>#<rule>#<story>``: one per recipient of an alert, written
  before the alert, so an alert never exists without its deliveries.
- ``digest#<recipient>#<hash>``: a digest, written in one transaction with the
  claim of each delivery it gathers, so an alert is in one digest or none.
- ``budget#<recipient>#<hour|day>#<window>``: an SMS counter, with a TTL.

A delivery waiting to go out carries ``pending`` and its ``due_at``, and shows in
the sparse ``due-index`` (pending, due_at): one Query gives what is due now.

    PENDING ──claim──▶ PUBLISHING(lease) ──publish ok──▶ SENT
       ▲                   │ publish failed: release; over the SMS budget: postpone
       └───────────────────┘ (or the lease runs out: claimable again)
    PENDING (mode digest) ──gathered──▶ DIGESTED (its digest is a delivery of its own)
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from wirewatch.adapters.dynamodb import (
    _conditional,
    _is_conditional_failure,
    _n,
    _parse_time,
    _s,
    _store_error,
    _Table,
    _text,
    _time,
)
from wirewatch.core.model import Alert, Delivery, DigestMessage, Severity
from wirewatch.core.ports import SettledAlert, Withdrawal
from wirewatch.core.routing import recipient_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

    from wirewatch.core.routing import BudgetWindow

DUE_INDEX = "due-index"
WITHDRAWN = "folded into "  # a delivery cancelled by a withdrawal: its reason, then the kept alert's key
_CANCEL = "SET #status = :cancelled, last_error = :reason REMOVE pending, lease_until, lease_token"


class DynamoDBAlertStore(_Table):
    def __init__(
        self, client: DynamoDBClient, table_name: str, retention: timedelta, lease: timedelta = timedelta(minutes=10)
    ) -> None:
        super().__init__(client, table_name)
        self.retention = retention
        # The lease outlives the function timeout, so only a dead worker loses it.
        self.lease = lease
        self._leases: dict[str, str] = {}  # delivery key → token of the claim this worker holds

    def _expiry(self, now: datetime) -> AttributeValueTypeDef:
        return _n(int((now + self.retention).timestamp()))

    # ------------------------------------------------------------ alerts

    def create(self, alert: Alert, story_id: str, deliveries: Sequence[Delivery], now: datetime) -> bool:
        """Record an alert and its deliveries; False if this (rule, story) already has one.

        Raises:
            StoreError: DynamoDB failed; nothing was written.
        """
        record: dict[str, AttributeValueTypeDef] = {
            "pk": _s(alert.key),
            "status": _s("ROUTED"),
            "created_at": _s(_time(now)),
            "story_id": _s(story_id),
            "rule_id": _s(alert.rule_id),
            "severity": _s(alert.severity.label),
            "feed_id": _s(alert.feed_id),
            "link": _s(alert.link or "-"),
            "title": _s(alert.title or "-"),
            "recipients": _n(len(deliveries)),
            "expires_at": self._expiry(now),
        }
        if deliveries:
            # Named on the alert, so that folding it into another after all can cancel them.
            record["deliveries"] = {"SS": [delivery.key for delivery in deliveries]}
        # Deliveries first, then the alert: a crash in between leaves deliveries that the
        # next tick sends (nothing lost), and the job's retry writes the alert. Each put is
        # conditional on its key, (recipient, rule, story): however many workers find the
        # story, a recipient has one delivery of it. (One transaction would say the same,
        # but moto, which the tests and the local demo run on, does not isolate concurrent
        # transactions: a failed one restores a snapshot taken before its neighbours' writes.)
        for delivery in deliveries:
            _conditional(
                "PutItem",
                lambda delivery=delivery: self.client.put_item(  # type: ignore[misc]
                    TableName=self.name,
                    Item=self._delivery_record(delivery, now),
                    ConditionExpression="attribute_not_exists(pk)",
                ),
            )
        # One alert per (rule, story): the key exists from this write until the TTL removes it.
        return _conditional(
            "PutItem",
            lambda: self.client.put_item(
                TableName=self.name, Item=record, ConditionExpression="attribute_not_exists(pk)"
            ),
        )

    def _put(self, item: dict[str, AttributeValueTypeDef]) -> TransactWriteItemTypeDef:
        return {"Put": {"TableName": self.name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}

    def _delivery_record(self, delivery: Delivery, now: datetime) -> dict[str, AttributeValueTypeDef]:
        record: dict[str, AttributeValueTypeDef] = {
            "pk": _s(delivery.key),
            "status": _s("PENDING"),
            "pending": _s("1"),
            "due_at": _s(_time(delivery.due_at)),
            "created_at": _s(_time(delivery.created_at)),
            "recipient": _s(delivery.recipient),
            "mode": _s(delivery.mode),
            # Kept its retention past when it is due, not past when it was made: a digest
            # held by quiet hours, or moved on by the SMS budget, is still to be sent.
            "expires_at": self._expiry(max(now, delivery.due_at)),
        }
        if delivery.alert is not None:
            record.update(_alert_attributes(delivery.alert))
        if delivery.digest is not None:
            record.update(
                {
                    "kind": _s("digest"),
                    "subject": _s(delivery.digest.subject),
                    "email": _s(delivery.digest.email),
                    "sms": _s(delivery.digest.sms),
                    "members": {"L": [_s(key) for key in delivery.digest.members]},
                }
            )
        return record

    def _transact(self, operation: str, items: Sequence[TransactWriteItemTypeDef]) -> bool:
        """True if the transaction applied, False if a condition in it did not hold."""
        try:
            self.client.transact_write_items(TransactItems=list(items))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or []
                codes = {reason.get("Code") for reason in reasons}
                if "ConditionalCheckFailed" in codes and codes <= {"ConditionalCheckFailed", "None", None}:
                    return False
            raise _store_error(operation, exc) from exc
        except BotoCoreError as exc:
            raise _store_error(operation, exc) from exc
        return True

    # ------------------------------------------------------------ deliveries

    def due(self, now: datetime) -> list[Delivery]:
        """Deliveries waiting to go out whose time has come (one paginated Query)."""
        deliveries: list[Delivery] = []
        try:
            pages = self.client.get_paginator("query").paginate(
                TableName=self.name,
                IndexName=DUE_INDEX,
                KeyConditionExpression="pending = :one AND due_at <= :now",
                ExpressionAttributeValues={":one": _s("1"), ":now": _s(_time(now))},
            )
            for page in pages:
                deliveries.extend(_delivery(item) for item in page.get("Items", []))
        except (ClientError, BotoCoreError) as exc:
            raise _store_error("Query", exc) from exc
        return deliveries

    def claim(self, key: str, now: datetime, mode: str = "immediate") -> bool:
        """Take the right to publish a delivery still in ``mode``; False if sent, gathered,
        moved to another mode meanwhile, or another worker holds a live claim."""
        # A claim with a lease, as Powertools idempotency's INPROGRESS record: two workers
        # never publish the same delivery, and one that died mid-publish gives it back
        # when its lease runs out.
        token = uuid.uuid4().hex
        claimed = _conditional(
            "UpdateItem",
            lambda: self.client.update_item(
                TableName=self.name,
                Key={"pk": _s(key)},
                UpdateExpression="SET #status = :publishing, lease_until = :until, lease_token = :token",
                # The mode too: a copy read before another worker moved the delivery to a
                # digest (over the SMS budget) must not send it on its own after all.
                ConditionExpression="#mode = :mode AND "
                "(#status = :pending OR (#status = :publishing AND lease_until < :now))",
                ExpressionAttributeNames={"#status": "status", "#mode": "mode"},
                ExpressionAttributeValues={
                    ":publishing": _s("PUBLISHING"),
                    ":pending": _s("PENDING"),
                    ":until": _s(_time(now + self.lease)),
                    ":now": _s(_time(now)),
                    ":token": _s(token),
                    ":mode": _s(mode),
                },
            ),
        )
        if claimed:
            self._leases[key] = token
        return claimed

    def mark_sent(self, key: str, message_id: str, now: datetime) -> None:
        self._leases.pop(key, None)
        # Whoever holds the claim now: once SNS accepted the message, SENT is the truth.
        # The condition only stops a write on a record TTL already removed from creating
        # a stub that would never expire.
        self._set_status(
            key,
            "SET #status = :sent, message_id = :id, sent_at = :now REMOVE pending, lease_until, lease_token",
            "attribute_exists(pk)",
            {":sent": _s("SENT"), ":id": _s(message_id), ":now": _s(_time(now))},
        )

    def _set_status(
        self,
        key: str,
        update: str,
        condition: str,
        values: dict[str, AttributeValueTypeDef],
        names: dict[str, str] | None = None,
    ) -> bool:
        """A conditional update of a delivery's record; False if the condition did not hold."""
        return _conditional(
            "UpdateItem",
            lambda: self.client.update_item(
                TableName=self.name,
                Key={"pk": _s(key)},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status", **(names or {})},
                ExpressionAttributeValues=values,
            ),
        )

    def release(self, key: str, error: str) -> None:
        """Give a claimed delivery back after a failed publish."""
        self._give_back(
            key,
            "SET #status = :pending, last_error = :error ADD attempts :one",
            {},
            {":error": _s(error[:500]), ":one": _n(1)},
        )

    def postpone(self, key: str, mode: str, due_at: datetime) -> None:
        """Give a claimed delivery back, due later (over the SMS budget: to the next digest)."""
        self._give_back(
            key,
            "SET #status = :pending, #mode = :mode, due_at = :due, expires_at = :expires",
            {"#mode": "mode"},
            {":mode": _s(mode), ":due": _s(_time(due_at)), ":expires": self._expiry(due_at)},
        )

    def _give_back(
        self, key: str, update: str, names: dict[str, str], values: dict[str, AttributeValueTypeDef]
    ) -> None:
        token = self._leases.pop(key, None)
        if token is None:
            return
        # Only our own claim: if our lease ran out and another worker claimed the delivery
        # meanwhile, resetting it to PENDING would let a third publish it.
        self._set_status(
            key,
            f"{update} REMOVE lease_until, lease_token",
            "#status = :publishing AND lease_token = :token",
            {":pending": _s("PENDING"), ":publishing": _s("PUBLISHING"), ":token": _s(token), **values},
            names,
        )

    def cancel(self, key: str, reason: str) -> None:
        """A delivery its recipient no longer wants (left the watch file, raised its severity,
        left the rule): kept, marked with ``reason``, never sent.

        Only one still waiting, or claimed by this worker: one another worker has since
        sent, or gathered into a digest, keeps the status that says what became of it.
        """
        token = self._leases.pop(key, None)
        if token is None:
            self._cancel_waiting(key, reason)
            return
        self._set_status(
            key,
            _CANCEL,
            "#status = :publishing AND lease_token = :token",
            {
                ":cancelled": _s("CANCELLED"),
                ":reason": _s(reason[:500]),
                ":publishing": _s("PUBLISHING"),
                ":token": _s(token),
            },
        )

    def _cancel_waiting(self, key: str, reason: str) -> bool:
        """Cancel a delivery if it still waits; False if it was claimed, sent or gathered."""
        return self._set_status(
            key,
            _CANCEL,
            "#status = :pending",
            {":cancelled": _s("CANCELLED"), ":reason": _s(reason[:500]), ":pending": _s("PENDING")},
        )

    def collect(self, digest: Delivery, now: datetime) -> bool:
        """Record a digest and take each of its members out of the queue, all or nothing.

        False if a member was gathered or changed meanwhile (another worker built a
        digest from it): the members left waiting go into the next digest.
        """
        assert digest.digest is not None
        updates: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self.name,
                    "Key": {"pk": _s(member)},
                    "UpdateExpression": "SET #status = :digested, digest_key = :digest "
                    "REMOVE pending, lease_until, lease_token",
                    # A member whose claim a dead worker left behind (its lease run out) is
                    # waiting like any other: it must not hold its recipient's digests back.
                    "ConditionExpression": "#mode = :digest_mode AND "
                    "(#status = :pending OR (#status = :publishing AND lease_until < :now))",
                    "ExpressionAttributeNames": {"#status": "status", "#mode": "mode"},
                    "ExpressionAttributeValues": {
                        ":digested": _s("DIGESTED"),
                        ":digest": _s(digest.key),
                        ":pending": _s("PENDING"),
                        ":publishing": _s("PUBLISHING"),
                        ":now": _s(_time(now)),
                        ":digest_mode": _s("digest"),
                    },
                }
            }
            for member in digest.digest.members
        ]
        return self._transact("TransactWriteItems", [self._put(self._delivery_record(digest, now)), *updates])

    def take_sms_budget(self, windows: Sequence[BudgetWindow], now: datetime) -> bool:
        """Count one SMS in every window, or in none if one of them is full."""
        if not windows:
            return True
        updates: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self.name,
                    "Key": {"pk": _s(window.key)},
                    "UpdateExpression": "ADD sent :one SET expires_at = :expires",
                    "ConditionExpression": "attribute_not_exists(sent) OR sent < :limit",
                    "ExpressionAttributeValues": {
                        ":one": _n(1),
                        ":limit": _n(window.limit),
                        # Kept a day past its window, for `wirewatch status` and audits.
                        ":expires": _n(int((window.ends_at + timedelta(days=1)).timestamp())),
                    },
                }
            }
            for window in windows
        ]
        return self._transact("TransactWriteItems", updates)

    def return_sms_budget(self, windows: Sequence[BudgetWindow]) -> None:
        updates: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self.name,
                    "Key": {"pk": _s(window.key)},
                    "UpdateExpression": "ADD sent :minus_one",
                    "ConditionExpression": "sent > :zero",
                    "ExpressionAttributeValues": {":minus_one": _n(-1), ":zero": _n(0)},
                }
            }
            for window in windows
        ]
        if updates:
            self._transact("TransactWriteItems", updates)

    def settle(self, alert_key: str, bands_id: str) -> None:
        self._update_existing(alert_key, "SET settled = :bands", {":bands": _s(bands_id or "-")})

    def settled(self, alert_keys: Sequence[str]) -> dict[str, SettledAlert]:
        # Eventually consistent: a settled alert read as unsettled is only done again, and a
        # source read as missing is only counted again (folded_feeds is a set).
        records = self.batch_get(
            alert_keys, "pk, settled, created_at, feed_id, folded_feeds, withdrawn_into", consistent=False
        )
        return {
            key: SettledAlert(
                bands_id="" if value == "-" else value,
                # Unknown: as old as can be, so that it opens no fold window.
                created_at=_parse_time(_text(record, "created_at")) or datetime.fromtimestamp(0, UTC),
                sources=frozenset(record.get("folded_feeds", {}).get("SS", [])) | {_text(record, "feed_id") or ""},
                withdrawn_into=_text(record, "withdrawn_into") or "",
            )
            for key, record in records.items()
            if (value := _text(record, "settled")) is not None
        }

    def fold(self, alert_key: str, feed_ids: Iterable[str], now: datetime, *, pin: bool = False) -> bool:
        """Count other reports of an alert's event; False if the alert is not recorded or
        was withdrawn into another."""
        feeds = sorted(set(feed_ids))
        adds, sets = [], []
        # Only values the expression names: DynamoDB refuses unused ones.
        values: dict[str, AttributeValueTypeDef] = {":now": _s(_time(now))}
        if feeds:
            values[":one"] = _n(1)
            # A set of feeds: a job retried, or one feed's later update, is not another source.
            adds += ["folded :one", "folded_feeds :feeds"]
            sets.append("last_folded_at = :now")
            values[":feeds"] = {"SS": feeds}
        if pin:
            sets.append("pinned = :now")
        if not adds and not sets:
            return True
        clauses = [("ADD ", adds), ("SET ", sets)]
        expression = " ".join(verb + ", ".join(parts) for verb, parts in clauses if parts)
        # Not into one withdrawn: what folds there would hang on an alert nobody gets.
        return self._update_existing(alert_key, expression, values, condition="attribute_not_exists(withdrawn_into)")

    def withdraw(self, alert_key: str, into: str, now: datetime) -> Withdrawal | None:
        found = self._withdrawable(alert_key, into)
        if found is None:
            return None
        waiting, cancelled_before, went_out = found
        # Never taken back once written: a report could fold into the alert again, and rest on
        # an alert whose deliveries another worker, withdrawing it too, has cancelled.
        marked = self._mark_withdrawn(alert_key, into, now)
        if marked is None:
            return None
        # Only those still waiting: one claimed or sent already goes out as well (a second
        # alert for that recipient, as before withdrawing existed), never neither.
        cancelled = sum(self._cancel_waiting(key, f"{WITHDRAWN}{into}") for key in waiting)
        # Counted (by status and the dashboard, as an alert nobody got) if nothing of it went
        # out, by one call only: every worker that saw the pair, and every retry, withdraws
        # it. One with a delivery claimed or sent before it was cancelled was an alert sent.
        nothing_out = not went_out and cancelled == len(waiting) and bool(cancelled_before or cancelled)
        counted = nothing_out and self._update_existing(
            alert_key,
            "SET withdrawal_counted = :now",
            {":now": _s(_time(now))},
            condition="attribute_not_exists(withdrawal_counted)",
        )
        sources = {*marked.get("folded_feeds", {}).get("SS", []), _text(marked, "feed_id") or ""}
        return Withdrawal(frozenset(sources - {""}), cancelled=cancelled, counted=counted)

    def _withdrawable(self, alert_key: str, into: str) -> tuple[list[str], int, bool] | None:
        """The alert's deliveries still waiting, how many a withdrawal cancelled already, and
        whether any went out, if it may be withdrawn into ``into``."""
        # Strongly consistent: both alerts' deliveries were fixed when they were written, so
        # what is judged here still holds when the mark is written.
        records = self.batch_get([alert_key, into], "pk, deliveries, withdrawn_into, pinned")
        ours, kept = records.get(alert_key), records.get(into)
        if ours is None or kept is None or "pinned" in ours:
            return None
        already = _text(ours, "withdrawn_into")
        deliveries = ours.get("deliveries", {}).get("SS", [])
        # Every recipient of ours must have the kept alert too: routed by another version of
        # the watch file (a subscriber added between the two batches), it may lack one, who
        # would then hear of the event from neither.
        kept_recipients = {recipient_of(key, into) for key in kept.get("deliveries", {}).get("SS", [])}
        if already not in {None, into} or not {recipient_of(key, alert_key) for key in deliveries} <= kept_recipients:
            return None
        # Whole items ("status" is a reserved word in projections); each is under 4 KB.
        states = [
            (key, _text(item, "status"), _text(item, "last_error") or "")
            for key, item in self.batch_get(deliveries, None).items()
        ]
        waiting = [key for key, status, _ in states if status == "PENDING"]
        withdrawn = [status == "CANCELLED" and error.startswith(WITHDRAWN) for _, status, error in states]
        went_out = len(waiting) + sum(withdrawn) < len(deliveries)
        if already is None and not waiting:
            return None  # all out already: withdrawing it would only hide an alert people got
        return waiting, sum(withdrawn), went_out

    def _mark_withdrawn(self, alert_key: str, into: str, now: datetime) -> dict[str, Any] | None:
        """Mark the alert withdrawn into ``into`` (again, for a retry); its record, or None if
        it may not be (pinned meanwhile, or withdrawn into another)."""
        try:
            answer = self.client.update_item(
                TableName=self.name,
                Key={"pk": _s(alert_key)},
                UpdateExpression="SET withdrawn_into = :into, withdrawn_at = if_not_exists(withdrawn_at, :now)",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(pinned) AND "
                "(attribute_not_exists(withdrawn_into) OR withdrawn_into = :into)",
                ExpressionAttributeValues={":into": _s(into), ":now": _s(_time(now))},
                # After the mark: a copy counted on the alert since it was read is carried over too.
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return None
            raise _store_error("UpdateItem", exc) from exc
        except BotoCoreError as exc:
            raise _store_error("UpdateItem", exc) from exc
        attributes: dict[str, Any] = answer.get("Attributes", {})
        return attributes

    def _update_existing(
        self,
        key: str,
        expression: str,
        values: dict[str, AttributeValueTypeDef],
        *,
        names: dict[str, str] | None = None,
        condition: str = "",
    ) -> bool:
        """An UpdateItem on a record that exists (and meets ``condition``); False if it does
        not. Never creates one: a record made of an update's attributes alone would pass for
        an alert or a delivery."""
        request: dict[str, Any] = {
            "TableName": self.name,
            "Key": {"pk": _s(key)},
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk)" + (f" AND {condition}" if condition else ""),
            "ExpressionAttributeValues": values,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        return _conditional("UpdateItem", lambda: self.client.update_item(**request))

    def folded(self, alert_keys: Sequence[str]) -> dict[str, int]:
        """How many other sources reported each alert's event (for digests)."""
        records = self.batch_get(alert_keys, "pk, feed_id, folded_feeds", consistent=False)
        return {
            key: len(set(record.get("folded_feeds", {}).get("SS", [])) - {_text(record, "feed_id")})
            for key, record in records.items()
        }


def _alert_attributes(alert: Alert) -> dict[str, AttributeValueTypeDef]:
    attributes: dict[str, AttributeValueTypeDef] = {
        "kind": _s("alert"),
        "alert_key": _s(alert.key),
        "rule_id": _s(alert.rule_id),
        "rule_title": _s(alert.rule_title or "-"),
        "severity": _s(alert.severity.label),
        "feed_id": _s(alert.feed_id),
        "lang": _s(alert.lang),
        "subject": _s(alert.subject),
        "email": _s(alert.email),
        "sms": _s(alert.sms),
        "link": _s(alert.link or "-"),
        "title": _s(alert.title or "-"),
        "matched": {"L": [_s(term) for term in alert.matched]},
    }
    if alert.published is not None:
        attributes["published"] = _s(_time(alert.published))
    return attributes


def _delivery(item: dict[str, Any]) -> Delivery:
    def text(name: str) -> str:
        value = _text(item, name) or ""
        return "" if value == "-" else value

    created = _parse_time(text("created_at")) or datetime.fromtimestamp(0, UTC)
    alert = digest = None
    if text("kind") == "digest":
        members = tuple(member["S"] for member in item.get("members", {}).get("L", []))
        digest = DigestMessage(subject=text("subject"), email=text("email"), sms=text("sms"), members=members)
    else:
        alert = Alert(
            key=text("alert_key"),
            rule_id=text("rule_id"),
            severity=Severity.parse(text("severity")),
            feed_id=text("feed_id"),
            lang=text("lang"),
            subject=text("subject"),
            email=text("email"),
            sms=text("sms"),
            link=text("link"),
            title=text("title"),
            matched=tuple(term["S"] for term in item.get("matched", {}).get("L", [])),
            rule_title=text("rule_title"),
            published=_parse_time(text("published")),
        )
    return Delivery(
        key=text("pk"),
        recipient=text("recipient"),
        due_at=_parse_time(text("due_at")) or created,
        created_at=created,
        mode=text("mode") or "immediate",
        alert=alert,
        digest=digest,
    )
