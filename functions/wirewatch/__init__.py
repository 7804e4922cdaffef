"""wirewatch: serverless news alerting on RSS/Atom feeds."""

__version__ = "0.1.0"
