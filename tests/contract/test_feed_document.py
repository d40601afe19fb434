"""A feed document written before upstream sources were typed still loads, keeps working, and is written back
in the same shape (the feed table is never migrated)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from feed_core.api.upstream_shapes import upstream_source_response
from feed_core.domain.credentials import Credentials, PlaintextCredentials
from feed_core.domain.source_models import CustomSource, InternalSource, StatusDetail
from feed_core.storage.catalog import FEEDS, Catalog
from feed_core.storage.credential_cipher import CredentialCipher, parse_key
from feed_core.storage.embedded import EmbeddedTableStore
from feed_core.storage.ports import Entity

KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#: Written by the code from before typed sources (commit 6a9dfc5) with ``KEY``: a configured public source, a
#: custom one with a token, a disabled one with basic credentials, an internal one, and (by hand, as versions
#: from before encryption at rest wrote it) one with plaintext credentials.
OLD_DOCUMENT = r"""
{
    "id": "4c9d6f24-2e0b-4f7d-8931-6a1b2c3d4e5f",
    "org": "contoso",
    "project": null,
    "name": "web",
    "description": "",
    "upstreamEnabled": true,
    "upstreamSources": [
        {
            "id": "0f6c2b0e-1b7e-4d55-9a51-3c1e3f8f0a01",
            "name": "npmjs",
            "protocol": "npm",
            "upstreamSourceType": "public",
            "location": "https://registry.example/",
            "displayLocation": "https://registry.example/",
            "status": "ok",
            "statusDetails": [],
            "deletedDate": null,
            "serviceEndpointId": null,
            "internalUpstreamCollectionId": null,
            "internalUpstreamProjectId": null,
            "internalUpstreamFeedId": null,
            "internalUpstreamViewId": null,
            "minimumReleaseAgeHours": null
        },
        {
            "id": "0f6c2b0e-1b7e-4d55-9a51-3c1e3f8f0a02",
            "name": "corp",
            "protocol": "npm",
            "upstreamSourceType": "public",
            "location": "https://npm.corp.example/registry/",
            "displayLocation": "https://npm.corp.example/registry/",
            "status": "ok",
            "statusDetails": [],
            "deletedDate": null,
            "serviceEndpointId": null,
            "internalUpstreamCollectionId": null,
            "internalUpstreamProjectId": null,
            "internalUpstreamFeedId": null,
            "internalUpstreamViewId": null,
            "minimumReleaseAgeHours": 48.0,
            "credentials": {
                "alg": "A256GCM",
                "kid": "37776050f3f1cbc8",
                "nonce": "rvXT4p0oHrg4cHv6",
                "ct": "EKUznUM4+EhuS91nY850Wsfvy4tUp3hF4N9WmHt9bMmQMI/O9e8="
            }
        },
        {
            "id": "0f6c2b0e-1b7e-4d55-9a51-3c1e3f8f0a03",
            "name": "pycorp",
            "protocol": "pypi",
            "upstreamSourceType": "public",
            "location": "https://py.corp.example/simple/",
            "displayLocation": "https://py.corp.example/simple/",
            "status": "disabled",
            "statusDetails": [
                {
                    "reason": "copied from another feed"
                }
            ],
            "deletedDate": null,
            "serviceEndpointId": "ep-1",
            "internalUpstreamCollectionId": null,
            "internalUpstreamProjectId": null,
            "internalUpstreamFeedId": null,
            "internalUpstreamViewId": null,
            "minimumReleaseAgeHours": null,
            "credentials": {
                "alg": "A256GCM",
                "kid": "37776050f3f1cbc8",
                "nonce": "Oh+3UZyyqbieBiXO",
                "ct": "+K5Che96fkuaB3Z4jysfCHuGbMItsg4FBk2OB8XodV7jjY2EU/2T4z78ndrxuvgGf0kUH6aCpoBBBPQ="
            }
        },
        {
            "id": "0f6c2b0e-1b7e-4d55-9a51-3c1e3f8f0a04",
            "name": "shared@Release",
            "protocol": "npm",
            "upstreamSourceType": "internal",
            "location": "azure-feed://contoso/shared@Release",
            "displayLocation": "azure-feed://contoso/shared@Release",
            "status": "ok",
            "statusDetails": [],
            "deletedDate": null,
            "serviceEndpointId": null,
            "internalUpstreamCollectionId": "contoso",
            "internalUpstreamProjectId": null,
            "internalUpstreamFeedId": "5d0e7a35-3f0c-4a8e-8a42-7b2d3c4e5f60",
            "internalUpstreamViewId": "6e1f8b46-4a1d-4b9f-9b53-8c3e4d5f6a71",
            "minimumReleaseAgeHours": null
        },
        {
            "id": "0f6c2b0e-1b7e-4d55-9a51-3c1e3f8f0a05",
            "name": "legacy",
            "protocol": "npm",
            "upstreamSourceType": "public",
            "location": "https://legacy.example/npm/",
            "displayLocation": "https://legacy.example/npm/",
            "status": "ok",
            "statusDetails": [],
            "deletedDate": null,
            "serviceEndpointId": null,
            "internalUpstreamCollectionId": null,
            "internalUpstreamProjectId": null,
            "internalUpstreamFeedId": null,
            "internalUpstreamViewId": null,
            "minimumReleaseAgeHours": null,
            "credentials": {
                "token": "legacy-plain-token"
            }
        }
    ],
    "views": [
        {
            "id": "7f2a9c57-5b2e-4ca0-8c64-9d4f5e6a7b82",
            "name": "Local",
            "type": "implicit",
            "visibility": "private"
        }
    ],
    "permissions": [
        {
            "user": "admin",
            "role": "administrator"
        }
    ],
    "hideDeletedPackageVersions": true,
    "badgesEnabled": false,
    "allowUpstreamNameConflict": false,
    "minimumReleaseAgeHours": null,
    "minimumReleaseAgeExemptions": [],
    "defaultViewId": "7f2a9c57-5b2e-4ca0-8c64-9d4f5e6a7b82",
    "created": "2026-01-02T03:04:05Z",
    "deletedDate": null,
    "purging": null
}
"""
SOURCE_KEYS = {
    "id",
    "name",
    "protocol",
    "upstreamSourceType",
    "location",
    "displayLocation",
    "status",
    "statusDetails",
    "deletedDate",
    "serviceEndpointId",
    "internalUpstreamCollectionId",
    "internalUpstreamProjectId",
    "internalUpstreamFeedId",
    "internalUpstreamViewId",
    "minimumReleaseAgeHours",
}


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[tuple[Catalog, EmbeddedTableStore]]:
    tables = EmbeddedTableStore(tmp_path / "db.sqlite3")
    doc = json.loads(OLD_DOCUMENT)
    await tables.insert(FEEDS, Entity("contoso", "name::web", {"id": doc["id"]}))
    await tables.insert(FEEDS, Entity("contoso", f"id:{doc['id']}", {"doc": json.dumps(doc, separators=(",", ":"))}))
    yield Catalog(tables, CredentialCipher(parse_key(KEY, "FEED_CREDENTIALS_KEY"))), tables
    await tables.close()


async def test_an_old_document_loads_as_typed_sources(catalog: tuple[Catalog, EmbeddedTableStore]) -> None:
    feed = await catalog[0].find_feed("contoso", None, "web")
    assert feed is not None
    npmjs, corp, pycorp, shared, legacy = feed.upstream_sources
    # external sources written before the kind was stored are custom ones: they work alike
    kinds = [CustomSource, CustomSource, CustomSource, InternalSource, CustomSource]
    assert [type(s) for s in feed.upstream_sources] == kinds
    assert npmjs.location == "https://registry.example/" and npmjs.credentials is None and npmjs.status == "ok"
    assert corp.credentials == Credentials(token="tok-secret") and corp.minimum_release_age_hours == 48.0
    assert pycorp.credentials == Credentials(username="build", password="pw-secret")
    assert pycorp.status == "disabled" and pycorp.status_details == (StatusDetail(reason="copied from another feed"),)
    assert pycorp.service_endpoint_id == "ep-1" and pycorp.protocol == "pypi"
    assert isinstance(shared, InternalSource) and shared.internal_upstream_collection_id == "contoso"
    assert shared.internal_upstream_feed_id == "5d0e7a35-3f0c-4a8e-8a42-7b2d3c4e5f60"
    assert shared.internal_upstream_view_id == "6e1f8b46-4a1d-4b9f-9b53-8c3e4d5f6a71"
    assert legacy.credentials == PlaintextCredentials(token="legacy-plain-token")
    # the API shows them as before
    shown = [upstream_source_response(s).model_dump(by_alias=True, mode="json") for s in feed.upstream_sources]
    for old, new in zip(json.loads(OLD_DOCUMENT)["upstreamSources"], shown, strict=True):
        same = SOURCE_KEYS - {"status", "statusDetails"}  # shown as the health of a source, not as stored
        assert {k: new[k] for k in same} == {k: old[k] for k in same}
        assert new["hasCredentials"] is ("credentials" in old)
    assert [s["status"] for s in shown] == ["unknown", "unknown", "disabled", "unknown", "unknown"]


async def test_an_old_document_is_written_back_in_the_same_shape(catalog: tuple[Catalog, EmbeddedTableStore]) -> None:
    cat, tables = catalog
    feed = await cat.find_feed("contoso", None, "web")
    assert feed is not None
    await cat.update_feed(feed)
    entity = await tables.get(FEEDS, "contoso", f"id:{feed.id}")
    assert entity is not None
    written, old = json.loads(entity.get_str("doc")), json.loads(OLD_DOCUMENT)
    assert {k: v for k, v in written.items() if k != "upstreamSources"} == {
        k: v for k, v in old.items() if k != "upstreamSources"
    }
    for before, after in zip(old["upstreamSources"], written["upstreamSources"], strict=True):
        assert set(after) - set(before) == {"sourceKind"} and set(before) - set(after) == set()
        assert {k: after[k] for k in SOURCE_KEYS} == {k: before[k] for k in SOURCE_KEYS}
        if "credentials" in before:
            assert set(after["credentials"]) == {"alg", "kid", "nonce", "ct"}  # sealed, the legacy plaintext too
    assert "legacy-plain-token" not in entity.get_str("doc")
    again = await cat.find_feed("contoso", None, "web")
    sealed = feed.upstream_sources[4].model_copy(update={"credentials": Credentials(token="legacy-plain-token")})
    assert again is not None and again.upstream_sources == [*feed.upstream_sources[:4], sealed]
