"""``GET …/_apis/packaging/feeds/{feedId}/usage``: a feed's storage usage, as this worker computed it within
``FEED_USAGE_MAX_AGE_SECONDS`` or computed now (and stored for listings). Below contributor, without the recycle bin.

Query: ``$top`` (packages per page, 1 to 1000, 100 by default), ``$skip`` (packages passed over) and
``protocolType`` (``npm``, ``pypi``, ``nuget``, ``maven``, ``cargo`` or ``upack``, any case).
"""

from __future__ import annotations

import re

from starlette.responses import Response

from feed_core.api.routing import Call
from feed_core.api.usage_shapes import feed_usage_response
from feed_core.domain.access import caller_role, require_role
from feed_core.domain.errors import BadRequestError
from feed_core.domain.roles import Role
from feed_core.domain.usage import live_only, page, parse_protocol

DEFAULT_TOP, MAX_TOP = 100, 1000
_WHOLE = re.compile(r"[0-9]{1,18}")


def whole_param(c: Call, name: str, default: int, low: int, high: int | None) -> int:
    """A whole-number query parameter within bounds; a 400 that says which otherwise."""
    text = c.query(name)
    if text is None:
        return default
    bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
    if not _WHOLE.fullmatch(text) or int(text) < low or (high is not None and int(text) > high):
        raise BadRequestError(f"{name} must be a whole number {bounds}, not {text[:40]!r}")
    return int(text)


async def get_usage(c: Call) -> Response:
    feed = await c.feed()
    require_role(feed, c.caller, Role.READER, "reading storage usage")
    top = whole_param(c, "$top", DEFAULT_TOP, 1, MAX_TOP)
    skip = whole_param(c, "$skip", 0, 0, None)
    named = c.query("protocolType")
    try:
        protocol = parse_protocol(named) if named is not None else None
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    measured = await c.services.usage.recent(feed)
    recycle_bin = caller_role(feed, c.caller) >= Role.CONTRIBUTOR  # who may list the recycle bin
    usage = measured.usage if recycle_bin else live_only(measured.usage)
    packages = page(usage.packages, skip=skip, top=top, protocol=protocol)
    return c.answer(feed_usage_response(measured, usage, packages, protocol, recycle_bin=recycle_bin))
