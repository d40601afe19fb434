"""The feed page: packages of every protocol with search, filters (protocol, source, view), sorting and paging,
what each role sees, and bad or hostile input, on both storage backends."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from feed_core import jobs
from feed_core.storage.packages import IndexEntry
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, in_process
from tests.api.test_warm_reads import worker
from tests.npm_packages import publish_body
from tests.python_packages import make_wheel, upload_form
from tests.ui_client import sign_in

FEEDS = f"/{ORG}/_apis/packaging/feeds"
PAGE = f"/{ORG}/_artifacts/feed/feed"

Browser = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def browser(feed_api: Api) -> AsyncIterator[Browser]:
    """``await browser(who)``: a client with its own cookie jar, signed in to the UI as ``who``."""
    clients: list[httpx.AsyncClient] = []

    async def open_as(who: str) -> httpx.AsyncClient:
        http = httpx.AsyncClient(transport=in_process(feed_api.services), base_url="http://feed.test")
        clients.append(http)
        token = ADMIN_TOKEN if who == "admin" else feed_api.tokens[who]
        assert (await sign_in(http, token)).status_code == 303
        return http

    yield open_as
    for http in clients:
        await http.aclose()


def names(page: str) -> list[str]:
    """The package names of the table's rows, in order."""
    return [
        m.replace("&amp;", "&").replace("&#64;", "@")
        for m in re.findall(r'<th scope="row" class="pkg-name"><a [^>]*>([^<]*)</a>', page)
    ]


def row_of(page: str, name: str) -> str:
    m = re.search(rf'<tr>\s*<th scope="row" class="pkg-name"><a [^>]*>{re.escape(name)}</a></th>(.*?)</tr>', page, re.S)
    assert m, f"no row for {name}"
    return m.group(1)


async def promote(api: Api, name: str, version: str, view: str = "Release") -> None:
    body = {"views": {"op": "add", "path": "/views/-", "value": view}}
    r = await api.http.patch(f"{FEEDS}/feed/npm/{name}/versions/{version}", json=body, headers=api.auth("alice"))
    assert r.status_code == 200, r.text


async def upload_wheel(api: Api, name: str, version: str) -> None:
    filename, data, _ = make_wheel(name, version)
    fields, files = upload_form(name, version, filename, data)
    r = await api.http.post(f"/{ORG}/_packaging/feed/pypi/upload/", data=fields, files=files, headers=api.auth("alice"))
    assert r.status_code == 200, r.text


async def test_lists_every_protocol_with_latest_origin_and_links(feed_api: Api, browser: Browser) -> None:
    api = feed_api
    assert (
        await api.publish("left-pad", "1.0.0", who="alice", extra={"description": "pads strings"})
    ).status_code == 201
    assert (
        await api.publish("left-pad", "1.1.0", who="alice", extra={"description": "pads strings"})
    ).status_code == 201
    assert (await api.publish("@team/tool", "2.0.0", who="alice")).status_code == 201
    await upload_wheel(api, "py-lib", "1.0")
    bob = await browser("bob")
    r = await bob.get(PAGE)
    assert r.status_code == 200, r.text
    assert names(r.text) == ["@team/tool", "left-pad", "py-lib"]
    assert f'href="{PAGE}/npm/@team%2Ftool"' in r.text  # one path segment, as the package page expects
    assert f'href="{PAGE}/pypi/py-lib"' in r.text
    row = row_of(r.text, "left-pad")
    assert "1.1.0" in row and "this feed" in row and "pads strings" in row and "npm" in row
    assert "Python" in row_of(r.text, "py-lib")
    assert "3 packages" in r.text
    # deleted versions never count: the latest falls back, and a package with none left is gone
    for name, version in (("left-pad", "1.1.0"), ("@team/tool", "2.0.0")):
        r = await api.http.delete(f"{FEEDS}/feed/npm/{name}/versions/{version}", headers=api.auth("alice"))
        assert r.status_code == 200, r.text
    page = (await bob.get(PAGE)).text
    assert names(page) == ["left-pad", "py-lib"]
    assert "1.0.0" in row_of(page, "left-pad") and "1.1.0" not in row_of(page, "left-pad")


async def test_protocol_filter_and_search(feed_api: Api, browser: Browser) -> None:
    api = feed_api
    for name, desc in (("react-dom", "renders"), ("preact", "tiny react"), ("act", "acts"), ("zeta", "no match")):
        assert (await api.publish(name, "1.0.0", who="alice", extra={"description": desc})).status_code == 201
    await upload_wheel(api, "reactor", "1.0")
    admin = await browser("admin")
    assert names((await admin.get(PAGE, params={"protocol": "pypi"})).text) == ["reactor"]
    assert names((await admin.get(PAGE, params={"protocol": "npm"})).text) == ["act", "preact", "react-dom", "zeta"]
    # best match first: a name prefix, then a name containing it, then a description only
    found = names((await admin.get(PAGE, params={"q": "REACT"})).text)
    assert found == ["react-dom", "reactor", "preact"]
    assert names((await admin.get(PAGE, params={"q": "react", "sort": "name"})).text) == [
        "preact",
        "react-dom",
        "reactor",
    ]
    assert names((await admin.get(PAGE, params={"q": "tiny"})).text) == ["preact"]
    assert names((await admin.get(PAGE, params={"q": "act", "protocol": "pypi"})).text) == ["reactor"]
    page = (await admin.get(PAGE, params={"q": "nothing-like-it", "protocol": "npm"})).text
    assert names(page) == [] and "No npm package matches the search \u201cnothing-like-it\u201d." in page
    assert 'value="nothing-like-it"' in page and '<option value="npm" selected>' in page  # the form keeps them


async def test_source_filter_tells_local_from_saved_upstream_versions(feed_api: Api, browser: Browser) -> None:
    api = feed_api
    await api.create_feed("up")
    await api.grant("up", "alice", "contributor")
    await api.follow_internal_upstream("feed", "up", ("npm",))
    assert (await api.publish("shared", "3.0.0", who="alice", feed="up")).status_code == 201
    assert (await api.publish("mine", "1.0.0", who="alice")).status_code == 201
    bob = await browser("bob")
    # carol (collaborator) reads the package through the feed: an upstream version not saved is not listed
    r = await api.http.get(api.registry() + "shared", headers=api.auth("carol"))
    assert r.status_code == 200 and "3.0.0" in r.json()["versions"]
    assert names((await bob.get(PAGE)).text) == ["mine"]
    tarball = api.registry() + "shared/-/shared-3.0.0.tgz"
    assert (await api.http.get(tarball, headers=api.auth("carol"))).status_code == 200  # saved now
    page = (await bob.get(PAGE)).text
    assert names(page) == ["mine", "shared"]
    assert "up-npm" in row_of(page, "shared") and "this feed" in row_of(page, "mine")
    assert names((await bob.get(PAGE, params={"source": "local"})).text) == ["mine"]
    assert names((await bob.get(PAGE, params={"source": "up-npm"})).text) == ["shared"]
    assert names((await bob.get(PAGE, params={"source": "UP-NPM"})).text) == ["shared"]
    feed = await api.services.feeds.find(ORG, None, "feed")
    by_id = await bob.get(PAGE, params={"source": feed.upstream_sources[0].id})
    assert names(by_id.text) == ["shared"]
    assert '<option value="up-npm" selected>' in (await bob.get(PAGE, params={"source": "up-npm"})).text
    # the package published later to the feed itself comes from both
    assert (await api.publish("shared", "4.0.0", who="alice")).status_code == 201
    page = (await bob.get(PAGE, params={"source": "local"})).text
    assert names(page) == ["mine", "shared"] and "this feed" in row_of(page, "shared")
    assert names((await bob.get(PAGE, params={"source": "up-npm"})).text) == ["shared"]
    r = await bob.get(PAGE, params={"source": "nowhere"})
    assert r.status_code == 400 and "no upstream source named" in r.text


async def test_view_filter_shows_the_latest_version_in_the_view(feed_api: Api, browser: Browser) -> None:
    api = feed_api
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        assert (await api.publish("rel", version, who="alice")).status_code == 201
    assert (await api.publish("other", "1.0.0", who="alice")).status_code == 201
    await promote(api, "rel", "1.0.0")
    await promote(api, "rel", "1.1.0")
    bob = await browser("bob")
    page = (await bob.get(PAGE, params={"view": "Release"})).text
    assert names(page) == ["rel"] and "1.1.0" in row_of(page, "rel") and "2.0.0" not in row_of(page, "rel")
    assert "versions in view Release" in page
    assert names((await bob.get(PAGE, params={"view": "release"})).text) == ["rel"]
    page = (await bob.get(PAGE, params={"view": "Local"})).text
    assert names(page) == ["other", "rel"] and "2.0.0" in row_of(page, "rel")
    page = (await bob.get(PAGE, params={"view": "Prerelease"})).text
    assert names(page) == [] and "No package has a version in view Prerelease." in page
    assert f'<a href="{PAGE}?view=Local">show them all</a>' in page
    r = await bob.get(PAGE, params={"view": "NoSuchView"})
    assert r.status_code == 400 and "no view named" in r.text
    # a deleted version leaves its views
    r = await api.http.delete(f"{FEEDS}/feed/npm/rel/versions/1.1.0", headers=api.auth("alice"))
    assert r.status_code == 200, r.text
    page = (await bob.get(PAGE, params={"view": "Release"})).text
    assert "1.0.0" in row_of(page, "rel")
    # the feed's default view is the page's default
    feed = await api.services.feeds.find(ORG, None, "feed")
    release = feed.view_named("Release")
    assert release is not None
    r = await api.http.patch(f"{FEEDS}/feed", json={"defaultViewId": release.id}, headers=api.auth())
    assert r.status_code == 200, r.text
    page = (await bob.get(PAGE)).text
    assert names(page) == ["rel"] and re.search(r'<option value="Release" selected>', page)


async def test_sorting_and_paging(feed_api: Api, browser: Browser, clock: MutableClock) -> None:
    api = feed_api
    for i in range(120):
        clock.advance(seconds=1)
        name = f"pkg-{(i * 7) % 120:03d}"  # published out of name order
        assert (await api.publish(name, "1.0.0", who="alice")).status_code == 201
    bob = await browser("bob")
    first = (await bob.get(PAGE)).text
    assert names(first) == [f"pkg-{i:03d}" for i in range(50)]
    assert "120 packages, page 1 of 3" in first
    assert 'rel="next"' in first and 'rel="prev"' not in first
    third = (await bob.get(PAGE, params={"page": "3"})).text
    assert names(third) == [f"pkg-{i:03d}" for i in range(100, 120)]
    assert 'rel="next"' not in third and f'href="{PAGE}?page=2" rel="prev"' in third
    assert names((await bob.get(PAGE, params={"page": "99"})).text) == names(third)  # past the end: the last
    desc = names((await bob.get(PAGE, params={"sort": "-name", "page": "3"})).text)
    assert desc == [f"pkg-{i:03d}" for i in range(19, -1, -1)]
    newest = names((await bob.get(PAGE, params={"sort": "-modified"})).text)
    assert newest[:2] == [f"pkg-{(119 * 7) % 120:03d}", f"pkg-{(118 * 7) % 120:03d}"]
    oldest = names((await bob.get(PAGE, params={"sort": "modified"})).text)
    assert oldest[:2] == ["pkg-000", "pkg-007"]
    # page links keep the filters
    filtered = (await bob.get(PAGE, params={"q": "pkg-0", "sort": "-name"})).text
    assert "100 packages, page 1 of 2" in filtered
    assert f'href="{PAGE}?q=pkg-0&amp;sort=-name&amp;page=2"' in filtered
    for bad in ({"page": "0"}, {"page": "abc"}, {"page": "-1"}, {"page": "1e3"}, {"sort": "size"}, {"protocol": "rpm"}):
        r = await bob.get(PAGE, params=bad)
        assert r.status_code == 400, bad
        assert "<h1>That did not work</h1>" in r.text


async def test_what_readers_and_administrators_see(feed_api: Api, browser: Browser) -> None:
    api = feed_api
    assert (await api.publish("p", "1.0.0", who="alice")).status_code == 201
    connect, settings = f'href="{PAGE}/connect"', f'href="{PAGE}/settings"'
    bob = await browser("bob")
    page = (await bob.get(PAGE)).text
    assert connect in page and settings not in page
    alice = await browser("alice")
    assert settings not in (await alice.get(PAGE)).text
    admin = await browser("admin")
    page = (await admin.get(PAGE)).text
    assert connect in page and settings in page
    assert (
        f'<a class="brand" href="/{ORG}/_artifacts">' in page
        and '<span class="crumb" aria-current="page">feed</span>' in page
    )


async def test_unknown_and_unreadable_feeds(feed_api: Api, browser: Browser) -> None:
    api = feed_api
    await api.create_feed("secret")
    bob = await browser("bob")
    r = await bob.get(f"/{ORG}/_artifacts/feed/nosuchfeed")
    assert r.status_code == 404 and "does not exist" in r.text
    r = await bob.get(f"/{ORG}/_artifacts/feed/secret")
    assert r.status_code == 403 and "needs the Feed Reader role" in r.text
    r = await bob.get(f"/{ORG}/_artifacts/feed/bad%20name!")
    assert r.status_code in (400, 404)
    async with httpx.AsyncClient(transport=in_process(api.services), base_url="http://feed.test") as anonymous:
        r = await anonymous.get(PAGE)
        assert r.status_code == 303 and "/signin?next=" in r.headers["location"]


async def test_an_empty_feed_says_so(feed_api: Api, browser: Browser) -> None:
    page = (await (await browser("bob")).get(PAGE)).text
    assert "This feed holds no packages yet" in page and "<table" not in page


async def test_hostile_names_descriptions_and_filters_are_escaped(feed_api: Api, browser: Browser) -> None:
    api = feed_api
    hostile = '<script>alert(1)</script><a href="javascript:alert(2)">x</a>'
    assert (await api.publish("evil", "1.0.0", who="alice", extra={"description": hostile})).status_code == 201
    # a name no protocol accepts, written straight into the index, still prints as text
    feed = await api.services.feeds.find(ORG, None, "feed")
    await api.services.packages.store.put_index(
        feed.id, "maven", IndexEntry('g:<img src=x onerror="alert(3)">', "1", hostile, [], "2026-11-01T12:00:00Z", "")
    )
    api.services.package_list._kept.clear()  # written behind the service: read it again
    bob = await browser("bob")
    page = (await bob.get(PAGE, params={"q": "<script>"})).text
    assert "<script>alert" not in page and "<img src=x" not in page and 'href="javascript:' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "g:&lt;img src=x onerror=&#34;alert(3)&#34;&gt;" in page
    assert 'value="&lt;script&gt;"' in page
    r = await bob.get(PAGE, params={"source": "<script>x</script>", "view": "javascript:alert(1)"})
    assert r.status_code == 400 and "<script>x" not in r.text


async def test_rows_from_before_views_and_origins_were_recorded(feed_api: Api, browser: Browser) -> None:
    """Such rows show their latest with no origin and match no view or source filter, until the reindex job."""
    api = feed_api
    assert (await api.publish("fresh", "1.0.0", who="alice")).status_code == 201
    assert (await api.publish("aged", "1.0.0", who="alice")).status_code == 201
    await promote(api, "fresh", "1.0.0")
    await promote(api, "aged", "1.0.0")
    feed = await api.services.feeds.find(ORG, None, "feed")
    store = api.services.packages.store
    await store.put_index(feed.id, "npm", IndexEntry("aged", "1.0.0", "an old row", ["k"], "2026-01-01T00:00:00Z", ""))
    await store.put_index(feed.id, "npm", IndexEntry("ghost", "0.1.0", "", [], "2026-01-01T00:00:00Z", ""))
    api.services.package_list._kept.clear()  # written behind the service: read it again
    bob = await browser("bob")
    page = (await bob.get(PAGE)).text
    assert names(page) == ["aged", "fresh", "ghost"]
    assert "1.0.0" in row_of(page, "aged") and "not recorded" in row_of(page, "aged")
    assert names((await bob.get(PAGE, params={"view": "Release"})).text) == ["fresh"]
    assert names((await bob.get(PAGE, params={"source": "local"})).text) == ["fresh"]
    report = await jobs.run_reindex(api.services)
    assert report.rewritten == 2
    assert names((await bob.get(PAGE, params={"view": "Release"})).text) == ["aged", "fresh"]
    page = (await bob.get(PAGE)).text
    assert names(page) == ["aged", "fresh"] and "this feed" in row_of(page, "aged")  # a row of no package goes
    assert (await jobs.run_reindex(api.services)).rewritten == 0
    assert (await jobs.run_reindex(api.services, every_row=True)).rewritten == 2


async def test_home_counts_come_from_the_listing(feed_api: Api, browser: Browser) -> None:
    api = feed_api
    assert (await api.publish("a", "1.0.0", who="alice")).status_code == 201
    await upload_wheel(api, "b", "1.0")
    page = (await (await browser("bob")).get(f"/{ORG}/_artifacts")).text
    assert re.search(r"<dt>Packages</dt><dd>2</dd>", page)
    assert "npm (1)" in page and "Python (1)" in page


async def test_home_shows_each_feeds_storage_as_last_measured(feed_api: Api, browser: Browser) -> None:
    api = feed_api
    bob = await browser("bob")
    assert "<dt>Storage</dt><dd>not measured yet</dd>" in (await bob.get(f"/{ORG}/_artifacts")).text
    assert (await api.publish("a", "1.0.0", who="alice")).status_code == 201
    await jobs.run_gc(api.services)
    size = (await api.http.get(f"{FEEDS}/feed/usage", headers=api.auth("bob"))).json()["totalBytes"]
    assert f"<dt>Storage</dt><dd>{size} bytes</dd>" in (await bob.get(f"/{ORG}/_artifacts")).text


async def test_the_listing_is_read_once_then_follows_writes(make_settings: SettingsFactory) -> None:
    """Paging and filtering read no index row again; this worker's writes show at once, another's once the
    kept listing is older than FEED_CACHE_SECONDS."""
    settings = make_settings(cache_seconds=60)
    async with worker(settings) as a:
        await a.api.create_feed("feed")
        await a.api.staff("feed")
        assert (await a.api.publish("one", "1.0.0", who="alice")).status_code == 201
        async with httpx.AsyncClient(transport=in_process(a.api.services), base_url="http://feed.test") as http:
            await sign_in(http, ADMIN_TOKEN)
            assert names((await http.get(PAGE)).text) == ["one"]
            a.reset()
            for params in ({"page": "1"}, {"q": "on"}, {"protocol": "npm"}, {"sort": "-modified"}, {"view": "Release"}):
                assert (await http.get(PAGE, params=params)).status_code == 200
            assert (await a.api.publish("two", "1.0.0", who="alice")).status_code == 201
            body = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
            r = await a.api.http.patch(f"{FEEDS}/feed/npm/two/versions/1.0.0", json=body, headers=a.api.auth("alice"))
            assert r.status_code == 200, r.text
            assert names((await http.get(PAGE)).text) == ["one", "two"]
            assert names((await http.get(PAGE, params={"view": "Release"})).text) == ["two"]
            assert a.tables.by_table[("query", "packageindex")] == 0
    quick, tokens = settings.model_copy(update={"cache_seconds": 0.5}), a.api.tokens
    async with (
        worker(quick, tokens) as writer,
        worker(quick, tokens) as b,
        httpx.AsyncClient(transport=in_process(b.api.services), base_url="http://feed.test") as http,
    ):
        await sign_in(http, ADMIN_TOKEN)
        assert names((await http.get(PAGE)).text) == ["one", "two"]
        assert (await writer.api.publish("three", "1.0.0", who="alice")).status_code == 201
        await asyncio.sleep(0.6)
        assert names((await http.get(PAGE)).text) == ["one", "three", "two"]


async def test_a_project_feed_has_its_page_under_the_project(feed_api: Api, browser: Browser) -> None:
    api = feed_api
    r = await api.http.post(f"/{ORG}/proj/_apis/packaging/feeds", json={"name": "pf"}, headers=api.auth())
    assert r.status_code == 201, r.text
    r = await api.http.put(
        f"/{ORG}/proj/_packaging/pf/npm/registry/inproj", json=publish_body("inproj", "1.0.0"), headers=api.auth()
    )
    assert r.status_code == 201, r.text
    admin = await browser("admin")
    page = (await admin.get(f"/{ORG}/proj/_artifacts/feed/pf")).text
    assert names(page) == ["inproj"] and f'href="/{ORG}/proj/_artifacts/feed/pf/npm/inproj"' in page
    assert f'href="/{ORG}/proj/_artifacts/feed/pf/connect"' in page
    assert (await admin.get(f"/{ORG}/_artifacts/feed/pf")).status_code == 404  # not a feed of the organization
    assert (await admin.get(f"/{ORG}/proj/_artifacts/feed/feed")).status_code == 404
