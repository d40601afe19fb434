"""The package page on both storage backends: its tabs for each protocol, provenance of saved versions, versions
held back (upstream behaviour, minimum release age) and why, the owner actions through their confirmation pages,
what each role sees and may post, bad input, and hostile readmes and names rendered harmless."""

# ruff: noqa: F811
from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from feed_core.domain.clock import iso
from tests.api.conftest import ADMIN_TOKEN, ORG, Api, MutableClock, SettingsFactory, in_process, running_api
from tests.api.test_cargo_hosting import published
from tests.api.test_maven_hosting import release_files
from tests.api.test_nuget_api import push
from tests.api.test_pypi_api import base as pypi_base
from tests.cargo_packages import dep
from tests.maven_packages import basic, deploy
from tests.npm_packages import publish_body
from tests.npm_registry_fixture import FixtureRegistry, fixture_registry  # noqa: F401
from tests.nupkg_builder import build_nupkg
from tests.python_packages import make_wheel, upload_form
from tests.ui_client import post_form, sign_in

FEEDS = f"/{ORG}/_apis/packaging/feeds"
PAGES = f"/{ORG}/_artifacts/feed"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HOSTILE_README = (
    "# Title <script>alert(1)</script>\n\n"
    "[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=) [ok](https://example.invalid/)\n\n"
    '<img src="x" onerror="alert(2)">\n\n'
    '<div onclick="alert(3)">raw block</div>\n\n'
    "![pic](javascript:alert(4))\n\n"
    '<iframe src="https://example.invalid/"></iframe>\n'
)

Browser = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def browser(feed_api: Api) -> Browser:
    """A signed-in browser of ``who`` (own cookie jar) on the same app."""

    @asynccontextmanager
    async def open_as(who: str) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(transport=in_process(feed_api.services), base_url="http://feed.test") as http:
            token = ADMIN_TOKEN if who == "admin" else feed_api.tokens[who]
            assert (await sign_in(http, token)).status_code == 303
            yield http

    return open_as


def page(protocol: str, name: str, feed: str = "feed", *rest: str) -> str:
    segment = name.replace("/", "%2F")
    return "/".join([PAGES, feed, protocol, segment, *rest])


def assert_harmless(html: str) -> None:
    """Nothing in ``html`` can run script: no script element, event handler or script URL from package data."""
    assert "<script>" not in html and "<script " not in html.replace('<script src="/_static/', "")
    assert not re.search(r"<[^>]+\son\w+\s*=", html)
    assert "javascript:" not in html.replace("javascript:alert", "")  # escaped text may mention it, not a URL
    assert not re.search(r"""(href|src)=["']?\s*(javascript|data):""", html, re.IGNORECASE)
    assert "<iframe" not in html and "<img" not in html


async def npm_demo(api: Api, name: str = "demo", **extra: Any) -> None:
    readme = "# Demo\n\nHello **world**.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    for number in ("1.0.0", "1.1.0"):
        fields = {"readme": readme, "description": "A demo", "dependencies": {"left-pad": "^1.0.0"}, **extra}
        r = await api.publish(name, number, who="alice", extra=fields)
        assert r.status_code == 201, r.text


# --- the tabs, per protocol ---------------------------------------------------------------------------------------


async def test_npm_tabs(feed_api: Api, browser: Browser) -> None:
    await npm_demo(feed_api, "@team/demo")
    async with browser("bob") as http:
        r = await http.get(page("npm", "@team/demo"))
        assert r.status_code == 200, r.text
        html = r.text
        assert "<h1>@team/demo" in html
        assert html.index(">1.1.0</a>") < html.index(">1.0.0</a>")  # newest first
        assert "this feed" in html and "alice" in html and "sha512:" in html and "sha256:" in html
        assert "@Local" in html and "latest" in html
        blocked = await http.get(page("npm", "@team/demo") + "?tab=blocked")
        assert blocked.status_code == 200
        assert "collaborators" in blocked.text  # a reader is told who sees them
        install = await http.get(page("npm", "@team/demo") + "?tab=install")
        assert install.status_code == 200
        assert "npm install @team/demo@1.1.0" in install.text
        assert "left-pad" in install.text and "^1.0.0" in install.text
        older = await http.get(page("npm", "@team/demo") + "?tab=install&version=1.0.0")
        assert "npm install @team/demo@1.0.0" in older.text
        readme = await http.get(page("npm", "@team/demo") + "?tab=readme")
        assert readme.status_code == 200
        assert "<h3>Demo</h3>" in readme.text and "<strong>world</strong>" in readme.text
        assert "<table>" in readme.text
        # no owner controls for a reader
        for word in ("/delete?", "/promote?", "/deprecate?", "Allow externally-sourced"):
            assert word not in html + blocked.text


async def test_pypi_tabs(feed_api: Api, browser: Browser) -> None:
    description = "# Demo Pkg\n\nSome *markdown* here.\n"
    filename, data, _ = make_wheel(
        "Demo.Pkg", "1.0", requires=("requests>=2",), description=description, content_type="text/markdown"
    )
    fields, files = upload_form("Demo.Pkg", "1.0", filename, data)
    r = await feed_api.http.post(pypi_base() + "upload/", data=fields, files=files, headers=feed_api.auth("alice"))
    assert r.status_code == 200, r.text
    async with browser("alice") as http:
        versions = await http.get(page("pypi", "Demo.Pkg"))  # any spelling; the page shows the normalized name
        assert versions.status_code == 200, versions.text
        assert "demo-pkg" in versions.text and ">1.0</a>" in versions.text and "alice" in versions.text
        install = await http.get(page("pypi", "demo-pkg") + "?tab=install")
        assert "pip install demo-pkg==1.0" in install.text and "requests&gt;=2" in install.text
        readme = await http.get(page("pypi", "demo-pkg") + "?tab=readme")
        assert "<h3>Demo Pkg</h3>" in readme.text and "<em>markdown</em>" in readme.text
        assert (await http.get(page("pypi", "demo-pkg") + "?tab=blocked")).status_code == 200


async def test_cargo_and_nuget_tabs(feed_api: Api, browser: Browser) -> None:
    await published(
        feed_api, "tiny-crate", "0.2.0", deps=[dep("serde", "^1.0")], description="A *tiny* crate", crate=None
    )
    r = await push(feed_api, build_nupkg("Contoso.Lib", "1.2.0", dependencies=[("Newtonsoft.Json", "13.0.1")]))
    assert r.status_code in (201, 202), r.text
    async with browser("alice") as http:
        versions = await http.get(page("cargo", "tiny-crate"))
        assert versions.status_code == 200, versions.text
        assert ">0.2.0</a>" in versions.text
        install = await http.get(page("cargo", "tiny-crate") + "?tab=install")
        assert "cargo add tiny-crate@0.2.0 --registry feed" in install.text and "serde" in install.text
        readme = await http.get(page("cargo", "tiny-crate") + "?tab=readme")
        assert "A *tiny* crate" in readme.text  # a plain description, shown as written
        nuget = await http.get(page("nuget", "contoso.lib"))
        assert nuget.status_code == 200, nuget.text
        assert "Contoso.Lib" in nuget.text and ">1.2.0</a>" in nuget.text
        install = await http.get(page("nuget", "Contoso.Lib") + "?tab=install")
        assert "dotnet add package Contoso.Lib --version 1.2.0" in install.text
        assert "&lt;PackageReference Include=&#34;Contoso.Lib&#34;" in install.text
        assert "Newtonsoft.Json" in install.text
        assert "A test package." in (await http.get(page("nuget", "contoso.lib") + "?tab=readme")).text


async def test_maven_tabs(feed_api: Api, browser: Browser) -> None:
    deps = (
        "<dependencies><dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>"
        "<version>2.0.13</version></dependency><dependency><groupId>junit</groupId><artifactId>junit</artifactId>"
        "<scope>test</scope><optional>true</optional></dependency></dependencies>"
        "<dependencyManagement><dependencies><dependency><groupId>managed.only</groupId>"
        "<artifactId>bom</artifactId><version>1</version></dependency></dependencies></dependencyManagement>"
    )
    files = release_files(name="Example library", description="Does example things.", extra=deps)
    responses = await deploy(feed_api.http, basic(feed_api.tokens["alice"]), "com.example", "lib", "1.0", files)
    assert all(r.status_code in (200, 201) for r in responses)
    url = page("maven", "com.example:lib")
    async with browser("alice") as http:
        versions = await http.get(url)
        assert versions.status_code == 200, versions.text
        assert ">1.0</a>" in versions.text and f'href="{url}/delete?version=1.0"' in versions.text
        install = await http.get(url + "?tab=install")
        assert "&lt;groupId&gt;com.example&lt;/groupId&gt;" in install.text
        assert "org.slf4j:slf4j-api" in install.text and "2.0.13" in install.text  # read from the stored POM
        assert "junit:junit" in install.text and "test (optional)" in install.text
        assert "managed by a parent or BOM" in install.text and "managed.only" not in install.text
        readme = await http.get(url + "?tab=readme")
        assert "Does example things." in readme.text
        assert "is deleted" in (await act(http, url, "delete", "1.0")).text


async def test_a_project_feed_has_its_package_pages_under_the_project(feed_api: Api, browser: Browser) -> None:
    api = feed_api
    r = await api.http.post(
        f"/{ORG}/proj/_apis/packaging/feeds?api-version=7.1", json={"name": "pf"}, headers=api.auth()
    )
    assert r.status_code == 201, r.text
    body = publish_body("lib", "1.0.0")
    r = await api.http.put(f"/{ORG}/proj/_packaging/pf/npm/registry/lib", json=body, headers=api.auth())
    assert r.status_code == 201, r.text
    async with browser("admin") as http:
        url = f"/{ORG}/proj/_artifacts/feed/pf/npm/lib"
        shown = await http.get(url)
        assert shown.status_code == 200, shown.text
        assert f'href="{url}/delete?version=1.0.0"' in shown.text
        assert (await http.get(page("npm", "lib", "pf"))).status_code == 404  # not a feed of the organization
        assert "is deleted" in (await act(http, url, "delete", "1.0.0")).text


# --- provenance ---------------------------------------------------------------------------------------------------


async def test_a_version_saved_from_an_internal_upstream_shows_its_provenance(feed_api: Api, browser: Browser) -> None:
    api = feed_api
    await api.create_feed("up")
    await api.staff("up")
    assert (await api.publish("shared", "1.0.0", who="alice", feed="up")).status_code == 201
    await api.follow_internal_upstream("feed", "up")
    async with browser("carol") as http:
        before = await http.get(page("npm", "shared"))
        assert before.status_code == 200, before.text
        assert "not saved yet" in before.text and "up-npm" in before.text
    async with browser("bob") as http:  # a reader sees only what the feed holds, and who can save the rest
        before = await http.get(page("npm", "shared"))
        assert before.status_code == 200, before.text
        assert ">1.0.0</a>" not in before.text and "not saved yet" not in before.text
        assert "available from upstream up-npm but not saved in feed feed" in before.text
    tarball = api.registry("feed") + "shared/-/shared-1.0.0.tgz"
    assert (await api.http.get(tarball, headers=api.auth("carol"))).status_code == 200
    async with browser("bob") as http:
        after = await http.get(page("npm", "shared"))
        assert after.status_code == 200
        row = after.text[after.text.index(">1.0.0</a>") :]
        assert "up-npm" in row and "carol" in row and "sha512:" in row
        assert "Provenance" in row and "Saved by" in row and "not saved yet" not in row
        assert "removed upstream" not in row
    # the upstream stops listing it (as the refresh job finds): the saved version stays, flagged
    feed = await api.services.feeds.find(ORG, None, "feed")
    source = next(s for s in feed.upstream_sources if s.protocol == "npm")
    assert await api.services.packages.mark_upstream_listing(feed, "npm", "shared", {source.id: set()}) == (
        ["1.0.0"],
        [],
    )
    async with browser("bob") as http:
        flagged = await http.get(page("npm", "shared"))
        assert "removed upstream" in flagged.text and "Upstream no longer lists it since" in flagged.text


# --- blocked and held-back versions -------------------------------------------------------------------------------


@pytest.fixture
async def upstreamed(
    make_settings: SettingsFactory, clock: MutableClock, fixture_registry: FixtureRegistry
) -> AsyncIterator[Api]:
    """Feed ``feed`` with the fixture npm registry as a public upstream and a 24-hour minimum release age."""
    settings = make_settings(upstream_timeout=2.0, upstream_connect_timeout=1.0, upstream_download_timeout=5.0)
    async with running_api(settings, clock) as api:
        await api.create_feed("feed")
        source = {"name": "npm-fixture", "protocol": "npm", "location": fixture_registry.url}
        body = {"upstreamSources": [source], "minimumReleaseAgeHours": 24}
        r = await api.http.patch(f"{FEEDS}/feed", json=body, headers=api.auth())
        assert r.status_code == 200, r.text
        await api.staff("feed")
        yield api


@asynccontextmanager
async def signed_in(api: Api, who: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=in_process(api.services), base_url="http://feed.test") as http:
        assert (await sign_in(http, ADMIN_TOKEN if who == "admin" else api.tokens[who])).status_code == 303
        yield http


async def test_a_private_package_blocks_external_versions_until_an_owner_allows_them(
    upstreamed: Api, fixture_registry: FixtureRegistry
) -> None:
    api = upstreamed
    fixture_registry.add("@corp/secret", "99.0.0")  # a squatter's higher version on the public registry
    assert (await api.publish("@corp/secret", "1.0.0", who="alice")).status_code == 201
    url = page("npm", "@corp/secret")
    async with signed_in(api, "admin") as admin:
        blocked = await admin.get(url + "?tab=blocked")
        assert blocked.status_code == 200, blocked.text
        assert "npm-fixture was not asked" in blocked.text and "published to this feed" in blocked.text
        assert "dependency confusion" in blocked.text
        allow = url + "/upstreaming?allow=true"
        assert f'href="{allow}"' in blocked.text
        confirm = await admin.get(allow)
        assert confirm.status_code == 200 and "Allow externally-sourced versions of @corp/secret?" in confirm.text
    async with signed_in(api, "alice") as alice:  # a contributor may not change upstream behaviour
        shown = await alice.get(url + "?tab=blocked")
        assert "Allow externally-sourced versions</a>" not in shown.text and "A feed owner can allow" in shown.text
        assert (await alice.get(url + "/upstreaming?allow=true")).status_code == 403
        r = await post_form(alice, url, url + "/upstreaming", {"allow": "true"})
        assert r.status_code == 403
    async with signed_in(api, "bob") as bob:
        assert (await bob.get(url + "/upstreaming?allow=true")).status_code == 403
        said = await bob.get(url + "?tab=blocked")
        assert "collaborators" in said.text and "99.0.0" not in said.text
    async with signed_in(api, "admin") as admin:
        r = await post_form(admin, url + "/upstreaming?allow=true", url + "/upstreaming", {"allow": "true"})
        assert r.status_code == 303 and r.headers["location"].endswith("tab=blocked")
        after = await admin.get(r.headers["location"])
        assert "now takes versions from external upstream sources" in after.text
        assert "was not asked" not in after.text
        versions = await admin.get(url)
        assert ">99.0.0</a>" in versions.text and "not saved yet" in versions.text
        assert "Stop allowing externally-sourced versions" in versions.text
    r = await api.http.get(
        f"{FEEDS}/feed/npm/packages/@corp/secret/upstreaming", headers=api.auth()
    )  # the same setting the REST API reads
    assert r.json()["versionsFromExternalUpstreams"] == "allowExternalVersions"


async def test_external_versions_an_upstream_feed_relays_are_listed_as_blocked(
    upstreamed: Api, fixture_registry: FixtureRegistry
) -> None:
    """Feed ``up`` saved lib@2.0.0 from the public registry; feed ``down`` publishes lib@1.0.0 and follows ``up``:
    2.0.0 is external, so ``down`` blocks it, and says why."""
    api = upstreamed
    fixture_registry.add("lib", "2.0.0")
    r = await api.http.patch(f"{FEEDS}/feed", json={"minimumReleaseAgeHours": None}, headers=api.auth())
    assert r.status_code == 200, r.text
    assert (await api.http.get(api.registry() + "lib/-/lib-2.0.0.tgz", headers=api.auth("carol"))).status_code == 200
    await api.create_feed("down")
    await api.staff("down")
    await api.follow_internal_upstream("down", "feed", ("npm",))
    assert (await api.publish("lib", "1.0.0", who="alice", feed="down")).status_code == 201
    url = page("npm", "lib", "down")
    async with signed_in(api, "carol") as carol:
        blocked = await carol.get(url + "?tab=blocked")
        assert blocked.status_code == 200, blocked.text
        row = blocked.text[blocked.text.index('<th scope="row">2.0.0</th>') :]
        assert "feed-npm" in row and "Blocked by the upstream behaviour" in row
        assert "the feed holds an internal version" in row and "A feed owner can allow" in row
        assert "was not asked" not in blocked.text
    async with signed_in(api, "admin") as admin:
        r = await post_form(admin, url + "/upstreaming?allow=true", url + "/upstreaming", {"allow": "true"})
        assert r.status_code == 303
        after = await admin.get(url)
        assert ">2.0.0</a>" in after.text and "not saved yet" in after.text


async def test_a_too_new_version_is_held_back_with_when_it_becomes_available(
    upstreamed: Api, fixture_registry: FixtureRegistry, clock: MutableClock
) -> None:
    api = upstreamed
    fixture_registry.add("fresh", "1.0.0", published="2020-01-01T00:00:00.000Z", tag=None)
    fixture_registry.add("fresh", "2.0.0", published=iso(clock.now - timedelta(hours=1)))
    fixture_registry.add("fresh", "3.0.0", tag=None)
    fixture_registry.set_time("fresh", "3.0.0", "garbage")
    async with signed_in(api, "carol") as carol:
        blocked = await carol.get(page("npm", "fresh") + "?tab=blocked")
        assert blocked.status_code == 200, blocked.text
        row = blocked.text[blocked.text.index('<th scope="row">2.0.0</th>') :].split("</tr>")[0]
        assert "npm-fixture" in row and "Too new" in row and "24 hours" in row
        assert "2026-11-02 11:00 UTC (in about 23 hours)" in row
        assert '<th scope="row">1.0.0</th>' not in blocked.text
        unknown = blocked.text[blocked.text.index('<th scope="row">3.0.0</th>') :].split("</tr>")[0]
        assert "publish time is missing or unreadable" in unknown
        assert "2026-11-02 12:00 UTC (in about 24 hours)" in unknown
        versions = await carol.get(page("npm", "fresh"))
        assert ">1.0.0</a>" in versions.text and ">2.0.0</a>" not in versions.text


# --- owner actions ------------------------------------------------------------------------------------------------


async def act(http: httpx.AsyncClient, url: str, action: str, version: str, **fields: str) -> httpx.Response:
    """Open the action's confirmation page, then post its form; the redirect's page (with its notice)."""
    confirm = f"{url}/{action}?version={version}"
    r = await post_form(http, confirm, f"{url}/{action}", {"version": version, **fields})
    assert r.status_code == 303, r.text
    shown = await http.get(r.headers["location"])
    assert shown.status_code == 200
    return shown


async def test_npm_owner_actions_through_their_confirmation_pages(feed_api: Api, browser: Browser) -> None:
    await npm_demo(feed_api)
    url = page("npm", "demo")
    async with browser("alice") as alice:
        versions = await alice.get(url)
        for action in ("promote", "deprecate", "delete"):
            assert f'href="{url}/{action}?version=1.0.0"' in versions.text
        assert "/upstreaming?" not in versions.text  # a contributor does not administer the feed
        confirm = await alice.get(f"{url}/delete?version=1.0.0")
        assert confirm.status_code == 200 and "Delete demo 1.0.0?" in confirm.text and "reserved" in confirm.text
        shown = await act(alice, url, "promote", "1.0.0", view="Release")
        assert "is in view @Release" in shown.text
        release = await alice.get(url + "?view=Release")
        assert ">1.0.0</a>" in release.text and ">1.1.0</a>" not in release.text
        shown = await act(alice, url, "deprecate", "1.0.0", message="use 1.1.0")
        assert "deprecated: use 1.1.0" in shown.text
        assert f'href="{url}/undeprecate?version=1.0.0"' in shown.text
        shown = await act(alice, url, "undeprecate", "1.0.0")
        assert "deprecated: use 1.1.0" not in shown.text
        shown = await act(alice, url, "delete", "1.0.0")
        assert "is deleted" in shown.text and ">1.0.0</a>" not in shown.text
    r = await feed_api.http.get(feed_api.registry() + "demo", headers=feed_api.auth("bob"))
    assert list(r.json()["versions"]) == ["1.1.0"]
    # a feed that shows deleted versions lists it as deleted
    r = await feed_api.http.patch(f"{FEEDS}/feed", json={"hideDeletedPackageVersions": False}, headers=feed_api.auth())
    assert r.status_code == 200
    async with browser("bob") as bob:
        listed = await bob.get(url)
        assert ">1.0.0</a>" in listed.text and "deleted " in listed.text


async def test_yank_unlist_and_their_undoing(feed_api: Api, browser: Browser) -> None:
    filename, data, _ = make_wheel("yankme", "1.0")
    fields, files = upload_form("yankme", "1.0", filename, data)
    r = await feed_api.http.post(pypi_base() + "upload/", data=fields, files=files, headers=feed_api.auth("alice"))
    assert r.status_code == 200
    await published(feed_api, "crab", "1.0.0")
    assert (await push(feed_api, build_nupkg("Lib.One", "2.0.0"))).status_code in (201, 202)
    async with browser("alice") as alice:
        url = page("pypi", "yankme")
        shown = await act(alice, url, "yank", "1.0", reason="broken build")
        assert "yanked: broken build" in shown.text
        shown = await act(alice, url, "unyank", "1.0")
        assert "yanked" not in shown.text.split("<h2>Versions</h2>")[1].split("</table>")[0]
        url = page("cargo", "crab")
        assert "yanked" in (await act(alice, url, "yank", "1.0.0")).text
        assert f'href="{url}/yank?version=1.0.0"' in (await act(alice, url, "unyank", "1.0.0")).text
        url = page("nuget", "lib.one")
        assert "unlisted" in (await act(alice, url, "unlist", "2.0.0")).text
        relisted = await act(alice, url, "relist", "2.0.0")
        assert "is listed again" in relisted.text and f'href="{url}/unlist?version=2.0.0"' in relisted.text
        # an action of another protocol does not exist here
        assert (await alice.get(f"{url}/deprecate?version=2.0.0")).status_code == 404


async def test_a_reader_sees_no_owner_controls_and_cannot_post_them(feed_api: Api, browser: Browser) -> None:
    await npm_demo(feed_api)
    url = page("npm", "demo")
    async with browser("bob") as bob:
        shown = await bob.get(url)
        assert shown.status_code == 200
        assert "Actions</th>" not in shown.text and "/delete?" not in shown.text
        assert (await bob.get(f"{url}/delete?version=1.0.0")).status_code == 403
        for action, fields in (("delete", {}), ("deprecate", {"message": "x"}), ("promote", {"view": "Release"})):
            r = await post_form(bob, url, f"{url}/{action}", {"version": "1.0.0", **fields})
            assert r.status_code == 403, action
            assert "Not allowed" in r.text
        r = await bob.post(f"{url}/delete", data={"version": "1.0.0", "csrf": "forged"})
        assert r.status_code == 403
    async with browser("alice") as alice:  # the CSRF token is checked for owners too
        r = await alice.post(f"{url}/delete", data={"version": "1.0.0", "csrf": "forged"})
        assert r.status_code == 403
    r = await feed_api.http.get(feed_api.registry() + "demo", headers=feed_api.auth("bob"))
    assert list(r.json()["versions"]) == ["1.0.0", "1.1.0"]


# --- bad input ----------------------------------------------------------------------------------------------------


async def test_unknown_and_malformed_input_get_error_pages(feed_api: Api, browser: Browser) -> None:
    await npm_demo(feed_api)
    async with browser("alice") as http:
        for url, status in (
            (page("npm", "nothing-here"), 404),
            (page("npm", "demo", "nofeed"), 404),
            (page("npm", "demo") + "?tab=install&version=9.9.9", 404),
            (page("npm", "demo") + "?view=NoSuchView", 404),
            (page("npm", "demo", "feed", "delete") + "?version=9.9.9", 404),
            (page("npm", "demo", "feed", "explode") + "?version=1.0.0", 404),
            (page("npm", "demo", "feed", "delete"), 400),
            (page("npm", "demo") + "?tab=nope", 400),
            (page("npm", "demo") + "?page=x", 400),
            (page("npm", "bad name!"), 400),
            (page("npm", ".hidden"), 400),
            (page("pypi", "-bad-"), 400),
            (page("cargo", "9lives"), 400),
            (page("maven", "no-colon"), 400),
            (page("nuget", "bad..id"), 400),
            (page("npm", "demo") + "?tab=install&version=" + "9" * 300, 400),
            (f"{PAGES}/feed/rubygems/demo", 404),
        ):
            r = await http.get(url)
            assert r.status_code == status, (url, r.status_code, r.text[:300])
            assert "<h1>" in r.text


# --- hostile input ------------------------------------------------------------------------------------------------


async def test_hostile_readme_description_and_messages_render_harmless(feed_api: Api, browser: Browser) -> None:
    extra = {"readme": HOSTILE_README, "description": HOSTILE, "dependencies": {"x": HOSTILE}}
    assert (await feed_api.publish("evil", "1.0.0", who="alice", extra=extra)).status_code == 201
    filename, data, _ = make_wheel("evilpy", "1.0", description=HOSTILE_README, content_type="text/markdown")
    fields, files = upload_form("evilpy", "1.0", filename, data)
    r = await feed_api.http.post(pypi_base() + "upload/", data=fields, files=files, headers=feed_api.auth("alice"))
    assert r.status_code == 200
    filename, data, _ = make_wheel("evilrst", "1.0", description=HOSTILE, content_type="text/x-rst")
    fields, files = upload_form("evilrst", "1.0", filename, data)
    r = await feed_api.http.post(pypi_base() + "upload/", data=fields, files=files, headers=feed_api.auth("alice"))
    assert r.status_code == 200
    async with browser("alice") as alice:
        await act(alice, page("npm", "evil"), "deprecate", "1.0.0", message=HOSTILE)
        for url in (
            page("npm", "evil"),
            page("npm", "evil") + "?tab=readme",
            page("npm", "evil") + "?tab=install",
            page("npm", "evil", "feed", "undeprecate") + "?version=1.0.0",
            page("pypi", "evilpy") + "?tab=readme",
            page("pypi", "evilrst") + "?tab=readme",
        ):
            r = await alice.get(url)
            assert r.status_code == 200, url
            assert_harmless(r.text)
        readme = (await alice.get(page("npm", "evil") + "?tab=readme")).text
        assert 'href="https://example.invalid/" rel="nofollow noopener noreferrer"' in readme
        assert "&lt;script&gt;" in readme and "raw block" in readme  # raw HTML shows as text
        rst = (await alice.get(page("pypi", "evilrst") + "?tab=readme")).text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in rst
        # a hostile name in the URL comes back escaped in the error page
        r = await alice.get(page("npm", "<script>alert(1)</script>"))
        assert r.status_code == 400 and "<script>alert(1)" not in r.text
