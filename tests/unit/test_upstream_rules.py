"""The upstream rules alone: origin, upstream behaviour (the five documented scenarios), merge order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from feed_core.domain.cargo_versions import without_build
from feed_core.domain.upstream_rules import (
    Behaviour,
    HeldVersion,
    Merge,
    OfferedVersion,
    Origin,
    UpstreamOffer,
    changed_digests,
    decide_external,
    is_exempt,
    may_ask_external,
    merge_tags,
    merge_versions,
    origin_of,
    parse_behaviour,
)

I, E, U = Origin.INTERNAL, Origin.EXTERNAL, Origin.UNKNOWN  # noqa: E741 - short names keep the cases readable
NOW = datetime(2026, 11, 1, tzinfo=UTC)
PUBLIC_HOP = {"name": "npmjs", "sourceType": "public"}
FEED_HOP = {"name": "other-feed", "sourceType": "internal"}


def test_origin_from_the_source_chain() -> None:
    assert origin_of([]) is I  # published to this feed
    assert origin_of([PUBLIC_HOP]) is E
    assert origin_of([FEED_HOP]) is I  # published to another feed of this service
    assert origin_of([FEED_HOP, PUBLIC_HOP]) is E  # an internal upstream relaying a public version
    assert origin_of([{"name": "?"}]) is U


# --- the five scenarios of the upstream-behaviour documentation (default setting) ----------------


def test_private_package_later_made_public_is_blocked() -> None:
    assert not decide_external(Behaviour.AUTO, held=[I, I], offered=[E]).external_allowed


def test_private_and_public_versions_under_one_name_are_blocked() -> None:
    assert not decide_external(Behaviour.AUTO, held=[I, E], offered=[E, E]).external_allowed


def test_all_private_is_not_affected() -> None:
    decision = decide_external(Behaviour.AUTO, held=[I, I], offered=[])
    assert not decision.external_allowed  # nothing external exists, so nothing is hidden either
    merged = merge_versions(
        held=[HeldVersion("1.0.0", I, False)],
        feed_tags={},
        offers=[],
        behaviour=Behaviour.AUTO,
        now=NOW,
        minimum_release_age_hours=None,
        age_exempt=False,
    )
    assert merged.versions == ["1.0.0"] and merged.blocked == []


def test_all_public_is_not_blocked() -> None:
    assert decide_external(Behaviour.AUTO, held=[E, E], offered=[E]).external_allowed
    assert decide_external(Behaviour.AUTO, held=[], offered=[E, E]).external_allowed


def test_public_package_later_made_private_is_not_blocked_while_held_versions_are_all_public() -> None:
    # saved public versions only: still unblocked; publishing privately into this feed turns blocking on
    assert decide_external(Behaviour.AUTO, held=[E, E], offered=[E]).external_allowed
    assert not decide_external(Behaviour.AUTO, held=[E, E, I], offered=[E]).external_allowed


def test_a_private_name_is_not_sent_to_external_upstreams() -> None:
    assert not may_ask_external(Behaviour.AUTO, held=[I], internal_offered=[])  # published here
    assert not may_ask_external(Behaviour.AUTO, held=[E, I], internal_offered=[])  # deleted-or-not, still private
    assert not may_ask_external(Behaviour.AUTO, held=[], internal_offered=[I])  # published in an upstream feed
    assert may_ask_external(Behaviour.ALLOW_EXTERNAL, held=[I], internal_offered=[I])  # the owner allowed it
    assert may_ask_external(Behaviour.AUTO, held=[], internal_offered=[])  # a name nobody here published
    assert may_ask_external(Behaviour.AUTO, held=[E], internal_offered=[E])  # saved from upstream only
    assert may_ask_external(Behaviour.AUTO, held=[I, U], internal_offered=[])  # unknown origin fails open


# --- edge cases ---------------------------------------------------------------------------------


def test_allow_external_versions_overrides() -> None:
    assert decide_external(Behaviour.ALLOW_EXTERNAL, held=[I], offered=[E]).external_allowed


def test_unknown_origin_fails_open_and_says_so() -> None:
    held = decide_external(Behaviour.AUTO, held=[I, U], offered=[E])
    offered = decide_external(Behaviour.AUTO, held=[], offered=[I, U])
    for decision in (held, offered):
        assert decision.external_allowed and "unknown" in decision.reason


def test_not_yet_held_but_an_upstream_feed_offers_an_internal_version() -> None:
    assert not decide_external(Behaviour.AUTO, held=[], offered=[I, E]).external_allowed


def test_parse_behaviour_is_case_insensitive() -> None:
    assert parse_behaviour("AllowExternalVersions") is Behaviour.ALLOW_EXTERNAL
    assert parse_behaviour("AUTO") is Behaviour.AUTO
    with pytest.raises(ValueError, match="versionsFromExternalUpstreams"):
        parse_behaviour("sometimes")


def _offer(
    source: str,
    *versions: tuple[str, Origin],
    tags: dict[str, str] | None = None,
    published: datetime | None = None,
    hours: float | None = None,
) -> UpstreamOffer:
    return UpstreamOffer(source, [OfferedVersion(v, o, published) for v, o in versions], tags or {}, hours)


def test_search_order_held_first_then_upstreams_in_order() -> None:
    merged = merge_versions(
        held=[HeldVersion("1.0.0", E, False)],
        feed_tags={},
        offers=[_offer("a", ("1.0.0", E), ("2.0.0", E)), _offer("b", ("2.0.0", E), ("3.0.0", E))],
        behaviour=Behaviour.AUTO,
        now=NOW,
        minimum_release_age_hours=None,
        age_exempt=False,
    )
    assert merged.held == ["1.0.0"]
    assert merged.from_upstream == {"2.0.0": "a", "3.0.0": "b"}
    assert merged.versions == ["1.0.0", "2.0.0", "3.0.0"]


def test_dependency_confusion_a_private_name_keeps_its_own_version() -> None:
    merged = merge_versions(
        held=[HeldVersion("1.0.0", I, False)],
        feed_tags={"latest": "1.0.0"},
        offers=[_offer("npmjs", ("1.0.0", E), ("99.0.0", E), tags={"latest": "99.0.0"})],
        behaviour=Behaviour.AUTO,
        now=NOW,
        minimum_release_age_hours=None,
        age_exempt=False,
    )
    assert merged.versions == ["1.0.0"] and merged.blocked == ["99.0.0"]
    assert merged.dist_tags == {"latest": "1.0.0"}


def test_a_number_offered_internally_and_externally_resolves_to_the_internal_copy() -> None:
    merged = merge_versions(
        held=[],
        feed_tags={},
        offers=[_offer("npmjs", ("2.0.0", E)), _offer("team-feed", ("2.0.0", I), ("1.0.0", I))],
        behaviour=Behaviour.AUTO,
        now=NOW,
        minimum_release_age_hours=None,
        age_exempt=False,
    )
    assert merged.from_upstream == {"2.0.0": "team-feed", "1.0.0": "team-feed"}
    assert merged.blocked == []


def test_reserved_numbers_are_never_offered() -> None:
    merged = merge_versions(
        held=[HeldVersion("1.0.0", E, True)],
        feed_tags={},
        offers=[_offer("npmjs", ("1.0.0", E), ("1.0.1", E))],
        behaviour=Behaviour.AUTO,
        now=NOW,
        minimum_release_age_hours=None,
        age_exempt=False,
    )
    assert merged.versions == ["1.0.1"] and merged.reserved == ["1.0.0"]


def test_build_metadata_twins_are_one_version_when_the_protocol_says_so() -> None:
    held = [HeldVersion("1.0.0", E, False), HeldVersion("2.0.0", E, True)]
    offers = [
        _offer("a", ("1.0.0+x", E), ("2.0.0+y", E), ("3.0.0", E)),
        _offer("b", ("3.0.0+evil", E), ("4.0.0+b", E), ("4.0.0+c", E)),
    ]

    def merged(same: Callable[[str], str] | None) -> Merge:
        return merge_versions(
            held=held,
            feed_tags={},
            offers=offers,
            behaviour=Behaviour.AUTO,
            now=NOW,
            minimum_release_age_hours=None,
            age_exempt=False,
            same_version=same,
        )

    cargo = merged(without_build)
    assert cargo.versions == ["1.0.0", "3.0.0", "4.0.0+b"]
    assert cargo.from_upstream == {"3.0.0": "a", "4.0.0+b": "b"}
    assert cargo.reserved == ["2.0.0+y"]
    plain = merged(None)  # by default only equal text is the same version
    assert set(plain.versions) == {"1.0.0", "1.0.0+x", "2.0.0+y", "3.0.0", "3.0.0+evil", "4.0.0+b", "4.0.0+c"}
    assert plain.reserved == []


def test_minimum_release_age() -> None:
    young, old = NOW - timedelta(hours=1), NOW - timedelta(days=30)
    offers = [
        UpstreamOffer(
            "npmjs",
            [OfferedVersion("1.0.0", E, old), OfferedVersion("1.1.0", E, young), OfferedVersion("1.2.0", E, None)],
            {"latest": "1.1.0"},
        )
    ]
    merged = merge_versions(
        held=[],
        feed_tags={},
        offers=offers,
        behaviour=Behaviour.AUTO,
        now=NOW,
        minimum_release_age_hours=24,
        age_exempt=False,
    )
    assert merged.versions == ["1.0.0"]  # an unknown publish time is held back too (fail closed)
    assert merged.held_back == ["1.1.0", "1.2.0"] and merged.age_unknown == ["1.2.0"]
    assert merged.dist_tags["latest"] == "1.0.0"
    exempt = merge_versions(
        held=[],
        feed_tags={},
        offers=offers,
        behaviour=Behaviour.AUTO,
        now=NOW,
        minimum_release_age_hours=24,
        age_exempt=True,
    )
    assert exempt.held_back == []
    per_source = [UpstreamOffer("npmjs", offers[0].versions, {}, minimum_release_age_hours=0.5)]
    merged = merge_versions(
        held=[],
        feed_tags={},
        offers=per_source,
        behaviour=Behaviour.AUTO,
        now=NOW,
        minimum_release_age_hours=24,
        age_exempt=False,
    )
    assert merged.held_back == ["1.2.0"]  # half an hour is still an age the feed cannot establish
    no_age = merge_versions(
        held=[],
        feed_tags={},
        offers=[UpstreamOffer("npmjs", offers[0].versions, {}, minimum_release_age_hours=0)],
        behaviour=Behaviour.AUTO,
        now=NOW,
        minimum_release_age_hours=24,
        age_exempt=False,
    )
    assert no_age.held_back == [] and no_age.versions == ["1.0.0", "1.1.0", "1.2.0"]  # no release age: no hold


def test_a_version_without_a_usable_time_ages_from_its_floor_and_says_why() -> None:
    seen = NOW - timedelta(hours=2)  # the feed first saw it two hours ago
    offers = [UpstreamOffer("npmjs", [OfferedVersion("1.0.0", E, seen, time_unusable=True)], {})]

    def merged(now: datetime) -> Merge:
        return merge_versions(
            held=[],
            feed_tags={},
            offers=offers,
            behaviour=Behaviour.AUTO,
            now=now,
            minimum_release_age_hours=24,
            age_exempt=False,
        )

    assert merged(NOW).held_back == ["1.0.0"] and merged(NOW).age_unknown == ["1.0.0"]
    later = merged(NOW + timedelta(hours=23))
    assert later.versions == ["1.0.0"] and later.age_unknown == []


def test_changed_digests_compare_only_what_both_sides_declare() -> None:
    saved = {"integrity": "sha512-old", "shasum": ""}
    assert changed_digests(saved, {"integrity": "sha512-new", "shasum": "abc"}) == {"integrity": "sha512-new"}
    assert changed_digests(saved, {"integrity": "sha512-old", "shasum": "abc"}) == {}
    assert changed_digests(saved, {"integrity": "", "shasum": "abc"}) == {}  # dropped, not changed
    files = {"a-1.0-py3-none-any.whl": "aa", "a-1.0.tar.gz": "bb"}
    assert changed_digests(files, {"a-1.0-py3-none-any.whl": "cc", "a-1.0.tar.gz": "bb", "new.whl": "dd"}) == {
        "a-1.0-py3-none-any.whl": "cc"
    }


def test_feed_tags_win_over_upstream_tags() -> None:
    tags = merge_tags(
        {"latest": "1.0.0"},
        [{"latest": "2.0.0", "next": "3.0.0-rc.1"}, {"next": "9"}],
        ["1.0.0", "2.0.0", "3.0.0-rc.1"],
    )
    assert tags == {"latest": "1.0.0", "next": "3.0.0-rc.1"}


def test_exemption_patterns() -> None:
    assert is_exempt("@team/tool", ["@team/*"])
    assert not is_exempt("@other/tool", ["@team/*"])
