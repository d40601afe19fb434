"""Counting the HTTP requests the Azure storage clients send: for tests, the benchmark and debugging.

:class:`StorageCallCounter` is an azure-core policy that sits after the SDK's retry policy, so every attempt
counts, retries included. :func:`~feed_core.storage.azure.open_azure_storage` installs it in both clients
(``call_counter=``). Each request is recorded as ``(method, kind)``, the kind being what the path addresses:

* ``table-create``: creates a table (``POST /Tables``);
* ``table-entity``: one row (``/t(PartitionKey='..',RowKey='..')``);
* ``table-query``: a query or listing of rows (``GET /t()``, ``GET /t?$filter=..``);
* ``table-insert``: inserts a row (``POST /t``);
* ``table-batch``: a transaction (``POST /$batch``);
* ``table-service``: anything else on the table service (e.g. listing tables);
* ``container-create`` / ``container``: creates the blob container / any other container request;
* ``blob-list``: lists blobs;
* ``blob``: one blob (read, write, properties, delete, blocks).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

Service = Literal["table", "blob"]

#: The kinds that create something: request paths must never send these.
CREATE_KINDS = frozenset({"table-create", "container-create"})


def request_kind(service: Service, method: str, url: str) -> str:
    """What a storage request addresses (see the module docstring)."""
    parts = urlsplit(url)
    path = unquote(parts.path).rstrip("/")
    last = path.rsplit("/", 1)[-1]
    query = parse_qs(parts.query)
    if service == "table":
        if last.lower() == "tables" or last.lower().startswith("tables("):
            return "table-create" if method == "POST" and last.lower() == "tables" else "table-service"
        if last == "$batch":
            return "table-batch"
        if "PartitionKey=" in last:
            return "table-entity"
        if method == "POST":
            return "table-insert"
        if method == "GET":
            return "table-query"
        return "table-service"
    if query.get("restype") == ["container"]:
        if query.get("comp") == ["list"]:
            return "blob-list"
        return "container-create" if method == "PUT" and "comp" not in query else "container"
    return "blob"


class StorageCallCounter:
    """Counts of the storage requests sent, by ``(method, kind)``; safe to share between clients and threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, service: Service, method: str, url: str) -> None:
        key = (method.upper(), request_kind(service, method.upper(), url))
        with self._lock:
            self._counts[key] += 1

    def policy(self, service: Service) -> CountingPolicy:
        """The policy to install in the ``service`` client's pipeline."""
        return CountingPolicy(self, service)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    @property
    def creates(self) -> int:
        """How many of the requests created a table or the container."""
        with self._lock:
            return sum(n for (_, kind), n in self._counts.items() if kind in CREATE_KINDS)

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> dict[tuple[str, str], int]:
        """Start counting afresh; returns the counts until now."""
        with self._lock:
            counts = dict(self._counts)
            self._counts.clear()
        return counts


class CountingPolicy(SansIOHTTPPolicy[Any, Any]):
    """Records each request an SDK client sends on a :class:`StorageCallCounter`."""

    def __init__(self, counter: StorageCallCounter, service: Service) -> None:
        self._counter = counter
        self._service: Service = service

    def on_request(self, request: PipelineRequest[Any]) -> None:
        http = request.http_request
        self._counter.record(self._service, http.method, http.url)
