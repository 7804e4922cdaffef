"""Lambda entry points: each wires one event source to the service."""
