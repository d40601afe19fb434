"""The upstream-source list an administrator's click asks for, as the REST API's ``upstreamSources``.

The UI never builds stored sources itself: each stored source is sent back as a request that keeps it (its id
keeps its state and credentials, as a REST client sending back what GET showed), a new one is added as a
REST client would send it, and the whole list is validated by the same model as a REST PATCH body
(:class:`~feed_core.api.models.FeedUpdateRequest`), then resolved by the feed service. So the UI accepts
exactly the sources the REST API accepts, with the same messages. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from feed_core.api.models import FeedUpdateRequest
from feed_core.domain.errors import BadRequestError, ConflictError, NotFoundError
from feed_core.domain.source_models import PROTOCOLS, CustomSource, InternalSource, PublicSource, UpstreamSource
from feed_core.domain.upstream_sources import UpstreamSourceRequest
from feed_core.domain.validation import describe_validation_error

Draft = dict[str, Any]

#: What the list form's buttons send as ``action``: ``up:{id}``, ``down:{id}``, ``enable:{id}``, ``disable:{id}``.
LIST_ACTIONS = ("up", "down", "enable", "disable")


def keep(src: UpstreamSource) -> Draft:
    """The request that leaves a stored source as it is (state, credentials, per-source settings)."""
    draft: Draft = {"id": src.id, "name": src.name, "protocol": src.protocol}
    if src.service_endpoint_id is not None:
        draft["serviceEndpointId"] = src.service_endpoint_id
    if isinstance(src, InternalSource):
        return {
            **draft,
            "upstreamSourceType": "internal",
            "internalUpstreamCollectionId": src.internal_upstream_collection_id,
            "internalUpstreamProjectId": src.internal_upstream_project_id,
            "internalUpstreamFeedId": src.internal_upstream_feed_id,
            "internalUpstreamViewId": src.internal_upstream_view_id,
        }
    if isinstance(src, PublicSource):
        return {**draft, "upstreamSourceType": "public"}
    return {**draft, "location": src.location}


def kept(sources: Sequence[UpstreamSource]) -> list[Draft]:
    return [keep(s) for s in sources]


def _index(sources: Sequence[UpstreamSource], source_id: str) -> int:
    for i, src in enumerate(sources):
        if src.id == source_id:
            return i
    raise NotFoundError("that upstream source is no longer in the feed; reload the page")


def list_action(sources: Sequence[UpstreamSource], action: str) -> tuple[list[Draft], str]:
    """A list button (``up:{id}`` ...): the new list and what was done, in words."""
    verb, _, source_id = action.partition(":")
    if verb not in LIST_ACTIONS or not source_id:
        raise BadRequestError(f"unknown action {action[:60]!r}")
    i = _index(sources, source_id)
    drafts, name = kept(sources), sources[i].name
    if verb in ("up", "down"):
        j = i - 1 if verb == "up" else i + 1
        if 0 <= j < len(drafts):
            drafts[i], drafts[j] = drafts[j], drafts[i]
        return drafts, f"Moved {name} {verb}."
    drafts[i]["enabled"] = verb == "enable"
    return drafts, f"{'Enabled' if verb == 'enable' else 'Disabled'} {name}."


def reorder(sources: Sequence[UpstreamSource], order: str) -> list[Draft]:
    """The sources in the order of ``order`` (comma-separated ids, from dragging): every source exactly once."""
    ids = [i.strip() for i in order.split(",") if i.strip()]
    by_id = {s.id: s for s in sources}
    if sorted(ids) != sorted(by_id) or len(set(ids)) != len(ids):
        raise ConflictError("the upstream sources changed since the page was loaded; reload it and drag again")
    return [keep(by_id[i]) for i in ids]


def remove(sources: Sequence[UpstreamSource], source_id: str) -> tuple[list[Draft], str]:
    i = _index(sources, source_id)
    return [keep(s) for s in sources if s.id != source_id], f"Removed {sources[i].name}."


def hours(text: str, what: str) -> float | None:
    """A number of hours typed into a form; empty is ``None`` (no delay). The service checks the range."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise BadRequestError(f"{what}: give a number of hours, or leave it empty to turn the delay off") from None


def edit(sources: Sequence[UpstreamSource], fields: dict[str, str]) -> tuple[list[Draft], str]:
    """One source changed: its name, its URL (custom registries), its own minimum release age, and its
    credentials (``credentials``: ``remove``, or ``replace`` with the typed ones; ``keep`` keeps them unless new
    ones were typed)."""
    i = _index(sources, fields.get("source", ""))
    src, drafts = sources[i], kept(sources)
    draft = drafts[i]
    draft["name"] = fields.get("name", "").strip()
    if isinstance(src, CustomSource):
        draft["location"] = fields.get("location", "").strip()
    draft["minimumReleaseAgeHours"] = hours(fields.get("minimum_release_age_hours", ""), "minimum release age")
    mode, creds = fields.get("credentials", "keep"), _credentials(fields)
    if mode not in ("keep", "replace", "remove"):
        raise BadRequestError("choose whether to keep, replace or remove the credentials")
    if mode == "remove":
        draft["credentials"] = None
    elif creds is not None:  # typed in: they replace the stored ones, whichever button was left on
        draft["credentials"] = creds
    elif mode == "replace":
        raise BadRequestError("type the new credentials: a token, or a user name and password")
    return drafts, f"Saved {draft['name'] or src.name}."


def _credentials(fields: dict[str, str]) -> dict[str, str] | None:
    """Typed credentials as the REST API takes them: a token, or a user name and password; ``None`` for none."""
    token = fields.get("token", "")
    username, password = fields.get("username", ""), fields.get("password", "")
    if token and (username or password):
        raise BadRequestError("give either a token, or a user name and password, not both")
    if token:
        return {"token": token}
    if username or password:
        return {k: v for k, v in (("username", username), ("password", password)) if v}
    return None


def _protocol(text: str) -> str:
    if text not in PROTOCOLS:
        raise BadRequestError(f"choose the protocol: {', '.join(PROTOCOLS)}")
    return text


def public(name: str) -> Draft:
    """A configured public source by its name (the service takes its protocol and URL from the settings)."""
    return {"name": name, "upstreamSourceType": "public"}


def custom(fields: dict[str, str]) -> Draft:
    """A registry by URL, with credentials when some are given: a token, or a user name and password."""
    draft: Draft = {
        "name": fields.get("name", "").strip(),
        "protocol": _protocol(fields.get("protocol", "")),
        "location": fields.get("location", "").strip(),
    }
    creds = _credentials(fields)
    if creds is not None:
        draft["credentials"] = creds
    return draft


def internal(fields: dict[str, str]) -> Draft:
    """A view of another feed, chosen as ``feed@view``; the name defaults to that."""
    target = fields.get("upstream", "")
    feed, at, view = target.partition("@")
    if not at or not feed or not view:
        raise BadRequestError("choose the feed and view to use as the upstream source")
    draft: Draft = {
        "protocol": _protocol(fields.get("protocol", "")),
        "upstreamSourceType": "internal",
        "internalUpstreamFeedId": feed,
        "internalUpstreamViewId": view,
    }
    name = fields.get("name", "").strip()
    if name:
        draft["name"] = name
    return draft


def validated(drafts: list[Draft]) -> list[UpstreamSourceRequest]:
    """``drafts`` as a REST PATCH body's ``upstreamSources``: the same model, the same 400 messages."""
    try:
        body = FeedUpdateRequest.model_validate({"upstreamSources": drafts})
    except ValidationError as exc:
        raise BadRequestError(describe_validation_error(exc)) from None
    assert body.upstream_sources is not None
    return body.upstream_sources
