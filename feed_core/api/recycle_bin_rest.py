"""The package recycle bin's REST routes (Azure's shapes); their rows are in ``rest.ROUTES``.

- ``GET {feed}/RecycleBin/Packages`` lists the packages with deleted versions (``protocolType``,
  ``packageNameQuery``, ``$top``, ``$skip``); ``GET {feed}/RecycleBin/Packages/{packageId}`` one of them;
  ``DELETE {feed}/RecycleBin/Packages`` empties the recycle bin: 202 with an ``OperationReference``; the request
  is recorded on the feed, its versions are hidden at once and the gc job purges them.
- Per protocol, ``{feed}/{protocol}/RecycleBin/packages/{name}/versions/{version}`` (Maven:
  ``.../maven/RecycleBin/groups/{g}/artifacts/{a}/versions/{v}``): ``GET`` one deleted version, ``PATCH``
  ``{"deleted": false}`` to restore it, ``DELETE`` to delete it permanently.
- ``POST {feed}/{protocol}/RecycleBin/packagesBatch``: ``permanentDelete`` or ``restoreToFeed`` of many versions.

Names and versions in paths and batches are read by the same rules as the version routes (npm scopes, PEP 503
names, NuGet ids in lower case, Maven ``group:artifact``).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import replace

from starlette.responses import Response

from feed_core.api.recycle_bin_shapes import (
    PROTOCOL_TYPES,
    DeletedMavenVersionResponse,
    DeletedNpmVersionResponse,
    DeletedVersionResponse,
    OperationReference,
    RecycleBinBatch,
    RecycleBinPackageList,
    RecycleBinVersionUpdate,
    binned_package,
)
from feed_core.api.routing import Call
from feed_core.api.shapes import api_base
from feed_core.api.usage_rest import MAX_TOP, whole_param
from feed_core.domain.errors import BadRequestError, NotFoundError

log = logging.getLogger("feed_core.api")
#: Packages the recycle bin listing shows when ``$top`` is left out (Azure shows them all; this is its bound).
LIST_TOP = MAX_TOP


def _refs(c: Call) -> tuple[str, str, str]:
    """(protocol, package name, version) the path names, read as the version routes read them."""
    from feed_core.api import rest  # late: rest's table imports this module

    return rest._protocol(c), rest._package_name(c), rest._version_number(c)


def _protocol_type(c: Call) -> str | None:
    text = c.query("protocolType")
    if text is None or text == "":
        return None
    for protocol, shown in PROTOCOL_TYPES.items():
        if text.lower() in (protocol, shown.lower()):
            return protocol
    raise BadRequestError(f"protocolType must be one of {', '.join(PROTOCOL_TYPES.values())}, not {text[:40]!r}")


async def list_binned_packages(c: Call) -> Response:
    feed = await c.feed()
    protocol, query = _protocol_type(c), c.query("packageNameQuery") or ""
    top, skip = whole_param(c, "$top", LIST_TOP, 1, MAX_TOP), whole_param(c, "$skip", 0, 0, None)
    bin_ = c.services.recycle_bin
    packages = await bin_.page(feed, c.caller, protocol=protocol, name_query=query, skip=skip, top=top)
    shown = [
        binned_package(c.base, feed, p.protocol, p.name, p.versions, [bin_.purge_at(v) for v in p.versions])
        for p in packages
    ]
    return c.answer(RecycleBinPackageList(count=len(shown), value=shown))


async def get_binned_package(c: Call) -> Response:
    feed = await c.feed()
    package_id = c.params["packageId"]
    bin_ = c.services.recycle_bin
    package = await bin_.by_id(feed, c.caller, package_id)
    if package is None:
        raise NotFoundError(f"no package with id {package_id[:64]} in the recycle bin of feed {feed.name}")
    when = [bin_.purge_at(v) for v in package.versions]
    return c.answer(binned_package(c.base, feed, package.protocol, package.name, package.versions, when))


async def empty_recycle_bin(c: Call) -> Response:
    """Record the request (one feed write) and answer 202 at once; the gc job purges the versions, which are hidden
    from the recycle bin meanwhile. The answer is an Azure ``OperationReference``: its ``url`` is the listing."""
    feed = await c.feed()
    url = f"{api_base(c.base, feed)}/Feeds/{feed.id}/RecycleBin/Packages"  # before the write: a bad Host is a 400
    feed = await c.services.feeds.empty_recycle_bin(feed, c.caller)
    emptied = feed.recycle_bin_emptied or ""
    log.info("recycle bin of feed %s emptied by %s: gc purges its versions", feed.scope_label, c.caller.user)
    operation = uuid.uuid5(uuid.NAMESPACE_URL, f"recycle-bin-emptied:{feed.id}:{emptied}")
    return c.answer(OperationReference(id=str(operation), status="queued", url=url))


async def get_binned_version(c: Call) -> Response:
    feed = await c.feed()
    protocol, name, number = _refs(c)
    v = await c.services.recycle_bin.version(feed, c.caller, protocol, name, number)
    when, deleted = c.services.recycle_bin.purge_at(v), v.deleted or ""
    if protocol == "maven":
        group_id, artifact_id = name.split(":", 1)
        return c.answer(
            DeletedMavenVersionResponse(
                group_id=group_id,
                artifact_id=artifact_id,
                version=v.version,
                deleted_date=deleted,
                scheduled_permanent_delete_date=when,
            )
        )
    if protocol == "npm":  # npm's version route calls a deleted version unpublished
        return c.answer(
            DeletedNpmVersionResponse(
                name=name, version=v.version, unpublished_date=deleted, scheduled_permanent_delete_date=when
            )
        )
    return c.answer(
        DeletedVersionResponse(name=name, version=v.version, deleted_date=deleted, scheduled_permanent_delete_date=when)
    )


async def restore_binned_version(c: Call) -> Response:
    feed = await c.feed()
    protocol, name, number = _refs(c)
    await c.body(RecycleBinVersionUpdate)
    await c.services.recycle_bin.restore(feed, c.caller, protocol, name, [number])
    log.info("%s %s restored from the recycle bin of feed %s by %s", name, number, feed.scope_label, c.caller.user)
    return c.empty()


async def delete_binned_version(c: Call) -> Response:
    feed = await c.feed()
    protocol, name, number = _refs(c)
    await c.services.recycle_bin.delete(feed, c.caller, protocol, name, [number])
    log.info("%s %s permanently deleted from feed %s by %s", name, number, feed.scope_label, c.caller.user)
    return c.empty()


async def recycle_bin_batch(c: Call) -> Response:
    feed = await c.feed()
    body = await c.body(RecycleBinBatch)
    maven = c.route.path.split("/")[3] == "maven"
    wanted: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i, package in enumerate(body.packages):
        if maven and (package.group is None or package.artifact is None):
            raise BadRequestError(f"packages[{i}]: a Maven package is named by group and artifact")
        if not maven and package.id is None:
            raise BadRequestError(f"packages[{i}]: name the package with id")
        params = (
            {"groupId": package.group or "", "artifactId": package.artifact or ""}
            if maven
            else {"packageName": package.id or ""}
        )
        protocol, name, number = _refs(replace(c, params={**c.params, **params, "packageVersion": package.version}))
        wanted[(protocol, name)].append(number)
    await c.services.recycle_bin.batch(feed, c.caller, restore=body.operation == "restoreToFeed", versions=wanted)
    count = sum(len(n) for n in wanted.values())
    log.info("%s of %d versions in feed %s by %s", body.operation, count, feed.scope_label, c.caller.user)
    return c.empty()
