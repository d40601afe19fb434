"""What the package page shows, gathered from the services: the package's versions as this caller may see them
(held, and for collaborators what upstreams offer), what the feed holds back and why, one version's dependencies
and readme. Templates only print it.

Names and numbers from the URL are checked and normalized by each protocol's own rules first (as the REST API
does), so a malformed one is a 400 and the stored spelling is what every read uses.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feed_core.domain import upack
from feed_core.domain.access import caller_role, require_role
from feed_core.domain.cargo_names import validate_crate_name
from feed_core.domain.cargo_versions import validate_crate_version
from feed_core.domain.clock import iso
from feed_core.domain.errors import BadRequestError, FeedError, NotFoundError
from feed_core.domain.maven_layout import validate_artifact_id, validate_group_id, validate_version
from feed_core.domain.maven_pom import PomError, read_dependencies
from feed_core.domain.models import Caller, Feed, PackageVersion, View
from feed_core.domain.names import parse_npm_name
from feed_core.domain.nuget_versions import lower_id, parse_version, validate_id
from feed_core.domain.python_dist import canonical_version, normalize_name, read_core_metadata, validate_project_name
from feed_core.domain.roles import Role
from feed_core.domain.upstream_rules import Behaviour
from feed_core.domain.version_order import ascending
from feed_core.service.container import Services
from feed_core.service.resolve import Resolution, Withheld
from feed_core.storage.packages import content_key
from feed_core.ui.readme import Readme, plain, readme_of

PROTOCOLS = ("npm", "pypi", "nuget", "maven", "cargo", "upack")
PROTOCOL_LABELS = {
    "npm": "npm",
    "pypi": "Python",
    "nuget": "NuGet",
    "maven": "Maven",
    "cargo": "Cargo",
    "upack": "Universal",
}
#: Versions listed per page of the versions tab.
PAGE_SIZE = 100
#: Dependencies listed at most (a manifest may declare thousands).
MAX_DEPENDENCIES = 500
#: A core metadata file larger than this is not read for its description.
MAX_METADATA_BYTES = 2 * 1024 * 1024


def _checked(check: Callable[[str], str], text: str) -> str:
    try:
        return check(text)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None


def stored_name(protocol: str, text: str) -> str:
    """The package name as the feed stores it (see ``api.rest._package_name``); a 400 when malformed."""
    if protocol == "npm":
        return parse_npm_name(text).full
    if protocol == "pypi":
        return normalize_name(validate_project_name(text))
    if protocol == "nuget":
        return lower_id(validate_id(text))
    if protocol == "maven":
        group_id, sep, artifact_id = text.rpartition(":")
        if not sep:
            raise BadRequestError(f"a Maven package is named groupId:artifactId, not {text[:100]!r}")
        return f"{_checked(validate_group_id, group_id)}:{_checked(validate_artifact_id, artifact_id)}"
    if protocol == "upack":
        return upack.check_name(text)
    return _checked(validate_crate_name, text).lower()


def version_number(protocol: str, text: str) -> str:
    """A version number as the feed stores it (see ``api.rest._version_number``); a 400 when malformed."""
    if not text or len(text) > 256:
        raise BadRequestError("name a version of at most 256 characters")
    if protocol == "pypi":
        return canonical_version(text)
    if protocol == "nuget":
        return parse_version(text).lower
    if protocol == "maven":
        return _checked(validate_version, text)
    if protocol == "cargo":
        return _checked(validate_crate_version, text)
    if protocol == "upack":
        return upack.check_version(text)
    return text


@dataclass(frozen=True)
class VersionRow:
    """One version as the versions tab shows it."""

    record: PackageVersion
    saved: bool  # held by the feed; ``False``: an upstream offers it and nobody saved it yet
    views: list[str]
    chain: list[str]  # where it came from, immediate source first; empty: published to this feed
    states: list[str]  # deprecated, yanked, unlisted, upstream-removed, deleted... in words
    latest: bool

    @property
    def number(self) -> str:
        return self.record.version

    @property
    def live(self) -> bool:
        return self.saved and self.record.deleted is None

    @property
    def when(self) -> str:
        """When it was published to this feed, or saved from its upstream."""
        saved_at = self.record.provenance.get("fetchedAt")
        return str(saved_at) if isinstance(saved_at, str) and saved_at else self.record.published

    @property
    def saved_by(self) -> str:
        by = self.record.provenance.get("savedBy")
        return str(by) if isinstance(by, str) and by else self.record.publisher

    @property
    def hashes(self) -> list[tuple[str, str]]:
        """The digests the feed verified and stores, strongest first."""
        out = []
        if self.record.sha512_integrity:
            out.append(("sha512", self.record.sha512_integrity))
        if self.record.sha256:
            out.append(("sha256", self.record.sha256))
        return out

    @property
    def provenance(self) -> list[tuple[str, str]]:
        """What the feed recorded about the save, in words (for a version saved from an upstream)."""
        p = self.record.provenance
        fields = (
            ("Fetched from", p.get("url")),
            ("Saved at", p.get("fetchedAt")),
            ("Saved by", p.get("savedBy")),
            ("Verified with", p.get("verifiedWith")),
            ("Published upstream", p.get("originalPublished")),
            ("Upstream no longer lists it since", p.get("upstreamRemoved")),
            ("Upstream declares other bytes since", p.get("upstreamChanged")),
        )
        return [(label, str(value)[:500]) for label, value in fields if isinstance(value, str) and value]


@dataclass(frozen=True)
class Dependency:
    group: str
    name: str
    requirement: str


@dataclass
class PackagePage:
    feed: Feed
    view: View
    protocol: str
    name: str
    role: Role
    behaviour: Behaviour
    versions: list[VersionRow]  # newest first
    withheld: list[Withheld]
    not_asked: list[str]  # upstreams not asked about a private name
    private: bool  # the feed holds versions published here (so external versions are blocked under Auto)
    notice: str | None  # for readers: versions upstreams offer that nobody saved yet
    upstream_errors: list[str] = field(default_factory=list)

    @property
    def display_name(self) -> str:
        """The name as its publisher spelled it where the feed keeps a lower-case key (NuGet ids)."""
        if self.protocol == "nuget":
            for row in self.versions:
                shown = row.record.manifest.get("id")
                if isinstance(shown, str) and shown.lower() == self.name:
                    return shown
        return self.name

    @property
    def may_see_upstream(self) -> bool:
        return self.role >= Role.COLLABORATOR

    @property
    def latest(self) -> VersionRow | None:
        live = [r for r in self.versions if r.record.deleted is None]
        return next((r for r in live if r.latest), live[0] if live else None)

    def row(self, number: str) -> VersionRow | None:
        return next((r for r in self.versions if r.number == number), None)


def _states(protocol: str, v: PackageVersion, saved: bool) -> list[str]:
    states = []
    if not saved:
        states.append("not saved yet")
    if v.deleted:
        states.append(f"deleted {v.deleted[:10]}")
    if v.deprecated:
        states.append(f"deprecated: {v.deprecated[:300]}")
    yanked = [f.get("yanked") for f in v.files if isinstance(f.get("yanked"), str)]
    if yanked:
        states.append(f"yanked: {yanked[0][:300]}" if yanked[0] else "yanked")
    if v.unlisted:
        states.append("yanked" if protocol == "cargo" else "unlisted")
    if v.provenance.get("upstreamRemoved"):
        states.append("removed upstream")
    if v.provenance.get("upstreamChanged"):
        states.append("changed upstream")
    return states


def _row(feed: Feed, protocol: str, v: PackageVersion, saved: bool, latest: str | None) -> VersionRow:
    views = [view.name for view in feed.views if view.is_local or view.id in v.views] if saved else []
    chain = [str(hop.get("name") or hop.get("location") or "?")[:100] for hop in v.source_chain]
    return VersionRow(v, saved, views, chain, _states(protocol, v, saved), v.version == latest)


async def load_package(
    services: Services, feed: Feed, view: View, caller: Caller, protocol: str, name: str
) -> PackagePage:
    """The package as ``caller`` may see it in ``view``: 403 for a caller who may not read the feed, 404 when
    neither the view nor an upstream has it (502 when nothing here has it and no upstream could be asked)."""
    require_role(feed, caller, Role.READER, "reading packages")
    role = caller_role(feed, caller)
    now = services.clock()
    lookup = await services.resolver.look_up(feed, view, caller, protocol, name, now=now)
    lookup.require_exists(f"package {name} does not exist in {feed.name}@{view.name} or its upstream sources")
    meta, stored = await services.packages.package(feed, protocol, name)
    try:
        res: Resolution | None = await services.resolver.resolve(lookup, now)
    except NotFoundError:
        if meta is None:
            raise
        res = None  # the feed knows the package, but the view shows no live version of it (all deleted, say)
    latest = res.dist_tags.get("latest") if res else None
    held = res.held if res else {}
    rows = {v.version: _row(feed, protocol, v, v.version in held, latest) for v in (res.versions() if res else [])}
    if not feed.hide_deleted_package_versions:
        for v in stored:
            if v.deleted and (view.is_local or view.id in v.views):
                rows.setdefault(v.version, _row(feed, protocol, v, True, None))
    order = ascending(protocol, list(rows))
    private = meta is not None and any(not v.source_chain for v in stored)
    return PackagePage(
        feed=feed,
        view=view,
        protocol=protocol,
        name=name,
        role=role,
        behaviour=lookup.behaviour,
        versions=[rows[n] for n in reversed(order)],
        withheld=res.withheld() if res and role >= Role.COLLABORATOR else [],
        not_asked=[s.name for s in lookup.not_asked],
        private=private,
        notice=res.unsaved_notice if res else None,
        upstream_errors=lookup.upstream_errors,
    )


def available_in_words(moment: datetime | None, now: datetime) -> str:
    """When a held-back version becomes available, for the blocked tab."""
    if moment is None:
        return "when the feed has seen it for long enough"
    if moment <= now:
        return "now (on the next look at the upstream)"
    hours = (moment - now).total_seconds() / 3600
    wait = f"{hours:.0f} hours" if hours >= 1.5 else f"{max(1, round(hours * 60))} minutes"
    return f"{iso(moment)[:16].replace('T', ' ')} UTC (in about {wait})"


# --- dependencies and install snippets ---------------------------------------------------------------------


def _text(value: Any, limit: int = 300) -> str:
    return value[:limit] if isinstance(value, str) else ""


def dependencies(protocol: str, manifest: dict[str, Any]) -> list[Dependency]:
    """The dependencies a version's stored manifest declares (only well-formed entries; bounded)."""
    out: list[Dependency] = []
    if protocol == "npm":
        for group in ("dependencies", "peerDependencies", "optionalDependencies"):
            deps = manifest.get(group)
            if isinstance(deps, dict):
                out += [Dependency(group, _text(n), _text(r)) for n, r in deps.items() if isinstance(r, str)]
    elif protocol == "pypi":
        reqs = manifest.get("requires_dist")
        if isinstance(reqs, list):
            out += [Dependency("requires", _text(r, 500), "") for r in reqs if isinstance(r, str)]
    elif protocol == "nuget":
        groups = manifest.get("dependencyGroups")
        for group in groups if isinstance(groups, list) else []:
            if not isinstance(group, dict):
                continue
            framework = _text(group.get("targetFramework")) or "any framework"
            deps = group.get("dependencies")
            for dep in deps if isinstance(deps, list) else []:
                if isinstance(dep, dict) and isinstance(dep.get("id"), str):
                    out.append(Dependency(framework, _text(dep["id"]), _text(dep.get("range"))))
    elif protocol == "cargo":
        deps = manifest.get("deps")
        for dep in deps if isinstance(deps, list) else []:
            if isinstance(dep, dict):
                crate = dep.get("package") or dep.get("name")
                kind = _text(dep.get("kind")) or "normal"
                optional = " (optional)" if dep.get("optional") is True else ""
                if isinstance(crate, str):
                    out.append(Dependency(f"{kind}{optional}", _text(crate), _text(dep.get("req"))))
    return [d for d in out if d.name][:MAX_DEPENDENCIES]


@dataclass(frozen=True)
class Snippet:
    label: str
    text: str


def install_snippets(page: PackagePage, row: VersionRow, organization_url: str = "") -> list[Snippet]:
    """How the package's own client installs this version from the feed (set up on the connect page).
    ``organization_url``: the organization's URL, which the Universal Packages client needs. Every part of a
    shell command is quoted for the shell where it needs to be."""
    name, number, feed = page.display_name, row.number, page.feed.name
    if page.protocol == "npm":
        return [Snippet("npm", shlex.join(["npm", "install", f"{name}@{number}"]))]
    if page.protocol == "pypi":
        return [
            Snippet("pip", shlex.join(["pip", "install", f"{name}=={number}"])),
            Snippet("uv", shlex.join(["uv", "add", f"{name}=={number}"])),
        ]
    if page.protocol == "nuget":
        shown = _text(row.record.manifest.get("version")) or number
        return [
            Snippet(".NET CLI", shlex.join(["dotnet", "add", "package", name, "--version", shown, "--source", feed])),
            Snippet("PackageReference", f'<PackageReference Include="{name}" Version="{shown}" />'),
        ]
    if page.protocol == "maven":
        group_id, _, artifact_id = name.rpartition(":")
        pom = (
            f"<dependency>\n  <groupId>{group_id}</groupId>\n  <artifactId>{artifact_id}</artifactId>\n"
            f"  <version>{number}</version>\n</dependency>"
        )
        return [Snippet("pom.xml", pom)]
    if page.protocol == "upack":
        command = universal_download_command(organization_url, page.feed.project, feed, name, number)
        return [Snippet("feed_core universal", command)]
    return [Snippet("cargo", shlex.join(["cargo", "add", f"{name}@{number}", "--registry", feed]))]


def universal_download_command(organization_url: str, project: str | None, feed: str, name: str, number: str) -> str:
    """This project's client's command that downloads a Universal Package version into a directory named after it."""
    scope = ["--project", project, "--scope", "project"] if project else []
    args = ["python", "-m", "feed_core", "universal", "download", "--organization", organization_url, *scope]
    return shlex.join([*args, "--feed", feed, "--name", name, "--version", number, "--path", name])


# --- readmes -----------------------------------------------------------------------------------------------


async def readme(services: Services, protocol: str, row: VersionRow) -> Readme:
    """The version's readme or description: npm's ``readme`` (Markdown), a Python distribution's description
    (read from its stored core metadata file, as its content type says), else the manifest's description as
    plain text."""
    manifest = row.record.manifest
    if protocol == "npm":
        text = _text(manifest.get("readme"), 10_000_000)
        if text.strip():
            filename = _text(manifest.get("readmeFilename")).lower()
            markdown = not filename or filename.endswith((".md", ".markdown"))
            return await rendered(text, "text/markdown" if markdown else "text/plain")
    if protocol == "pypi" and row.saved:
        found = await _python_description(services, row.record)
        if found is not None:
            return found
    return plain(_text(manifest.get("description") or manifest.get("summary"), 100_000))


async def _python_description(services: Services, v: PackageVersion) -> Readme | None:
    digest = next((f.get("metadata_sha256") for f in v.files if f.get("metadata_sha256")), None)
    raw = await _stored_file(services, digest, MAX_METADATA_BYTES)
    if raw is None:
        return None
    try:
        meta = read_core_metadata(raw)
    except FeedError:
        return None
    if not meta.description.strip():
        return None
    # PyPI reads a description without a content type as reStructuredText, which is shown as plain text here.
    return await rendered(meta.description, meta.description_content_type or "text/x-rst")


#: A POM larger than this is not read for its dependencies.
MAX_POM_BYTES = 1024 * 1024


async def maven_dependencies(services: Services, v: PackageVersion) -> list[Dependency] | None:
    """The dependencies the version's stored POM declares; ``None`` when the feed holds no readable POM of it
    (a version offered by an upstream and not saved yet, or a POM too large to read here)."""
    pom = next((f for f in v.files if str(f.get("filename", "")).endswith(".pom")), None)
    raw = await _stored_file(services, pom.get("sha256") if pom is not None else None, MAX_POM_BYTES)
    if raw is None:
        return None
    try:
        declared = await asyncio.to_thread(read_dependencies, raw)
    except PomError:
        return None
    return [
        Dependency(
            f"{d.scope}{' (optional)' if d.optional else ''}",
            f"{d.group_id}:{d.artifact_id}",
            d.version or "managed by a parent or BOM",
        )
        for d in declared
    ]


async def _stored_file(services: Services, digest: object, limit: int) -> bytes | None:
    """The stored file with this sha-256, when there is one of at most ``limit`` bytes."""
    if not isinstance(digest, str) or not digest:
        return None
    blobs = services.packages.store.blobs
    info = await blobs.stat(content_key(digest))
    if info is None or info.size > limit:
        return None
    return await blobs.read_all(content_key(digest))


async def rendered(text: str, content_type: str) -> Readme:
    """``readme_of`` in a worker thread: a hostile readme takes seconds of CPU to render, which on the event loop
    would stall every other request of this worker."""
    return await asyncio.to_thread(readme_of, text, content_type)
