"""What every Cargo handler shares: the request's context, reads of a crate through the resolver, and the twin rule
(two crate names are one to cargo when they differ only in case or in ``-`` against ``_``).

A crate is stored under its name in lower case (the index file's name); ``-`` and ``_`` stay distinct in that key,
and the feed refuses a second spelling of a name it holds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import Request

from feed_core.domain.cargo_names import canonical_name
from feed_core.domain.models import Caller, Feed, View
from feed_core.service.container import Services
from feed_core.service.resolve import Lookup

PROTOCOL = "cargo"
#: Names with more separators than this are checked for twins against the feed's package list, not by point reads.
_MAX_SEPARATORS_PROBED = 4


@dataclass
class Ctx:
    services: Services
    request: Request
    feed: Feed
    view: View
    caller: Caller
    api_url: str  # ``…/_packaging/{feed}[@view]/cargo`` for this request's host
    index_url: str  # ``{api_url}/index/``

    @property
    def where(self) -> str:
        return f"{self.feed.name}@{self.view.name}"


async def look_up(ctx: Ctx, key: str, want_version: str | None = None) -> Lookup:
    return await ctx.services.resolver.look_up(
        ctx.feed, ctx.view, ctx.caller, PROTOCOL, key, now=ctx.services.clock(), want_version=want_version
    )


def _spellings(key: str) -> list[str]:
    """Every other key that is the same name to cargo: each ``-``/``_`` swapped (keys are lower case already)."""
    places = [i for i, c in enumerate(key) if c in "-_"]
    out = []
    for choice in itertools.product("-_", repeat=len(places)):
        chars = list(key)
        for i, c in zip(places, choice, strict=True):
            chars[i] = c
        candidate = "".join(chars)
        if candidate != key:
            out.append(candidate)
    return out


async def held_twin(services: Services, feed: Feed, key: str, *, fresh: bool = False) -> str | None:
    """The key of a crate the feed holds (or held: deleted versions keep their name) that is ``key``'s twin, if any.
    ``fresh``: a publish, which must not go by a list read a few seconds ago."""
    if not any(c in "-_" for c in key):
        return None
    if sum(c in "-_" for c in key) <= _MAX_SEPARATORS_PROBED:
        others = _spellings(key)
        metas = await asyncio.gather(*(services.packages.meta(feed, PROTOCOL, k) for k in others))
        return next((k for k, meta in zip(others, metas, strict=True) if meta is not None), None)
    names = await _canonical_names(services, feed, fresh=fresh)
    return next((k for k in names.get(canonical_name(key), ()) if k != key), None)


#: Per feed: when its crate list was read, and its keys by canonical name. Kept for ``_NAMES_SECONDS``: long names
#: are rare, and reads of them must not each read the whole list.
_NAMES: OrderedDict[str, tuple[float, dict[str, list[str]]]] = OrderedDict()
_NAMES_SECONDS = 10.0
_NAMES_FEEDS = 256


async def _canonical_names(services: Services, feed: Feed, *, fresh: bool) -> dict[str, list[str]]:
    now = time.monotonic()
    cached = _NAMES.get(feed.id)
    if cached is not None and not fresh and now - cached[0] < _NAMES_SECONDS:
        return cached[1]
    names: dict[str, list[str]] = {}
    for entry in await services.packages.store.list_index(feed.id, PROTOCOL):
        names.setdefault(canonical_name(entry.name), []).append(entry.name)
    _NAMES[feed.id] = (now, names)
    _NAMES.move_to_end(feed.id)
    while len(_NAMES) > _NAMES_FEEDS:
        _NAMES.popitem(last=False)
    return names


async def held_spelling(services: Services, feed: Feed, key: str) -> str:
    """The name as its versions were published (``My-Crate``), for messages; the key when none says."""
    _, versions = await services.packages.package(feed, PROTOCOL, key)
    for v in versions:
        name = v.manifest.get("name")
        if isinstance(name, str) and name:
            return name
    return key
