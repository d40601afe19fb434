"""What the feed accepts from an upstream's package document: names and identities must agree.

An upstream is asked for one package; what it answers is believed only where it is about that package:

- npm: the packument's ``name`` must be the package asked for (else the whole document is refused);
  each version is kept only when its key is a valid semantic version, its manifest is an object whose
  ``name``/``version`` (when given) are that package and that key, whose description and readme
  keep to the limits a publish has (:mod:`feed_core.domain.npm_manifest`), and whose ``dist.tarball`` is an
  http(s) URL that names this package's file of this version (``.../{name}/-/{bare}-{version}.tgz``,
  the registry layout; a URL without ``/-/`` must at least name the package and the version);
- Python: the page's ``name`` (PEP 691, when given) must normalize to the project asked for; each file
  is kept only when its filename parses as a wheel or sdist of that project;
- NuGet: each version's id must be the package asked for (ids compare case-insensitively) and its version
  a NuGet version; its package URL must be http(s), without dot segments, and name this package's file of
  this version (``.../{id}.{version}.nupkg``, the flat-container layout, or the id and the version as path
  segments, a v2 gallery's ``.../package/{id}/{version}``).

A version that fails is dropped with a reason: it is never offered, saved or served under the name
asked for. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename

from feed_core.domain import semver
from feed_core.domain.errors import BadRequestError
from feed_core.domain.npm_manifest import DESCRIPTION_MAX_CHARS, README_MAX_CHARS
from feed_core.domain.nuget_versions import NuGetVersion, parse_version
from feed_core.domain.python_dist import normalize_name


def npm_document_problem(doc: Mapping[str, Any], name: str) -> str | None:
    """Why a whole packument cannot be about ``name``, or ``None``."""
    named = doc.get("name")
    if named is not None and named != name:
        return f"it names package {str(named)[:100]!r}, not {name!r}"
    if not isinstance(doc.get("versions", {}), dict):
        return "its 'versions' is not an object"
    return None


def npm_version_problem(name: str, key: object, manifest: object) -> str | None:
    """Why one entry of a packument's ``versions`` cannot be offered as ``name@key``, or ``None``."""
    if not isinstance(key, str) or semver.try_parse_semver(key) is None:
        return "its key is not a semantic version"
    if not isinstance(manifest, dict):
        return "its entry is not an object"
    if manifest.get("name", name) != name:
        return f"its manifest names package {str(manifest.get('name'))[:100]!r}"
    if manifest.get("version", key) != key:
        return f"its manifest names version {str(manifest.get('version'))[:100]!r}"
    for field, limit in (("description", DESCRIPTION_MAX_CHARS), ("readme", README_MAX_CHARS)):
        value = manifest.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            return f"its {field} is not a string of at most {limit} characters"
    dist = manifest.get("dist")
    tarball = dist.get("tarball") if isinstance(dist, dict) else None
    if not isinstance(tarball, str):
        return "it has no dist.tarball URL"
    return tarball_url_problem(name, key, tarball)


def tarball_url_problem(name: str, version: str, url: str) -> str | None:
    """Why ``url`` is not the file of ``name@version``, or ``None``."""
    if not url.startswith(("http://", "https://")):
        return "its dist.tarball is not an http(s) URL"
    path = unquote(urlsplit(url).path)
    if any(segment in (".", "..") for segment in path.split("/")):
        return f"its dist.tarball {url[:200]!r} has dot segments"
    bare = name.rsplit("/", 1)[-1]
    if "/-/" in path:
        owner, _, file = path.rpartition("/-/")
        if owner.endswith("/" + name) and file in (f"{bare}-{version}.tgz", f"{name}-{version}.tgz"):
            return None
    elif f"/{name}/" in path and version in path.split("/"):
        return None
    return f"its dist.tarball {url[:200]!r} is not the file of {name}@{version}"


def python_page_problem(doc_name: object, project: str) -> str | None:
    """Why a PEP 691 page naming ``doc_name`` is not the page of ``project``, or ``None``."""
    if doc_name is not None and (not isinstance(doc_name, str) or normalize_name(doc_name) != normalize_name(project)):
        return f"it is the page of project {str(doc_name)[:100]!r}, not {project!r}"
    return None


def python_file_version(project: str, filename: str) -> tuple[str | None, str | None]:
    """``(version, None)`` for a wheel or sdist of ``project``; ``(version or None, reason)`` otherwise."""
    try:
        if filename.endswith(".whl"):
            owner, version, _, _ = parse_wheel_filename(filename)
        elif filename.endswith((".tar.gz", ".zip")):
            owner, version = parse_sdist_filename(filename)
        else:
            return None, f"{filename[:200]!r} is not a wheel or sdist"
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None, f"{filename[:200]!r} is not a valid wheel or sdist name"
    if normalize_name(owner) != normalize_name(project):
        return str(version), f"{filename[:200]!r} is a file of project {owner!r}, not {project!r}"
    return str(version), None


def python_file_url_problem(filename: str, url: str) -> str | None:
    """Why ``url`` is not the file named ``filename``, or ``None``. Installers name a downloaded file
    after the last segment of its URL, so an entry whose URL ends in another name is lying about
    which file it is (e.g. another project's wheel listed under this project's file name)."""
    served = unquote(urlsplit(url).path).rsplit("/", 1)[-1]
    if served != filename:
        return f"{filename[:200]!r} is listed with the URL of another file ({served[:200]!r})"
    return None


def nuget_identity(package_id: str, entry_id: object, entry_version: object) -> tuple[NuGetVersion | None, str | None]:
    """``(version, None)`` when an upstream entry is ``package_id`` at a valid NuGet version, else ``(None, why)``."""
    # ASCII only: str.lower maps some other letters onto ASCII ones (the Kelvin sign is "k"), which would let an
    # upstream show a look-alike id under the real one.
    if not isinstance(entry_id, str) or not entry_id.isascii() or entry_id.lower() != package_id.lower():
        return None, f"it is an entry of package {str(entry_id)[:100]!r}, not {package_id!r}"
    if not isinstance(entry_version, str):
        return None, "it has no version"
    try:
        return parse_version(entry_version.strip()), None
    except BadRequestError as exc:
        return None, exc.message


def join_url(base: str, reference: str) -> str:
    """``reference`` resolved against ``base``; ``""`` when it is not a URL at all (``urljoin`` raises on an
    unclosed IPv6 host such as ``http://[::1``), which every caller then refuses as not http(s)."""
    try:
        return urljoin(base, reference)
    except ValueError:
        return ""


def nuget_content_url_problem(package_id: str, version: NuGetVersion, url: str) -> str | None:
    """Why ``url`` is not the .nupkg of ``package_id`` at ``version``, or ``None``."""
    if not url.startswith(("http://", "https://")):
        return f"its package URL {url[:200]!r} is not an http(s) URL"
    segments = unquote(urlsplit(url).path).split("/")
    if any(segment in (".", "..") for segment in segments):
        return f"its package URL {url[:200]!r} has dot segments"
    lowered = [segment.lower() for segment in segments]
    spellings = {version.lower, version.full.lower(), version.original.lower()}
    names = {f"{package_id.lower()}.{v}.nupkg" for v in spellings}
    if lowered[-1] in names or (package_id.lower() in lowered and spellings & set(lowered)):
        return None
    return f"its package URL {url[:200]!r} is not the file of {package_id} {version.normalized}"
