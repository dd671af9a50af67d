"""Fixtures for the whole server (filled in as the sandboxes land)."""
