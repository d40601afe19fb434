"""Every role and token scope against every operation, expected outcomes derived from one table.

``feed_core/domain/operations.py`` states the least role and scope of each operation. Here each
operation is tried over HTTP by a caller of every role (none, reader, collaborator, contributor,
feed administrator, organization administrator) holding a token of every scope, and anonymously;
a caller the table allows must succeed, any other must be refused (403, or 401 without credentials).
Each test lists every cell that disagrees, not just the first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from feed_core.domain.operations import Operation
from feed_core.domain.roles import Role, Scope
from tests.api.conftest import ORG, Api, MutableClock, SettingsFactory, running_api
from tests.npm_packages import publish_body
from tests.nupkg_builder import build_nupkg
from tests.python_packages import make_wheel, upload_form

FEEDS = f"/{ORG}/_apis/packaging/feeds"
RECYCLE_BIN = f"/{ORG}/_apis/packaging/feedrecyclebin"
PATS = f"/{ORG}/_apis/tokens/pats?api-version=7.1-preview.1"
#: (user, feed role) of the callers; ``admin`` is the organization administrator, who owns every feed.
USERS: tuple[tuple[str, Role | None], ...] = (
    ("nobody", None),
    ("rita", Role.READER),
    ("cole", Role.COLLABORATOR),
    ("cora", Role.CONTRIBUTOR),
    ("owen", Role.ADMINISTRATOR),
    ("admin", None),
)
ORG_ADMIN = "admin"


@pytest.fixture
def backend() -> str:
    """Authorization is storage-independent: the embedded store keeps the matrix fast."""
    return "embedded"


@dataclass(frozen=True)
class Who:
    """One caller of the matrix; ``user`` is ``None`` for an anonymous caller."""

    user: str | None
    role: Role
    scope: Scope
    org_admin: bool
    headers: dict[str, str]

    @property
    def label(self) -> str:
        if self.user is None:
            return "anonymous"
        kind = "org administrator" if self.org_admin else self.role.api_name
        return f"{kind} ({self.user}) with {self.scope.value}"


@dataclass
class World:
    """Feed ``feed`` (roles granted, npm ``p@1.0.0`` and Python ``pylib 1.0`` published) whose
    upstreams are feed ``up`` through its shared ``@Local`` view, for npm and Python."""

    api: Api
    wheel: str = ""

    @property
    def http(self) -> httpx.AsyncClient:
        return self.api.http

    async def feed(self, name: str) -> None:
        await self.api.create_feed(name)
        for user, role in USERS:
            if role is not None:
                await self.api.grant(name, user, role.api_name)

    async def publish(self, name: str, version: str, feed: str = "feed") -> None:
        r = await self.api.publish(name, version, feed=feed)
        assert r.status_code == 201, r.text

    async def upload(self, name: str, version: str, feed: str = "feed") -> str:
        filename, data, _ = make_wheel(name, version)
        fields, files = upload_form(name, version, filename, data)
        r = await self.http.post(
            f"/{ORG}/_packaging/{feed}/pypi/upload/", data=fields, files=files, headers=self.api.auth()
        )
        assert r.status_code == 200, r.text
        return filename

    async def push(
        self, package_id: str, version: str, feed: str = "feed", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """A NuGet push as nuget.exe sends it: multipart, the token as the API key (the administrator's by default)."""
        files = {"package": ("package.nupkg", build_nupkg(package_id, version), "application/octet-stream")}
        url = f"/{ORG}/_packaging/{feed}/nuget/v3/package"
        return await self.http.put(url, files=files, headers=headers if headers is not None else self.api.auth())

    async def mint(self, user: str, scope: Scope = Scope.READ) -> tuple[str, str]:
        minted = await self.api.services.identity.mint(ORG, None, user=user, display_name="matrix", scope=scope)
        return minted.token.authorization_id, minted.plaintext


@pytest.fixture
async def world(make_settings: SettingsFactory, clock: MutableClock) -> AsyncIterator[World]:
    async with running_api(make_settings(), clock) as api:
        w = World(api)
        await w.feed("feed")
        await api.create_feed("up")
        await api.follow_internal_upstream("feed", "up", ("npm", "pypi", "nuget"))
        await w.publish("p", "1.0.0")
        w.wheel = await w.upload("pylib", "1.0")
        assert (await w.push("NLib", "1.0.0")).status_code == 201
        yield w


async def callers(w: World) -> list[Who]:
    out = []
    for user, role in USERS:
        for scope in Scope:
            _, token = await w.mint(user, scope)
            org_admin = user == ORG_ADMIN
            out.append(
                Who(
                    user,
                    Role.ADMINISTRATOR if org_admin else role or Role.NONE,
                    scope,
                    org_admin,
                    {"Authorization": f"Bearer {token}"},
                )
            )
    out.append(Who(None, Role.NONE, Scope.READ, False, {}))
    return out


Attempt = Callable[[World, Who, int], Awaitable[httpx.Response]]
NPM = f"/{ORG}/_packaging/feed/npm/registry/"
PYPI = f"/{ORG}/_packaging/feed/pypi/"
NUGET = f"/{ORG}/_packaging/feed/nuget/v3/"


def npm_doc(name: str, versions: dict[str, str | None]) -> dict[str, object]:
    """The whole-document PUT npm sends for deprecate and unpublish (version -> deprecation message)."""
    docs = {v: {"name": name, "version": v, **({"deprecated": m} if m else {})} for v, m in versions.items()}
    return {"_id": name, "_rev": "1-0", "name": name, "versions": docs}  # npm sends back the _rev it read


async def _feed_list(w: World, who: Who, i: int) -> httpx.Response:
    return await w.http.get(FEEDS, headers=who.headers)


async def _feed_delete(w: World, who: Who, i: int) -> httpx.Response:
    await w.feed(f"gone{i}")
    return await w.http.delete(f"{FEEDS}/gone{i}", headers=who.headers)


async def _deleted_feed(w: World, i: int) -> str:
    """A feed the matrix's users hold their roles on, deleted (into the recycle bin): its id."""
    await w.feed(f"bin{i}")
    feed_id = (await w.http.get(f"{FEEDS}/bin{i}", headers=w.api.auth())).json()["id"]
    assert (await w.http.delete(f"{FEEDS}/bin{i}", headers=w.api.auth())).status_code == 204
    return str(feed_id)


async def _recycle_bin_list(w: World, who: Who, i: int) -> httpx.Response:
    await _deleted_feed(w, i)
    return await w.http.get(RECYCLE_BIN, headers=who.headers)


async def _feed_restore(w: World, who: Who, i: int) -> httpx.Response:
    feed_id = await _deleted_feed(w, i)
    restore = [{"op": "replace", "path": "/isDeleted", "value": False}]
    return await w.http.patch(f"{RECYCLE_BIN}/{feed_id}", json=restore, headers=who.headers)


async def _feed_purge(w: World, who: Who, i: int) -> httpx.Response:
    return await w.http.delete(f"{RECYCLE_BIN}/{await _deleted_feed(w, i)}", headers=who.headers)


async def _view_delete(w: World, who: Who, i: int) -> httpx.Response:
    r = await w.http.post(f"{FEEDS}/feed/views", json={"name": f"old{i}"}, headers=w.api.auth())
    assert r.status_code == 201, r.text
    return await w.http.delete(f"{FEEDS}/feed/views/old{i}", headers=who.headers)


async def _token_revoke_own(w: World, who: Who, i: int) -> httpx.Response:
    auth_id = (await w.mint(who.user))[0] if who.user else "00000000-0000-0000-0000-000000000000"
    return await w.http.delete(f"{PATS}&authorizationId={auth_id}", headers=who.headers)


async def _token_revoke_others(w: World, who: Who, i: int) -> httpx.Response:
    auth_id, _ = await w.mint("victim")
    return await w.http.delete(f"{PATS}&authorizationId={auth_id}&user=victim", headers=who.headers)


async def _provenance(w: World, who: Who, i: int) -> httpx.Response:
    info = (await w.http.get(f"{FEEDS}/feed/npm/p/versions/1.0.0", headers=w.api.auth())).json()
    url = f"{FEEDS}/feed/Packages/{info['packageId']}/Versions/{info['id']}/provenance"
    return await w.http.get(url, headers=who.headers)


async def _version_delete(w: World, who: Who, i: int) -> httpx.Response:
    await w.publish("gone", f"1.0.{i}")
    return await w.http.delete(f"{FEEDS}/feed/npm/gone/versions/1.0.{i}", headers=who.headers)


async def _binned(w: World, i: int) -> str:
    """An npm version deleted into the feed's recycle bin: its recycle bin URL."""
    await w.publish("binned", f"1.0.{i}")
    assert (await w.http.delete(f"{FEEDS}/feed/npm/binned/versions/1.0.{i}", headers=w.api.auth())).status_code == 200
    return f"{FEEDS}/feed/npm/RecycleBin/packages/binned/versions/1.0.{i}"


async def _version_restore(w: World, who: Who, i: int) -> httpx.Response:
    return await w.http.patch(await _binned(w, i), json={"deleted": False}, headers=who.headers)


async def _version_purge(w: World, who: Who, i: int) -> httpx.Response:
    return await w.http.delete(await _binned(w, i), headers=who.headers)


async def _binned_get(w: World, who: Who, i: int) -> httpx.Response:
    return await w.http.get(await _binned(w, i), headers=who.headers)


async def _binned_package_get(w: World, who: Who, i: int) -> httpx.Response:
    await _binned(w, i)
    listed = (await w.http.get(f"{FEEDS}/feed/RecycleBin/Packages", headers=w.api.auth())).json()["value"]
    package_id = next(p["id"] for p in listed if p["name"] == "binned")
    return await w.http.get(f"{FEEDS}/feed/RecycleBin/Packages/{package_id}", headers=who.headers)


def _batch(operation: str) -> Attempt:
    async def attempt(w: World, who: Who, i: int) -> httpx.Response:
        await _binned(w, i)
        body = {"operation": operation, "packages": [{"id": "binned", "version": f"1.0.{i}"}]}
        return await w.http.post(f"{FEEDS}/feed/npm/RecycleBin/packagesBatch", json=body, headers=who.headers)

    return attempt


async def _empty_bin(w: World, who: Who, i: int) -> httpx.Response:
    await _binned(w, i)
    return await w.http.delete(f"{FEEDS}/feed/RecycleBin/Packages", headers=who.headers)


async def _dist_tag_rm(w: World, who: Who, i: int) -> httpx.Response:
    url = f"{NPM}-/package/p/dist-tags/old{i}"
    assert (await w.http.put(url, json="1.0.0", headers=w.api.auth())).status_code == 201
    return await w.http.delete(url, headers=who.headers)


async def _npm_unpublish(w: World, who: Who, i: int) -> httpx.Response:
    name = f"un{i}"
    await w.publish(name, "1.0.0")
    await w.publish(name, "1.0.1")
    # `npm unpublish un@1.0.0`: the document without that version, PUT to the /-rev/ URL
    return await w.http.put(f"{NPM}{name}/-rev/2-x", json=npm_doc(name, {"1.0.1": None}), headers=who.headers)


async def _npm_save(w: World, who: Who, i: int) -> httpx.Response:
    name = f"s{i}"
    await w.publish(name, "1.0.0", feed="up")
    return await w.http.get(f"{NPM}{name}/-/{name}-1.0.0.tgz", headers=who.headers)


async def _pypi_upload(w: World, who: Who, i: int) -> httpx.Response:
    filename, data, _ = make_wheel("pyup", f"1.0.{i}")
    fields, files = upload_form("pyup", f"1.0.{i}", filename, data)
    return await w.http.post(f"{PYPI}upload/", data=fields, files=files, headers=who.headers)


async def _pypi_save(w: World, who: Who, i: int) -> httpx.Response:
    name = f"spy{i}"
    filename = await w.upload(name, "1.0", feed="up")
    return await w.http.get(f"{PYPI}download/{name}/1.0/{filename}", headers=who.headers)


async def _nuget_push(w: World, who: Who, i: int) -> httpx.Response:
    return await w.push("NPush", f"1.0.{i}", headers=who.headers)


async def _nuget_unlist(w: World, who: Who, i: int) -> httpx.Response:
    assert (await w.push("NGone", f"1.0.{i}")).status_code == 201
    return await w.http.delete(f"{NUGET}package/NGone/1.0.{i}", headers=who.headers)


async def _nuget_save(w: World, who: Who, i: int) -> httpx.Response:
    assert (await w.push(f"NSave{i}", "1.0.0", feed="up")).status_code == 201
    return await w.http.get(f"{NUGET}flat2/nsave{i}/1.0.0/nsave{i}.1.0.0.nupkg", headers=who.headers)


def get(url: str, headers: dict[str, str] | None = None) -> Attempt:
    async def attempt(w: World, who: Who, i: int) -> httpx.Response:
        return await w.http.get(url.format(i=i, wheel=w.wheel), headers={**(headers or {}), **who.headers})

    return attempt


def send(method: str, url: str, body: Callable[[Who, int], object]) -> Attempt:
    async def attempt(w: World, who: Who, i: int) -> httpx.Response:
        return await w.http.request(method, url.format(i=i), json=body(who, i), headers=who.headers)

    return attempt


PROMOTE = {"views": {"op": "add", "path": "/views/-", "value": "Release"}}
CASES: dict[Operation, Attempt] = {
    Operation.FEED_LIST: _feed_list,
    Operation.FEED_GET: get(f"{FEEDS}/feed"),
    Operation.FEED_CREATE: send("POST", FEEDS, lambda who, i: {"name": f"new{i}"}),
    Operation.FEED_UPDATE: send("PATCH", f"{FEEDS}/feed", lambda who, i: {"description": f"changed {i}"}),
    Operation.FEED_DELETE: _feed_delete,
    Operation.FEED_HEALTH: get(f"{FEEDS}/feed/health"),
    Operation.FEED_USAGE: get(f"{FEEDS}/feed/usage"),
    Operation.FEED_RECYCLE_BIN_LIST: _recycle_bin_list,
    Operation.FEED_RESTORE: _feed_restore,
    Operation.FEED_PURGE: _feed_purge,
    Operation.VIEW_LIST: get(f"{FEEDS}/feed/views"),
    Operation.VIEW_GET: get(f"{FEEDS}/feed/views/Release"),
    Operation.VIEW_CREATE: send("POST", f"{FEEDS}/feed/views", lambda who, i: {"name": f"v{i}"}),
    Operation.VIEW_UPDATE: send("PATCH", f"{FEEDS}/feed/views/Prerelease", lambda who, i: {"visibility": "collection"}),
    Operation.VIEW_DELETE: _view_delete,
    Operation.PERMISSION_GET: get(f"{FEEDS}/feed/permissions"),
    Operation.PERMISSION_SET: send(
        "PATCH", f"{FEEDS}/feed/permissions", lambda who, i: [{"role": "reader", "identityDescriptor": f"extra{i}"}]
    ),
    Operation.TOKEN_LIST_OWN: get(PATS),
    Operation.TOKEN_MINT_OWN: send("POST", PATS, lambda who, i: {"scope": who.scope.value}),
    Operation.TOKEN_REVOKE_OWN: _token_revoke_own,
    Operation.TOKEN_LIST_OTHERS: get(f"{PATS}&user=victim"),
    Operation.TOKEN_MINT_OTHERS: send("POST", PATS, lambda who, i: {"user": "victim", "scope": "vso.packaging"}),
    Operation.TOKEN_REVOKE_OTHERS: _token_revoke_others,
    Operation.UPSTREAMING_GET: get(f"{FEEDS}/feed/npm/packages/p/upstreaming"),
    Operation.UPSTREAMING_SET: send(
        "PATCH",
        f"{FEEDS}/feed/npm/packages/p/upstreaming",
        lambda who, i: {"versionsFromExternalUpstreams": "allowExternalVersions"},
    ),
    Operation.VERSION_GET: get(f"{FEEDS}/feed/npm/p/versions/1.0.0"),
    Operation.VERSION_PROVENANCE: _provenance,
    Operation.VERSION_PROMOTE: send("PATCH", f"{FEEDS}/feed/npm/p/versions/1.0.0", lambda who, i: PROMOTE),
    Operation.VERSION_DEPRECATE: send(
        "PATCH", f"{FEEDS}/feed/npm/p/versions/1.0.0", lambda who, i: {"deprecateMessage": f"old {i}"}
    ),
    Operation.VERSION_YANK: send(
        "PATCH", f"{FEEDS}/feed/pypi/packages/pylib/versions/1.0", lambda who, i: {"yanked": True, "yankedReason": "x"}
    ),
    Operation.VERSION_DELETE: _version_delete,
    Operation.RECYCLE_BIN_LIST: get(f"{FEEDS}/feed/RecycleBin/Packages"),
    Operation.RECYCLE_BIN_RESTORE: _version_restore,
    Operation.RECYCLE_BIN_DELETE: _version_purge,
    Operation.NPM_READ: get(f"{NPM}p"),
    Operation.NPM_DOWNLOAD: get(f"{NPM}p/-/p-1.0.0.tgz"),
    Operation.NPM_PUBLISH: send("PUT", f"{NPM}pub", lambda who, i: publish_body("pub", f"1.0.{i}")),
    Operation.NPM_DIST_TAG_ADD: send("PUT", f"{NPM}-/package/p/dist-tags/t{{i}}", lambda who, i: "1.0.0"),
    Operation.NPM_DIST_TAG_RM: _dist_tag_rm,
    Operation.NPM_DEPRECATE: send("PUT", f"{NPM}p", lambda who, i: npm_doc("p", {"1.0.0": f"old {i}"})),
    Operation.NPM_UNPUBLISH: _npm_unpublish,
    Operation.NPM_SAVE: _npm_save,
    Operation.PYPI_READ: get(f"{PYPI}simple/pylib/"),
    Operation.PYPI_DOWNLOAD: get(f"{PYPI}download/pylib/1.0/{{wheel}}"),
    Operation.PYPI_UPLOAD: _pypi_upload,
    Operation.PYPI_SAVE: _pypi_save,
    Operation.NUGET_READ: get(f"{NUGET}registrations/nlib/index.json"),
    Operation.NUGET_DOWNLOAD: get(f"{NUGET}flat2/nlib/1.0.0/nlib.1.0.0.nupkg"),
    Operation.NUGET_PUSH: _nuget_push,
    Operation.NUGET_UNLIST: _nuget_unlist,
    Operation.NUGET_SAVE: _nuget_save,
}


#: Routes that share an operation's rule with the route ``CASES`` tries for it: (name, operation, attempt).
SAME_RULE: list[tuple[str, Operation, Attempt]] = [
    ("recycle-bin.get-version", Operation.RECYCLE_BIN_LIST, _binned_get),
    ("recycle-bin.get-package", Operation.RECYCLE_BIN_LIST, _binned_package_get),
    ("recycle-bin.batch-restore", Operation.RECYCLE_BIN_RESTORE, _batch("restoreToFeed")),
    ("recycle-bin.batch-delete", Operation.RECYCLE_BIN_DELETE, _batch("permanentDelete")),
    ("recycle-bin.empty", Operation.RECYCLE_BIN_DELETE, _empty_bin),
]


def outcome(op: Operation, r: httpx.Response) -> str:
    """What happened, in the matrix's words: allowed, refused, unauthenticated, or the odd answer."""
    if op is Operation.FEED_LIST and r.status_code == 200:
        return "allowed" if "feed" in {f["name"] for f in r.json()["value"]} else "refused"
    if op is Operation.FEED_RECYCLE_BIN_LIST and r.status_code == 200:
        return "allowed" if r.json()["value"] else "refused"  # only the deleted feeds the caller administers
    if 200 <= r.status_code < 300:
        return "allowed"
    if r.status_code == 403:
        return "refused"
    if r.status_code == 404 and op in (Operation.NPM_SAVE, Operation.PYPI_SAVE, Operation.NUGET_SAVE):
        return "refused"  # readers are not offered upstream versions they could not save
    if r.status_code == 404 and op in (Operation.FEED_RESTORE, Operation.FEED_PURGE):
        return "refused"  # the recycle bin shows a deleted feed only to its administrators
    if r.status_code == 401:
        return "unauthenticated"
    return f"{r.status_code} {r.text[:200]}"


def expected(op: Operation, who: Who) -> str:
    if who.user is None:
        return "unauthenticated"
    return "allowed" if op.rule.allows(who.role, who.scope, org_admin=who.org_admin) else "refused"


def test_every_operation_has_a_case() -> None:
    assert set(CASES) == set(Operation)


@pytest.mark.parametrize("op", list(Operation), ids=lambda op: op.value)
async def test_matrix(world: World, op: Operation) -> None:
    wrong = []
    for i, who in enumerate(await callers(world)):
        got = outcome(op, await CASES[op](world, who, i))
        if got != expected(op, who):
            wrong.append(f"{who.label}: expected {expected(op, who)}, got {got}")
    assert wrong == [], f"{op.value} (needs {op.rule.who} with {op.rule.scope.value}):\n" + "\n".join(wrong)


@pytest.mark.parametrize(("name", "op", "attempt"), SAME_RULE, ids=[case[0] for case in SAME_RULE])
async def test_matrix_of_routes_sharing_a_rule(world: World, name: str, op: Operation, attempt: Attempt) -> None:
    wrong = []
    for i, who in enumerate(await callers(world)):
        got = outcome(op, await attempt(world, who, i))
        if got != expected(op, who):
            wrong.append(f"{who.label}: expected {expected(op, who)}, got {got}")
    assert wrong == [], f"{name} (needs {op.rule.who} with {op.rule.scope.value}):\n" + "\n".join(wrong)


async def test_a_token_s_scope_narrows_a_feed_owner_in_the_recycle_bin(world: World) -> None:
    """owen administers the feed; with a write token he lists the recycle bin but may not change it."""
    _, token = await world.mint("owen", Scope.WRITE)
    headers = {"Authorization": f"Bearer {token}"}
    url = await _binned(world, 0)
    assert (await world.http.get(f"{FEEDS}/feed/RecycleBin/Packages", headers=headers)).status_code == 200
    assert (await world.http.get(url, headers=headers)).status_code == 200
    body = {"operation": "restoreToFeed", "packages": [{"id": "binned", "version": "1.0.0"}]}
    for r in (
        await world.http.patch(url, json={"deleted": False}, headers=headers),
        await world.http.delete(url, headers=headers),
        await world.http.post(f"{FEEDS}/feed/npm/RecycleBin/packagesBatch", json=body, headers=headers),
        await world.http.delete(f"{FEEDS}/feed/RecycleBin/Packages", headers=headers),
    ):
        assert r.status_code == 403 and "token's scope" in r.json()["message"], r.text
    _, token = await world.mint("owen", Scope.READ)
    r = await world.http.get(f"{FEEDS}/feed/RecycleBin/Packages", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and "token's scope" in r.json()["message"], r.text
    r = await world.http.get(url, headers=world.api.auth())
    assert r.status_code == 200 and r.json()["version"] == "1.0.0"  # nothing changed


@pytest.mark.parametrize("org", [ORG, "no-such-org"])
@pytest.mark.parametrize(
    "path",
    ["_apis/packaging/feeds", "_apis/packaging/feeds/feed", "_apis/tokens/pats", "_packaging/feed/npm/registry/p"],
)
async def test_anonymous_callers_get_401_whether_or_not_the_organization_exists(
    world: World, org: str, path: str
) -> None:
    r = await world.http.get(f"/{org}/{path}")
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Basic")
