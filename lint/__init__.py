"""Tooling for the repository's checks (not part of the application)."""
