"""NuGet v3 PackagePublish and SymbolPackagePublish: push (PUT), unlist (DELETE) and relist (POST).

A push is a multipart/form-data PUT whose first file part is the package (nuget.exe sends it chunked). The
body is capped at the feed's upload limit as it streams in, spooled by the form parser, checked by
:func:`feed_core.domain.nuget_package.read_nupkg`, and stored byte for byte (signed packages stay valid),
with the .nuspec beside it. A version is pushed once: its number (``1.0`` is ``1.0.0``, any case) is then
taken, and stays taken when the version is deleted. A ``.snupkg`` is kept as a second file of its version.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.responses import Response

from feed_core.domain.access import require_role
from feed_core.domain.errors import BadRequestError, ConflictError, MethodNotAllowedError, NotFoundError
from feed_core.domain.nuget_package import Nupkg, read_nupkg
from feed_core.domain.roles import Role
from feed_core.protocols import nuget_wire as wire
from feed_core.protocols.http import limited
from feed_core.protocols.nuget_context import PROTOCOL, Ctx, package_name, version_number
from feed_core.service.packages import NewFile

log = logging.getLogger("feed_core.nuget")
SYMBOLS_TYPE = "SymbolsPackage"
_FORM_FIELD_BYTES = 64 * 1024  # a push has no text fields worth more


async def handle(ctx: Ctx, symbols: bool, rest: list[str]) -> Response:
    method = ctx.request.method
    if rest in ([], [""]):
        if method != "PUT":
            raise MethodNotAllowedError("packages are pushed here with PUT (nuget push, dotnet nuget push)")
        return await _push(ctx, symbols)
    if len(rest) == 2 and not symbols:
        name, number = package_name(rest[0]), version_number(rest[1])
        if method == "DELETE":  # nuget delete: unlist, as Azure Artifacts and the public gallery do
            await _set_listed(ctx, name, number, listed=False)
            return Response(status_code=204)
        if method == "POST":
            await _set_listed(ctx, name, number, listed=True)
            return Response(status_code=200)
        raise MethodNotAllowedError("DELETE unlists a version and POST lists it again")
    raise NotFoundError(f"no such publish resource: {'/'.join(rest)[:200]}")


async def _set_listed(ctx: Ctx, name: str, number: str, *, listed: bool) -> None:
    _require_feed_url(ctx)
    await ctx.services.packages.set_listed(ctx.feed, ctx.caller, PROTOCOL, name, number, listed)
    log.info(
        "%s %s %s in %s by %s", "listed" if listed else "unlisted", name, number, ctx.feed.scope_label, ctx.caller.user
    )


def _require_feed_url(ctx: Ctx) -> None:
    if not ctx.view.is_local:
        raise BadRequestError(
            f"packages are pushed to and unlisted in the feed, not a view: use the source without @{ctx.view.name}"
        )


async def _push(ctx: Ctx, symbols: bool) -> Response:
    services = ctx.services
    body = limited(ctx.request, services.settings.max_upload_bytes)
    require_role(ctx.feed, ctx.caller, Role.CONTRIBUTOR, "pushing packages")
    _require_feed_url(ctx)
    if not ctx.request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise BadRequestError(
            "a push is a multipart/form-data body whose first file is the package, as nuget push sends it"
        )
    try:
        async with body.form(max_files=1, max_fields=16, max_part_size=_FORM_FIELD_BYTES) as form:
            upload = next((v for _, v in form.multi_items() if isinstance(v, UploadFile)), None)
            if upload is None:
                raise BadRequestError("the push holds no package: send the .nupkg as a file part of the form")
            data = await upload.read()
    except MultiPartException as exc:
        raise BadRequestError(f"the push is not a valid multipart/form-data body: {exc.message}") from None
    package = await asyncio.to_thread(read_nupkg, data)
    if symbols:
        return await _push_symbols(ctx, package, data)
    return await _push_package(ctx, package, data)


def _conflict(ctx: Ctx, shown: str, deleted: str | None) -> ConflictError:
    if deleted:
        return ConflictError(
            f"{shown} was deleted from feed {ctx.feed.name} on {deleted[:10]}; its version number stays reserved: "
            "push a new version"
        )
    return ConflictError(
        f"{shown} already exists in feed {ctx.feed.name}; versions are immutable: push a new version "
        "(nuget push -SkipDuplicate skips it)"
    )


async def _push_package(ctx: Ctx, package: Nupkg, data: bytes) -> Response:
    spec = package.nuspec
    if spec.is_symbols_package:
        raise BadRequestError(
            f"{spec.id} {spec.version.normalized} is a symbol package ({SYMBOLS_TYPE}): push the .nupkg here and "
            "the .snupkg to the SymbolPackagePublish resource (nuget push does both)"
        )
    name, number = spec.lower_id, spec.version.lower
    shown = f"{spec.id} {spec.version.normalized}"
    existing = await ctx.services.packages.version(ctx.feed, PROTOCOL, name, number)
    if existing is not None:
        raise _conflict(ctx, shown, existing.deleted)
    sha512 = base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    entry = {
        "filename": f"{name}.{number}.nupkg",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "metadata_sha256": hashlib.sha256(package.nuspec_bytes).hexdigest(),
        "signed": package.is_signed,
    }
    new = NewFile(
        protocol=PROTOCOL,
        name=name,
        version=number,
        manifest=wire.manifest_of(spec),
        file=entry,
        content=data,
        side_blobs=(package.nuspec_bytes,),
        integrity=f"sha512-{sha512}",
    )
    record, created = await ctx.services.packages.add_file(ctx.feed, ctx.view, ctx.caller, new)
    if not created:  # an identical push that got there first
        raise _conflict(ctx, shown, record.deleted)
    log.info("pushed %s to %s by %s", shown, ctx.feed.scope_label, ctx.caller.user)
    return Response(status_code=201)


async def _push_symbols(ctx: Ctx, package: Nupkg, data: bytes) -> Response:
    """A symbol package joins its pushed package as a second file; it is pushed once too."""
    spec = package.nuspec
    if not spec.is_symbols_package:
        raise BadRequestError(
            f"{spec.id} {spec.version.normalized} is not a symbol package: a .snupkg declares the "
            f"{SYMBOLS_TYPE} package type (dotnet pack -p:SymbolPackageFormat=snupkg builds one)"
        )
    name, number = spec.lower_id, spec.version.lower
    shown = f"{spec.id} {spec.version.normalized}"
    held = await ctx.services.packages.version(ctx.feed, PROTOCOL, name, number)
    if held is None or held.deleted is not None:
        raise NotFoundError(f"{shown} is not in feed {ctx.feed.name}: push its .nupkg before its symbols")
    filename = f"{name}.{number}.snupkg"
    if any(f.get("filename") == filename for f in held.files):
        raise ConflictError(f"the symbols of {shown} are already in feed {ctx.feed.name}")
    entry = {"filename": filename, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "symbols": True}
    new = NewFile(PROTOCOL, name, number, held.manifest, entry, data)
    _, created = await ctx.services.packages.add_file(ctx.feed, ctx.view, ctx.caller, new)
    if not created:
        raise ConflictError(f"the symbols of {shown} are already in feed {ctx.feed.name}")
    log.info("pushed the symbols of %s to %s by %s", shown, ctx.feed.scope_label, ctx.caller.user)
    return Response(status_code=201)
