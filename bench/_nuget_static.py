"""A static NuGet v3 source on disk: what a plain file server needs to serve for `nuget install` to work.

    write_static_source(root, "http://127.0.0.1:PORT/", packages)  # then serve root; the source is
                                                                   # http://127.0.0.1:PORT/v3/index.json

The layout: the service index (v3/index.json) with PackageBaseAddress/3.0.0 and every RegistrationsBaseUrl alias
NuGet clients look up; the flat container (v3/flat2/{id}/index.json with the versions, and the .nupkg files); and
one registration index per id (v3/registration/{id}/index.json) with its single page inline, each leaf carrying
the catalog entry (dependencies, listed, packageContent). Ids and versions are lower-case in every path, as
clients ask for them. No search, no publish: a read-only floor to measure the feed against.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PUBLISHED = "2020-01-01T00:00:00+00:00"
REGISTRATION_TYPES = ("RegistrationsBaseUrl", "/3.0.0-beta", "/3.0.0-rc", "/3.4.0", "/3.6.0", "/Versioned")


@dataclass(frozen=True)
class NuGetPackage:
    """One version of one package: its id as written, its (normalized) version, dependencies and file."""

    id: str
    version: str
    dependencies: tuple[tuple[str, str], ...]  # (id, range), e.g. ("Bench.Lib01", "[1.0.0, )")
    nupkg: bytes


def service_index(v3: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [{"@id": f"{v3}flat2/", "@type": "PackageBaseAddress/3.0.0"}]
    for suffix in REGISTRATION_TYPES:
        kind = suffix if not suffix.startswith("/") else f"RegistrationsBaseUrl{suffix}"
        resource: dict[str, Any] = {"@id": f"{v3}registration/", "@type": kind}
        if suffix == "/Versioned":
            resource["clientVersion"] = "4.3.0-alpha"
        resources.append(resource)
    return {"version": "3.0.0", "resources": resources}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def registration_index(v3: str, versions: Sequence[NuGetPackage]) -> dict[str, Any]:
    """One id's registration index, its one page inline (as the public gallery does for few versions)."""
    lid = versions[0].id.lower()
    base = f"{v3}registration/{lid}/"
    leaves = []
    for p in versions:
        content = f"{v3}flat2/{lid}/{p.version}/{lid}.{p.version}.nupkg"
        entry = {
            "@id": f"{base}{p.version}.json#catalog",
            "@type": "PackageDetails",
            "id": p.id,
            "version": p.version,
            "authors": "bench",
            "description": f"benchmark package {p.id}",
            "listed": True,
            "published": PUBLISHED,
            "packageContent": content,
            "dependencyGroups": [
                {
                    "dependencies": [
                        {"id": d, "range": r, "registration": f"{v3}registration/{d.lower()}/index.json"}
                        for d, r in p.dependencies
                    ]
                }
            ]
            if p.dependencies
            else [],
        }
        leaves.append(
            {
                "@id": f"{base}{p.version}.json",
                "@type": "Package",
                "catalogEntry": entry,
                "packageContent": content,
                "registration": f"{base}index.json",
            }
        )
    lower, upper = versions[0].version, versions[-1].version
    page = {
        "@id": f"{base}index.json#page/{lower}/{upper}",
        "@type": "catalog:CatalogPage",
        "count": len(leaves),
        "lower": lower,
        "upper": upper,
        "parent": f"{base}index.json",
        "items": leaves,
    }
    return {
        "@id": f"{base}index.json",
        "@type": ["catalog:CatalogRoot", "PackageRegistration", "catalog:Permalink"],
        "count": 1,
        "items": [page],
    }


def write_static_source(root: Path, base_url: str, packages: Sequence[NuGetPackage]) -> str:
    """Write the layout under root (served at base_url, which ends with '/'); returns the source URL."""
    v3 = f"{base_url}v3/"
    by_id: dict[str, list[NuGetPackage]] = {}
    for p in packages:
        by_id.setdefault(p.id.lower(), []).append(p)
    (root / "v3").mkdir(parents=True, exist_ok=True)
    (root / "v3" / "index.json").write_text(json.dumps(service_index(v3), indent=1))
    for lid, versions in by_id.items():
        versions.sort(key=lambda p: _version_key(p.version))
        flat = root / "v3" / "flat2" / lid
        for p in versions:
            (flat / p.version).mkdir(parents=True, exist_ok=True)
            (flat / p.version / f"{lid}.{p.version}.nupkg").write_bytes(p.nupkg)
        (flat / "index.json").write_text(json.dumps({"versions": [p.version for p in versions]}))
        registration = root / "v3" / "registration" / lid
        registration.mkdir(parents=True, exist_ok=True)
        (registration / "index.json").write_text(json.dumps(registration_index(v3, versions)))
    return f"{v3}index.json"
