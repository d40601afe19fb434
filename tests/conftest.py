"""Shared pytest fixtures."""

from tests.azurite import azurite_connection_string  # noqa: F401  (session fixture: Azurite)
