"""The web UI's pure helpers behind Connect to feed and feed settings: client names and URLs in the snippets,
the upstream-source lists a click asks for, and what the health display advises."""

from __future__ import annotations

import pytest

from feed_core.domain.errors import BadRequestError, ConflictError, NotFoundError
from feed_core.domain.source_models import CustomSource, InternalSource, PublicSource, UpstreamSource
from feed_core.ui import connect_snippets as cs
from feed_core.ui import upstream_edits as edits
from feed_core.ui.upstream_health import advice


def test_client_names_suit_every_client() -> None:
    assert cs.client_name("web", None) == "web"
    assert cs.client_name("web", "Release") == "web-Release"
    assert cs.client_name("1st.feed(x)", None) == "feed-1st-feed-x"
    assert cs.client_name("ünïcode", None) == "n-code"


def test_urls_are_escaped_and_absolute() -> None:
    urls = cs.endpoints("https://feeds.example:8443/", "/org/proj", "web^1", "Release")
    assert urls.npm == "https://feeds.example:8443/org/proj/_packaging/web%5E1@Release/npm/registry/"
    (pip, *_) = cs.snippets("pypi", urls, "web")
    assert "https://__token__:$FEED_TOKEN@feeds.example:8443/org/proj/_packaging/" in pip.text
    npm_user = cs.snippets("npm", urls, "web")[1]
    assert npm_user.text.startswith(
        "//feeds.example:8443/org/proj/_packaging/web%5E1@Release/npm/registry/:_authToken="
    )
    for protocol in cs.PROTOCOLS:
        assert all("fpat_" not in s.text for s in cs.snippets(protocol, urls, "web"))


def sources() -> list[UpstreamSource]:
    return [
        PublicSource(id="a", name="npmjs", protocol="npm", location="http://127.0.0.1:9/"),
        CustomSource(
            id="b", name="partner", protocol="npm", location="http://127.0.0.1:9/p/", service_endpoint_id="se"
        ),
        InternalSource(
            id="c",
            name="base@Release",
            protocol="npm",
            location="azure-feed://local/base@Release",
            internal_upstream_feed_id="f1",
            internal_upstream_view_id="v1",
        ),
    ]


def test_kept_sources_validate_as_rest_bodies() -> None:
    drafts = edits.kept(sources())
    assert drafts[0] == {"id": "a", "name": "npmjs", "protocol": "npm", "upstreamSourceType": "public"}
    assert drafts[1]["serviceEndpointId"] == "se" and "credentials" not in drafts[1]
    assert drafts[2]["internalUpstreamFeedId"] == "f1" and drafts[2]["internalUpstreamViewId"] == "v1"
    assert [type(r).__name__ for r in edits.validated(drafts)] == [
        "PublicSourceRequest",
        "CustomSourceRequest",
        "InternalSourceRequest",
    ]


def test_list_actions() -> None:
    drafts, notice = edits.list_action(sources(), "up:b")
    assert [d["id"] for d in drafts] == ["b", "a", "c"] and notice == "Moved partner up."
    drafts, _ = edits.list_action(sources(), "up:a")  # already first
    assert [d["id"] for d in drafts] == ["a", "b", "c"]
    drafts, _ = edits.list_action(sources(), "disable:c")
    assert drafts[2]["enabled"] is False
    assert [d["id"] for d in edits.reorder(sources(), "c, a,b")] == ["c", "a", "b"]
    for order in ("a,b", "a,b,c,c", "a,b,x"):
        with pytest.raises(ConflictError):
            edits.reorder(sources(), order)
    with pytest.raises(NotFoundError):
        edits.list_action(sources(), "down:zz")
    with pytest.raises(BadRequestError):
        edits.list_action(sources(), "explode:a")


def test_new_sources() -> None:
    assert edits.custom({"name": "x", "protocol": "npm", "location": " http://h/ ", "token": "t"})["credentials"] == {
        "token": "t"
    }
    with pytest.raises(BadRequestError, match="not both"):
        edits.custom({"name": "x", "protocol": "npm", "location": "http://h/", "token": "t", "username": "u"})
    with pytest.raises(BadRequestError, match="protocol"):
        edits.custom({"name": "x", "protocol": "gopher", "location": "http://h/"})
    assert edits.internal({"upstream": "base@Release", "protocol": "pypi"})["internalUpstreamViewId"] == "Release"
    with pytest.raises(BadRequestError):
        edits.internal({"upstream": "base", "protocol": "pypi"})


def test_advice() -> None:
    assert advice("ok", [], internal=False) == ""
    assert "next run" in advice("unknown", ["not checked yet"], internal=False)
    refused = ["refused to connect to 10.0.0.1: the address is private; upstreams must be on the public internet"]
    assert "FEED_UPSTREAM_ALLOWED_NETWORKS" in advice("failed", refused, internal=False)
    shared = ["view 'Release' of feed 'local/base' is private, so it cannot be an upstream source"]
    assert "share the view" in advice("failed", shared, internal=True)
    assert "Change the source" in advice("failed", ["h refused the credentials (401): set or renew"], internal=False)
    assert "location" in advice("failed", ["something new"], internal=False)
