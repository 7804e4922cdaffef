"""What each function's code asks of AWS, and whether its role in the template allows it.

``CallRecorder`` hooks botocore (``before-parameter-build``: the operation and the
parameters the code passed) and turns each call into the IAM actions and resource
ARNs AWS authorises it against, attributed to the function running at the time.
``allows`` evaluates them against the policy statements read back from IAM.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


@dataclass(frozen=True, order=True)
class Need:
    """One authorisation a call needs: ``action`` on ``resource``, for the API call ``call``."""

    action: str
    resource: str
    call: str


# TransactWriteItems / TransactGetItems are authorised item by item, with these actions.
_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
# Operations authorised by another operation's action.
_SQS_ACTIONS = {
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


@dataclass
class CallRecorder:
    """Needs per function, for the AWS calls made while ``acting_as`` that function."""

    account: str
    region: str
    needs: dict[str, set[Need]] = field(default_factory=lambda: defaultdict(set))
    calls: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _acting: str | None = None

    @contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        previous, self._acting = self._acting, function
        try:
            yield
        finally:
            self._acting = previous

    def hook(self, event_name: str, params: dict[str, Any], model: Any, **_: Any) -> None:
        """botocore ``before-parameter-build.<service>.<Operation>``."""
        if self._acting is None:
            return  # the test's own calls (setup, reading inboxes, playing the event source)
        service = event_name.split(".")[1]
        self.calls[self._acting].append(f"{service}.{model.name}")
        self.needs[self._acting].update(self.needs_of(service, model.name, params))

    def needs_of(self, service: str, operation: str, params: dict[str, Any]) -> set[Need]:
        call = f"{service}.{operation}"
        if service == "dynamodb":
            return self._dynamodb(operation, params, call)
        if service == "sqs":
            url = urlsplit(params["QueueUrl"]).path.strip("/").split("/")
            arn = f"arn:aws:sqs:{self.region}:{url[0]}:{url[1]}"
            return {Need(_SQS_ACTIONS.get(operation, f"sqs:{operation}"), arn, call)}
        if service == "sns" and operation in {"Publish", "PublishBatch"}:
            # Publishing straight to a phone number (PhoneNumber) has no resource: "*".
            target = params.get("TopicArn") or params.get("TargetArn") or "*"
            return {Need("sns:Publish", target, call)}
        if service == "s3":
            return self._s3(operation, params, call)
        return {Need(f"UNMAPPED {call}: teach tests/e2e/iam.py its IAM action", "?", call)}

    def _table(self, name: str, index: str | None = None) -> str:
        arn = f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    def _dynamodb(self, operation: str, params: dict[str, Any], call: str) -> set[Need]:
        if operation in {"BatchGetItem", "BatchWriteItem"}:
            return {Need(f"dynamodb:{operation}", self._table(table), call) for table in params["RequestItems"]}
        if operation in {"TransactWriteItems", "TransactGetItems"}:
            needs = set()
            for item in params["TransactItems"]:
                ((kind, request),) = item.items()
                needs.add(Need(_TRANSACT_ACTIONS[kind], self._table(request["TableName"]), call))
            return needs
        return {Need(f"dynamodb:{operation}", self._table(params["TableName"], params.get("IndexName")), call)}

    def _s3(self, operation: str, params: dict[str, Any], call: str) -> set[Need]:
        bucket = f"arn:aws:s3:::{params['Bucket']}"
        if operation in {"GetObject", "HeadObject"}:
            action = "s3:GetObjectVersion" if params.get("VersionId") else "s3:GetObject"
            return {Need(action, f"{bucket}/{params['Key']}", call)}
        if operation == "ListObjectVersions":
            return {Need("s3:ListBucketVersions", bucket, call)}
        if operation in {"ListObjects", "ListObjectsV2"}:
            return {Need("s3:ListBucket", bucket, call)}
        if operation == "PutObject":
            return {Need("s3:PutObject", f"{bucket}/{params['Key']}", call)}
        return {Need(f"UNMAPPED s3.{operation}: teach tests/e2e/iam.py its IAM action", "?", call)}


def listed(value: str | list[str] | None) -> list[str]:
    """A policy element (Action, Resource) as a list."""
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _matches(pattern: str, value: str, *, case: bool) -> bool:
    return fnmatchcase(value, pattern) if case else fnmatchcase(value.lower(), pattern.lower())


def grants(statements: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """Every (action, resource) pair the Allow statements name, as written."""
    return {
        (action, resource)
        for s in statements
        if s.get("Effect") == "Allow"
        for action in listed(s.get("Action"))
        for resource in listed(s.get("Resource"))
    }


def allows(statements: Iterable[dict[str, Any]], need: Need) -> bool:
    """Identity-policy evaluation, enough for these roles: Allow statements with Action
    and Resource (wildcards as IAM reads them: actions case-insensitive, ARNs not)."""
    return any(
        _matches(action, need.action, case=False) and _matches(resource, need.resource, case=True)
        for action, resource in grants(statements)
    )


def used(grant: tuple[str, str], needs: Iterable[Need]) -> bool:
    action, resource = grant
    return any(_matches(action, n.action, case=False) and _matches(resource, n.resource, case=True) for n in needs)
