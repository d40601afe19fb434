"""The storage call counter: what each Azure storage request is counted as."""

from __future__ import annotations

import pytest

from feed_core.storage.calls import Service, StorageCallCounter, request_kind

TABLES = "http://127.0.0.1:10002/devstoreaccount1"
BLOBS = "http://127.0.0.1:10000/devstoreaccount1"


@pytest.mark.parametrize(
    ("service", "method", "url", "kind"),
    [
        ("table", "POST", f"{TABLES}/Tables", "table-create"),
        ("table", "GET", f"{TABLES}/Tables", "table-service"),
        ("table", "DELETE", f"{TABLES}/Tables('feedorgs')", "table-service"),
        ("table", "GET", f"{TABLES}/feedorgs(PartitionKey='org',RowKey='local')", "table-entity"),
        ("table", "PUT", f"{TABLES}/feedtokens(PartitionKey='h',RowKey='ab%252Fc')", "table-entity"),
        ("table", "GET", f"{TABLES}/feedfeeds()?$filter=PartitionKey%20eq%20'local'", "table-query"),
        ("table", "POST", f"{TABLES}/feedtokens", "table-insert"),
        ("table", "POST", f"{TABLES}/$batch", "table-batch"),
        ("blob", "PUT", f"{BLOBS}/feed-content?restype=container", "container-create"),
        ("blob", "GET", f"{BLOBS}/feed-content?restype=container", "container"),
        ("blob", "GET", f"{BLOBS}/feed-content?restype=container&comp=list&prefix=a", "blob-list"),
        ("blob", "PUT", f"{BLOBS}/feed-content/sha256/ab/cd", "blob"),
        ("blob", "HEAD", f"{BLOBS}/feed-content/sha256/ab/cd", "blob"),
        ("blob", "PUT", f"{BLOBS}/feed-content/k?comp=block&blockid=QQ", "blob"),
    ],
)
def test_each_request_is_counted_as_what_it_addresses(service: Service, method: str, url: str, kind: str) -> None:
    assert request_kind(service, method, url) == kind


def test_the_counter_totals_and_separates_creates_and_starts_afresh() -> None:
    counter = StorageCallCounter()
    counter.record("table", "post", f"{TABLES}/Tables")
    counter.record("blob", "PUT", f"{BLOBS}/c?restype=container")
    counter.record("table", "GET", f"{TABLES}/t(PartitionKey='p',RowKey='r')")
    counter.record("table", "GET", f"{TABLES}/t(PartitionKey='p',RowKey='s')")
    assert counter.total == 4 and counter.creates == 2
    assert counter.reset() == {
        ("POST", "table-create"): 1,
        ("PUT", "container-create"): 1,
        ("GET", "table-entity"): 2,
    }
    assert counter.total == 0 and counter.snapshot() == {}
