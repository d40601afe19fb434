"""A worker keeps its last resolutions under the lookup's fingerprint: a second request for the same package in the
same state resolves nothing again, and any change to what a resolution depends on makes a new one."""

from __future__ import annotations

from typing import Any

import pytest

from feed_core.service.resolve import Resolver
from tests.api.conftest import Api

ABBREVIATED = {"Accept": "application/vnd.npm.install-v1+json"}


@pytest.fixture
def resolutions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names resolved from scratch, in order."""
    made: list[str] = []
    resolve = Resolver._resolve

    async def counted(self: Resolver, lookup: Any, now: Any) -> Any:
        made.append(lookup.name)
        return await resolve(self, lookup, now)

    monkeypatch.setattr(Resolver, "_resolve", counted)
    return made


async def test_a_resolution_is_reused_until_the_package_changes(feed_api: Api, resolutions: list[str]) -> None:
    api = feed_api
    assert (await api.publish("kept", "1.0.0")).status_code == 201
    registry = api.registry()
    first = await api.http.get(f"{registry}kept", headers=api.auth())
    assert first.status_code == 200 and list(first.json()["versions"]) == ["1.0.0"]
    assert resolutions == ["kept"]
    # Another document of the same package in the same state (abbreviated, then one version): no second pass.
    assert (await api.http.get(f"{registry}kept", headers={**api.auth(), **ABBREVIATED})).status_code == 200
    assert (await api.http.get(f"{registry}kept/1.0.0", headers=api.auth())).status_code == 200
    assert resolutions == ["kept"]
    # A reader's lookup differs (it may not save): resolved on its own.
    assert (await api.http.get(f"{registry}kept", headers=api.auth("bob"))).status_code == 200
    assert resolutions == ["kept", "kept"]
    # A publish changes the package's revision: the next request resolves it afresh and sees the new version.
    assert (await api.publish("kept", "1.1.0")).status_code == 201
    again = await api.http.get(f"{registry}kept/1.1.0", headers=api.auth())
    assert again.status_code == 200 and again.json()["version"] == "1.1.0"
    assert resolutions == ["kept", "kept", "kept"]
