"""Universal Package names, versions, wildcard selection and manifests (every hostile manifest refused)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feed_core.domain.chunking import chunk_bytes
from feed_core.domain.errors import BadRequestError
from feed_core.domain.upack import (
    ChunkRef,
    InvalidManifest,
    InvalidPackageName,
    InvalidPackageVersion,
    ManifestFile,
    ManifestLimits,
    build_manifest,
    check_name,
    check_version,
    highest_matching,
    manifest_file,
    parse_manifest,
    stored_chunk_hashes,
)

HASH_A = hashlib.sha256(b"a").hexdigest()
HASH_B = hashlib.sha256(b"b").hexdigest()
KEYS = ["format", "files", "path", "size", "mode", "chunks", "sha256"]


def _file(path: str = "a.txt", *, size: int = 3, mode: int = 0o644, chunks: Any = None) -> dict[str, Any]:
    return {
        "path": path,
        "size": size,
        "mode": mode,
        "chunks": [{"sha256": HASH_A, "size": size}] if chunks is None else chunks,
    }


def _doc(*files: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"format": 1, "files": list(files), **extra}).encode()


# --- names and versions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "my-tool", "my_tool.v2", "a1.b2-c3_d4", "0", "x" * 256])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "empty"),
        ("x" * 257, "at most 256"),
        ("MyTool", "lower-case"),
        ("-tool", "starting and ending"),
        ("tool.", "starting and ending"),
        ("my--tool", "single"),
        ("my-.tool", "single"),
        ("my tool", "letters, digits"),
        ("my/tool", "letters, digits"),
        ("café", "letters, digits"),
        ("tool\x00", "letters, digits"),
    ],
)
def test_invalid_names(name: str, says: str) -> None:
    with pytest.raises(InvalidPackageName, match=says):
        check_name(name)


@pytest.mark.parametrize("version", ["0.0.0", "1.2.3", "1.0.0-beta.1", "10.20.30-rc.1-x"])
def test_valid_versions(version: str) -> None:
    assert check_version(version) == version


@pytest.mark.parametrize(
    ("version", "says"),
    [
        ("1.0", "not a semantic version"),
        ("01.0.0", "not a semantic version"),
        ("v1.0.0", "not a semantic version"),
        ("1.0.0+build.5", "build metadata"),
        ("1.0.0-RC1", "lower-case"),
        ("1" * 300, "not a semantic version"),
        ("", "not a semantic version"),
    ],
)
def test_invalid_versions(version: str, says: str) -> None:
    with pytest.raises(InvalidPackageVersion, match=says):
        check_version(version)


def test_errors_are_value_errors_and_bad_requests() -> None:
    with pytest.raises(ValueError, match="lower-case") as caught:
        check_name("X")
    assert isinstance(caught.value, BadRequestError)
    assert caught.value.status == 400


# --- wildcard selection -------------------------------------------------------------------------------------

VERSIONS = ["1.0.0", "1.2.0", "1.2.5", "1.10.1", "2.0.0-beta.1", "1.11.0-rc.1", "0.9.0", "not-a-version"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", "1.10.1"),
        ("1.*", "1.10.1"),
        ("1.2.*", "1.2.5"),
        ("0.*", "0.9.0"),
        ("3.*", None),
        ("1.3.*", None),
        ("1.2.0", "1.2.0"),
        ("2.0.0-beta.1", "2.0.0-beta.1"),
        ("2.0.0", None),
        ("1.11.*", None),
    ],
)
def test_highest_matching(pattern: str, expected: str | None) -> None:
    assert highest_matching(VERSIONS, pattern) == expected


def test_wildcards_skip_prereleases_but_exact_finds_them() -> None:
    assert highest_matching(["1.0.0-alpha"], "*") is None
    assert highest_matching(["1.0.0-alpha"], "1.0.0-alpha") == "1.0.0-alpha"


@pytest.mark.parametrize("pattern", ["1.*.3", "*.*", "1.x", "1.2.3.*", "^1.0", "01.*", "1.2.3-*", "**", ""])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidPackageVersion):
        highest_matching(VERSIONS, pattern)


# --- manifests: the good path -------------------------------------------------------------------------------


def test_a_built_manifest_round_trips_through_its_canonical_json() -> None:
    content = b"hello world" * 50_000
    files = [
        manifest_file("bin/tool", 0o755, chunk_bytes(content)),
        manifest_file("README.md", 0o644, chunk_bytes(b"read me")),
        manifest_file("empty", 0o600, []),
        manifest_file("docs/ünïcode.txt", 0o644, chunk_bytes(b"x")),
    ]
    manifest = build_manifest(files)
    assert [f.path for f in manifest.files] == ["README.md", "bin/tool", "docs/ünïcode.txt", "empty"]
    again = parse_manifest(manifest.canonical_json)
    assert again == manifest
    assert again.canonical_json == manifest.canonical_json
    assert manifest.total_hash == hashlib.sha256(manifest.canonical_json).hexdigest()
    assert manifest.total_size == len(content) + 7 + 1
    assert sum(manifest.chunk_sizes().values()) <= manifest.total_size


def test_the_total_hash_ignores_order_spacing_and_key_order() -> None:
    one = _file("b", chunks=[{"sha256": HASH_B, "size": 3}])
    two = _file("a")
    first = parse_manifest(_doc(one, two))
    reordered = {"files": [dict(reversed(list(two.items()))), one], "format": 1}
    second = parse_manifest(json.dumps(reordered, indent=4).encode())
    assert first.total_hash == second.total_hash
    assert first.canonical_json.startswith(b'{"files":[{"chunks":[{"sha256":"' + HASH_A.encode())


def test_the_total_hash_is_stable() -> None:
    manifest = parse_manifest(_doc(_file("a.txt")))
    expected_json = (
        '{"files":[{"chunks":[{"sha256":"' + HASH_A + '","size":3}],"mode":420,"path":"a.txt","size":3}],"format":1}'
    )
    assert manifest.canonical_json == expected_json.encode()
    assert manifest.total_hash == hashlib.sha256(expected_json.encode()).hexdigest()


def test_the_total_hash_changes_with_mode_path_or_content() -> None:
    base = parse_manifest(_doc(_file("a"))).total_hash
    assert parse_manifest(_doc(_file("a", mode=0o755))).total_hash != base
    assert parse_manifest(_doc(_file("b"))).total_hash != base
    assert parse_manifest(_doc(_file("a", chunks=[{"sha256": HASH_B, "size": 3}]))).total_hash != base


def test_the_builder_normalizes_paths_to_nfc() -> None:
    manifest = build_manifest([manifest_file("cafe\u0301", 0o644, [])])
    assert manifest.files[0].path == "caf\u00e9"


def test_a_shared_chunk_in_two_files_is_needed_once() -> None:
    manifest = parse_manifest(_doc(_file("a"), _file("b")))
    assert manifest.chunk_sizes() == {HASH_A: 3}


def test_an_empty_package_is_allowed() -> None:
    assert parse_manifest(_doc()).files == ()


# --- manifests: every hostile case --------------------------------------------------------------------------

HOSTILE_PATHS = [
    ("../x", "'..'"),
    ("a/../../b", "'..'"),
    ("a/./b", "'.'"),
    ("/etc/passwd", "absolute"),
    ("C:\\x", "backslash"),
    ("C:/x", "colon"),
    ("a\\b", "backslash"),
    ("a//b", "empty segment"),
    ("a/", "empty segment"),
    ("", "empty"),
    ("a\x00b", "control"),
    ("a\nb", "control"),
    ("a\x7f", "control"),
    ("cafe\u0301", "NFC"),
    ("file.txt:stream", "colon"),
    ("a/b?c", "Windows"),
    ("a/b*", "Windows"),
    ("dir./x", "dot or a space"),
    ("x ", "dot or a space"),
    ("CON", "device"),
    ("sub/nul.txt", "device"),
    ("com1", "device"),
    ("a" * 1025, "longer than 1024"),
    ("d/" + "n" * 256, "longer than 255"),
    ("\ud800", "Unicode|surrogate"),
]


@pytest.mark.parametrize(("path", "says"), HOSTILE_PATHS)
def test_hostile_paths_are_refused_by_the_parser(path: str, says: str) -> None:
    body = json.dumps({"format": 1, "files": [_file(path)]}).encode("utf-8", "surrogatepass")
    with pytest.raises(InvalidManifest, match=says.replace("?", r"\?")):
        parse_manifest(body)


@pytest.mark.parametrize(("path", "says"), [hp for hp in HOSTILE_PATHS if hp[1] != "NFC"])
def test_hostile_paths_are_refused_by_the_builder(path: str, says: str) -> None:
    with pytest.raises(InvalidManifest, match=says.replace("?", r"\?")):
        build_manifest([ManifestFile(path, 3, 0o644, (ChunkRef(HASH_A, 3),))])


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        (0o120777, "symbolic link"),
        (0o020644, "character device"),
        (0o060644, "block device"),
        (0o040755, "directory"),
        (0o010644, "named pipe"),
        (0o140755, "socket"),
        (0o4755, "setuid"),
        (0o1777, "sticky"),
        (0o100644, "permission bits"),
        (-1, "permission bits"),
        (2**40, "permission bits"),
        (10**500, "permission bits"),
        (2**64 + 0o120777, "permission bits"),
        (True, "integer"),
        (420.0, "integer"),
        ("0644", "integer"),
        (None, "integer"),
    ],
)
def test_bad_modes_are_refused(mode: Any, says: str) -> None:
    with pytest.raises(InvalidManifest, match=says):
        parse_manifest(_doc(_file(mode=mode)))


@pytest.mark.parametrize(
    ("paths", "says"),
    [
        (["a", "a"], "listed twice"),
        (["Readme.md", "README.md"], "ignoring case"),
        (["dir/File", "DIR/file"], "ignoring case"),
        (["a", "a/b"], "also a directory"),
        (["x/y/z", "X/Y"], "also a directory"),
    ],
)
def test_colliding_paths_are_refused(paths: list[str], says: str) -> None:
    with pytest.raises(InvalidManifest, match=says):
        parse_manifest(_doc(*(_file(p) for p in paths)))


@pytest.mark.parametrize(
    ("file", "says"),
    [
        ({**_file(), "size": 4}, "add up to 3 bytes, not its size of 4"),
        (_file(size=3, chunks=[]), "add up to 0 bytes"),
        (_file(size=0, chunks=[{"sha256": HASH_A, "size": 0}]), "from 1 to"),
        (_file(chunks=[{"sha256": HASH_A.upper(), "size": 3}]), "lower-case hex"),
        (_file(chunks=[{"sha256": HASH_A[:-1], "size": 3}]), "64 lower-case hex"),
        (_file(chunks=[{"sha256": "sha256:" + HASH_A, "size": 3}]), "hex"),
        (_file(chunks=[{"sha256": 5, "size": 3}]), "no sha256 string"),
        (_file(chunks=[{"sha256": HASH_A, "size": "3"}]), "integer"),
        (_file(chunks=[{"sha256": HASH_A, "size": 3, "extra": 1}]), "unknown key"),
        (_file(chunks=[{"size": 3}]), "has no 'sha256'"),
        (_file(chunks=["x"]), "JSON object"),
        (_file(chunks={"sha256": HASH_A}), "must be a list"),
        (_file(size=-3, chunks=[]), "negative"),
        (_file(size=10**500, chunks=[]), "more than"),
        (_file(size=3.0), "integer"),
        ({**_file(), "target": "/etc/passwd"}, "unknown key 'target'"),
        ({**_file(), "type": "symlink"}, "unknown key 'type'"),
        ({"path": "a", "size": 3, "mode": 0o644}, "has no 'chunks'"),
        ({**_file(), "path": 5}, "no path string"),
        ("a.txt", "JSON object"),
    ],
)
def test_malformed_file_entries_are_refused(file: Any, says: str) -> None:
    with pytest.raises(InvalidManifest, match=says):
        parse_manifest(_doc(file))


def test_one_chunk_with_two_sizes_is_refused() -> None:
    two = _file("b", size=4, chunks=[{"sha256": HASH_A, "size": 4}])
    with pytest.raises(InvalidManifest, match="two different sizes"):
        parse_manifest(_doc(_file("a"), two))


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "not valid JSON"),
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "JSON object"),
        (b'{"format": 1}', "has no 'files'"),
        (b'{"format": 2, "files": []}', "format must be 1"),
        (b'{"format": "1", "files": []}', "integer"),
        (b'{"format": 1, "files": {}}', "must be a list"),
        (b'{"format": 1, "files": [], "name": "x"}', "unknown key"),
        (b'{"format": 1, "files": [], "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested"),
        (b'{"format": 1, "files": [' + b"[" * 200 + b"]" * 200 + b"]}", "nested"),
        (b'{"format": 1' + b"0" * 2000 + b', "files": []}', "more than 1000 digits"),
        (b'{"format": NaN, "files": []}', "NaN"),
        (b'{"format": 1, "files": []} trailing', "not valid JSON"),
    ],
)
def test_malformed_documents_are_refused(body: bytes, says: str) -> None:
    with pytest.raises(InvalidManifest, match=says):
        parse_manifest(body)


def test_limits_are_enforced() -> None:
    limits = ManifestLimits(max_files=2, max_total_size=10, max_chunks=5, max_chunk_size=4, max_manifest_bytes=2000)
    with pytest.raises(InvalidManifest, match="more than 2 files"):
        parse_manifest(_doc(_file("a"), _file("b"), _file("c")), limits)
    big = [{"sha256": HASH_A, "size": 4}, {"sha256": HASH_A, "size": 4}]
    with pytest.raises(InvalidManifest, match="more than 10 bytes"):
        parse_manifest(_doc(_file("a", size=8, chunks=big), _file("b", size=8, chunks=big)), limits)
    many = [{"sha256": HASH_A, "size": 1}] * 6
    with pytest.raises(InvalidManifest, match="more than 5 chunks"):
        parse_manifest(_doc(_file("a", size=6, chunks=many)), limits)
    with pytest.raises(InvalidManifest, match="from 1 to 4 bytes"):
        parse_manifest(_doc(_file("a", size=5, chunks=[{"sha256": HASH_A, "size": 5}])), limits)
    with pytest.raises(InvalidManifest, match="larger than 2000 bytes"):
        parse_manifest(b" " * 2001, limits)
    with pytest.raises(InvalidManifest, match="more than 2 files"):
        build_manifest([manifest_file(p, 0o644, []) for p in "abc"], limits)


def test_too_many_files_are_refused_before_they_are_read() -> None:
    body = json.dumps({"format": 1, "files": [0] * 101}).encode()
    with pytest.raises(InvalidManifest, match="more than 100 files"):
        parse_manifest(body, ManifestLimits(max_files=100))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(document=_JSON)
def test_any_json_is_read_or_refused_with_a_manifest_error(document: Any) -> None:
    body = json.dumps(document, allow_nan=False).encode("utf-8", "surrogatepass")
    try:
        manifest = parse_manifest(body)
    except InvalidManifest:
        return
    assert parse_manifest(manifest.canonical_json) == manifest


_SEGMENT = st.text(alphabet="abcXYZ019-_é ", min_size=1, max_size=8).filter(
    lambda s: s[-1] not in ". " and s.lower().split(".")[0] not in {"con", "nul", "aux", "prn"}
)
_PATH = st.lists(_SEGMENT, min_size=1, max_size=4).map("/".join)
_CHUNK = st.builds(ChunkRef, st.binary(max_size=4).map(lambda b: hashlib.sha256(b).hexdigest()), st.just(7))


@settings(max_examples=100, deadline=None)
@given(
    entries=st.lists(
        st.tuples(_PATH, st.integers(0, 0o777), st.lists(_CHUNK, max_size=4)),
        max_size=8,
        unique_by=lambda e: e[0].casefold(),
    )
)
def test_built_manifests_round_trip(entries: list[tuple[str, int, list[ChunkRef]]]) -> None:
    files = [manifest_file(path, mode, chunks) for path, mode, chunks in entries]
    keys = {path.casefold() for path, _, _ in entries}
    if any(key.startswith(other + "/") for key in keys for other in keys):
        with pytest.raises(InvalidManifest, match="also a directory"):  # the one rule these paths can break
            build_manifest(files)
        return
    manifest = build_manifest(files)
    assert parse_manifest(manifest.canonical_json) == manifest
    assert build_manifest(reversed(files)).total_hash == manifest.total_hash


def test_the_chunk_hashes_of_a_stored_manifest_are_found_without_parsing_it() -> None:
    """Paths cannot hold a quote or a colon, so only chunk entries have the form ``"sha256":"<hex>"``."""
    decoy = hashlib.sha256(b"decoy").hexdigest()
    one, two = chunk_bytes(b"one"), chunk_bytes(b"two" * 10)
    manifest = build_manifest(
        [manifest_file(f"sha256/{decoy}", 0o644, one), manifest_file("b/two", 0o755, [*two, *one])]
    )
    assert stored_chunk_hashes(manifest.canonical_json) == frozenset(manifest.chunk_sizes())
    assert decoy.encode() in manifest.canonical_json
    assert stored_chunk_hashes(build_manifest([manifest_file("empty", 0o644, [])]).canonical_json) == frozenset()
