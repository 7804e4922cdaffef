"""Create the stateful resources of ``template.yaml`` (tables, queues, topic) in an emulator.

Properties are read from the template itself so local runs and tests cannot
drift from what SAM deploys. Issue #6 replaces this with a full CloudFormation
deployment into moto.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

    from wirewatch.settings import Settings

_TABLE_PROPERTIES = (
    "KeySchema",
    "AttributeDefinitions",
    "GlobalSecondaryIndexes",
    "BillingMode",
    "StreamSpecification",
)


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short forms (!Ref, !Sub, …) as plain values."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        # "!GetAtt Queue.Arn" is the short form of {"Fn::GetAtt": ["Queue", "Arn"]}.
        return {name: value.split(".", 1) if suffix == "GetAtt" else value}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def read_template(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_TemplateLoader)  # noqa: S506
    return loaded


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource.get("Properties", {})
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") == kind
    }


def create_tables(template: dict[str, Any], client: DynamoDBClient, prefix: str) -> dict[str, str]:
    """Tables named ``<prefix>-<LogicalId>``; returns logical id → table name."""
    names: dict[str, str] = {}
    for logical_id, properties in resources_of_type(template, "AWS::DynamoDB::Table").items():
        name = f"{prefix}-{logical_id}"
        arguments = {key: properties[key] for key in _TABLE_PROPERTIES if key in properties}
        client.create_table(TableName=name, **arguments)
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
            )
        names[logical_id] = name
    return names


def create_buckets(template: dict[str, Any], client: S3Client, prefix: str) -> dict[str, str]:
    """Buckets named ``<prefix>-<logicalid>`` (lower case, as S3 wants); logical id → name."""
    names = {}
    for logical_id in resources_of_type(template, "AWS::S3::Bucket"):
        name = f"{prefix}-{logical_id}".lower()
        client.create_bucket(Bucket=name)
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        names[logical_id] = name
    return names


def create_topics(template: dict[str, Any], client: SNSClient, prefix: str) -> dict[str, str]:
    """Topics named ``<prefix>-<LogicalId>``; returns logical id → topic ARN."""
    return {
        logical_id: client.create_topic(Name=f"{prefix}-{logical_id}")["TopicArn"]
        for logical_id in resources_of_type(template, "AWS::SNS::Topic")
    }


def create_queues(template: dict[str, Any], client: SQSClient, prefix: str) -> dict[str, str]:
    """Queues named ``<prefix>-<LogicalId>`` with the template's attributes; logical id → URL.

    A redrive policy names its dead-letter queue by ``!GetAtt <Queue>.Arn``: resolved
    here once every queue exists.
    """
    queues = resources_of_type(template, "AWS::SQS::Queue")
    urls = {logical_id: client.create_queue(QueueName=f"{prefix}-{logical_id}")["QueueUrl"] for logical_id in queues}
    arns = {
        logical_id: client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for logical_id, url in urls.items()
    }
    for logical_id, properties in queues.items():
        attributes: dict[QueueAttributeNameType, str] = {
            name: str(properties[name])
            for name in ("VisibilityTimeout", "MessageRetentionPeriod")
            if name in properties
        }
        redrive = properties.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[target], "maxReceiveCount": str(redrive["maxReceiveCount"])}
            )
        if attributes:
            client.set_queue_attributes(QueueUrl=urls[logical_id], Attributes=attributes)
    return urls


# Local runs fetch their feeds from servers on this machine, which deployed stacks refuse.
LOCAL_NETWORKS = ("127.0.0.0/8", "::1/128")


def create_stack_resources(template: dict[str, Any], config_path: Path, prefix: str) -> Settings:
    """The template's tables, queues and topic in the emulator the clients point at, as Settings."""
    from wirewatch.adapters import aws
    from wirewatch.settings import Settings

    tables = create_tables(template, aws.dynamodb_client(), prefix)
    topics = create_topics(template, aws.sns_client(), prefix)
    queues = create_queues(template, aws.sqs_client(), prefix)
    return Settings(
        config_path=config_path,
        state_table=tables["StateTable"],
        seen_table=tables["SeenTable"],
        alerts_table=tables["AlertsTable"],
        items_table=tables["ItemsTable"],
        topic_arn=topics["AlertsTopic"],
        poll_queue_url=queues["PollQueue"],
        retention=timedelta(days=30),
        cycle_period=timedelta(minutes=5),
        allowed_networks=LOCAL_NETWORKS,
    )
