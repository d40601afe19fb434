"""The recycle bin's pure rules beyond its timing: ``latest`` after a restore, and what a purged row keeps."""

from __future__ import annotations

from feed_core.domain.models import PackageVersion
from feed_core.domain.recycle_bin import latest_after_restore, purged


def test_a_restored_newest_release_takes_latest_back() -> None:
    assert latest_after_restore("npm", {"latest": "1.0.0"}, ["1.0.0", "1.1.0"], {"1.1.0"}) == {"latest": "1.1.0"}


def test_an_older_or_prerelease_restore_leaves_latest_alone() -> None:
    tags = {"latest": "2.0.0", "beta": "2.0.0"}
    assert latest_after_restore("npm", tags, ["1.0.0", "2.0.0"], {"1.0.0"}) == tags
    assert latest_after_restore("npm", {"latest": "1.0.0"}, ["1.0.0", "2.0.0-rc.1"], {"2.0.0-rc.1"}) == {
        "latest": "1.0.0"
    }


def test_a_missing_or_stale_latest_goes_to_the_newest_live_version_in_the_protocols_order() -> None:
    assert latest_after_restore("npm", {}, ["1.0.0-rc.1"], {"1.0.0-rc.1"}) == {"latest": "1.0.0-rc.1"}
    assert latest_after_restore("pypi", {"latest": "0.9"}, ["1.0", "1.0rc1"], {"1.0rc1"}) == {"latest": "1.0"}
    assert latest_after_restore("maven", {}, ["1.0", "1.1-SNAPSHOT"], {"1.0"}) == {"latest": "1.0"}
    assert latest_after_restore("npm", {"latest": "9.9.9"}, [], set()) == {"latest": "9.9.9"}


def test_a_purged_row_keeps_its_number_and_dates_and_references_no_blob() -> None:
    version = PackageVersion(
        "pypi",
        "lib",
        "1.0",
        {"description": "a library", "readme": "x" * 50_000, "requires": ["y"]},
        "lib-1.0.whl",
        "ab" * 32,
        "sha512-x",
        "cd" * 20,
        10,
        "2026-01-01T00:00:00.000Z",
        "alice",
        deleted="2026-02-01T00:00:00.000Z",
        deleted_by="alice",
        files=[{"filename": "lib-1.0.whl", "sha256": "ab" * 32, "metadata_sha256": "ef" * 32}],
        etag="W/1",
    )
    gone = purged(version, "2026-03-03T00:00:00.000Z")
    assert (gone.version, gone.published, gone.deleted, gone.deleted_by) == (
        "1.0",
        version.published,
        version.deleted,
        "alice",
    )
    assert gone.purged == "2026-03-03T00:00:00.000Z" and gone.etag == "W/1"
    assert gone.manifest == {"description": "a library"}
    assert (gone.sha256, gone.sha1, gone.sha512_integrity, gone.files) == ("", "", "", [])
    assert version.files and version.sha256  # the row read stays as it was
