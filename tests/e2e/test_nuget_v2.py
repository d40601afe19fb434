"""The real NuGet.exe 5.8 against the feed's v2 (OData) endpoint: push to the v2 source URL, ``list`` on the v3
index (which goes through the index's ``LegacyGallery`` resource) and ``install`` from ``…/nuget/v2``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.e2e.conftest import ORG, FeedEnv
from tests.nuget_client import NuGetFactory, listed, nuget, nuget_exe  # noqa: F401
from tests.nupkg_builder import build_nupkg

pytestmark = pytest.mark.e2e


def test_list_through_v3_and_install_from_v2(feed: FeedEnv, nuget: NuGetFactory, tmp_path: Path) -> None:  # noqa: F811
    base = f"{feed.server.base_url}/{ORG}/_packaging/{feed.name}/nuget"
    v2, index = f"{base}/v2", f"{base}/v3/index.json"
    packages = {
        "V2.Dep.1.0.0": build_nupkg("V2.Dep", "1.0.0"),
        "V2.Dep.1.1.0": build_nupkg("V2.Dep", "1.1.0"),
        "V2.Module.2.0.0": build_nupkg(
            "V2.Module", "2.0.0", tags=["PSModule"], dependencies=[("V2.Dep", "1.0.0")], description="a <module> & co"
        ),
    }
    pusher = nuget(v2, "alice", feed.alice_token)
    for name, data in packages.items():
        path = tmp_path / f"{name}.nupkg"
        path.write_bytes(data)
        pusher.push(path)  # nuget.exe PUTs to the v2 source URL itself

    reader = nuget(index, "bob", feed.bob_token)
    assert listed(reader.list()) == [("V2.Dep", "1.1.0"), ("V2.Module", "2.0.0")]
    everything = reader.list(all_versions=True)
    assert sorted(listed(everything)) == [("V2.Dep", "1.0.0"), ("V2.Dep", "1.1.0"), ("V2.Module", "2.0.0")]

    installer = nuget(v2, "bob", feed.bob_token)
    installer.install("V2.Module", "2.0.0")
    files = {p.parent.name: p.read_bytes() for p in installer.output_dir.glob("*/*.nupkg")}
    assert set(files) == {"V2.Module.2.0.0", "V2.Dep.1.0.0"}  # the dependency's lowest match
    for name, data in files.items():
        assert hashlib.sha512(data).digest() == hashlib.sha512(packages[name]).digest(), name

    # nuget delete on the v2 source unlists (DELETE {v2}/{id}/{version}): list no longer shows it
    pusher.delete("V2.Dep", "1.1.0")
    assert listed(nuget(index, "bob", feed.bob_token).list()) == [("V2.Dep", "1.0.0"), ("V2.Module", "2.0.0")]
