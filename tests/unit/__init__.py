"""Unit tests: pure, fast, no network (sockets are disabled for every test)."""
