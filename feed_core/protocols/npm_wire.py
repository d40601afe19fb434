"""npm wire formats: packuments (full and abbreviated), version documents, publish bodies.

Pure functions from feed records to the JSON npm 10/11 reads, and from a publish body to what the
service stores. See ``shared/protocols/npm.md`` for what the client needs.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from feed_core.domain import semver
from feed_core.domain.errors import BadRequestError
from feed_core.domain.integrity import Digests, first_mismatch, parse_sri
from feed_core.domain.models import PackageVersion
from feed_core.domain.names import NpmName
from feed_core.domain.npm_manifest import check_manifest_limits
from feed_core.domain.npm_tarball import check_matches, declares_install_script, read_tarball
from feed_core.service.packages import PackageView

#: Fields the abbreviated ("corgi") form keeps per version; arborist reads all of these.
CORGI_FIELDS = (
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "bin",
    "directories",
    "engines",
    "_hasShrinkwrap",
    "hasInstallScript",
    "os",
    "cpu",
    "libc",
    "funding",
    "acceptDependencies",
)
#: Top-level fields npm copies from the latest version into the full packument.
_HOISTED = ("description", "license", "author", "repository", "homepage", "keywords", "bugs")


def tarball_filename(name: NpmName, version: str) -> str:
    """The file name in download URLs: ``lib-1.0.0.tgz`` for ``@team/lib``."""
    return f"{name.bare}-{version}.tgz"


def attachment_name(name: NpmName, version: str) -> str:
    """The key npm (and yarn, pnpm) give the tarball in a publish's ``_attachments``: unlike the download
    file name, it keeps the scope (``@team/lib-1.0.0.tgz``)."""
    return f"{name.full}-{version}.tgz"


def version_from_filename(name: NpmName, filename: str) -> str | None:
    prefix = f"{name.bare}-"
    if filename.startswith(prefix) and filename.endswith(".tgz"):
        return filename[len(prefix) : -len(".tgz")] or None
    return None


def version_document(v: PackageVersion, registry_url: str, *, abbreviated: bool) -> dict[str, Any]:
    """One entry of ``versions``; ``registry_url`` ends with ``/npm/registry/``."""
    m = v.manifest
    if abbreviated:
        doc = {k: m[k] for k in CORGI_FIELDS if k in m}
    else:
        doc = {k: val for k, val in m.items() if k not in ("readme", "readmeFilename")}
        doc["_id"] = f"{v.name}@{v.version}"
        if not (v.source_chain and isinstance(m.get("_npmUser"), dict)):
            # Published here: the feed says who. From an upstream: keep who published it there.
            doc["_npmUser"] = {"name": v.publisher, "email": ""}
    doc["name"] = v.name
    doc["version"] = v.version
    if v.deprecated:
        doc["deprecated"] = v.deprecated
    else:
        doc.pop("deprecated", None)
    dist: dict[str, Any] = {
        "tarball": f"{registry_url}{v.name}/-/{v.filename}",
        "shasum": v.sha1,
        "integrity": v.sha512_integrity,
    }
    for key in ("fileCount", "unpackedSize"):
        if isinstance(m.get("dist"), dict) and key in m["dist"]:
            dist[key] = m["dist"][key]
    doc["dist"] = dist
    return doc


def packument(pkg: PackageView, registry_url: str, *, abbreviated: bool, revision: str) -> dict[str, Any]:
    versions = {v.version: version_document(v, registry_url, abbreviated=abbreviated) for v in pkg.versions}
    name = pkg.versions[0].name
    if abbreviated:
        return {"name": name, "modified": pkg.meta.modified, "dist-tags": pkg.dist_tags, "versions": versions}
    time: dict[str, str] = {"created": pkg.meta.created, "modified": pkg.meta.modified}
    time.update({v.version: v.published for v in pkg.versions})
    latest = pkg.version(pkg.dist_tags.get("latest", "")) or pkg.versions[-1]
    doc: dict[str, Any] = {
        "_id": name,
        "_rev": revision,
        "name": name,
        "dist-tags": pkg.dist_tags,
        "versions": versions,
        "time": time,
        "maintainers": [{"name": u, "email": ""} for u in dict.fromkeys(v.publisher for v in pkg.versions)],
    }
    for key in _HOISTED:
        if key in latest.manifest:
            doc[key] = latest.manifest[key]
    readme = latest.manifest.get("readme")
    doc["readme"] = readme if isinstance(readme, str) else ""
    if isinstance(latest.manifest.get("readmeFilename"), str):
        doc["readmeFilename"] = latest.manifest["readmeFilename"]
    doc["_attachments"] = {}
    return doc


# --- publish ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishRequest:
    version: str
    manifest: dict[str, Any]
    content: bytes
    filename: str
    sha512_integrity: str
    sha1: str
    sha256: str
    tags: dict[str, str]


def check_integrity(declared: str, digests: Digests) -> None:
    """Every hash in a declared SRI string that we can compute must match the bytes."""
    if not declared.strip():
        return
    if not parse_sri(declared):
        raise BadRequestError(f"unsupported integrity value {declared[:80]!r}; use sha512-<base64>")
    algo = first_mismatch(declared, "", digests)
    if algo is not None:
        raise BadRequestError(
            f"the tarball does not match its declared integrity ({algo}): the upload is corrupt or was altered"
        )


def parse_publish(name: NpmName, body: dict[str, Any]) -> PublishRequest:
    """Validate a publish body (one new version plus its tarball attachment) and the tarball in it.

    CPU-bound (the tarball is decompressed to be checked): callers run it off the event loop."""
    if body.get("name", name.full) != name.full or body.get("_id", name.full) != name.full:
        raise BadRequestError(f"the body names package {body.get('name')!r} but the URL names {name.full!r}")
    versions = body.get("versions")
    if not isinstance(versions, dict) or len(versions) != 1:
        raise BadRequestError("a publish must carry exactly one version in 'versions'")
    ((number, manifest),) = versions.items()
    if not isinstance(manifest, dict):
        raise BadRequestError(f"versions[{number!r}] must be an object")
    semver.parse_semver(number)
    if manifest.get("version", number) != number or manifest.get("name", name.full) != name.full:
        raise BadRequestError(f"versions[{number!r}] names {manifest.get('name')}@{manifest.get('version')}")
    check_manifest_limits(manifest)
    attachment = _the_attachment(name, number, body.get("_attachments"))
    if not isinstance(attachment, dict) or not isinstance(attachment.get("data"), str):
        raise BadRequestError("the attachment must have base64 'data'")
    try:
        content = base64.b64decode(attachment["data"], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequestError("the attachment data is not valid base64") from None
    declared_length = attachment.get("length")
    if declared_length is not None and declared_length != len(content):
        raise BadRequestError(
            f"the attachment is {len(content)} bytes but declares length {declared_length}: "
            "the upload is truncated or corrupt"
        )
    dist = manifest.get("dist") if isinstance(manifest.get("dist"), dict) else {}
    assert isinstance(dist, dict)
    digests = Digests()
    digests.update(content)
    if isinstance(dist.get("integrity"), str):
        check_integrity(dist["integrity"], digests)
    sha1 = digests.hex("sha1")
    if isinstance(dist.get("shasum"), str) and dist["shasum"].lower() != sha1:
        raise BadRequestError("the tarball does not match its declared shasum: the upload is corrupt or was altered")
    tarball = read_tarball(content)
    check_matches(tarball, name.full, number)
    tags = body.get("dist-tags") or {"latest": number}
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise BadRequestError("'dist-tags' must map tag names to versions")
    if any(v != number for v in tags.values()):
        raise BadRequestError(f"a publish may only tag the version it publishes ({number})")
    stored = {k: v for k, v in manifest.items() if k not in ("dist", "_attachments")}
    if declares_install_script(manifest) or tarball.has_install_script:
        stored["hasInstallScript"] = True  # what npm will do on install, whatever the manifest says
    stored["dist"] = {"fileCount": tarball.file_count, "unpackedSize": tarball.unpacked_size}
    return PublishRequest(
        version=number,
        manifest=stored,
        content=content,
        filename=tarball_filename(name, number),
        sha512_integrity=digests.sri,
        sha1=sha1,
        sha256=digests.hex("sha256"),
        tags=dict(tags),
    )


def _the_attachment(name: NpmName, number: str, attachments: object) -> object:
    """The tarball attachment: exactly one, named as npm names it. A provenance bundle that
    ``npm publish --provenance`` sends alongside is allowed and not kept."""
    expected = attachment_name(name, number)
    sent = list(attachments) if isinstance(attachments, dict) else []
    others = [k for k in sent if k not in (expected, f"{name.full}-{number}.sigstore")]
    if not isinstance(attachments, dict) or expected not in attachments or others:
        got = ", ".join(repr(str(k)[:100]) for k in sent[:5]) or "none"
        raise BadRequestError(
            f"a publish of a new version must carry exactly one attachment, its tarball named {expected!r} "
            f"({{name}}-{{version}}.tgz); this one carries {got}: publish with `npm publish`"
        )
    return attachments[expected]
