"""Maven artifacts for tests (POMs, jars, client metadata) and deploys sent the way mvn sends them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import zipfile

import httpx

from tests.api.conftest import ORG

CHECKSUMS = ("sha1", "md5")  # what Maven Resolver uploads by default


def repo(feed: str = "feed", view: str | None = None) -> str:
    return f"/{ORG}/_packaging/{feed}{'@' + view if view else ''}/maven/v1/"


def basic(token: str, user: str = "any-user") -> dict[str, str]:
    """How mvn sends a settings.xml <server>: Basic, any username, the token as the password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def pom(
    group_id: str,
    artifact_id: str,
    version: str,
    *,
    packaging: str = "jar",
    name: str = "",
    description: str = "",
    extra: str = "",
) -> bytes:
    fields = f"<name>{name}</name>" if name else ""
    fields += f"<description>{description}</description>" if description else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        f"  <groupId>{group_id}</groupId><artifactId>{artifact_id}</artifactId><version>{version}</version>\n"
        f"  <packaging>{packaging}</packaging>{fields}{extra}\n"
        "</project>\n"
    ).encode()


def jar(*entries: str) -> bytes:
    """A small jar, the same bytes for the same entries (a fixed time in every entry: a zip records the time it
    was written, so two calls a second apart would otherwise differ)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, text in (
            ("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"),
            *((e, f"content of {e}") for e in entries),
        ):
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return out.getvalue()


def plugin_group_metadata(*plugins: tuple[str, str, str]) -> bytes:
    """A client's G-level maven-metadata.xml: (artifactId, prefix, name) per plugin."""
    items = "".join(
        f"<plugin><name>{name}</name><prefix>{prefix}</prefix><artifactId>{artifact_id}</artifactId></plugin>"
        for artifact_id, prefix, name in plugins
    )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<metadata><plugins>{items}</plugins></metadata>\n'.encode()


def artifact_metadata(group_id: str, artifact_id: str, *versions: str) -> bytes:
    """A client's A-level maven-metadata.xml, as mvn deploy writes it."""
    listed = "".join(f"<version>{v}</version>" for v in versions)
    return (
        f"<?xml version='1.0' encoding='UTF-8'?>\n<metadata><groupId>{group_id}</groupId>"
        f"<artifactId>{artifact_id}</artifactId><versioning><latest>{versions[-1]}</latest>"
        f"<release>{versions[-1]}</release><versions>{listed}</versions>"
        "<lastUpdated>20261101120000</lastUpdated></versioning></metadata>\n"
    ).encode()


def directory(group_id: str, artifact_id: str, version: str) -> str:
    return f"{group_id.replace('.', '/')}/{artifact_id}/{version}/"


async def put_file(
    http: httpx.AsyncClient,
    url: str,
    data: bytes,
    headers: dict[str, str],
    checksums: tuple[str, ...] = CHECKSUMS,
) -> list[httpx.Response]:
    """A file, then each of its checksum files (Maven's order within one upload)."""
    out = [await http.put(url, content=data, headers={**headers, "Expect": "100-continue"})]
    for alg in checksums:
        digest = hashlib.new(alg, data).hexdigest().encode()
        out.append(await http.put(f"{url}.{alg}", content=digest, headers=headers))
    return out


async def deploy(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    group_id: str,
    artifact_id: str,
    version: str,
    files: dict[str, bytes],
    *,
    feed: str = "feed",
    checksums: tuple[str, ...] = CHECKSUMS,
) -> list[httpx.Response]:
    """Files (by name) of one version directory as Maven Resolver deploys them: the first alone, the others in
    parallel, each followed by its checksums. Every response, in the order of ``files``."""
    base = repo(feed) + directory(group_id, artifact_id, version)
    items = list(files.items())
    first = await put_file(http, base + items[0][0], items[0][1], headers, checksums)
    rest = await asyncio.gather(*(put_file(http, base + n, d, headers, checksums) for n, d in items[1:]))
    return [*first, *(r for group in rest for r in group)]
