"""The graph of internal upstreams: which feeds a feed's enabled internal sources point at, and the cycle a
change would close. Pure: the feed service reads the feeds."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from feed_core.domain.source_models import InternalSource, UpstreamSource

#: A feed in the graph: (organization name lower-cased, feed id lower-cased).
Node = tuple[str, str]


def internal_targets(org: str, sources: Iterable[UpstreamSource]) -> list[Node]:
    """The feeds that the enabled internal sources of a feed in ``org`` point at, in order."""
    out: list[Node] = []
    for src in sources:
        if not isinstance(src, InternalSource) or not src.enabled:
            continue
        node = ((src.internal_upstream_collection_id or org).lower(), src.internal_upstream_feed_id.lower())
        if node not in out:
            out.append(node)
    return out


def find_cycle(start: Node, adjacency: Mapping[Node, Iterable[Node]]) -> list[Node] | None:
    """A shortest path ``start -> ... -> start`` through ``adjacency``, or ``None`` when there is none.

    A self-loop gives ``[start, start]``. Nodes missing from ``adjacency`` have no edges.
    """
    parents: dict[Node, Node] = {}
    seen = {start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in adjacency.get(node, ()):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                path.reverse()
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                parents[nxt] = node
                queue.append(nxt)
    return None
