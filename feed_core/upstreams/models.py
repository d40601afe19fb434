"""What an upstream offers for one package, independent of its protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from feed_core.upstreams.http import UpstreamFailure


class BadDocument(UpstreamFailure):
    """The upstream answered, but with a document this feed does not believe (malformed, hostile or
    about another package). Unlike a network failure, asking again at once would get the same answer."""


class FileMissing(UpstreamFailure):
    """The upstream answered that it does not have a file (a 404): the client's answer is a 404 too."""


@dataclass(frozen=True)
class UpstreamFile:
    """One file of a multi-file version (Python, Maven), as the upstream describes it."""

    filename: str
    url: str
    sha256: str  # hex digests the upstream declares ("" when it declares none of that kind)
    size: int | None = None
    requires_python: str = ""
    metadata_sha256: str = ""  # the upstream offers the core metadata file (PEP 658/714) with this hash
    yanked: str | None = None  # None: not yanked; "" or a reason: yanked
    uploaded: str | None = None
    sha1: str = ""
    sha512: str = ""
    md5: str = ""  # never trusted to verify a download; carried from feed to feed for the files it names
    #: The file's hashes are declared beside it (Maven's ``<file>.sha1`` and stronger siblings), not in the
    #: listing: the protocol's client reads them at save time (``_Client.declared_file``), for that file only.
    digests_url: str = ""


@dataclass(frozen=True)
class UpstreamVersion:
    version: str
    manifest: dict[str, Any]  # the upstream's document for this version, without ``dist``
    file_url: str  # where the package file is fetched from ("" for internal sources)
    filename: str
    integrity: str  # SRI string the upstream declares (sha512-...), or ""
    sha1: str  # hex sha-1 the upstream declares, or ""
    published: str | None  # ISO time the upstream says it was published
    source_chain: list[dict[str, Any]] = field(default_factory=list)  # the upstream's own chain (internal sources)
    sha256: str = ""  # known for internal sources: the bytes are already in this service's store
    size: int = 0
    files: tuple[UpstreamFile, ...] = ()  # Python: every file of the version
    #: Where the hash of the file is declared when the listing does not carry it (NuGet v3: the catalog
    #: leaf); the protocol's client reads it at save time (``_Client.declared``), for that version only.
    digests_url: str = ""
    #: The blob listing the version's pieces, when its content is many stored pieces (a Universal Package on
    #: another feed of this service: its manifest); "" otherwise.
    files_manifest: str = ""


@dataclass(frozen=True)
class UpstreamPackage:
    name: str
    versions: dict[str, UpstreamVersion]
    dist_tags: dict[str, str]
    modified: str = ""
    #: Entries of the upstream's document that were not believed: version -> why (never offered or saved).
    refused: dict[str, str] = field(default_factory=dict)
    #: What a protocol reads from the same document beside versions (Maven: the plugins of a group).
    extras: Mapping[str, Any] = field(default_factory=dict)
