"""The NuGet v2 (OData, Atom) documents: the service document, ``$metadata``, feeds and entries.

Built with :mod:`xml.etree.ElementTree`, which escapes every value, after dropping the characters XML 1.0
cannot carry at all: package metadata (an upstream's above all) is untrusted text, and one stray ``<`` or
control character would make the whole feed unreadable to the client. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote
from xml.etree import ElementTree

from feed_core.domain.models import PackageVersion
from feed_core.protocols import nuget_wire as wire

ATOM = "application/atom+xml;type=feed;charset=utf-8"
ATOM_ENTRY = "application/atom+xml;type=entry;charset=utf-8"
XML = "application/xml;charset=utf-8"
_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
_ATOM_NS = "http://www.w3.org/2005/Atom"
_D_NS = "http://schemas.microsoft.com/ado/2007/08/dataservices"
_M_NS = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
#: What the NuGet client reads as "unlisted" in a v2 feed.
UNLISTED_PUBLISHED = "1900-01-01T00:00:00"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: object) -> str:
    """``text`` as a string XML 1.0 can hold (characters it forbids dropped); non-strings become ``""``."""
    return _NOT_XML.sub("", text) if isinstance(text, str) else ""


def _serialize(root: ElementTree.Element) -> bytes:
    return (_DECLARATION + ElementTree.tostring(root, encoding="unicode")).encode("utf-8")


def _sub(parent: ElementTree.Element, tag: str, text: str | None = None, **attrs: str) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, tag, {k: clean(v) for k, v in attrs.items()})
    if text is not None:
        element.text = clean(text)
    return element


@dataclass(frozen=True)
class Latest:
    """Which versions of an id are its latest: stable (``IsLatestVersion``) and any (``IsAbsoluteLatestVersion``)."""

    stable: str | None
    absolute: str | None

    @classmethod
    def of(cls, versions: list[PackageVersion]) -> Latest:
        """From every version of the id (ascending); unlisted ones are never the latest."""
        listed = [v for v in versions if wire.is_listed(v)]
        stable = [v for v in listed if not wire.is_prerelease(v)]
        return cls(stable[-1].version if stable else None, listed[-1].version if listed else None)


def service_document(v2: str) -> bytes:
    """The OData service document at ``{v2}``: its ``<?xml`` start is how PowerShellGet tells a v2 source."""
    root = ElementTree.Element(
        "service", {"xml:base": clean(v2), "xmlns": "http://www.w3.org/2007/app", "xmlns:atom": _ATOM_NS}
    )
    workspace = _sub(root, "workspace")
    _sub(workspace, "atom:title", "Default", type="text")
    collection = _sub(workspace, "collection", href="Packages")
    _sub(collection, "atom:title", "Packages", type="text")
    return _serialize(root)


def error_document(message: str) -> bytes:
    root = ElementTree.Element("m:error", {"xmlns:m": _M_NS})
    _sub(root, "m:code")
    _sub(root, "m:message", message, **{"xml:lang": "en-US"})
    return _serialize(root)


def package_url(v2: str, shown_id: str, number: str) -> str:
    return f"{v2}/Packages(Id='{quote(shown_id, safe='')}',Version='{quote(number, safe='')}')"


def download_url(v2: str, shown_id: str, number: str) -> str:
    return f"{v2}/package/{quote(shown_id, safe='')}/{quote(number, safe='')}"


def _edm(iso: str) -> str:
    """An ``Edm.DateTime``: ISO 8601 without a zone (always UTC here), as the public gallery writes it."""
    return clean(iso).replace("+00:00", "").removesuffix("Z") or UNLISTED_PUBLISHED


def _dependencies(groups: object) -> str:
    """``Id:Range:TargetFramework`` joined by ``|``; a group without dependencies is ``::TargetFramework``."""
    parts: list[str] = []
    for group in groups if isinstance(groups, list) else []:
        if not isinstance(group, dict):
            continue
        framework = group.get("targetFramework") if isinstance(group.get("targetFramework"), str) else ""
        deps = [d for d in group.get("dependencies") or [] if isinstance(d, dict) and isinstance(d.get("id"), str)]
        if not deps and framework:
            parts.append(f"::{framework}")
        for dep in deps:
            spec = dep.get("range") if isinstance(dep.get("range"), str) else ""
            parts.append(f"{dep['id']}:{spec}:{framework}")
    return "|".join(parts)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def entry(v: PackageVersion, shown_id: str, latest: Latest, v2: str, *, root: bool = False) -> ElementTree.Element:
    """One version as an Atom entry with its ``m:properties``."""
    m = v.manifest
    number = wire.nuget_version(v)
    listed = wire.is_listed(v)
    published = _edm(v.published) if listed else UNLISTED_PUBLISHED
    attrs = {"xml:base": clean(v2), "xmlns": _ATOM_NS, "xmlns:d": _D_NS, "xmlns:m": _M_NS} if root else {}
    element = ElementTree.Element("entry", attrs)
    _sub(element, "id", package_url(v2, shown_id, number.normalized))
    _sub(element, "title", shown_id, type="text")
    _sub(element, "summary", clean(m.get("summary")), type="text")
    _sub(element, "updated", _edm(v.published) + "Z")
    author = _sub(element, "author")
    _sub(author, "name", clean(m.get("authors")))
    _sub(element, "content", type="application/zip", src=download_url(v2, shown_id, number.normalized))
    props = _sub(element, "m:properties")

    def prop(name: str, value: object, kind: str | None = None) -> None:
        _sub(props, f"d:{name}", clean(value), **({"m:type": kind} if kind else {}))

    tags = m.get("tags")
    prop("Id", shown_id)
    prop("Version", number.full)
    prop("NormalizedVersion", number.normalized)
    prop("Title", clean(m.get("title")) or shown_id)
    prop("Description", m.get("description"))
    prop("Summary", m.get("summary"))
    prop("Authors", m.get("authors"))
    prop("Owners", m.get("owners"))
    prop("Tags", " ".join(clean(t) for t in tags if isinstance(t, str)) if isinstance(tags, list) else "")
    prop("Dependencies", _dependencies(m.get("dependencyGroups")))
    prop("IsLatestVersion", _flag(v.version == latest.stable), "Edm.Boolean")
    prop("IsAbsoluteLatestVersion", _flag(v.version == latest.absolute), "Edm.Boolean")
    prop("IsPrerelease", _flag(number.is_prerelease), "Edm.Boolean")
    prop("Listed", _flag(listed), "Edm.Boolean")
    prop("Published", published, "Edm.DateTime")
    prop("Created", _edm(v.published), "Edm.DateTime")
    prop("LastUpdated", _edm(v.unlisted or v.published), "Edm.DateTime")
    digest = wire.sha512_base64(v)
    prop("PackageHash", digest)
    prop("PackageHashAlgorithm", "SHA512" if digest else "")
    prop("PackageSize", str(v.size or 0), "Edm.Int64")
    prop("DownloadCount", "0", "Edm.Int32")
    prop("VersionDownloadCount", "0", "Edm.Int32")
    prop("ProjectUrl", m.get("projectUrl"))
    prop("LicenseUrl", m.get("licenseUrl"))
    prop("IconUrl", m.get("iconUrl"))
    prop("RequireLicenseAcceptance", _flag(m.get("requireLicenseAcceptance") is True), "Edm.Boolean")
    prop("ReleaseNotes", m.get("releaseNotes"))
    prop("Copyright", m.get("copyright"))
    prop("Language", m.get("language"))
    prop("MinClientVersion", m.get("minClientVersion"))
    return element


def entry_document(v: PackageVersion, shown_id: str, latest: Latest, v2: str) -> bytes:
    return _serialize(entry(v, shown_id, latest, v2, root=True))


def feed(
    v2: str,
    title: str,
    entries: list[tuple[PackageVersion, str, Latest]],
    following: str | None = None,
    count: int | None = None,
) -> bytes:
    """An Atom feed of ``entries`` (version, display id, latest of its id), with a ``next`` link to the
    following page when there is one, and the total (``m:count``) when ``$inlinecount=allpages`` asked for it."""
    root = ElementTree.Element("feed", {"xml:base": clean(v2), "xmlns": _ATOM_NS, "xmlns:d": _D_NS, "xmlns:m": _M_NS})
    _sub(root, "id", f"{v2}/{title}")
    _sub(root, "title", title, type="text")
    newest = max((v.published for v, _, _ in entries), default="")
    _sub(root, "updated", (_edm(newest) if newest else UNLISTED_PUBLISHED) + "Z")
    _sub(root, "link", rel="self", title=title, href=title)
    if count is not None:
        _sub(root, "m:count", str(count))
    for v, shown_id, latest in entries:
        root.append(entry(v, shown_id, latest, v2))
    if following:
        _sub(root, "link", rel="next", href=following)
    return _serialize(root)


#: Enough of the gallery's EDMX for clients that read it to learn the entity and the functions served.
METADATA = b"""<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx">
  <edmx:DataServices m:DataServiceVersion="2.0"
      xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">
    <Schema Namespace="NuGetGallery.OData" xmlns="http://schemas.microsoft.com/ado/2006/04/edm">
      <EntityType Name="V2FeedPackage" m:HasStream="true">
        <Key><PropertyRef Name="Id" /><PropertyRef Name="Version" /></Key>
        <Property Name="Id" Type="Edm.String" Nullable="false" />
        <Property Name="Version" Type="Edm.String" Nullable="false" />
        <Property Name="NormalizedVersion" Type="Edm.String" />
        <Property Name="Title" Type="Edm.String" />
        <Property Name="Description" Type="Edm.String" />
        <Property Name="Summary" Type="Edm.String" />
        <Property Name="Authors" Type="Edm.String" />
        <Property Name="Tags" Type="Edm.String" />
        <Property Name="Dependencies" Type="Edm.String" />
        <Property Name="IsLatestVersion" Type="Edm.Boolean" Nullable="false" />
        <Property Name="IsAbsoluteLatestVersion" Type="Edm.Boolean" Nullable="false" />
        <Property Name="IsPrerelease" Type="Edm.Boolean" Nullable="false" />
        <Property Name="Listed" Type="Edm.Boolean" Nullable="false" />
        <Property Name="Published" Type="Edm.DateTime" Nullable="false" />
        <Property Name="LastUpdated" Type="Edm.DateTime" Nullable="false" />
        <Property Name="PackageHash" Type="Edm.String" />
        <Property Name="PackageHashAlgorithm" Type="Edm.String" />
        <Property Name="PackageSize" Type="Edm.Int64" Nullable="false" />
        <Property Name="DownloadCount" Type="Edm.Int32" Nullable="false" />
      </EntityType>
    </Schema>
    <Schema Namespace="NuGetGallery" xmlns="http://schemas.microsoft.com/ado/2006/04/edm">
      <EntityContainer Name="V2FeedContext" m:IsDefaultEntityContainer="true">
        <EntitySet Name="Packages" EntityType="NuGetGallery.OData.V2FeedPackage" />
        <FunctionImport Name="Search" ReturnType="Collection(NuGetGallery.OData.V2FeedPackage)" EntitySet="Packages">
          <Parameter Name="searchTerm" Type="Edm.String" FixedLength="false" Unicode="false" />
          <Parameter Name="targetFramework" Type="Edm.String" FixedLength="false" Unicode="false" />
          <Parameter Name="includePrerelease" Type="Edm.Boolean" Nullable="false" />
        </FunctionImport>
        <FunctionImport Name="FindPackagesById" EntitySet="Packages"
            ReturnType="Collection(NuGetGallery.OData.V2FeedPackage)">
          <Parameter Name="id" Type="Edm.String" FixedLength="false" Unicode="false" />
        </FunctionImport>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"""
