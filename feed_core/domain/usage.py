"""How much storage a feed uses, as pure rules over its version rows.

- **What a version holds**: the files its row lists (``files[].size``: Python, Maven, NuGet with symbols), or the
  one file of its single-file fields (``size``) when it lists none. A Universal Package's bytes are the ``size``
  on its row, whatever its file list says (its files are made of chunks the row does not list).
- **Where a version's bytes count**: in the **recycle bin** when it is deleted and not purged; else as **saved**
  when it came from an upstream (its provenance or source chain is not empty); else as **published**. A purged
  version holds nothing any more (its row only keeps its number reserved) and counts nowhere.
- **Shared bytes count for each holder**: content is stored once per sha-256, so a file two versions (or two
  feeds) hold is stored once and counted for each. The figures say what each package would free if it alone
  went, not what the store would shrink by. ``distinct_bytes`` is the feed's own de-duplicated figure: each
  sha-256 its live and recycle-bin versions hold, counted once (a Universal Package's chunks shared between
  versions are not visible on the rows, so each of its versions counts as one blob there).
- Only package files count: manifests, Python core-metadata side files and cached upstream documents are small
  and are left out.

Nothing here does I/O: :class:`UsageTally` takes rows one at a time so a caller can stream a feed's rows through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

#: The protocol whose rows say a version's bytes in ``size`` only (see the module docstring).
SIZE_ON_ROW_PROTOCOLS = frozenset({"upack"})
#: Every protocol a feed holds packages of, by the name its rows use.
PROTOCOLS = ("npm", "pypi", "nuget", "maven", "cargo", "upack")


def parse_protocol(text: str) -> str:
    """A protocol as clients name it (Azure's ``protocolType``: ``Npm``, ``PyPi``, ``NuGet``, ``UPack``, any case)
    as its rows name it; ``ValueError`` for another word."""
    if text.lower() in PROTOCOLS:
        return text.lower()
    raise ValueError(f"unknown protocolType {text[:40]!r}: use one of {', '.join(PROTOCOLS)}")


@dataclass(frozen=True)
class StoredFile:
    """One content blob a version holds: its sha-256 (hex) and its size in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True)
class VersionFootprint:
    """What usage needs of one version row, and nothing else (no manifest)."""

    protocol: str
    name: str
    version: str
    files: tuple[StoredFile, ...]
    saved: bool
    deleted: bool
    purged: bool

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def _size(value: object) -> int:
    """A size as stored: a non-negative whole number, else 0 (a row written by hand or by an older build)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def held_files(protocol: str, sha256: str, size: int, files: Sequence[Mapping[str, Any]]) -> tuple[StoredFile, ...]:
    """The blobs a version row holds, by the rules above: its file list, else (or for Universal Packages) its
    single-file fields. A file listed twice under one name counts once."""
    listed: dict[str, StoredFile] = {}
    if protocol not in SIZE_ON_ROW_PROTOCOLS:
        for entry in files:
            key = str(entry.get("filename") or entry.get("sha256") or len(listed))
            listed.setdefault(key, StoredFile(str(entry.get("sha256") or ""), _size(entry.get("size"))))
    if listed:
        return tuple(listed.values())
    return (StoredFile(sha256, _size(size)),) if sha256 or size else ()


def footprint(
    protocol: str,
    name: str,
    version: str,
    *,
    sha256: str,
    size: int,
    files: Sequence[Mapping[str, Any]],
    provenance: Mapping[str, Any] | None,
    source_chain: Sequence[Any],
    deleted: str | None,
    purged: str | None,
) -> VersionFootprint:
    """A version row's footprint from its stored fields."""
    return VersionFootprint(
        protocol=protocol,
        name=name,
        version=version,
        files=held_files(protocol, sha256, size, files),
        saved=bool(provenance) or bool(source_chain),
        deleted=bool(deleted),
        purged=bool(purged),
    )


@dataclass
class Figures:
    """Bytes by where they count, and the versions holding them (live and in the recycle bin)."""

    published_bytes: int = 0
    saved_bytes: int = 0
    recycle_bin_bytes: int = 0
    versions: int = 0
    recycle_bin_versions: int = 0

    @property
    def total_bytes(self) -> int:
        return self.published_bytes + self.saved_bytes + self.recycle_bin_bytes

    def add(self, fp: VersionFootprint) -> None:
        size = fp.bytes
        self.versions += 1
        if fp.deleted:
            self.recycle_bin_bytes += size
            self.recycle_bin_versions += 1
        elif fp.saved:
            self.saved_bytes += size
        else:
            self.published_bytes += size


@dataclass
class ProtocolUsage(Figures):
    packages: int = 0


@dataclass
class PackageUsage(Figures):
    protocol: str = ""
    name: str = ""


@dataclass(frozen=True)
class FeedUsage:
    """A feed's usage: its totals, per protocol, and per package (largest first, then by protocol and name)."""

    total: Figures
    distinct_bytes: int
    protocols: dict[str, ProtocolUsage]
    packages: list[PackageUsage]

    @property
    def total_bytes(self) -> int:
        return self.total.total_bytes


@dataclass
class UsageTally:
    """Adds version footprints up, one at a time, into a :class:`FeedUsage`."""

    _total: Figures = field(default_factory=Figures)
    _packages: dict[tuple[str, str], PackageUsage] = field(default_factory=dict)
    _distinct: dict[bytes, int] = field(default_factory=dict)

    def add(self, fp: VersionFootprint) -> None:
        if fp.purged:
            return
        self._total.add(fp)
        key = (fp.protocol, fp.name)
        package = self._packages.get(key)
        if package is None:
            package = self._packages[key] = PackageUsage(protocol=fp.protocol, name=fp.name)
        package.add(fp)
        for f in fp.files:
            self._distinct.setdefault(_digest_key(f.sha256, fp), f.size)

    def result(self) -> FeedUsage:
        protocols: dict[str, ProtocolUsage] = {}
        for p in self._packages.values():
            usage = protocols.setdefault(p.protocol, ProtocolUsage())
            usage.packages += 1
            usage.published_bytes += p.published_bytes
            usage.saved_bytes += p.saved_bytes
            usage.recycle_bin_bytes += p.recycle_bin_bytes
            usage.versions += p.versions
            usage.recycle_bin_versions += p.recycle_bin_versions
        packages = sorted(self._packages.values(), key=lambda p: (-p.total_bytes, p.protocol, p.name))
        return FeedUsage(
            total=self._total,
            distinct_bytes=sum(self._distinct.values()),
            protocols=dict(sorted(protocols.items())),
            packages=packages,
        )


class FeedTallies:
    """One tally per feed, filled by a scan of every feed's version rows (the gc job's), for the feeds listed
    before it started (``covered``): a feed listed later may have rows the scan passed before they were written,
    so it is not measured from it, nor is a feed with a row the scan could not read."""

    def __init__(self, covered: Iterable[str]) -> None:
        self._covered = set(covered)
        self._by_feed: dict[str, UsageTally] = {}

    def add(self, feed_id: str, fp: VersionFootprint | None) -> None:
        """Add a version row's footprint to its feed's tally; ``None`` for a row that could not be read."""
        if feed_id not in self._covered:
            return
        if fp is None:
            self._covered.discard(feed_id)
            self._by_feed.pop(feed_id, None)
            return
        tally = self._by_feed.get(feed_id)
        if tally is None:
            tally = self._by_feed[feed_id] = UsageTally()
        tally.add(fp)

    def result(self, feed_id: str) -> FeedUsage | None:
        """The feed's usage from the scan (all zero for a covered feed with no version rows), or ``None`` for a
        feed the scan does not cover."""
        if feed_id not in self._covered:
            return None
        return self._by_feed.get(feed_id, UsageTally()).result()


def _digest_key(sha256: str, fp: VersionFootprint) -> bytes:
    """A compact key for a blob (32 bytes where the hex digest is well formed); a file without a usable digest
    counts as a blob of its own."""
    try:
        key = bytes.fromhex(sha256)
    except ValueError:
        key = b""
    return key if len(key) == 32 else f"{fp.protocol}|{fp.name}|{fp.version}|{sha256}".encode()


def measure(footprints: Iterable[VersionFootprint]) -> FeedUsage:
    """The usage of a feed whose version rows have these footprints."""
    tally = UsageTally()
    for fp in footprints:
        tally.add(fp)
    return tally.result()


def page(packages: Sequence[PackageUsage], *, skip: int, top: int, protocol: str | None = None) -> list[PackageUsage]:
    """``top`` packages after the first ``skip`` (of ``protocol`` only, when given), in the usage's order."""
    chosen = [p for p in packages if protocol is None or p.protocol == protocol]
    return chosen[skip : skip + top]


_F = TypeVar("_F", bound=Figures)


def live_only(usage: FeedUsage) -> FeedUsage:
    """``usage`` as a reader may see it: nothing of the recycle bin (which needs contributor to list). Packages
    whose versions are all in it are left out, and every figure counts live versions only. ``distinct_bytes``
    counts recycle-bin content too and cannot be told apart: the caller leaves it out."""

    def live(f: Figures, into: _F) -> _F:
        into.published_bytes, into.saved_bytes = f.published_bytes, f.saved_bytes
        into.versions = f.versions - f.recycle_bin_versions
        return into

    packages = [
        live(p, PackageUsage(protocol=p.protocol, name=p.name))
        for p in usage.packages
        if p.versions > p.recycle_bin_versions
    ]
    protocols: dict[str, ProtocolUsage] = {}
    for name, p in usage.protocols.items():
        if count := sum(1 for q in packages if q.protocol == name):  # a protocol of binned packages only: left out
            protocols[name] = live(p, ProtocolUsage(packages=count))
    packages.sort(key=lambda p: (-p.total_bytes, p.protocol, p.name))
    return FeedUsage(live(usage.total, Figures()), usage.distinct_bytes, protocols, packages)
