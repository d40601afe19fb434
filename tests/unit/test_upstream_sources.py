"""The pure parts of upstream-source configuration: request models, merging with stored sources, locators,
cycle detection."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import ValidationError

from feed_core.domain.credentials import Credentials
from feed_core.domain.errors import BadRequestError
from feed_core.domain.public_sources import ConfiguredSource
from feed_core.domain.release_age_policy import MAX_EXEMPTIONS, validate_exemptions, validate_release_age
from feed_core.domain.source_graph import Node, find_cycle, internal_targets
from feed_core.domain.source_locations import FeedLocator, parse_feed_locator
from feed_core.domain.source_merge import SourceDraft, check_unique_names, draft_sources
from feed_core.domain.source_models import CustomSource, InternalSource, PublicSource, StatusDetail, UpstreamSource
from feed_core.domain.upstream_sources import (
    SOURCE_REQUESTS,
    CustomSourceRequest,
    InternalSourceRequest,
    InternalTarget,
    PublicSourceRequest,
    parse_source_requests,
)
from feed_core.domain.validation import MAX_ERRORS, describe_validation_error

PUBLIC = {"npmjs": ConfiguredSource(protocol="npm", url="https://registry.example/")}


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


# --- request shapes --------------------------------------------------------------------------------


def drafts(raw: Any, public: Any = None, existing: Sequence[UpstreamSource] = ()) -> list[SourceDraft]:
    return draft_sources(parse_source_requests(raw), PUBLIC if public is None else public, existing)


def message_of(raw: Any) -> str:
    with pytest.raises(BadRequestError) as info:
        drafts(raw)
    return info.value.message


def test_the_kind_is_inferred_when_upstream_source_type_is_left_out() -> None:
    requests = parse_source_requests(
        [
            {"name": "npmjs"},
            {"name": "c", "protocol": "npm", "location": "https://h.example/"},
            {"protocol": "npm", "internalUpstreamFeedId": "f", "internalUpstreamViewId": "v"},
            {"protocol": "npm", "location": "azure-feed://o/f@v"},
            {"name": "x", "location": "", "upstreamSourceType": "PUBLIC"},
            {"protocol": "npm", "upstreamSourceType": "Internal", "location": "azure-feed://o/f@v"},
        ]
    )
    assert [type(r) for r in requests] == [
        PublicSourceRequest,
        CustomSourceRequest,
        InternalSourceRequest,
        InternalSourceRequest,
        PublicSourceRequest,
        InternalSourceRequest,
    ]
    # validated models pass through again unchanged (the service accepts what the REST models built)
    assert parse_source_requests(requests) == requests


def test_json_bodies_validate_as_parsed_ones() -> None:
    body = json.dumps(
        [
            {"name": "c", "protocol": "npm", "location": "https://h.example/", "credentials": {"token": "t"}},
            {"name": "d", "protocol": "pypi", "location": "https://d.example/", "minimumReleaseAgeHours": 5}
            | {"credentials": {"username": "u", "password": "p"}},
        ]
    )
    from_json = SOURCE_REQUESTS.validate_json(body)
    assert from_json == parse_source_requests(json.loads(body))
    token, basic = (r.new_credentials() for r in from_json if isinstance(r, CustomSourceRequest))
    assert token == Credentials(token="t") and basic == Credentials(username="u", password="p")
    for hours in ("1" + "0" * 400, "NaN", "1e400", "-0.5", "true", '"5"'):
        text = body.replace('"minimumReleaseAgeHours": 5', f'"minimumReleaseAgeHours": {hours}')
        with pytest.raises(ValidationError) as info:
            SOURCE_REQUESTS.validate_json(text)
        assert describe_validation_error(info.value, "upstreamSources") == (
            "upstreamSources[1].minimumReleaseAgeHours: must be a number of hours from 0 to 87600, or null"
        )


def test_what_get_showed_is_accepted_back() -> None:
    shown = {
        "id": "i1",
        "name": "c",
        "protocol": "npm",
        "upstreamSourceType": "public",
        "location": "https://h.example/",
        "displayLocation": "https://h.example/",
        "status": "failed",
        "statusDetails": [{"reason": "upstream 'c' is unavailable"}],
        "deletedDate": None,
        "serviceEndpointId": None,
        "internalUpstreamCollectionId": None,
        "internalUpstreamProjectId": None,
        "internalUpstreamFeedId": None,
        "internalUpstreamViewId": None,
        "minimumReleaseAgeHours": None,
        "hasCredentials": True,
        "health": {"status": "failed", "consecutiveFailures": 2},
    }
    failed, unknown = parse_source_requests([shown, {**shown, "id": "i2", "name": "d", "status": "Unknown"}])
    assert isinstance(failed, CustomSourceRequest) and failed.stored_status is None
    assert not failed.sends_credentials  # hasCredentials is not credentials: the stored ones stay
    assert unknown.stored_status is None


def test_public_source_by_configured_name() -> None:
    (draft,) = drafts([{"name": "NPMJS", "upstreamSourceType": "public"}])
    src = draft.source
    assert draft.target is None and isinstance(src, PublicSource)
    assert src.name == "npmjs" and src.protocol == "npm"
    assert src.location == src.display_location == "https://registry.example/"
    assert src.status == "ok" and src.status_details == () and src.deleted_date is None
    assert src.credentials is None and src.upstream_source_type == "public"


def test_public_source_protocol_must_match_configuration() -> None:
    assert "upstreamSources[0].protocol: the public source 'npmjs' serves npm, not pypi" in message_of(
        [{"name": "npmjs", "protocol": "pypi"}]
    )
    text = message_of([{"name": "pypi", "protocol": "pypi"}])
    assert text.startswith("upstreamSources[0].name: 'pypi' is not a configured public source (known: npmjs)")
    with pytest.raises(BadRequestError, match="FEED_PUBLIC_SOURCES"):
        drafts([{"name": "npmjs"}], public={})


def test_a_public_source_sent_back_as_get_showed_it_stays_public() -> None:
    (draft,) = drafts([{"name": "npmjs", "protocol": "npm", "location": "https://registry.example/"}])
    assert isinstance(draft.source, PublicSource)
    (draft,) = drafts([{"name": "npmjs", "protocol": "npm", "location": "https://mirror.example/"}])
    assert isinstance(draft.source, CustomSource)


def test_custom_url_with_credentials() -> None:
    (draft,) = drafts(
        [{"name": "corp", "protocol": "npm", "location": "https://corp.example/npm/", "credentials": {"token": "t"}}]
    )
    src = draft.source
    assert isinstance(src, CustomSource) and src.credentials == Credentials(token="t")
    assert "'t'" not in repr(src) and "Credentials(token=***)" in repr(src)
    assert src.upstream_source_type == "public" and src.kind == "custom"
    assert "credentials" not in src.to_document()


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("ftp://host/", "http(s) URL"),
        ("https://user:pw@host/", "user information"),
        ("http:///nohost", "with a host"),
        ("https://host:99999/", "not a valid URL"),
        ("https://ho st/", "without spaces"),
        ("x" * 2000, "at most 1024 characters"),
        ("azure-feed://o/f@v", "internal sources"),
    ],
)
def test_bad_registry_urls(location: str, words: str) -> None:
    text = message_of([{"name": "c", "protocol": "npm", "upstreamSourceType": "public", "location": location}])
    assert text.startswith("upstreamSources[0].location: ") and words in text


@pytest.mark.parametrize(
    ("creds", "path"),
    [
        ("secret", "credentials"),
        ({}, "credentials"),
        ({"token": ""}, "credentials.token"),
        ({"token": 5}, "credentials.token"),
        ({"username": "u"}, "credentials"),
        ({"username": "u", "password": "secret", "token": "t"}, "credentials"),
        ({"username": "u:x", "password": "secret"}, "credentials.username"),
        ({"token": "a\nb"}, "credentials.token"),
        ({"token": "x" * 5000}, "credentials.token"),
        ({"username": "secret", "password": ""}, "credentials.password"),
    ],
)
def test_bad_credentials_never_echo_the_secret(creds: Any, path: str) -> None:
    raw = [{"name": "c", "protocol": "npm", "location": "https://h.example/", "credentials": creds}]
    with pytest.raises(BadRequestError) as info:
        parse_source_requests(raw)
    assert info.value.message.startswith(f"upstreamSources[0].{path}: ")
    for secret in ("secret", "a\nb", "x" * 100):
        assert secret not in info.value.message
    with pytest.raises(ValidationError) as error:
        SOURCE_REQUESTS.validate_python(raw)
    assert "secret" not in str(error.value)  # the input is hidden from every rendering of the errors


def stored_corp(**changes: Any) -> CustomSource:
    return CustomSource(
        id="11111111-1111-1111-1111-111111111111",
        name="corp",
        protocol="npm",
        location="https://corp.example/npm/",
        status="disabled",
        status_details=(StatusDetail(reason="engine said so"),),
        minimum_release_age_hours=12.0,
        credentials=Credentials(token="t"),
    ).model_copy(update=changes)


def test_existing_id_keeps_status_details_status_and_credentials() -> None:
    stored = stored_corp()
    sent = {"id": stored.id, "name": "corp", "protocol": "npm", "location": "https://CORP.example/other/path/"}
    (draft,) = drafts([sent], existing=[stored])
    src = draft.source
    assert src is not None and src.id == stored.id and draft.previous == stored
    assert src.status == "disabled"
    assert src.status_details == (StatusDetail(reason="engine said so"),)
    assert src.minimum_release_age_hours == 12.0
    assert src.credentials == Credentials(token="t")
    (draft,) = drafts(
        [{**sent, "credentials": None, "enabled": True, "minimumReleaseAgeHours": None}], existing=[stored]
    )
    assert draft.source is not None and draft.source.credentials is None and draft.source.status == "ok"
    assert draft.source.minimum_release_age_hours is None


def test_stored_credentials_are_not_carried_to_another_host() -> None:
    stored = stored_corp(location="https://corp.example/")
    sent = {"id": stored.id, "name": "corp", "protocol": "npm"}
    (draft,) = drafts([{**sent, "location": "https://corp.example/elsewhere/"}], existing=[stored])
    assert draft.source is not None and draft.source.credentials == Credentials(token="t")
    for other in ("https://evil.example/", "https://corp.example:8443/", "http://corp.example/"):
        with pytest.raises(BadRequestError, match="another host"):
            drafts([{**sent, "location": other}], existing=[stored])
    (draft,) = drafts([{**sent, "location": "https://evil.example/", "credentials": {"token": "n"}}], existing=[stored])
    assert draft.source is not None and draft.source.credentials == Credentials(token="n")


def test_unknown_id_gets_a_new_one_and_duplicates_are_refused() -> None:
    (draft,) = drafts([{"id": "made-up", "name": "npmjs"}])
    assert draft.source is not None and draft.source.id != "made-up"
    stored = stored_corp(id="i1", name="npmjs", location="https://registry.example/")
    text = message_of_existing(
        [{"id": "i1", "name": "npmjs"}, {"id": "I1", "name": "b", "protocol": "npm", "location": "https://b/"}],
        [stored],
    )
    assert text == "upstreamSources[1].id: repeats the id i1 of another source"


def message_of_existing(raw: Any, existing: Sequence[UpstreamSource]) -> str:
    with pytest.raises(BadRequestError) as info:
        drafts(raw, existing=existing)
    return info.value.message


def test_status_and_enabled() -> None:
    def status(**fields: Any) -> str:
        (d,) = drafts([{"name": "npmjs", **fields}])
        assert d.source is not None
        return d.source.status

    assert status(enabled=False) == "disabled"
    assert status(status="Disabled") == "disabled"
    assert status(status="ok", enabled=False) == "disabled"
    assert status(status="disabled", enabled=True) == "ok"
    assert status(status="failed") == status(status="unknown") == "ok"  # shown, never set
    stored = stored_corp(name="npmjs", location="https://registry.example/")
    (d,) = drafts([{"id": stored.id, "name": "npmjs", "status": "unknown"}], existing=[stored])
    assert d.source is not None and d.source.status == "disabled"  # a sent-back unknown keeps what is stored
    assert "upstreamSources[0].status: Input should be 'ok', 'disabled'" in message_of(
        [{"name": "npmjs", "status": "x"}]
    )
    assert (
        message_of([{"name": "npmjs", "enabled": "no"}])
        == "upstreamSources[0].enabled: Input should be a valid boolean"
    )


def test_internal_targets_by_ids_and_by_locator() -> None:
    found = drafts(
        [
            {"protocol": "npm", "internalUpstreamFeedId": "shared", "internalUpstreamViewId": "Release"},
            {"protocol": "npm", "location": "azure-feed://other/P/f@Local"},
        ]
    )
    assert [d.source for d in found] == [None, None]  # the service resolves them
    assert found[0].target == InternalTarget(None, None, "shared", "Release", by_ids=True)
    assert found[1].target == InternalTarget("other", "P", "f", "Local", by_ids=False)
    source = found[0].internal(
        org="org",
        project=None,
        feed_id="F1",
        view_id="V1",
        location="azure-feed://org/shared@Release",
        default_name="n",
    )
    assert source.name == "n" and source.internal_upstream_feed_id == "F1" and source.kind == "internal"
    assert source.upstream_source_type == "internal" and source.credentials is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"protocol": "npm", "upstreamSourceType": "internal"}, "upstreamSources[0]: an internal source needs"),
        ({"protocol": "npm", "internalUpstreamFeedId": "f"}, "upstreamSources[0].internalUpstreamViewId: must name"),
        (
            {"protocol": "npm", "internalUpstreamFeedId": "f", "internalUpstreamViewId": "v"}
            | {"credentials": {"token": "t"}},
            "upstreamSources[0].credentials: internal sources take no credentials",
        ),
        ({"internalUpstreamFeedId": "f", "internalUpstreamViewId": "v"}, "upstreamSources[0].protocol: Field required"),
        (
            {"name": "x", "protocol": "npm", "upstreamSourceType": "public", "location": "azure-feed://o/f@v"},
            "upstreamSources[0].location: azure-feed:// locations are internal sources",
        ),
        (
            {"name": "x", "protocol": "npm", "location": "https://h/", "internalUpstreamFeedId": "f"}
            | {"upstreamSourceType": "public"},
            "upstreamSources[0].internalUpstreamFeedId: names an upstream feed",
        ),
        (
            {"name": "x", "protocol": "npm", "upstreamSourceType": "mirror", "location": "https://h/"},
            "upstreamSources[0].upstreamSourceType: must be public or internal",
        ),
        (
            {"protocol": "npm", "location": "azure-feed://contoso/shared"},
            "upstreamSources[0].location: the feed locator 'azure-feed://contoso/shared' names no view",
        ),
        (
            {"protocol": "npm", "internalUpstreamFeedId": "f", "internalUpstreamViewId": "v"}
            | {"internalUpstreamCollectionId": "-bad-"},
            "upstreamSources[0].internalUpstreamCollectionId: invalid organization name",
        ),
        ({"name": 5}, "upstreamSources[0].name: Input should be a valid string"),
        ({"name": "  "}, "upstreamSources[0].name: must not be blank"),
        ({"name": "a\tb"}, "upstreamSources[0].name: must not contain control characters"),
        ({"name": "x" * 65}, "upstreamSources[0].name: String should have at most 64 characters"),
        ({"name": "c", "minimumReleaseAgeHours": "24"}, "upstreamSources[0].minimumReleaseAgeHours: must be a number"),
        ({"name": "c", "statusDetails": "x"}, "upstreamSources[0].statusDetails: Input should be a valid list"),
        ({"name": "c", "statusDetails": [{"reason": 5}]}, "upstreamSources[0].statusDetails[0].reason: Input should"),
        ("nope", "upstreamSources[0]: must be an upstream source"),
        (None, "upstreamSources[0]: must be an upstream source"),
    ],
)
def test_bad_sources_name_the_field(raw: Any, expected: str) -> None:
    assert message_of([raw]).startswith(expected)


@pytest.mark.parametrize("hours", [-1, True, "24", float("inf"), float("nan"), 10**9, 10**400])
def test_release_age_of_a_source(hours: Any) -> None:
    text = message_of([{"name": "c", "minimumReleaseAgeHours": hours}])
    assert text == "upstreamSources[0].minimumReleaseAgeHours: must be a number of hours from 0 to 87600, or null"


def test_names_are_unique_case_insensitively() -> None:
    a, b = stored_corp(name="a"), stored_corp(name="b")
    check_unique_names([a, b])
    with pytest.raises(BadRequestError, match=r"upstreamSources\[1\].name: two sources named 'NpmJS'"):
        check_unique_names([stored_corp(name="npmjs"), stored_corp(name="NpmJS")])


def test_too_many_sources() -> None:
    assert message_of([{"name": f"s{i}"} for i in range(51)]).startswith(
        "upstreamSources: List should have at most 50 items"
    )
    with pytest.raises(BadRequestError, match="at most 50 upstream sources"):
        draft_sources([PublicSourceRequest(name=f"s{i}") for i in range(51)], PUBLIC)
    assert message_of({"name": "x"}) == "upstreamSources: Input should be a valid list"


def test_many_errors_are_listed_once_and_counted() -> None:
    text = message_of([{"name": 5} for _ in range(12)])
    assert text.count("Input should be a valid string") == MAX_ERRORS and text.endswith(f"; and {12 - MAX_ERRORS} more")
    assert text.startswith("upstreamSources[0].name: Input should be a valid string; upstreamSources[1].name: ")


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


def internal_source(feed_id: str, **fields: Any) -> InternalSource:
    return InternalSource(
        id=f"id-{feed_id}-{len(fields)}",
        name=feed_id,
        protocol="npm",
        location=f"azure-feed://org/{feed_id}@Release",
        internal_upstream_feed_id=feed_id,
        internal_upstream_view_id="Release",
        **fields,
    )


def test_internal_targets_ignore_disabled_public_and_deleted_sources() -> None:
    sources: list[UpstreamSource] = [
        stored_corp(status="ok"),
        internal_source("B", status="ok"),
        internal_source("c", status="disabled"),
        internal_source("d", deleted_date="2026-01-01"),
        internal_source("x", internal_upstream_collection_id="Other"),
        internal_source("b"),
    ]
    assert internal_targets("ORG", sources) == [B, X]
    # a cycle through a disabled edge does not count
    adjacency = {A: internal_targets("org", [internal_source("b")])}
    adjacency[B] = internal_targets("org", [internal_source("a", status="disabled")])
    assert find_cycle(A, adjacency) is None
    adjacency[B] = internal_targets("org", [internal_source("a")])
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
