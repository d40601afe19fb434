"""What every Maven handler shares: the request's context and reads of a coordinate through the resolver.

A Maven package is one ``groupId:artifactId`` coordinate; records key it by that text, case-sensitive as Maven
is. A version holds every file of its directory (the POM, the main artifact, classifiers, signatures, Gradle's
``.module``); a snapshot version (``1.0-SNAPSHOT``) holds the files of its kept timestamped builds.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from feed_core.domain.models import Caller, Feed, View
from feed_core.service.container import Services
from feed_core.service.resolve import Lookup

PROTOCOL = "maven"


@dataclass
class Ctx:
    services: Services
    request: Request
    feed: Feed
    view: View
    caller: Caller
    repository_url: str  # ``…/_packaging/{feed}[@view]/maven/v1/`` for this request's host

    @property
    def where(self) -> str:
        return f"{self.feed.name}@{self.view.name}"


async def look_up(ctx: Ctx, name: str, want_version: str | None = None) -> Lookup:
    return await ctx.services.resolver.look_up(
        ctx.feed, ctx.view, ctx.caller, PROTOCOL, name, now=ctx.services.clock(), want_version=want_version
    )
