"""Async clients that fetch metadata and package files from upstream sources."""
