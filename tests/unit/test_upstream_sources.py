"""The pure parts of upstream-source configuration: locators, shape checks, cycle detection."""

from __future__ import annotations

from typing import Any

import pytest

from feed_core.domain.credentials import Credentials
from feed_core.domain.errors import BadRequestError
from feed_core.domain.upstream_sources import (
    MAX_EXEMPTIONS,
    FeedLocator,
    Node,
    check_unique_names,
    find_cycle,
    internal_targets,
    parse_feed_locator,
    parse_upstream_sources,
    validate_credentials,
    validate_exemptions,
    validate_release_age,
)

PUBLIC = {"npmjs": {"protocol": "npm", "url": "https://registry.example/"}}


# --- locators --------------------------------------------------------------------------------------


def test_org_scoped_locator() -> None:
    loc = parse_feed_locator("azure-feed://contoso/shared@Release")
    assert loc == FeedLocator("contoso", None, "shared", "Release")
    assert loc.location == "azure-feed://contoso/shared@Release"


def test_project_scoped_locator_and_legacy_scheme() -> None:
    loc = parse_feed_locator("azure-feed://contoso/Proj/shared@Local")
    assert loc == FeedLocator("contoso", "Proj", "shared", "Local")
    assert loc.location == "azure-feed://contoso/Proj/shared@Local"
    assert parse_feed_locator("vsts-feed://contoso/shared@Release") == FeedLocator("contoso", None, "shared", "Release")
    assert parse_feed_locator("AZURE-FEED://contoso/shared@Release/").feed == "shared"


@pytest.mark.parametrize(
    "text",
    [
        "azure-feed://contoso/shared",  # no view
        "azure-feed://contoso/shared@",
        "azure-feed://contoso/@Release",
        "azure-feed://contoso",
        "azure-feed://a/b/c/d@v",
        "azure-feed://contoso//shared@v",
        "azure-feed://-bad-/shared@v",
        "azure-feed://contoso/sha red@v",
        "azure-feed://contoso/shared@v@w",
        "https://contoso/shared@v",
        "azure-feed://contoso/shared@v\n",
    ],
)
def test_bad_locators(text: str) -> None:
    with pytest.raises(BadRequestError):
        parse_feed_locator(text)


# --- shapes ----------------------------------------------------------------------------------------


def test_public_source_by_configured_name() -> None:
    (draft,) = parse_upstream_sources([{"name": "NPMJS", "upstreamSourceType": "public"}], PUBLIC)
    src = draft.source
    assert draft.target is None
    assert src["name"] == "npmjs" and src["protocol"] == "npm"
    assert src["location"] == src["displayLocation"] == "https://registry.example/"
    assert src["status"] == "ok" and src["statusDetails"] == [] and src["deletedDate"] is None
    assert src["internalUpstreamFeedId"] is None and "credentials" not in src


def test_public_source_protocol_must_match_configuration() -> None:
    with pytest.raises(BadRequestError, match="serves npm"):
        parse_upstream_sources([{"name": "npmjs", "protocol": "pypi"}], PUBLIC)
    with pytest.raises(BadRequestError, match="not a configured public source"):
        parse_upstream_sources([{"name": "pypi", "protocol": "pypi"}], PUBLIC)


def test_custom_url_with_credentials() -> None:
    (draft,) = parse_upstream_sources(
        [{"name": "corp", "protocol": "npm", "location": "https://corp.example/npm/", "credentials": {"token": "t"}}],
        {},
    )
    assert draft.source["credentials"] == Credentials(token="t")
    assert "'t'" not in repr(draft.source) and "Credentials(token=***)" in repr(draft.source)
    assert draft.source["upstreamSourceType"] == "public"


@pytest.mark.parametrize(
    "location",
    ["ftp://host/", "https://user:pw@host/", "http:///nohost", "https://host:99999/", "https://ho st/", "x" * 2000],
)
def test_bad_registry_urls(location: str) -> None:
    with pytest.raises(BadRequestError):
        parse_upstream_sources([{"name": "c", "protocol": "npm", "location": location}], {})


@pytest.mark.parametrize(
    "creds",
    [
        "secret",
        {},
        {"token": ""},
        {"token": 5},
        {"username": "u"},
        {"username": "u", "password": "p", "token": "t"},
        {"username": "u:x", "password": "p"},
        {"token": "a\nb"},
        {"token": "x" * 5000},
    ],
)
def test_bad_credentials_never_echo_the_secret(creds: Any) -> None:
    with pytest.raises(BadRequestError) as info:
        validate_credentials(creds, "credentials")
    for secret in ("secret", "a\nb", "x" * 100):
        assert secret not in info.value.message


def test_existing_id_keeps_status_details_status_and_credentials() -> None:
    stored = {
        "id": "11111111-1111-1111-1111-111111111111",
        "name": "corp",
        "protocol": "npm",
        "upstreamSourceType": "public",
        "location": "https://corp.example/npm/",
        "status": "disabled",
        "statusDetails": [{"reason": "engine said so"}],
        "minimumReleaseAgeHours": 12.0,
        "credentials": Credentials(token="t"),
    }
    sent = {k: v for k, v in stored.items() if k not in ("credentials", "status", "statusDetails")}
    sent.pop("minimumReleaseAgeHours")
    sent["location"] = "https://CORP.example/other/path/"
    (draft,) = parse_upstream_sources([sent], {}, [stored])
    src = draft.source
    assert src["id"] == stored["id"]
    assert src["status"] == "disabled"
    assert src["statusDetails"] == [{"reason": "engine said so"}]
    assert src["minimumReleaseAgeHours"] == 12.0
    assert src["credentials"] == Credentials(token="t")
    (draft,) = parse_upstream_sources([{**sent, "credentials": None, "enabled": True}], {}, [stored])
    assert "credentials" not in draft.source and draft.source["status"] == "ok"


def test_stored_credentials_are_not_carried_to_another_host() -> None:
    stored = {
        "id": "i1",
        "name": "corp",
        "protocol": "npm",
        "location": "https://corp.example/",
        "credentials": Credentials(token="t"),
    }
    sent = {k: v for k, v in stored.items() if k != "credentials"}
    (draft,) = parse_upstream_sources([{**sent, "location": "https://corp.example/elsewhere/"}], {}, [stored])
    assert draft.source["credentials"] == Credentials(token="t")
    with pytest.raises(BadRequestError, match="another host"):
        parse_upstream_sources([{**sent, "location": "https://evil.example/"}], {}, [stored])
    with pytest.raises(BadRequestError, match="another host"):
        parse_upstream_sources([{**sent, "location": "https://corp.example:8443/"}], {}, [stored])
    (draft,) = parse_upstream_sources(
        [{**sent, "location": "https://evil.example/", "credentials": {"token": "n"}}], {}, [stored]
    )
    assert draft.source["credentials"] == Credentials(token="n")


def test_unknown_id_gets_a_new_one_and_duplicates_are_refused() -> None:
    (draft,) = parse_upstream_sources([{"id": "made-up", "name": "npmjs"}], PUBLIC)
    assert draft.source["id"] != "made-up"
    stored = [{"id": "i1", "name": "npmjs", "location": "https://registry.example/"}]
    with pytest.raises(BadRequestError, match="repeats the id"):
        parse_upstream_sources(
            [{"id": "i1", "name": "npmjs"}, {"id": "I1", "name": "b", "protocol": "npm", "location": "https://b/"}],
            PUBLIC,
            stored,
        )


def test_status_and_enabled() -> None:
    (d,) = parse_upstream_sources([{"name": "npmjs", "enabled": False}], PUBLIC)
    assert d.source["status"] == "disabled"
    (d,) = parse_upstream_sources([{"name": "npmjs", "status": "Disabled"}], PUBLIC)
    assert d.source["status"] == "disabled"
    (d,) = parse_upstream_sources([{"name": "npmjs", "status": "ok", "enabled": False}], PUBLIC)
    assert d.source["status"] == "disabled"
    for bad in ({"status": "paused"}, {"enabled": "no"}):
        with pytest.raises(BadRequestError):
            parse_upstream_sources([{"name": "npmjs", **bad}], PUBLIC)


def test_internal_targets_by_ids_and_by_locator() -> None:
    drafts = parse_upstream_sources(
        [
            {"protocol": "npm", "internalUpstreamFeedId": "shared", "internalUpstreamViewId": "Release"},
            {"protocol": "npm", "location": "azure-feed://other/P/f@Local"},
        ],
        {},
    )
    assert [d.source["upstreamSourceType"] for d in drafts] == ["internal", "internal"]
    t0, t1 = drafts[0].target, drafts[1].target
    assert t0 is not None and (t0.org, t0.project, t0.feed, t0.view, t0.by_ids) == (
        None,
        None,
        "shared",
        "Release",
        True,
    )
    assert t1 is not None and (t1.org, t1.project, t1.feed, t1.view, t1.by_ids) == ("other", "P", "f", "Local", False)


@pytest.mark.parametrize(
    "raw",
    [
        {"protocol": "npm", "upstreamSourceType": "internal"},
        {"protocol": "npm", "internalUpstreamFeedId": "f"},  # no view
        {"protocol": "npm", "internalUpstreamFeedId": "f", "internalUpstreamViewId": "v"}
        | {"credentials": {"token": "t"}},
        {"internalUpstreamFeedId": "f", "internalUpstreamViewId": "v"},  # no protocol
        {"name": "x", "protocol": "npm", "upstreamSourceType": "public", "location": "azure-feed://o/f@v"},
        {"name": "x", "protocol": "npm", "location": "https://h/", "internalUpstreamFeedId": "f", "enabled": True}
        | {"upstreamSourceType": "public"},
        {"name": "x", "protocol": "npm", "upstreamSourceType": "mirror", "location": "https://h/"},
    ],
)
def test_bad_internal_and_mixed_sources(raw: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError):
        parse_upstream_sources([raw], {})


def test_names_are_unique_case_insensitively() -> None:
    check_unique_names([{"name": "a"}, {"name": "b"}])
    with pytest.raises(BadRequestError, match="two sources named"):
        check_unique_names([{"name": "npmjs"}, {"name": "NpmJS"}])


def test_too_many_sources() -> None:
    with pytest.raises(BadRequestError, match="at most"):
        parse_upstream_sources([{"name": f"s{i}"} for i in range(51)], {})


# --- cycles ----------------------------------------------------------------------------------------

A: Node = ("org", "a")
B: Node = ("org", "b")
C: Node = ("org", "c")
D: Node = ("org", "d")
X: Node = ("other", "x")


def test_no_cycle_in_a_chain_or_a_diamond() -> None:
    assert find_cycle(A, {A: [B, C], B: [D], C: [D]}) is None
    assert find_cycle(A, {}) is None


def test_self_loop() -> None:
    assert find_cycle(A, {A: [A]}) == [A, A]


def test_two_and_longer_cycles_shortest_path_named() -> None:
    assert find_cycle(A, {A: [B], B: [A]}) == [A, B, A]
    assert find_cycle(A, {A: [B], B: [C], C: [X], X: [A]}) == [A, B, C, X, A]
    # the shortest way back is reported
    assert find_cycle(A, {A: [B, C], B: [C], C: [D], D: [A]}) == [A, C, D, A]


def test_a_cycle_not_through_the_start_is_not_reported() -> None:
    assert find_cycle(A, {A: [B], B: [C], C: [B]}) is None


def test_internal_targets_ignore_disabled_public_and_deleted_sources() -> None:
    sources: list[dict[str, Any]] = [
        {"upstreamSourceType": "public", "location": "https://h/"},
        {"upstreamSourceType": "internal", "internalUpstreamFeedId": "B", "status": "ok"},
        {"upstreamSourceType": "internal", "internalUpstreamFeedId": "c", "status": "disabled"},
        {"upstreamSourceType": "internal", "internalUpstreamFeedId": "d", "deletedDate": "2026-01-01"},
        {"upstreamSourceType": "internal", "internalUpstreamFeedId": "x", "internalUpstreamCollectionId": "Other"},
        {"upstreamSourceType": "internal", "internalUpstreamFeedId": "b"},
    ]
    assert internal_targets("ORG", sources) == [B, X]
    # a cycle through a disabled edge does not count
    adjacency = {A: internal_targets("org", [{"upstreamSourceType": "internal", "internalUpstreamFeedId": "b"}])}
    adjacency[B] = internal_targets(
        "org", [{"upstreamSourceType": "internal", "internalUpstreamFeedId": "a", "status": "disabled"}]
    )
    assert find_cycle(A, adjacency) is None
    adjacency[B] = internal_targets("org", [{"upstreamSourceType": "internal", "internalUpstreamFeedId": "a"}])
    assert find_cycle(A, adjacency) == [A, B, A]


# --- minimum release age ---------------------------------------------------------------------------


def test_release_age() -> None:
    assert validate_release_age(None, "h") is None
    assert validate_release_age(0, "h") == 0.0
    assert validate_release_age(72, "h") == 72.0
    assert validate_release_age(1.5, "h") == 1.5
    for bad in (-1, True, "24", float("inf"), float("nan"), 10**9):
        with pytest.raises(BadRequestError, match="number of hours"):
            validate_release_age(bad, "h")


def test_exemptions() -> None:
    assert validate_exemptions(None) == []
    assert validate_exemptions(["@myorg/*", "left-pad", "com.example:*", "LEFT-PAD"]) == [
        "@myorg/*",
        "left-pad",
        "com.example:*",
    ]
    for bad in ("nope", [""], ["a b"], ["a?"], ["[ab]"], [5], ["*"], ["x" * 300]):
        with pytest.raises(BadRequestError):
            validate_exemptions(bad)
    with pytest.raises(BadRequestError, match="at most"):
        validate_exemptions([f"p{i}" for i in range(MAX_EXEMPTIONS + 1)])
