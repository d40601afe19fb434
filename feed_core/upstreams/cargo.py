"""Fetching from Cargo registries: one crate's sparse index file at a time (never the whole index).

A source's location is the registry's sparse index URL (``https://host/index/``; a ``sparse+`` prefix is
dropped). A crate's file is at ``{location}{index_path(name)}``: one JSON line per version, each carrying the
sha-256 of its ``.crate`` (``cksum``), its publish time (``pubtime``) and its yank flag. Every line is checked
(``domain/cargo_index.py``); a bad one is refused with a reason, never the whole file.

Where a ``.crate`` is downloaded from is not in the index file: the registry's ``config.json`` says it (``dl``, a
template). It is read when a version is saved (``declared``), and kept per location for a few minutes.

What the engine stores as the document is the index file behind one line of ours naming the location it came
from, so that a document read back from the cache knows which registry it is about (its own index URL in a
dependency's ``registry`` means the registry itself, and becomes ``null``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import OrderedDict
from dataclasses import replace
from urllib.parse import urlsplit

import httpx

from feed_core.domain.bounded_json import UnsafeJson, loads_bounded
from feed_core.domain.cargo_crate import check_crate
from feed_core.domain.cargo_index import IndexLineError, parse_index_file
from feed_core.domain.cargo_names import CrateNameError, index_path, validate_crate_name
from feed_core.domain.credentials import credentials_identity
from feed_core.domain.source_models import UpstreamSource
from feed_core.upstreams.http import (
    Fetched,
    UpstreamFailure,
    get_with_retry,
    source_auth_headers,
    status_failure,
)
from feed_core.upstreams.models import BadDocument, UpstreamPackage, UpstreamVersion

#: What cargo sends for index files (``http_remote.rs``); a registry may answer differently to other clients.
INDEX_HEADERS = {"Accept": "text/plain", "cargo-protocol": "version=1"}
CONFIG_FILE = "config.json"
#: Answers that mean "no such crate" (the Cargo book allows 410 and 451 besides 404).
NOT_FOUND = (404, 410, 451)
MAX_CONFIG_BYTES = 64 * 1024
MAX_DL_LENGTH = 2048
#: How long a registry's ``config.json`` is trusted (its ``dl`` changes about never), and how many are kept.
CONFIG_TTL_SECONDS = 300.0
CONFIG_ENTRIES = 512
_PARSE_IN_THREAD_BYTES = 256 * 1024
#: First line of a stored document: ours, never the upstream's (which follows it whole).
_HEADER = b"#feed-cargo-upstream "
_MARKER = re.compile(r"\{(crate|version|prefix|lowerprefix|sha256-checksum)\}")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def index_base(location: str) -> str:
    """The sparse index URL of a source (``sparse+`` dropped), ending in ``/``."""
    base = location.removeprefix("sparse+")
    return base if base.endswith("/") else base + "/"


def own_locations(location: str) -> list[str]:
    """The spellings of a registry's own index URL that its dependencies may use for "this registry"."""
    base = index_base(location)
    return [base, base.rstrip("/"), "sparse+" + base, "sparse+" + base.rstrip("/")]


def index_url(location: str, name: str) -> str:
    return index_base(location) + index_path(name)


def config_url(location: str) -> str:
    return index_base(location) + CONFIG_FILE


async def fetch_document(
    client: httpx.AsyncClient,
    source: UpstreamSource,
    name: str,
    *,
    etag: str | None,
    last_modified: str | None,
    budget: float,
    max_bytes: int,
) -> Fetched:
    """A crate's index file, revalidated with the validators held, behind a line naming where it came from."""
    try:
        url = index_url(source.location, validate_crate_name(name))
    except CrateNameError:  # not a crate name: no registry has it, and no path made of it is asked for
        return Fetched("not_found")
    validators = {}
    if etag:
        validators["If-None-Match"] = etag
    if last_modified:
        validators["If-Modified-Since"] = last_modified

    def headers_for(hop: str) -> dict[str, str]:
        return {**INDEX_HEADERS, **source_auth_headers(source, hop), **validators}

    answer = await get_with_retry(client, url, headers_for, budget, max_bytes)
    if answer.status == 304:
        return Fetched("not_modified", etag=etag, last_modified=last_modified, url=url)
    if answer.status in NOT_FOUND:
        return Fetched("not_found", url=url)
    if answer.status != 200:
        raise status_failure(answer.status, url)
    header = _HEADER + json.dumps({"location": index_base(source.location)}).encode() + b"\n"
    return Fetched(
        "ok", header + answer.body, answer.headers.get("etag"), answer.headers.get("last-modified"), answer.url
    )


async def parse_document(body: bytes, name: str, location: str) -> UpstreamPackage:
    """What a crate's index file offers; large ones are read off the event loop."""
    if len(body) > _PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse, body, name, location)
    return parse(body, name, location)


def _split_header(body: bytes, location: str) -> tuple[bytes, str]:
    """The index file and the location it came from (the engine's ``location`` when no line of ours says)."""
    if not body.startswith(_HEADER):
        return body, location
    first, _, rest = body.partition(b"\n")
    try:
        header = json.loads(first[len(_HEADER) :])
    except ValueError:
        return rest, location
    stored = header.get("location") if isinstance(header, dict) else None
    return rest, stored if isinstance(stored, str) and stored else location


def parse(body: bytes, name: str, location: str) -> UpstreamPackage:
    """Every line of a crate's index file checked: the good ones offered, the bad ones refused with why."""
    index, location = _split_header(body, location)
    try:
        lines, refused = parse_index_file(index, name, own_locations=own_locations(location))
    except IndexLineError as exc:
        raise BadDocument(f"{location} sent an index file for {name} that was refused: {exc}") from None
    digests = config_url(location)
    versions: dict[str, UpstreamVersion] = {}
    for line in lines:  # one per version, build metadata ignored (a later twin is refused)
        manifest = dict(line.manifest)
        if line.yanked:
            manifest["yanked"] = True
        versions[line.version] = UpstreamVersion(
            version=line.version,
            manifest=manifest,
            file_url="",
            filename=f"{line.name}-{line.version}.crate",
            integrity="",
            sha1="",
            published=line.pubtime,
            sha256=line.cksum,
            digests_url=digests,
        )
    newest = max((v.published for v in versions.values() if v.published), default="")
    return UpstreamPackage(name=name, versions=versions, dist_tags={}, modified=newest, refused=refused)


# --- config.json ------------------------------------------------------------------------------------------------

_configs: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()  # (location, creds) -> (read at, dl)
_config_flights: dict[tuple[str, str], asyncio.Future[str]] = {}
_now = time.monotonic  # tests move it


def forget_configs() -> None:
    """Drop every cached ``config.json`` (tests)."""
    _configs.clear()


def read_config(body: bytes, location: str) -> str:
    """The ``dl`` template of a registry's ``config.json``; ``BadDocument`` saying what is wrong."""
    where = config_url(location)
    try:
        doc = loads_bounded(body)
    except UnsafeJson as exc:
        raise BadDocument(f"{where} is not a config.json a feed can use: it {exc}") from None
    if not isinstance(doc, dict):
        raise BadDocument(f"{where} is not a config.json a feed can use: not a JSON object")
    dl = doc.get("dl")
    if not isinstance(dl, str) or not dl:
        raise BadDocument(f"{where} has no download address (a string 'dl'): it is not a Cargo registry's config")
    if len(dl) > MAX_DL_LENGTH or _CONTROL.search(dl):
        raise BadDocument(f"{where} has a 'dl' longer than {MAX_DL_LENGTH} characters or with spaces in it")
    parts = urlsplit(_MARKER.sub("x", dl))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadDocument(f"{where} has a 'dl' that is not an http(s) URL with a host: {dl[:200]!r}")
    return dl


async def _fetch_config(client: httpx.AsyncClient, source: UpstreamSource, budget: float) -> str:
    url = config_url(source.location)

    def headers_for(hop: str) -> dict[str, str]:
        return {"Accept": "application/json", **source_auth_headers(source, hop)}

    answer = await get_with_retry(client, url, headers_for, budget, MAX_CONFIG_BYTES)
    if answer.status == 404:
        raise UpstreamFailure(
            f"{url} answered 404: the location does not point at a Cargo sparse index (the URL that cargo's "
            "configuration names after 'sparse+', ending in '/')"
        )
    if answer.status != 200:
        raise status_failure(answer.status, url)
    return read_config(answer.body, source.location)


async def download_template(client: httpx.AsyncClient, source: UpstreamSource, budget: float) -> str:
    """The registry's ``dl`` template, read at most once per ``CONFIG_TTL_SECONDS`` per location (and
    credentials); concurrent readers share one request, and a failing registry's last one is used meanwhile."""
    key = (index_base(source.location), credentials_identity(source.credentials))
    cached = _configs.get(key)
    if cached is not None and _now() - cached[0] < CONFIG_TTL_SECONDS:
        return cached[1]
    flight = _config_flights.get(key)
    if flight is not None:
        return await asyncio.shield(flight)
    flight = asyncio.get_running_loop().create_future()
    _config_flights[key] = flight
    try:
        dl = await _fetch_config(client, source, budget)
    except UpstreamFailure as failure:
        if cached is None or isinstance(failure, BadDocument):
            _fail(flight, failure)
            raise
        dl = cached[1]  # stale-if-error: what it said before still names where its files are
    except BaseException as exc:
        _fail(flight, UpstreamFailure(f"reading {config_url(source.location)} was interrupted ({exc!r:.100})"))
        raise
    else:
        _configs[key] = (_now(), dl)
        _configs.move_to_end(key)
        while len(_configs) > CONFIG_ENTRIES:
            _configs.popitem(last=False)
    finally:
        _config_flights.pop(key, None)
    flight.set_result(dl)
    return dl


def _fail(flight: asyncio.Future[str], failure: UpstreamFailure) -> None:
    flight.set_exception(failure)
    flight.exception()  # marked retrieved: waiters re-raise it themselves


def dep_prefix(name: str) -> str:
    """The directory part of a crate's index path, in the name's own case (``{prefix}`` of ``dl``)."""
    if len(name) <= 2:
        return str(len(name))
    if len(name) == 3:
        return f"3/{name[0]}"
    return f"{name[0:2]}/{name[2:4]}"


def download_url(dl: str, crate: str, version: str, cksum: str) -> str:
    """Where a ``.crate`` is, from the ``dl`` template as cargo expands it: its markers replaced, or
    ``/{crate}/{version}/download`` appended when it has none."""
    if not _MARKER.search(dl):
        return f"{dl}/{crate}/{version}/download"
    values = {
        "crate": crate,
        "version": version,
        "prefix": dep_prefix(crate),
        "lowerprefix": dep_prefix(crate).lower(),
        "sha256-checksum": cksum,
    }
    return _MARKER.sub(lambda m: values[m.group(1)], dl)


def crate_name(uv: UpstreamVersion, name: str) -> str:
    """The crate's name as published (the index line's case), from the version's file name."""
    suffix = f"-{uv.version}.crate"
    if uv.filename.endswith(suffix):
        return uv.filename.removesuffix(suffix)
    original = uv.manifest.get("name")
    return original if isinstance(original, str) else name


async def declared(
    client: httpx.AsyncClient, source: UpstreamSource, name: str, uv: UpstreamVersion, *, budget: float, max_bytes: int
) -> UpstreamVersion:
    """``uv`` with the address of its ``.crate``, from the registry's ``config.json`` (its hash, ``cksum``, is in
    the index line already)."""
    del max_bytes  # config.json is bounded by MAX_CONFIG_BYTES
    dl = await download_template(client, source, budget)
    return replace(uv, file_url=download_url(dl, crate_name(uv, name), uv.version, uv.sha256))


def check_file(name: str, version: str, filename: str, data: bytes) -> None:
    """A downloaded ``.crate`` must be the crate it is listed as (the checks a publish gets). CPU-bound:
    callers run it off the event loop."""
    suffix = f"-{version}.crate"
    original = filename.removesuffix(suffix) if filename.endswith(suffix) else name
    if original.lower() != name.lower():
        raise BadDocument(f"{filename[:200]} is not a file of {name} {version}")
    try:
        check_crate(data, original, version)
    except ValueError as exc:
        raise BadDocument(f"{filename[:200]}: {exc}") from None


async def ping(client: httpx.AsyncClient, source: UpstreamSource, budget: float) -> None:
    """The registry's ``config.json``, read and understood (a JSON object with ``dl``): raises ``UpstreamFailure``
    with the cause and the fix."""
    await _fetch_config(client, source, budget)
