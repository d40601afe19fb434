"""Stable GUIDs derived from names, for things Azure addresses by id that we key by name."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6f1c1f5e-9d55-4c8f-9a43-0b5b7e2f7a11")


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


def package_guid(feed_id: str, protocol: str, name: str) -> str:
    return stable_id(feed_id, protocol, name)


def version_guid(feed_id: str, protocol: str, name: str, version: str) -> str:
    return stable_id(feed_id, protocol, name, version)
