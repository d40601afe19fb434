"""Sparse index lines: what the feed writes, and how hostile upstream index files are read line by line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from feed_core.domain.cargo_index import (
    MAX_DEPS,
    MAX_LINE_BYTES,
    IndexLineError,
    ParsedLine,
    index_line,
    index_pubtime,
    is_own_registry,
    parse_index_file,
    render_index,
)

SUM = "ab" * 32
UPSTREAM = "sparse+https://upstream.test/index/"


def upstream_dep(name: str = "rand", **over: Any) -> dict[str, Any]:
    dep = {
        "name": name,
        "req": "^0.8",
        "features": ["std"],
        "optional": False,
        "default_features": True,
        "target": None,
        "kind": "normal",
        "registry": None,
        "package": None,
    }
    dep.update(over)
    return dep


def line(vers: str = "1.0.0", name: str = "Demo", **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "vers": vers,
        "deps": [upstream_dep()],
        "cksum": SUM,
        "features": {"default": ["std"], "std": []},
        "yanked": False,
        "links": None,
        "v": 2,
        "pubtime": "2025-11-12T19:30:12Z",
    }
    doc.update(over)
    return doc


def body(*docs: Any) -> bytes:
    return b"".join((d if isinstance(d, bytes) else json.dumps(d).encode()) + b"\n" for d in docs)


def parse(*docs: Any, name: str = "demo") -> tuple[list[ParsedLine], dict[str, str]]:
    return parse_index_file(body(*docs), name, own_locations=[UPSTREAM])


# --- writing -----------------------------------------------------------------------------------------


MANIFEST = {
    "name": "Demo",
    "deps": [upstream_dep(), upstream_dep("log", req="^0.4", kind="dev")],
    "features": {"default": ["std"], "std": []},
    "links": None,
    "rust_version": "1.70",
    "v": 2,
    "description": "not in the index",
    "keywords": ["k"],
}


def test_index_line_has_the_fields_cargo_reads_in_order() -> None:
    got = index_line("demo", "1.2.3+b", SUM, MANIFEST, False, "2025-11-12T19:30:12.345+02:00")
    assert list(got) == ["name", "vers", "deps", "cksum", "features", "yanked", "links", "v", "rust_version", "pubtime"]
    assert got["name"] == "Demo" and got["vers"] == "1.2.3+b" and got["cksum"] == SUM
    assert got["deps"] == MANIFEST["deps"] and got["features"] == MANIFEST["features"]
    assert got["yanked"] is False and got["links"] is None and got["v"] == 2 and got["rust_version"] == "1.70"
    assert got["pubtime"] == "2025-11-12T17:30:12Z"


def test_index_line_optional_fields() -> None:
    got = index_line("demo", "1.0.0", SUM, {"features2": {"x": ["dep:y"]}, "v": 1}, True, None)
    assert got["name"] == "demo" and got["deps"] == [] and got["features"] == {}
    assert got["features2"] == {"x": ["dep:y"]} and got["v"] == 1 and got["yanked"] is True
    assert "pubtime" not in got and "rust_version" not in got
    assert "features2" not in index_line("demo", "1.0.0", SUM, {}, False, None)
    assert index_line("demo", "1.0.0", SUM, {}, False, None)["v"] == 2


@pytest.mark.parametrize(
    ("iso", "expected"),
    [
        ("2025-11-12T19:30:12Z", "2025-11-12T19:30:12Z"),
        ("2025-11-12T19:30:12.999Z", "2025-11-12T19:30:12Z"),
        ("2025-11-12T19:30:12.123456+00:00", "2025-11-12T19:30:12Z"),
        ("2025-11-12T01:30:12-03:30", "2025-11-12T05:00:12Z"),
        ("2025-11-12T23:30:00+00:00", "2025-11-12T23:30:00Z"),
        ("2025-11-12T19:30:12", None),  # no zone: not a known moment
        ("not a time", None),
        ("", None),
        (None, None),
        ("9999-12-31T23:00:00-05:00", None),  # past the end of the calendar in UTC
    ],
)
def test_pubtime_is_utc_whole_seconds(iso: str | None, expected: str | None) -> None:
    assert index_pubtime(iso) == expected


def test_render_index_is_one_compact_line_per_version() -> None:
    lines = [index_line("demo", v, SUM, MANIFEST, False, None) for v in ("1.0.0", "1.1.0")]
    out = render_index(lines)
    assert out.endswith(b"\n") and out.count(b"\n") == 2 and b": " not in out and b", " not in out
    assert [json.loads(x) for x in out.splitlines()] == lines
    assert render_index([]) == b""


def test_render_then_parse_round_trips() -> None:
    written = index_line("demo", "1.0.0", SUM, MANIFEST, True, "2025-11-12T19:30:12.5Z")
    [parsed], refused = parse_index_file(render_index([written]), "demo", own_locations=[])
    assert not refused
    assert parsed == ParsedLine(
        "Demo",
        "1.0.0",
        SUM,
        True,
        "2025-11-12T19:30:12Z",
        {
            "name": "Demo",
            "deps": MANIFEST["deps"],
            "features": MANIFEST["features"],
            "links": None,
            "rust_version": "1.70",
            "v": 2,
        },
    )


@pytest.mark.parametrize(
    "url",
    [
        "sparse+https://upstream.test/index/",
        "https://upstream.test/index/",
        "https://upstream.test/index",
        "SPARSE+https://Upstream.test/Index",
    ],
)
def test_own_registry_is_recognised_with_or_without_sparse_and_slash(url: str) -> None:
    assert is_own_registry(url, [UPSTREAM])
    assert is_own_registry(url, ["https://upstream.test/index"])


def test_other_registries_are_not_own() -> None:
    assert not is_own_registry("https://upstream.test/other/", [UPSTREAM])
    assert not is_own_registry("https://upstream.test/index/", [])
    assert not is_own_registry("https://upstream.test/index/", [""])


# --- reading upstream index files ------------------------------------------------------------------


def test_good_lines_are_read_in_file_order() -> None:
    kept, refused = parse(line("1.0.0"), line("0.9.0", yanked=True), line("2.0.0-rc.1", pubtime=None))
    assert not refused
    assert [(p.version, p.yanked, p.pubtime) for p in kept] == [
        ("1.0.0", False, "2025-11-12T19:30:12Z"),
        ("0.9.0", True, "2025-11-12T19:30:12Z"),
        ("2.0.0-rc.1", False, None),
    ]
    assert kept[0].manifest == {
        "name": "Demo",
        "deps": [upstream_dep()],
        "features": {"default": ["std"], "std": []},
        "links": None,
        "rust_version": None,
        "v": 2,
    }


def test_lines_from_old_registries_get_defaults() -> None:
    minimal = {"name": "demo", "vers": "0.1.0", "deps": [{"name": "a1", "req": "*"}], "cksum": SUM.upper()}
    [p], refused = parse(minimal)
    assert not refused and p.yanked is False and p.pubtime is None and p.cksum == SUM
    assert p.manifest["v"] == 1 and p.manifest["features"] == {}
    assert p.manifest["deps"] == [
        {
            "name": "a1",
            "req": "*",
            "features": [],
            "optional": False,
            "default_features": True,
            "target": None,
            "kind": "normal",
            "registry": None,
            "package": None,
        }
    ]


def test_features2_is_kept_when_the_upstream_had_it() -> None:
    [p], _ = parse(line(features2={"serde": ["dep:serde", "chrono?/serde"]}))
    assert p.manifest["features2"] == {"serde": ["dep:serde", "chrono?/serde"]}
    [p], _ = parse(line())
    assert "features2" not in p.manifest


def test_the_upstream_s_own_registry_becomes_null_and_others_stay() -> None:
    deps = [
        upstream_dep("a1", registry="https://upstream.test/index"),
        upstream_dep("a2", registry="sparse+https://upstream.test/index/"),
        upstream_dep("a3", registry="https://elsewhere.test/index/"),
        upstream_dep("a4", package="real-name", kind="build", target="cfg(unix)", optional=True),
    ]
    [p], _ = parse(line(deps=deps))
    got = {d["name"]: d for d in p.manifest["deps"]}
    assert got["a1"]["registry"] is None and got["a2"]["registry"] is None
    assert got["a3"]["registry"] == "https://elsewhere.test/index/"
    assert got["a4"]["package"] == "real-name" and got["a4"]["kind"] == "build"
    assert got["a4"]["target"] == "cfg(unix)" and got["a4"]["optional"] is True


def test_unknown_fields_are_dropped() -> None:
    [p], _ = parse(line(deps=[upstream_dep(public=True, artifact=["bin"])], surprise={"x": 1}))
    assert set(p.manifest["deps"][0]) == {
        "name",
        "req",
        "features",
        "optional",
        "default_features",
        "target",
        "kind",
        "registry",
        "package",
    }
    assert "surprise" not in p.manifest


def test_the_name_is_compared_case_insensitively() -> None:
    kept, refused = parse(line(name="DEMO"), name="Demo")
    assert [p.name for p in kept] == ["DEMO"] and not refused


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        (line(name="other"), "for crate 'other', not 'demo'"),
        (line(name="demo-x"), "not 'demo'"),
        (line(name=None), "name is missing"),
        (line(cksum="abc"), "cksum is not a sha256"),
        (line(cksum="zz" * 32), "cksum is not a sha256"),
        (line(cksum=None), "cksum is missing"),
        (line(deps={"rand": "1"}), "deps is not a list"),
        (line(deps=None), "deps is not a list"),
        (line(deps=["rand"]), "a dependency is not a JSON object"),
        (line(deps=[upstream_dep(name="../x")]), "is not a crate name"),
        (line(deps=[upstream_dep(name="a" * 65)]), "is not a crate name"),
        (line(deps=[upstream_dep(name="")]), "name is missing"),
        (line(deps=[upstream_dep(package="a b")]), "is not a crate name"),
        (line(deps=[upstream_dep(req=None)]), "req is missing"),
        (line(deps=[upstream_dep(req="x" * 2000)]), "req is longer than"),
        (line(deps=[upstream_dep(kind="weird")]), "kind 'weird' is not normal, dev or build"),
        (line(deps=[upstream_dep(features="std")]), "features is not a list of strings"),
        (line(deps=[upstream_dep(features=[1])]), "features is not a list of strings"),
        (line(deps=[upstream_dep(optional="yes")]), "optional is not true or false"),
        (line(deps=[upstream_dep(registry=5)]), "registry is missing or not a string"),
        (line(deps=[upstream_dep()] * (MAX_DEPS + 1)), f"more than {MAX_DEPS} dependencies"),
        (line(features=["std"]), "features is not a JSON object"),
        (line(features={"std": "x"}), "is not a list of strings"),
        (line(features={"x" * 2000: []}), "feature name longer than"),
        (line(features2=[]), "features2 is not a JSON object"),
        (line(yanked="no"), "yanked is not true or false"),
        (line(v="2"), "v is not a schema version"),
        (line(v=True), "v is not a schema version"),
        (line(v=0), "v is not a schema version"),
        (line(links=["x"]), "links is missing or not a string"),
        (line(rust_version=1.7), "rust_version is missing or not a string"),
        (line(pubtime="yesterday"), "pubtime 'yesterday' is not a UTC time"),
        (line(pubtime="2025-11-12T19:30:12"), "is not a UTC time"),
        ([1, 2], "not a JSON object"),
        ("just a string", "not a JSON object"),
    ],
)
def test_a_bad_line_is_refused_alone(doc: Any, why: str) -> None:
    kept, refused = parse(line("0.1.0"), doc, line("0.2.0"))
    assert [p.version for p in kept] == ["0.1.0", "0.2.0"]
    assert len(refused) == 1
    [(key, reason)] = refused.items()
    assert why in reason
    assert key == ("1.0.0" if isinstance(doc, dict) else "line 2")


@pytest.mark.parametrize(
    ("vers", "key"),
    [("01.0.0", "line 2"), ("1.0", "line 2"), (None, "line 2"), ("1.0.0-" + "a" * 200, "line 2")],
)
def test_invalid_versions_are_refused_by_line_number(vers: Any, key: str) -> None:
    kept, refused = parse(line("0.1.0"), line(vers))
    assert [p.version for p in kept] == ["0.1.0"] and list(refused) == [key]


def test_a_line_that_is_not_json_is_refused_alone() -> None:
    kept, refused = parse(line("0.1.0"), b"{not json", b'{"name": "demo", "vers": NaN}', line("0.2.0"))
    assert [p.version for p in kept] == ["0.1.0", "0.2.0"]
    assert set(refused) == {"line 2", "line 3"}
    assert "not valid JSON" in refused["line 2"] and "NaN" in refused["line 3"]


def test_a_huge_line_is_refused_without_parsing() -> None:
    huge = json.dumps(line("0.2.0", description="x" * MAX_LINE_BYTES)).encode()
    kept, refused = parse(line("0.1.0"), huge)
    assert [p.version for p in kept] == ["0.1.0"] and "longer than" in refused["line 2"]


def test_deeply_nested_lines_are_refused() -> None:
    kept, refused = parse(line("0.1.0"), b'{"name": "demo", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    assert [p.version for p in kept] == ["0.1.0"] and "nested" in refused["line 2"]


def test_duplicate_versions_keep_the_first_line() -> None:
    first, again = line("1.0.0", cksum="11" * 32), line("1.0.0", cksum="22" * 32)
    kept, refused = parse(first, again)
    assert [(p.version, p.cksum) for p in kept] == [("1.0.0", "11" * 32)]
    assert list(refused) == ["line 2"] and "repeats a version" in refused["line 2"]


def test_build_metadata_twins_keep_the_first_line() -> None:
    kept, refused = parse(line("1.0.7+a"), line("1.0.7"), line("1.0.7+b"), line("1.0.8"))
    assert [p.version for p in kept] == ["1.0.7+a", "1.0.8"]
    assert refused.keys() == {"1.0.7", "1.0.7+b"}
    assert all("build metadata ignored" in why for why in refused.values())


def test_a_refused_line_is_keyed_by_number_when_its_version_is_kept_from_another_line() -> None:
    kept, refused = parse(line("1.0.0", name="other"), line("1.0.0"), line("1.0.0", name="other"))
    assert [p.version for p in kept] == ["1.0.0"]
    assert refused.keys() == {"line 1", "line 3"}


def test_two_refused_lines_of_one_version_get_distinct_keys() -> None:
    kept, refused = parse(line("1.0.0", name="other"), line("1.0.0", cksum="x"))
    assert kept == [] and refused.keys() == {"1.0.0", "line 2"}


def test_blank_lines_and_a_missing_final_newline_are_fine() -> None:
    raw = b"\n" + json.dumps(line("0.1.0")).encode() + b"\n\n  \n" + json.dumps(line("0.2.0")).encode()
    kept, refused = parse_index_file(raw, "demo", own_locations=[])
    assert [p.version for p in kept] == ["0.1.0", "0.2.0"] and not refused


def test_an_empty_file_has_no_versions() -> None:
    assert parse_index_file(b"", "demo", own_locations=[]) == ([], {})


def test_a_file_of_only_refused_json_lines_is_not_an_error() -> None:
    kept, refused = parse(line(name="other"))
    assert kept == [] and list(refused) == ["1.0.0"]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"<html><body>Not here</body></html>\n", "holds no JSON lines"),
        (b"not found", "holds no JSON lines"),
    ],
)
def test_a_file_that_is_not_json_lines_is_refused_whole(raw: bytes, why: str) -> None:
    with pytest.raises(IndexLineError, match=why):
        parse_index_file(raw, "demo", own_locations=[])


def test_too_many_lines_are_refused_whole() -> None:
    raw = body(*(line(f"0.{i}.0") for i in range(6)))
    assert len(parse_index_file(raw, "demo", own_locations=[], max_lines=6)[0]) == 6
    with pytest.raises(IndexLineError, match="more than 5 lines"):
        parse_index_file(raw, "demo", own_locations=[], max_lines=5)
