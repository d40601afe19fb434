"""The Universal Packages client's own parts: the directory walk, safe targets, chunk sources, the manifest
and version checks of a download, the feed URL, the progress bar, and the HTTP rules (retries, redirects
without the token to another origin, bounded answers) against scripted transports."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import socket
import stat
from pathlib import Path

import httpx
import pytest

from feed_core.domain.chunking import ChunkSizes, chunk_bytes
from feed_core.domain.upack import build_manifest, manifest_file
from feed_core.universal.client import UniversalError, UpackClient, basic_auth, locate
from feed_core.universal.download import check_manifest, choose_version, download, stage
from feed_core.universal.progress import Progress, bar_line, human_bytes
from feed_core.universal.publish import chunk_file, prepare, publish, read_chunk
from feed_core.universal.tree import scan, target_of

SMALL = ChunkSizes(min_size=256, avg_size=1024, max_size=4096)
ORG = "http://127.0.0.1:7071/local"


def _tree(root: Path) -> None:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_bytes(os.urandom(20_000))
    (root / "bin" / "tool").chmod(0o755)
    (root / "data.bin").write_bytes(os.urandom(50_000))
    (root / "data.bin").chmod(0o644)
    (root / "empty").write_bytes(b"")


# --- the directory walk ----------------------------------------------------------------------------


def test_scan_lists_regular_files_with_posix_paths_and_modes(tmp_path: Path) -> None:
    _tree(tmp_path)
    files = scan(tmp_path)
    assert [(f.path, f.mode, f.size) for f in files] == [
        ("bin/tool", 0o755, 20_000),
        ("data.bin", 0o644, 50_000),
        ("empty", os.stat(tmp_path / "empty").st_mode & 0o777, 0),
    ]


def test_scan_refuses_a_symbolic_link_with_its_path(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "bin" / "link").symlink_to("tool")
    with pytest.raises(UniversalError, match=r"bin/link is a symbolic link"):
        scan(tmp_path)


def test_scan_refuses_a_named_pipe_and_a_socket(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UniversalError, match="pipe is a named pipe"):
        scan(tmp_path)
    os.unlink(tmp_path / "pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        with pytest.raises(UniversalError, match="sock is a socket"):
            scan(tmp_path)


def test_scan_refuses_a_missing_path_and_a_name_windows_cannot_store(tmp_path: Path) -> None:
    with pytest.raises(UniversalError, match="does not exist"):
        scan(tmp_path / "nothing")
    (tmp_path / "a:b").write_text("x")
    with pytest.raises(UniversalError, match="cannot publish a:b"):
        scan(tmp_path)


def test_scan_drops_setuid_bits(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "f").chmod(0o4755)
    assert scan(tmp_path)[0].mode == 0o755


# --- chunking the files ----------------------------------------------------------------------------


def test_chunk_file_streams_to_the_same_chunks_as_at_once(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "f").write_bytes(data)
    entry, sources = chunk_file(scan(tmp_path)[0], SMALL)
    expected = chunk_bytes(data, SMALL)
    assert [c.sha256 for c in entry.chunks] == [c.sha256 for c in expected]
    assert [(s.offset, s.size) for s in sources] == [(c.offset, c.size) for c in expected]
    assert entry.size == len(data)


def test_prepare_keeps_one_source_per_distinct_chunk_and_reads_it_back(tmp_path: Path) -> None:
    block = os.urandom(40_000)
    (tmp_path / "a").write_bytes(block)
    (tmp_path / "b").write_bytes(block)
    prepared = prepare(tmp_path, SMALL)
    assert set(prepared.sources) == set(prepared.manifest.chunk_sizes())
    for sha, source in prepared.sources.items():
        assert source.file.path == "a"
        assert len(read_chunk(sha, source)) == source.size


def test_a_file_changed_after_the_scan_stops_the_upload(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(30_000))
    prepared = prepare(tmp_path, SMALL)
    (tmp_path / "f").write_bytes(os.urandom(30_000))
    sha, source = next(iter(prepared.sources.items()))
    with pytest.raises(UniversalError, match="changed since it was read"):
        read_chunk(sha, source)


# --- downloading: checks and targets ---------------------------------------------------------------


def _manifest_json(files: list[dict[str, object]]) -> bytes:
    return json.dumps({"format": 1, "files": files}).encode()


@pytest.mark.parametrize(
    "path", ["../escape", "/etc/passwd", "a/../../b", "a\\b", "c:/x", "a//b"], ids=lambda p: repr(p)
)
def test_a_hostile_manifest_path_is_refused(path: str) -> None:
    body = _manifest_json([{"path": path, "size": 0, "mode": 0o644, "chunks": []}])
    with pytest.raises(UniversalError, match="refuses"):
        check_manifest(body, None)


def test_a_symlink_entry_in_a_manifest_is_refused() -> None:
    body = _manifest_json([{"path": "link", "size": 0, "mode": 0o120777, "chunks": []}])
    with pytest.raises(UniversalError, match="symbolic link"):
        check_manifest(body, None)


def test_the_total_hash_must_be_the_listed_one() -> None:
    manifest = build_manifest([manifest_file("a", 0o644, chunk_bytes(b"hello"))])
    assert check_manifest(manifest.canonical_json, manifest.total_hash) == manifest
    with pytest.raises(UniversalError, match="total hash"):
        check_manifest(manifest.canonical_json, "0" * 64)


def test_choose_version_exact_and_wildcards() -> None:
    entries: list[dict[str, object]] = [
        {"version": v, "totalHash": f"h{v}"} for v in ["1.0.0", "1.2.0", "1.10.1", "2.0.0-rc.1", "0.9.0"]
    ]
    assert choose_version(entries, "p", "1.*") == ("1.10.1", "h1.10.1")
    assert choose_version(entries, "p", "*") == ("1.10.1", "h1.10.1")
    assert choose_version(entries, "p", "2.0.0-rc.1") == ("2.0.0-rc.1", "h2.0.0-rc.1")
    with pytest.raises(UniversalError, match=r"no version of p matches '3\.\*'"):
        choose_version(entries, "p", "3.*")
    with pytest.raises(UniversalError, match="wildcard"):
        choose_version(entries, "p", "1.*.3")


def test_target_of_never_follows_a_link_in_the_target(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "sub").symlink_to(outside)
    with pytest.raises(UniversalError, match="is a symbolic link"):
        target_of(root, "sub/file")
    (root / "plain").write_text("x")
    with pytest.raises(UniversalError, match="not a directory"):
        target_of(root, "plain/file")
    assert target_of(root, "new/dir/file") == root / "new" / "dir" / "file"
    assert (root / "new" / "dir").is_dir()


def test_stage_makes_sized_temporary_files_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    manifest = build_manifest(
        [manifest_file("a/x", 0o755, chunk_bytes(b"12345")), manifest_file("b", 0o600, chunk_bytes(b"abc"))]
    )
    staged = stage(tmp_path / "out", manifest)
    assert [os.path.getsize(s.temp) for s in staged] == [5, 3]
    for s in staged:
        s.temp.unlink()
    (tmp_path / "out2").mkdir()
    (tmp_path / "out2" / "b").mkdir()  # the second target is a directory
    with pytest.raises(UniversalError, match="is a directory"):
        stage(tmp_path / "out2", manifest)
    assert sorted(p.name for p in (tmp_path / "out2" / "a").iterdir()) == []


# --- the feed's location ---------------------------------------------------------------------------


def test_locate_builds_organization_and_project_urls() -> None:
    assert locate(ORG, "tools", None, None).base_url == f"{ORG}/_packaging/tools/upack/"
    assert locate(ORG + "/", "tools@Release", None, None).base_url == f"{ORG}/_packaging/tools@Release/upack/"
    assert locate(ORG, "tools", "web", None).base_url == f"{ORG}/web/_packaging/tools/upack/"
    assert locate(ORG, "tools", "web", "project").base_url == f"{ORG}/web/_packaging/tools/upack/"


@pytest.mark.parametrize(
    ("organization", "feed", "project", "scope", "message"),
    [
        ("127.0.0.1:7071/local", "f", None, None, "organization's URL"),
        ("http://127.0.0.1:7071", "f", None, None, "organization's URL"),
        (ORG, "a/b", None, None, "feed name"),
        (ORG, "f", None, "project", "needs --project"),
        (ORG, "f", "p", "organization", "--scope project"),
    ],
)
def test_locate_refuses_bad_options(
    organization: str, feed: str, project: str | None, scope: str | None, message: str
) -> None:
    with pytest.raises(UniversalError, match=message):
        locate(organization, feed, project, scope)


# --- progress --------------------------------------------------------------------------------------


def test_progress_is_quiet_unless_enabled_and_long(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    quiet = Progress("publish", 100, out)  # a StringIO is not a terminal
    quiet.advance(100)
    quiet.close()
    assert out.getvalue() == ""
    monkeypatch.setattr("feed_core.universal.progress.DELAY_SECONDS", 0.0)
    monkeypatch.setattr("feed_core.universal.progress.INTERVAL_SECONDS", 0.0)
    loud = Progress("publish", 2_000_000, out, enabled=True)
    loud.advance(1_000_000)
    assert "50.0%" in out.getvalue() and "1.0 MB / 2.0 MB" in out.getvalue()
    loud.close()
    assert out.getvalue().endswith("\r\x1b[K")


def test_bar_line_and_human_bytes() -> None:
    assert human_bytes(999) == "999 B"
    assert human_bytes(1_500_000) == "1.5 MB"
    assert human_bytes(2_500_000_000_000) == "2500.0 GB"
    assert bar_line("x", 0, 0, 0.0).startswith("x [" + "#" * 24)


# --- HTTP: retries, redirects, bounds --------------------------------------------------------------


async def test_server_errors_and_connection_failures_are_retried() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(calls) == 2:
            return httpx.Response(503, json={"message": "busy"})
        return httpx.Response(200, json={"missing": ["a" * 64]})

    location = locate(ORG, "f", None, None)
    async with UpackClient(location, "pat", transport=httpx.MockTransport(handler), backoff_first=0.001) as c:
        assert await c.missing_chunks(["a" * 64, "b" * 64]) == {"a" * 64}
    assert calls == ["POST", "POST", "POST"]


async def test_a_refusal_says_the_servers_message_without_retrying() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(409, json={"message": "version 1.0.0 of p already exists"})

    location = locate(ORG, "f", None, None)
    async with UpackClient(location, "pat", transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(UniversalError, match="already exists") as info:
            await c.commit("p", "1.0.0", b"{}", "0" * 64, None)
    assert info.value.status == 409 and calls == 1


async def test_the_token_goes_to_the_feeds_origin_only() -> None:
    seen: list[tuple[str, str | None]] = []
    data = b"chunk bytes"
    sha = hashlib.sha256(data).hexdigest()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("Authorization")))
        if request.url.host == "127.0.0.1":
            return httpx.Response(302, headers={"Location": "http://127.0.0.2:10000/blob?sig=x"})
        return httpx.Response(200, content=data)

    location = locate(ORG, "f", None, None)
    async with UpackClient(location, "pat", transport=httpx.MockTransport(handler)) as c:
        assert await c.chunk("p", "1.0.0", sha, len(data)) == data
    assert seen[0][1] == basic_auth("pat")
    assert seen[1] == ("http://127.0.0.2:10000/blob?sig=x", None)


async def test_a_chunk_that_is_too_long_or_wrong_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 100)

    location = locate(ORG, "f", None, None)
    async with UpackClient(location, None, transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(UniversalError, match="larger than 10 bytes"):
            await c.chunk("p", "1.0.0", "0" * 64, 10)
        with pytest.raises(UniversalError, match="does not match its hash"):
            await c.chunk("p", "1.0.0", "0" * 64, 100)


# --- a hostile feed --------------------------------------------------------------------------------


def _hostile_feed(manifest: bytes, total_hash: str, chunks: dict[str, bytes]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/upack/", 1)[1]
        if path == "packages/p":
            return httpx.Response(200, json={"name": "p", "versions": [{"version": "1.0.0", "totalHash": total_hash}]})
        if path == "packages/p/versions/1.0.0":
            return httpx.Response(200, content=manifest)
        sha = path.rsplit("/", 1)[1]
        return httpx.Response(200, content=chunks.get(sha, b"something else"))

    return httpx.MockTransport(handler)


async def _download_from(transport: httpx.MockTransport, root: Path) -> None:
    await download(locate(ORG, "f", None, None), "pat", "p", "*", root, transport=transport)


async def test_a_hostile_feeds_traversal_writes_nothing(tmp_path: Path) -> None:
    body = _manifest_json(
        [{"path": "../../evil", "size": 1, "mode": 0o644, "chunks": [{"sha256": "a" * 64, "size": 1}]}]
    )
    with pytest.raises(UniversalError, match=r"refuses.*'\.\.' segment"):
        await _download_from(_hostile_feed(body, hashlib.sha256(body).hexdigest(), {}), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "evil").exists()


async def test_a_chunk_that_is_not_its_hash_leaves_no_file_behind(tmp_path: Path) -> None:
    good, bad = chunk_bytes(b"good bytes"), chunk_bytes(b"bad bytes!")
    manifest = build_manifest([manifest_file("a/one", 0o644, good), manifest_file("two", 0o755, bad)])
    chunks = {good[0].sha256: good[0].data, bad[0].sha256: b"evil bytes"}  # the same size, other bytes
    with pytest.raises(UniversalError, match="does not match its hash"):
        await _download_from(_hostile_feed(manifest.canonical_json, manifest.total_hash, chunks), tmp_path)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


async def test_a_manifest_that_is_not_the_listed_version_is_refused(tmp_path: Path) -> None:
    manifest = build_manifest([manifest_file("x", 0o644, chunk_bytes(b"x"))])
    with pytest.raises(UniversalError, match="total hash"):
        await _download_from(_hostile_feed(manifest.canonical_json, "f" * 64, {}), tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_a_download_from_a_well_behaved_feed_restores_files_and_modes(tmp_path: Path) -> None:
    one, two = chunk_bytes(os.urandom(9000), SMALL), chunk_bytes(b"#!/bin/sh\n")
    manifest = build_manifest(
        [manifest_file("a/one", 0o600, one), manifest_file("two", 0o755, two), manifest_file("e", 0o644, [])]
    )
    chunks = {c.sha256: c.data for c in [*one, *two]}
    await _download_from(_hostile_feed(manifest.canonical_json, manifest.total_hash, chunks), tmp_path)
    assert (tmp_path / "a" / "one").read_bytes() == b"".join(c.data for c in one)
    assert stat.S_IMODE((tmp_path / "two").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "a" / "one").stat().st_mode) == 0o600
    assert (tmp_path / "e").read_bytes() == b""


# --- publish against a scripted feed: the commit's second round ------------------------------------


class ScriptedFeed:
    """Answers the publish's requests: every chunk is missing; the first commit answers ``first_commit``."""

    def __init__(self, first_commit: httpx.Response) -> None:
        self.first_commit = first_commit
        self.puts: list[str] = []
        self.commits: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/upack/", 1)[1]
        if request.method == "GET":
            return httpx.Response(404, json={"message": "Universal Package p does not exist"})
        if path == "chunks/query":
            return httpx.Response(200, json={"missing": json.loads(request.content)["chunks"]})
        if path.startswith("chunks/"):
            self.puts.append(path.split("/")[1])
            return httpx.Response(201, json={})
        self.commits.append(request)
        return self.first_commit if len(self.commits) == 1 else httpx.Response(201, json={})


async def test_chunks_the_commit_says_are_missing_are_sent_again(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(20_000))
    sha = prepare(tmp_path, SMALL).manifest.files[0].chunks[0].sha256
    feed = ScriptedFeed(httpx.Response(400, json={"message": "chunks are missing", "missing": [sha]}))
    report = await publish(
        locate(ORG, "f", None, None), "pat", "p", "1.0.0", tmp_path, sizes=SMALL, transport=httpx.MockTransport(feed)
    )
    assert feed.puts.count(sha) == 2 and len(feed.commits) == 2
    assert report.uploaded_bytes == 20_000 + prepare(tmp_path, SMALL).sources[sha].size
    assert feed.commits[0].headers["X-Upack-Total-Hash"] == report.total_hash
    assert feed.commits[0].content == prepare(tmp_path, SMALL).manifest.canonical_json


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"message": "the total hash does not match"}, "the total hash does not match"),
        ({"message": "odd", "missing": ["0" * 64]}, "the feed refused the version: odd"),
    ],
)
async def test_a_commit_refusal_is_reported(tmp_path: Path, answer: dict[str, object], message: str) -> None:
    (tmp_path / "f").write_bytes(b"content")
    feed = ScriptedFeed(httpx.Response(400, json=answer))
    with pytest.raises(UniversalError, match=message):
        await publish(locate(ORG, "f", None, None), "pat", "p", "1.0.0", tmp_path, transport=httpx.MockTransport(feed))


async def test_a_version_the_feed_lists_is_refused_before_any_upload(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"content")
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(f"{request.method} {request.url.path.split('/upack/')[1]}")
        return httpx.Response(200, json={"name": "p", "versions": [{"version": "1.0.0", "totalHash": "0" * 64}]})

    with pytest.raises(UniversalError, match=r"p 1\.0\.0 already exists in feed f"):
        await publish(
            locate(ORG, "f", None, None), "pat", "p", "1.0.0", tmp_path, transport=httpx.MockTransport(handler)
        )
    assert requests == ["GET packages/p"]


async def test_publishing_to_a_view_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UniversalError, match=r"not to a view \(f@Release\)"):
        await publish(locate(ORG, "f@Release", None, None), "pat", "p", "1.0.0", tmp_path)


def test_a_failure_among_parallel_transfers_is_reported_alone() -> None:
    from feed_core.universal.command import _first

    inner = UniversalError("chunk x failed")
    group = BaseExceptionGroup("transfers", [ExceptionGroup("inner", [inner, ValueError("later")])])
    assert _first(group) is inner


class CommittingFeed:
    """A feed that keeps what is committed, with a list that shows it; ``lose_answer`` drops the connection
    after the first commit went through (the client retries and gets a 409 for its own version)."""

    def __init__(self, *, lose_answer: bool = False, missing_per_answer: int | None = None) -> None:
        self.lose_answer = lose_answer
        self.missing_per_answer = missing_per_answer
        self.stored: dict[str, object] = {}
        self.received: set[str] = set()
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/upack/", 1)[1]
        self.requests.append(f"{request.method} {path}")
        if request.method == "GET":
            if not self.stored:
                return httpx.Response(404, json={"message": "no such package"})
            return httpx.Response(200, json={"name": "p", "versions": [{"version": "1.0.0", **self.stored}]})
        if path == "chunks/query":
            return httpx.Response(200, json={"missing": json.loads(request.content)["chunks"]})
        if path.startswith("chunks/"):
            self.received.add(path.split("/")[1])
            return httpx.Response(201, json={})
        if self.stored:
            return httpx.Response(409, json={"message": "p@1.0.0 already exists in feed f: publish a new version"})
        manifest = json.loads(request.content)
        if self.missing_per_answer is not None:
            lacking = [c["sha256"] for f in manifest["files"] for c in f["chunks"] if c["sha256"] not in self.received]
            if lacking:
                return httpx.Response(400, json={"message": "missing", "missing": lacking[: self.missing_per_answer]})
        size = sum(f["size"] for f in manifest["files"])
        self.stored.update(totalHash=request.headers["X-Upack-Total-Hash"], size=size)
        if self.lose_answer:
            raise httpx.ReadError("connection reset by peer", request=request)
        return httpx.Response(201, json={})


async def test_a_commit_whose_answer_was_lost_is_a_published_version(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(5000))
    feed = CommittingFeed(lose_answer=True)
    report = await publish(
        locate(ORG, "f", None, None), "pat", "p", "1.0.0", tmp_path, transport=httpx.MockTransport(feed)
    )
    assert report.total_hash == feed.stored["totalHash"] and not report.already_published
    assert feed.requests[-1] == "GET packages/p"  # the 409 was checked against the list


async def test_a_rerun_of_a_published_version_sends_nothing_and_other_content_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(5000))
    feed = CommittingFeed()
    location = locate(ORG, "f", None, None)
    first = await publish(location, "pat", "p", "1.0.0", tmp_path, transport=httpx.MockTransport(feed))
    feed.requests.clear()
    again = await publish(location, "pat", "p", "1.0.0", tmp_path, transport=httpx.MockTransport(feed))
    assert again.already_published and again.total_hash == first.total_hash and again.uploaded_bytes == 0
    assert (
        feed.requests == ["GET packages/p"]
        and "p 1.0.0 is already published in the feed with this content" in again.summary()
    )
    (tmp_path / "f").write_bytes(os.urandom(5000))  # the same size, other bytes
    with pytest.raises(UniversalError, match=r"p 1\.0\.0 already exists in feed f .*with other content") as info:
        await publish(location, "pat", "p", "1.0.0", tmp_path, transport=httpx.MockTransport(feed))
    assert info.value.status == 409


async def test_a_commit_answer_listing_some_missing_chunks_at_a_time_is_followed_to_the_end(tmp_path: Path) -> None:
    """The feed lists a bounded number of missing chunks per answer; the client commits until none are left."""
    (tmp_path / "f").write_bytes(os.urandom(30_000))
    feed = CommittingFeed(missing_per_answer=2)
    location = locate(ORG, "f", None, None)
    sizes = ChunkSizes(min_size=256, avg_size=1024, max_size=2048)
    chunks = len(prepare(tmp_path, sizes).sources)
    assert chunks > 8

    def forgetful(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chunks/query"):
            return httpx.Response(200, json={"missing": []})  # claims to have everything: the commit says not
        return feed(request)

    report = await publish(
        location, "pat", "p", "1.0.0", tmp_path, sizes=sizes, transport=httpx.MockTransport(forgetful)
    )
    assert report.uploaded_chunks == chunks and feed.stored["totalHash"] == report.total_hash


async def test_a_server_error_longer_than_a_small_chunk_is_retried() -> None:
    """An error answer is read up to its own cap, not the chunk's size: a 503 whose message is longer than a
    5-byte chunk is retried (and a refusal keeps its message)."""
    data = b"tiny!"
    sha = hashlib.sha256(data).hexdigest()
    answers = [
        httpx.Response(503, json={"message": "the storage account is busy, try again"}),
        httpx.Response(200, content=data),
        httpx.Response(404, json={"message": "chunk is not part of p@1.0.0 " + "x" * 100_000}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    async with UpackClient(
        locate(ORG, "f", None, None), "pat", transport=httpx.MockTransport(handler), backoff_first=0.001
    ) as c:
        assert await c.chunk("p", "1.0.0", sha, len(data)) == data
        with pytest.raises(UniversalError, match=r"404 .*chunk is not part of p@1\.0\.0") as info:
            await c.chunk("p", "1.0.0", sha, len(data))
    assert info.value.status == 404 and len(str(info.value)) < 70_000


async def test_a_commit_answer_listing_many_missing_chunks_is_read_whole() -> None:
    """The 400 that lists missing chunks is an answer, not an error message: 10,000 hashes are about 670 KB."""
    hashes = [f"{i:064x}" for i in range(10_000)]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"message": "10000 chunks are missing", "missing": hashes})

    async with UpackClient(locate(ORG, "f", None, None), "pat", transport=httpx.MockTransport(handler)) as c:
        response = await c.commit("p", "1.0.0", b"{}", "0" * 64, None)
    assert response.json()["missing"] == hashes


async def test_a_download_applies_the_umask_to_modes(tmp_path: Path) -> None:
    """A publisher (or a hostile feed) may send 0o777 or 0o666: the umask applies, as when unpacking an archive."""
    one = chunk_bytes(b"#!/bin/sh\necho hi\n")
    manifest = build_manifest([manifest_file("tool", 0o777, one), manifest_file("data", 0o666, one)])
    old = os.umask(0o022)
    try:
        await _download_from(
            _hostile_feed(manifest.canonical_json, manifest.total_hash, {c.sha256: c.data for c in one}), tmp_path
        )
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "tool").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o644


async def test_a_long_non_ascii_file_name_is_downloaded(tmp_path: Path) -> None:
    """A 240-byte name of 80 CJK characters (segments may have 255 bytes): the temporary name stays short."""
    name = "\u6587" * 80
    assert len(name.encode()) == 240
    data = chunk_bytes(b"content")
    manifest = build_manifest([manifest_file(name, 0o644, data)])
    await _download_from(
        _hostile_feed(manifest.canonical_json, manifest.total_hash, {c.sha256: c.data for c in data}), tmp_path
    )
    assert (tmp_path / name).read_bytes() == b"content"
    assert [p.name for p in tmp_path.iterdir()] == [name]


# --- a version an upstream has --------------------------------------------------------------------


UPSTREAM_409 = (
    "p@1.0.0 already exists in the feed's upstream source up-upack; publish a different version (an owner can "
    "set allowUpstreamNameConflict on the feed to override)"
)


class UpstreamFeed:
    """A feed whose list shows version 1.0.0 with ``listed`` (``source`` and ``totalHash``); its commit answers
    with ``commit_answers`` in turn (then 201), every chunk is missing."""

    def __init__(self, listed: dict[str, object], commit_answers: list[httpx.Response]) -> None:
        self.listed = listed
        self.commit_answers = commit_answers
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/upack/", 1)[1]
        self.requests.append(f"{request.method} {path}")
        if request.method == "GET":
            return httpx.Response(200, json={"name": "p", "versions": [{"version": "1.0.0", **self.listed}]})
        if path == "chunks/query":
            return httpx.Response(200, json={"missing": json.loads(request.content)["chunks"]})
        if path.startswith("chunks/"):
            return httpx.Response(201, json={})
        return self.commit_answers.pop(0) if self.commit_answers else httpx.Response(201, json={})


async def test_a_version_an_upstream_has_is_refused_with_the_feeds_words_even_with_this_content(
    tmp_path: Path,
) -> None:
    (tmp_path / "f").write_bytes(os.urandom(5000))
    total = prepare(tmp_path).manifest.total_hash
    for listed_hash in (total, "0" * 64):
        feed = UpstreamFeed(
            {"totalHash": listed_hash, "source": "upstream"}, [httpx.Response(409, json={"message": UPSTREAM_409})]
        )
        with pytest.raises(UniversalError) as info:
            await publish(
                locate(ORG, "f", None, None), "pat", "p", "1.0.0", tmp_path, transport=httpx.MockTransport(feed)
            )
        assert info.value.status == 409 and info.value.message == UPSTREAM_409
        # no chunk was sent; the 409 was checked against the list (not the feed's own version: refused)
        assert feed.requests == ["GET packages/p", "PUT packages/p/versions/1.0.0", "GET packages/p"]


async def test_a_feed_that_allows_the_upstream_conflict_asks_for_the_chunks_and_the_publish_goes_on(
    tmp_path: Path,
) -> None:
    (tmp_path / "f").write_bytes(os.urandom(5000))
    manifest = prepare(tmp_path).manifest
    missing = httpx.Response(400, json={"message": "chunks missing", "missing": list(manifest.chunk_sizes())})
    feed = UpstreamFeed({"totalHash": manifest.total_hash, "source": "upstream"}, [missing])
    report = await publish(
        locate(ORG, "f", None, None), "pat", "p", "1.0.0", tmp_path, transport=httpx.MockTransport(feed)
    )
    assert not report.already_published and report.uploaded_bytes == 5000
    assert feed.requests[-1] == "PUT packages/p/versions/1.0.0" and "POST chunks/query" in feed.requests


async def test_a_commit_over_an_upstreams_version_whose_answer_was_lost_is_a_published_version(tmp_path: Path) -> None:
    """The feed allowed the conflict and had every chunk, so the first commit took the version, but its answer
    was lost: the retry's 409 is checked against the list, which now shows the feed's own version."""
    (tmp_path / "f").write_bytes(os.urandom(5000))
    total = prepare(tmp_path).manifest.total_hash
    feed = UpstreamFeed({"totalHash": total, "source": "upstream"}, [])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and feed.listed["source"] == "upstream":
            feed.listed["source"] = "feed"
            raise httpx.ReadError("connection reset by peer", request=request)
        if request.method == "PUT":
            return httpx.Response(409, json={"message": "p@1.0.0 already exists in feed f: publish a new version"})
        return feed(request)

    report = await publish(
        locate(ORG, "f", None, None), "pat", "p", "1.0.0", tmp_path, transport=httpx.MockTransport(handler)
    )
    assert not report.already_published and report.uploaded_bytes == 0 and report.total_hash == total


async def test_the_feeds_own_version_with_this_content_is_a_rerun(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(5000))
    total = prepare(tmp_path).manifest.total_hash
    feed = UpstreamFeed({"totalHash": total, "source": "feed"}, [])
    report = await publish(
        locate(ORG, "f", None, None), "pat", "p", "1.0.0", tmp_path, transport=httpx.MockTransport(feed)
    )
    assert report.already_published and feed.requests == ["GET packages/p"]


async def test_a_409_for_a_version_the_feed_then_lists_as_an_upstreams_is_not_a_success(tmp_path: Path) -> None:
    """The list did not show the version (the upstream was unreachable then); the commit's 409 is checked
    against the list again, which now shows it as an upstream's with this content: still refused."""
    (tmp_path / "f").write_bytes(os.urandom(5000))
    total = prepare(tmp_path).manifest.total_hash
    lists = [httpx.Response(404, json={"message": "no such package"})]

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/upack/", 1)[1]
        if request.method == "GET":
            if lists:
                return lists.pop()
            entry = {"version": "1.0.0", "totalHash": total, "source": "upstream"}
            return httpx.Response(200, json={"name": "p", "versions": [entry]})
        if path == "chunks/query":
            return httpx.Response(200, json={"missing": []})
        return httpx.Response(409, json={"message": UPSTREAM_409})

    with pytest.raises(UniversalError, match="upstream source up-upack") as info:
        await publish(
            locate(ORG, "f", None, None), "pat", "p", "1.0.0", tmp_path, transport=httpx.MockTransport(handler)
        )
    assert info.value.status == 409


# --- a bounded number of upload tasks -------------------------------------------------------------


@pytest.mark.parametrize("missing_from", ["query", "commit"])
async def test_uploads_run_in_a_fixed_number_of_tasks_however_many_chunks(tmp_path: Path, missing_from: str) -> None:
    """Hundreds of missing chunks (found by the query while reading, or named by the commit's answer) are sent
    by ``parallel`` workers: the live tasks stay at about that many, and that many uploads do run at once."""
    (tmp_path / "f").write_bytes(os.urandom(400_000))
    chunks = len(prepare(tmp_path, SMALL).sources)
    assert chunks > 200
    parallel = 4
    tasks_before = len(asyncio.all_tasks())
    most_tasks = 0
    in_flight = 0
    most_in_flight = 0
    puts: list[str] = []
    commits = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal most_tasks, in_flight, most_in_flight, commits
        most_tasks = max(most_tasks, len(asyncio.all_tasks()) - tasks_before)
        path = request.url.path.split("/upack/", 1)[1]
        if request.method == "GET":
            return httpx.Response(404, json={"message": "no such package"})
        if path == "chunks/query":
            asked = json.loads(request.content)["chunks"]
            return httpx.Response(200, json={"missing": asked if missing_from == "query" else []})
        if path.startswith("chunks/"):
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
            await asyncio.sleep(0.001)
            in_flight -= 1
            puts.append(path.split("/")[1])
            return httpx.Response(201, json={})
        commits += 1
        if missing_from == "commit" and commits == 1:
            lacking = [c["sha256"] for f in json.loads(request.content)["files"] for c in f["chunks"]]
            return httpx.Response(400, json={"message": "missing", "missing": lacking})
        return httpx.Response(201, json={})

    report = await publish(
        locate(ORG, "f", None, None),
        "pat",
        "p",
        "1.0.0",
        tmp_path,
        sizes=SMALL,
        parallel=parallel,
        transport=httpx.MockTransport(handler),
    )
    assert report.uploaded_chunks == chunks and len(set(puts)) == chunks
    assert most_in_flight == parallel
    assert most_tasks <= parallel + 1  # the workers, and the thread that reads while they send
