"""The one Powertools Logger, Tracer and Metrics of the service."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="wirewatch")
tracer = Tracer(service="wirewatch")
metrics = Metrics(namespace="Wirewatch", service="wirewatch")
