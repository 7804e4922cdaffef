"""boto3 clients built lazily with retry settings; honours AWS_ENDPOINT_URL (moto locally)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_cloudformation.client import CloudFormationClient
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sqs.client import SQSClient


def _config() -> Any:
    from botocore.config import Config

    # "standard" retries throttling and 5xx with exponential backoff and jitter. A poll
    # worker's threads (POLL_CONCURRENCY, 50) share each client: botocore keeps 10
    # connections by default, and beyond them opens and drops one per call.
    return Config(
        retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=20, max_pool_connections=64
    )


def dynamodb_client() -> DynamoDBClient:
    import boto3

    return boto3.client("dynamodb", config=_config())


def sns_client() -> SNSClient:
    import boto3

    return boto3.client("sns", config=_config())


def sns_publish_client() -> SNSClient:
    """For Publish: no retry by botocore, which would publish again after a read timeout
    or a 5xx, when SNS may have sent the message already (SNSAlertPublisher retries what
    SNS refused)."""
    import boto3
    from botocore.config import Config

    # total_max_attempts: max_attempts counts retries after the first attempt. A read
    # timeout well inside the poll worker's publishing margin (PUBLISH_MARGIN_SECONDS).
    return boto3.client("sns", config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10))


def s3_client() -> S3Client:
    import boto3

    return boto3.client("s3", config=_config())


def sqs_client() -> SQSClient:
    import boto3

    return boto3.client("sqs", config=_config())


def cloudformation_client() -> CloudFormationClient:
    import boto3

    return boto3.client("cloudformation", config=_config())
