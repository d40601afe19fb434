"""The NuGet v3 documents: service index, flat-container listing, registrations (index, pages, leaves,
catalog entries) and search results, rendered from version records.

A NuGet version's ``manifest`` is its catalog entry without the URLs (``id``, ``version`` in full,
``authors``, ``description``, ``tags``, ``dependencyGroups`` ... as the registration resource spells
them, plus ``packageTypes`` and ``isSemVer2``): what a push reads from the .nuspec
(:func:`manifest_of`), and what an upstream's own catalog entry gives.
Records are keyed by the lower-case id and the lower-case normalized version. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from feed_core.domain.errors import BadRequestError
from feed_core.domain.models import PackageVersion
from feed_core.domain.nuget_package import Nuspec
from feed_core.domain.nuget_versions import NuGetVersion, parse_version

#: The public gallery's layout: every version inline up to this many, else pages fetched by their @id.
INLINE_MAX = 128
PAGE_SIZE = 64

#: Registration hives: the SemVer 1 one hides SemVer 2 versions (older clients cannot parse them).
SEMVER1_HIVE = "registrations"
SEMVER2_HIVE = "registrations-semver2"
HIVES = (SEMVER1_HIVE, SEMVER2_HIVE)


@dataclass(frozen=True)
class Urls:
    """The absolute URLs of one feed's (or view's) v3 resources; ``v3`` ends with ``/nuget/v3/``."""

    v3: str

    @property
    def v2(self) -> str:
        return self.v3.removesuffix("v3/") + "v2"

    @property
    def flat(self) -> str:
        return f"{self.v3}flat2/"

    def hive(self, hive: str) -> str:
        return f"{self.v3}{hive}/"

    def content(self, name: str, number: str) -> str:
        return f"{self.flat}{_seg(name)}/{_seg(number)}/{_seg(name)}.{_seg(number)}.nupkg"

    def registration(self, hive: str, name: str) -> str:
        return f"{self.hive(hive)}{_seg(name)}/index.json"

    def page(self, hive: str, name: str, lower: str, upper: str) -> str:
        return f"{self.hive(hive)}{_seg(name)}/page/{_seg(lower)}/{_seg(upper)}.json"

    def leaf(self, hive: str, name: str, number: str) -> str:
        return f"{self.hive(hive)}{_seg(name)}/{_seg(number)}.json"

    def catalog(self, name: str, number: str) -> str:
        return f"{self.v3}catalog/{_seg(name)}/{_seg(number)}.json"


def _seg(text: str) -> str:
    """``text`` as one path segment: a ``/`` (or ``?``, ``#``) in an id or version from a hostile document
    must not lead the client elsewhere."""
    return quote(text, safe="")


def service_index(urls: Urls) -> dict[str, Any]:
    """Every resource this feed serves, each ``@type`` a client looks up mapped to one of our URLs."""
    semver1, semver2 = urls.hive(SEMVER1_HIVE), urls.hive(SEMVER2_HIVE)
    query, autocomplete = f"{urls.v3}query", f"{urls.v3}autocomplete"
    resources: list[dict[str, Any]] = [
        _resource(f"{urls.v3}package", "PackagePublish/2.0.0", "push (PUT), unlist (DELETE) and relist (POST)"),
        _resource(f"{urls.v3}symbolpackage", "SymbolPackagePublish/4.9.0", "push of .snupkg symbol packages"),
        _resource(urls.flat, "PackageBaseAddress/3.0.0", "version lists and package content"),
        _resource(semver1, "RegistrationsBaseUrl", "metadata, SemVer 1.0.0 versions only"),
        _resource(semver1, "RegistrationsBaseUrl/3.0.0-beta", "metadata, SemVer 1.0.0 versions only"),
        _resource(semver1, "RegistrationsBaseUrl/3.0.0-rc", "metadata, SemVer 1.0.0 versions only"),
        _resource(semver1, "RegistrationsBaseUrl/3.4.0", "metadata, SemVer 1.0.0 versions only"),
        _resource(semver2, "RegistrationsBaseUrl/3.6.0", "metadata, SemVer 2.0.0 versions included"),
        # As the public gallery does: clients from 4.3.0 on prefer this entry, and they understand SemVer 2.
        {
            **_resource(semver2, "RegistrationsBaseUrl/Versioned", "metadata, SemVer 2.0.0"),
            "clientVersion": "4.3.0-alpha",
        },
    ]
    for suffix in ("", "/3.0.0-beta", "/3.0.0-rc", "/3.5.0"):
        resources.append(_resource(query, f"SearchQueryService{suffix}", "search over listed packages"))
        resources.append(_resource(autocomplete, f"SearchAutocompleteService{suffix}", "ids and versions"))
    resources.append(_resource(urls.v2, "LegacyGallery/2.0.0", "the v2 (OData) API, for nuget list"))
    return {"version": "3.0.0", "resources": resources}


def _resource(url: str, kind: str, comment: str) -> dict[str, Any]:
    return {"@id": url, "@type": kind, "comment": comment}


def manifest_of(spec: Nuspec) -> dict[str, Any]:
    """A pushed package's manifest: its catalog entry without URLs, plus ``keywords`` (its tags) for the search
    index. Dependency ranges are normalized (``1.0`` is ``[1.0.0, )``); a dependency without one has none."""
    text = {
        "title": spec.title,
        "summary": spec.summary,
        "authors": spec.authors,
        "owners": spec.owners,
        "projectUrl": spec.project_url,
        "licenseUrl": spec.license_url,
        "licenseExpression": spec.license_expression,
        "iconUrl": spec.icon_url,
        "releaseNotes": spec.release_notes,
        "copyright": spec.copyright,
        "language": spec.language,
        "minClientVersion": spec.min_client_version,
    }
    return {
        "id": spec.id,
        "version": spec.version.full,
        "description": spec.description,
        **{key: value for key, value in text.items() if value},
        "tags": list(spec.tags),
        "keywords": list(spec.tags),
        "requireLicenseAcceptance": spec.require_license_acceptance,
        "dependencyGroups": [
            {
                **({"targetFramework": group.target_framework} if group.target_framework else {}),
                "dependencies": [
                    {"id": dep.id, **({"range": dep.range.normalized} if dep.range is not None else {})}
                    for dep in group.dependencies
                ],
            }
            for group in spec.dependency_groups
        ],
        "packageTypes": [{"name": name} for name in spec.package_types],
        "isSemVer2": spec.is_semver2,
    }


# --- versions ---------------------------------------------------------------------------------------


def nuget_version(v: PackageVersion) -> NuGetVersion:
    """The record's version, parsed; its full spelling (with build metadata) comes from the manifest."""
    full = v.manifest.get("version")
    try:
        return parse_version(full if isinstance(full, str) and full else v.version)
    except BadRequestError:
        return parse_version(v.version)


def sort_versions(versions: Iterable[PackageVersion]) -> list[PackageVersion]:
    """Ascending NuGet precedence; records whose number is not a NuGet version are dropped."""
    keyed = []
    for v in versions:
        try:
            keyed.append((parse_version(v.version), v))
        except BadRequestError:
            continue
    keyed.sort(key=lambda pair: pair[0])
    return [v for _, v in keyed]


def is_listed(v: PackageVersion) -> bool:
    return v.unlisted is None


def is_semver2(v: PackageVersion) -> bool:
    """SemVer 2: the version itself, or (as the manifest records it from the .nuspec) a dependency bound."""
    flag = v.manifest.get("isSemVer2")
    return flag if isinstance(flag, bool) else nuget_version(v).is_semver2


def is_prerelease(v: PackageVersion) -> bool:
    return nuget_version(v).is_prerelease


def in_hive(versions: list[PackageVersion], hive: str) -> list[PackageVersion]:
    return versions if hive == SEMVER2_HIVE else [v for v in versions if not is_semver2(v)]


def package_types(v: PackageVersion) -> list[str]:
    kinds = v.manifest.get("packageTypes")
    names = [str(k.get("name")) for k in kinds if isinstance(k, dict) and k.get("name")] if kinds else []
    return names or ["Dependency"]


def display_id(name: str, versions: list[PackageVersion]) -> str:
    """The id as first pushed (or saved): its casing is what searches and registrations show."""
    first = min(versions, key=lambda v: v.published or "~", default=None)
    shown = first.manifest.get("id") if first is not None else None
    return shown if isinstance(shown, str) and shown.lower() == name else name


def sha512_base64(v: PackageVersion) -> str:
    """The package's SHA-512 as the catalog's ``packageHash`` (base64), when it is known."""
    return v.sha512_integrity.removeprefix("sha512-") if v.sha512_integrity.startswith("sha512-") else ""


# --- registrations ----------------------------------------------------------------------------------

_TEXT_FIELDS = (
    "authors",
    "description",
    "iconUrl",
    "language",
    "licenseUrl",
    "licenseExpression",
    "minClientVersion",
    "projectUrl",
    "readmeUrl",
    "summary",
    "title",
    "copyright",
    "releaseNotes",
)


def catalog_entry(v: PackageVersion, urls: Urls, hive: str, shown_id: str) -> dict[str, Any]:
    m = v.manifest
    entry: dict[str, Any] = {
        "@id": urls.catalog(v.name, v.version),
        "@type": "PackageDetails",
        "id": shown_id,
        "version": nuget_version(v).full,
    }
    for key in _TEXT_FIELDS:
        value = m.get(key)
        if isinstance(value, str) and value:
            entry[key] = value
    tags = m.get("tags")
    entry["tags"] = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
    entry["requireLicenseAcceptance"] = m.get("requireLicenseAcceptance") is True
    entry["listed"] = is_listed(v)
    entry["published"] = v.published
    entry["packageContent"] = urls.content(v.name, v.version)
    entry["dependencyGroups"] = dependency_groups(m.get("dependencyGroups"), urls, hive)
    entry["packageTypes"] = [{"name": name} for name in package_types(v)]
    deprecation = _deprecation(v)
    if deprecation is not None:
        entry["deprecation"] = deprecation
    vulnerabilities = m.get("vulnerabilities")
    if isinstance(vulnerabilities, list) and vulnerabilities:
        entry["vulnerabilities"] = vulnerabilities
    digest = sha512_base64(v)
    if digest:
        entry["packageHash"] = digest
        entry["packageHashAlgorithm"] = "SHA512"
    if v.size:
        entry["packageSize"] = v.size
    return entry


def dependency_groups(groups: object, urls: Urls, hive: str) -> list[dict[str, Any]]:
    """The manifest's groups with a ``registration`` link on each dependency, into the same hive."""
    out: list[dict[str, Any]] = []
    for group in groups if isinstance(groups, list) else []:
        if not isinstance(group, dict):
            continue
        rendered: dict[str, Any] = {}
        framework = group.get("targetFramework")
        if isinstance(framework, str) and framework:
            rendered["targetFramework"] = framework
        deps = []
        for dep in group.get("dependencies") or []:
            if not isinstance(dep, dict) or not isinstance(dep.get("id"), str):
                continue
            item: dict[str, Any] = {"id": dep["id"]}
            if isinstance(dep.get("range"), str) and dep["range"]:
                item["range"] = dep["range"]
            item["registration"] = urls.registration(hive, dep["id"].lower())
            deps.append(item)
        rendered["dependencies"] = deps
        out.append(rendered)
    return out


def _deprecation(v: PackageVersion) -> dict[str, Any] | None:
    """An upstream's structured deprecation as it gave it, else the feed's own message (reason ``Other``)."""
    given = v.manifest.get("deprecation")
    if isinstance(given, dict) and isinstance(given.get("reasons"), list) and given["reasons"]:
        return given
    if v.deprecated:
        return {"reasons": ["Other"], "message": v.deprecated}
    return None


def leaf_in_page(v: PackageVersion, urls: Urls, hive: str, shown_id: str) -> dict[str, Any]:
    return {
        "@id": urls.leaf(hive, v.name, v.version),
        "@type": "Package",
        "catalogEntry": catalog_entry(v, urls, hive, shown_id),
        "packageContent": urls.content(v.name, v.version),
        "registration": urls.registration(hive, v.name),
    }


def pages_of(versions: list[PackageVersion]) -> list[list[PackageVersion]]:
    """``versions`` (ascending) cut into pages of ``PAGE_SIZE``."""
    return [versions[i : i + PAGE_SIZE] for i in range(0, len(versions), PAGE_SIZE)]


def page_bounds(page: list[PackageVersion]) -> tuple[str, str]:
    return page[0].version, page[-1].version


def registration_page(
    name: str, page: list[PackageVersion], urls: Urls, hive: str, shown_id: str, *, inline: bool
) -> dict[str, Any]:
    lower, upper = page_bounds(page)
    doc: dict[str, Any] = {
        "@id": urls.page(hive, name, lower, upper),
        "@type": "catalog:CatalogPage",
        "count": len(page),
        "lower": nuget_version(page[0]).normalized,
        "upper": nuget_version(page[-1]).normalized,
        "parent": urls.registration(hive, name),
    }
    if inline:
        doc["items"] = [leaf_in_page(v, urls, hive, shown_id) for v in page]
    return doc


def registration_index(name: str, versions: list[PackageVersion], urls: Urls, hive: str) -> dict[str, Any]:
    """The index of one id: pages inline while there are at most ``INLINE_MAX`` versions."""
    shown_id = display_id(name, versions)
    inline = len(versions) <= INLINE_MAX
    pages = [registration_page(name, p, urls, hive, shown_id, inline=inline) for p in pages_of(versions)]
    return {
        "@id": urls.registration(hive, name),
        "@type": ["catalog:CatalogRoot", "PackageRegistration", "catalog:Permalink"],
        "count": len(pages),
        "items": pages,
    }


def leaf_document(v: PackageVersion, urls: Urls, hive: str) -> dict[str, Any]:
    return {
        "@id": urls.leaf(hive, v.name, v.version),
        "@type": ["Package", "http://schema.nuget.org/catalog#Permalink"],
        "catalogEntry": urls.catalog(v.name, v.version),
        "listed": is_listed(v),
        "packageContent": urls.content(v.name, v.version),
        "published": v.published,
        "registration": urls.registration(hive, v.name),
    }


# --- search ------------------------------------------------------------------------------------------


def search_result(
    name: str, shown: list[PackageVersion], every: list[PackageVersion], urls: Urls, hive: str
) -> dict[str, Any]:
    """One package in a search answer: ``shown`` (ascending, non-empty) are the versions the query admits,
    the last of them the one described; ``every`` gives the id's display casing."""
    latest = shown[-1]
    m = latest.manifest
    shown_id = display_id(name, every)
    tags = m.get("tags")
    authors = m.get("authors")
    result: dict[str, Any] = {
        "@id": urls.registration(hive, name),
        "@type": "Package",
        "registration": urls.registration(hive, name),
        "id": shown_id,
        "version": nuget_version(latest).full,
        "description": _text(m.get("description")),
        "summary": _text(m.get("summary")),
        "title": _text(m.get("title")) or shown_id,
        "iconUrl": _text(m.get("iconUrl")),
        "licenseUrl": _text(m.get("licenseUrl")),
        "projectUrl": _text(m.get("projectUrl")),
        "tags": [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
        "authors": [a.strip() for a in authors.split(",") if a.strip()] if isinstance(authors, str) else [],
        "owners": [],
        "totalDownloads": 0,
        "verified": False,
        "packageTypes": [{"name": kind} for kind in package_types(latest)],
        "versions": [
            {"version": nuget_version(v).full, "downloads": 0, "@id": urls.leaf(hive, name, v.version)} for v in shown
        ],
    }
    deprecation = _deprecation(latest)
    if deprecation is not None:
        result["deprecation"] = deprecation
    return result


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def flat_listing(versions: list[PackageVersion]) -> dict[str, Any]:
    return {"versions": [v.version for v in versions]}
