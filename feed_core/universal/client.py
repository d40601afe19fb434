"""The HTTP side of the Universal Packages client: one feed's ``upack/`` endpoints, with retries.

Every request carries the token (HTTP Basic with an empty user name, as the Azure CLI sends a PAT) to the
feed's own origin only: redirects are followed here, not by httpx, and a redirect to another origin (a
storage SAS link for a chunk) is fetched without it. Server errors (5xx), 429 and connection errors are
retried with exponential backoff; any other refusal is a ``UniversalError`` with the server's message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

#: Hashes per ``chunks/query`` request (the server's limit).
QUERY_BATCH = 10_000
RETRIES = 5
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
MAX_REDIRECTS = 5
TOTAL_HASH_HEADER = "X-Upack-Total-Hash"
MAX_RESPONSE_BYTES = 80 * 1024 * 1024  # above the largest manifest the feed accepts
#: What is read of an answer that is not a success (its message); the rest is dropped.
MAX_ERROR_BYTES = 64 * 1024
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class UniversalError(Exception):
    """A failure the command reports as one line (no trace)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


@dataclass(frozen=True)
class FeedLocation:
    """Where a feed's ``upack/`` endpoints are: ``{organization}[/{project}]/_packaging/{feed}/upack/``."""

    organization: str  # e.g. http://127.0.0.1:7071/local
    feed: str  # a feed name, optionally with @view
    project: str | None = None

    @property
    def base_url(self) -> str:
        org = self.organization.rstrip("/")
        project = f"/{quote(self.project, safe='')}" if self.project else ""
        return f"{org}{project}/_packaging/{quote(self.feed, safe='@')}/upack/"


def locate(organization: str, feed: str, project: str | None, scope: str | None) -> FeedLocation:
    """The feed's location from the command's options, as ``az artifacts universal`` takes them."""
    parts = urlsplit(organization)
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.strip("/"):
        raise UniversalError(
            f"--organization must be the organization's URL, such as http://127.0.0.1:7071/myorg, not {organization!r}"
        )
    if parts.query or parts.fragment:
        raise UniversalError("--organization must not have a query or fragment")
    if not feed or "/" in feed:
        raise UniversalError(f"--feed must be a feed name (optionally feed@view), not {feed!r}")
    if scope is None:
        scope = "project" if project else "organization"
    if scope == "project" and not project:
        raise UniversalError("--scope project needs --project")
    if scope == "organization" and project:
        raise UniversalError("--project is for a project-scoped feed: add --scope project")
    return FeedLocation(organization, feed, project if scope == "project" else None)


def basic_auth(token: str) -> str:
    return "Basic " + base64.b64encode(f":{token}".encode()).decode("ascii")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return response.text.strip()[:300]


class UpackClient:
    """One feed's Universal Packages endpoints. Use as an async context manager."""

    def __init__(
        self,
        location: FeedLocation,
        token: str | None,
        *,
        parallel: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff_first: float = BACKOFF_FIRST_SECONDS,
    ) -> None:
        self.location = location
        self._auth = basic_auth(token) if token else None
        self._base = httpx.URL(location.base_url)
        self._backoff_first = backoff_first
        limits = httpx.Limits(max_connections=parallel + 2, max_keepalive_connections=parallel + 2)
        self._http = httpx.AsyncClient(
            timeout=TIMEOUT, limits=limits, follow_redirects=False, trust_env=False, transport=transport
        )

    async def __aenter__(self) -> UpackClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    def url(self, path: str) -> str:
        return urljoin(self.location.base_url, path)

    async def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        json_body: Any = None,
        ok: Sequence[int] = (),
        limit: int = MAX_RESPONSE_BYTES,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """The response to ``method path`` (relative to ``upack/``) after retries and redirects, its body
        read: a success's (or a status in ``ok``) at most ``limit`` bytes (a longer one is an error), any
        other's cut at ``MAX_ERROR_BYTES`` (so a long error message still leads to a retry or a refusal).

        A 2xx, or a status listed in ``ok``, is returned; anything else raises ``UniversalError``.
        """
        body = content if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        headers = {**(headers or {}), **({"Content-Type": "application/json"} if json_body is not None else {})}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send(method, self.url(path), body, headers, limit, ok)
            except httpx.TransportError as exc:
                if attempt > RETRIES:
                    raise UniversalError(f"{method} {self.url(path)} failed: {exc or type(exc).__name__}") from None
                await self._pause(attempt, None)
                continue
            if response.status_code in _RETRY_STATUSES and attempt <= RETRIES:
                await self._pause(attempt, response.headers.get("Retry-After"))
                continue
            if response.is_success or response.status_code in ok:
                return response
            raise self._refusal(method, path, response)

    async def _send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], limit: int, ok: Sequence[int]
    ) -> httpx.Response:
        target = httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            sent = dict(headers)
            if self._auth and _origin(target) == _origin(self._base):
                sent["Authorization"] = self._auth
            request = self._http.build_request(method, target, content=body, headers=sent)
            response = await self._http.send(request, stream=True)
            try:
                if response.is_success or response.status_code in ok:
                    await _read_limited(response, limit)
                else:
                    await _read_cut(response, MAX_ERROR_BYTES)
            finally:
                await response.aclose()
            if not response.is_redirect:
                return response
            location = response.headers.get("Location")
            if not location:
                return response
            target = target.join(location)
            if target.scheme not in ("http", "https"):
                raise UniversalError(f"the server redirected to an unsupported URL scheme {target.scheme!r}")
            if response.status_code in (301, 302, 303):
                method, body, headers = ("GET", None, {}) if method != "HEAD" else (method, None, {})
        raise UniversalError(f"too many redirects for {url}")

    async def _pause(self, attempt: int, retry_after: str | None) -> None:
        delay = min(BACKOFF_MAX_SECONDS, self._backoff_first * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)  # noqa: S311 (jitter, not a secret)
        if retry_after and retry_after.isdigit():
            delay = min(BACKOFF_MAX_SECONDS * 4, float(retry_after))
        await asyncio.sleep(delay)

    def _refusal(self, method: str, path: str, response: httpx.Response) -> UniversalError:
        status = response.status_code
        message = _message(response)
        if status == 401:
            text = f"the feed refused the token (401): {message}; set AZURE_DEVOPS_EXT_PAT to a valid token"
        elif status == 403:
            text = f"not allowed (403): {message}"
        else:
            text = f"{method} {self.url(path)}: {status} {message}"
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        return UniversalError(text, status, body)

    # --- the endpoints ------------------------------------------------------------------------------------

    async def missing_chunks(self, hashes: Sequence[str]) -> set[str]:
        """The chunks of ``hashes`` the feed has not received (asked in batches of ``QUERY_BATCH``)."""
        missing: set[str] = set()
        for start in range(0, len(hashes), QUERY_BATCH):
            batch = list(hashes[start : start + QUERY_BATCH])
            response = await self.request("POST", "chunks/query", json_body={"chunks": batch})
            found = response.json().get("missing")
            if not isinstance(found, list) or not set(found) <= set(batch):
                raise UniversalError("the feed's answer to the chunk query is not a list of the hashes asked")
            missing.update(found)
        return missing

    async def put_chunk(self, sha256: str, data: bytes) -> None:
        await self.request("PUT", f"chunks/{sha256}", content=data)

    async def commit(
        self, name: str, version: str, manifest: bytes, total_hash: str, description: str | None
    ) -> httpx.Response:
        """Commit a version; a 400 naming missing chunks is returned (not raised) so they can be uploaded.

        The total hash goes along in ``X-Upack-Total-Hash``: the feed recomputes it and refuses a mismatch."""
        path = f"packages/{quote(name, safe='')}/versions/{quote(version, safe='')}"
        if description:
            path += "?" + httpx.QueryParams({"description": description}).__str__()
        response = await self.request("PUT", path, content=manifest, headers={TOTAL_HASH_HEADER: total_hash}, ok=(400,))
        if response.status_code == 400:
            body = _json_or_none(response)
            if not (isinstance(body, dict) and isinstance(body.get("missing"), list)):
                raise self._refusal("PUT", path, response)
        return response

    async def versions(self, name: str) -> list[dict[str, Any]]:
        response = await self.request("GET", f"packages/{quote(name, safe='')}", ok=(404,))
        if response.status_code == 404:  # the feed's message says whether the feed or the package is unknown
            raise UniversalError(f"{_message(response)} (404)", 404)
        body = _json_or_none(response)
        entries = body.get("versions") if isinstance(body, dict) else None
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("version"), str) for e in entries
        ):
            raise UniversalError("the feed's version list is not in the expected shape")
        return entries

    async def manifest(self, name: str, version: str) -> bytes:
        path = f"packages/{quote(name, safe='')}/versions/{quote(version, safe='')}"
        return (await self.request("GET", path)).content

    async def chunk(self, name: str, version: str, sha256: str, size: int) -> bytes:
        """A chunk of a version, checked: exactly ``size`` bytes whose SHA-256 is ``sha256``."""
        path = f"packages/{quote(name, safe='')}/versions/{quote(version, safe='')}/chunks/{sha256}"
        data = (await self.request("GET", path, limit=size)).content
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
            raise UniversalError(f"chunk {sha256} from the feed does not match its hash; nothing was written over")
        return data


async def _read_limited(response: httpx.Response, limit: int) -> None:
    """Read the body into ``response`` unless it is longer than ``limit`` (a hostile or broken server)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UniversalError(f"the server's answer to {response.request.url} is larger than {limit} bytes")
    parts = []
    size = 0
    async for part in response.aiter_bytes():
        size += len(part)
        if size > limit:
            raise UniversalError(f"the server's answer to {response.request.url} is larger than {limit} bytes")
        parts.append(part)
    response._content = b"".join(parts)


async def _read_cut(response: httpx.Response, limit: int) -> None:
    """Read at most ``limit`` bytes of the body into ``response``, dropping the rest."""
    parts = []
    size = 0
    async for part in response.aiter_bytes():
        parts.append(part[: limit - size])
        size += len(parts[-1])
        if size >= limit:
            break
    response._content = b"".join(parts)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
