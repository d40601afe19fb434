"""Hypothesis strategies for hostile requests: paths, headers and bodies for the REST API, npm, PyPI and Cargo.

A request is built from a template of a real endpoint whose slots are filled with valid values or
hostile ones (traversal, percent-encodings, unicode, overlong segments), with bodies that are
valid, mutated, random JSON (deep nesting, huge numbers, wrong types, nulls) or random bytes.
``$feed_id`` and ``$up_id`` stand for the ids of the fuzzed feeds, filled in when the request is sent.
Every URL in here is loopback: a fuzzed upstream source must never make the feed call out.
"""

from __future__ import annotations

import base64
import json
import string
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from hypothesis import strategies as st

from tests.api.conftest import ADMIN_TOKEN, ORG
from tests.cargo_packages import crate_bytes, frame, metadata
from tests.npm_packages import make_tarball, publish_body
from tests.python_packages import make_sdist, make_wheel, upload_form

T = TypeVar("T")


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    target: str  # path and query exactly as sent: ASCII, percent-encoded where the client encodes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def __repr__(self) -> str:  # what Hypothesis prints for a failing example
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"...(%d bytes)" % len(self.body)
        return f"FuzzRequest({self.method} {self.target!r} headers={list(self.headers)!r} body={body!r})"


# --- building blocks ------------------------------------------------------------------------------

HOSTILE_SEGMENTS = [
    "",
    ".",
    "..",
    "%2e%2e",
    "%2E%2e%2F..",
    "..%2f..%2fetc%2fpasswd",
    "%00",
    "a%00b",
    "%ff%fe",
    "%c3%a9",
    "%e2%80%ae",
    "%f0%9f%92%a9",
    "%2f",
    "%5c",
    "\\",
    "%",
    "%zz",
    "~",
    "@",
    "@@",
    "-",
    "-rev",
    "a" * 256,
    "b" * 5000,
    "%41" * 800,
    "$feed_id",
    "$up_id",
    "00000000-0000-0000-0000-000000000000",
    "nosuch",
    "NUL",
    "con",
    "'%20OR%201=1",
    "%3Cscript%3E",
]
_PRINTABLE = "".join(c for c in string.printable if c not in "/?#\t\n\r\x0b\x0c ")
SEGMENT = st.one_of(
    st.sampled_from(HOSTILE_SEGMENTS),
    st.text(alphabet=_PRINTABLE, max_size=24),
    st.text(max_size=12).map(lambda s: quote(s, safe="")),  # unicode, as clients percent-encode it
)


def mostly(valid: st.SearchStrategy[T], hostile: st.SearchStrategy[T], odds: int = 4) -> st.SearchStrategy[T]:
    """``valid`` about ``odds`` times out of ``odds + 1``, else ``hostile``; failures shrink towards valid.

    Keeping most parts of a request valid lets the one hostile part reach deep into the code."""
    return st.sampled_from([valid] * odds + [hostile]).flatmap(lambda chosen: chosen)


def slot(valid: list[str], odd: list[str]) -> st.SearchStrategy[str]:
    """Mostly a value that exists; else a plausible wrong one (``odd``) or a hostile segment."""
    return mostly(st.sampled_from(valid), st.one_of(st.sampled_from(odd), SEGMENT))


ORG_SLOT = slot([ORG], ["LOCAL", f"{ORG}/proj", "nosuch"])
FEED_SLOT = slot(["fuzz", "fuzz", "up", "$feed_id"], ["FUZZ", "$up_id", "nosuch"])
FEED_REF_SLOT = slot(
    ["fuzz", "fuzz", "fuzz@Release", "up"], ["fuzz@Local", "fuzz@nosuch", "fuzz@", "@Release", "$feed_id"]
)
VIEW_SLOT = slot(["Local", "Release", "Prerelease"], ["@Release", "nosuch", "$feed_id"])
NPM_NAME_SLOT = slot(["p", "p", "@sc/q", "u"], ["@sc%2fq", "%40sc%2fq", "P", "@sc", "nosuch", "_p", ".p"])
PY_NAME_SLOT = slot(["pylib", "pylib", "uplib"], ["PyLib", "py_lib", "nosuch", "-x-"])
VERSION_SLOT = slot(
    ["1.0.0", "1.1.0", "1.0"], ["latest", "beta", "2.0.0", "1.0.0-rc.1", "v1", "1.0.0+build", "0" * 300]
)
CRATE_SLOT = slot(
    ["demo_crate", "Demo_Crate", "upcrate"], ["demo-crate", "DEMO-CRATE", "1x", "a" * 65, "de.mo", "nosuch"]
)
INDEX_SLOT = slot(
    ["de/mo/demo_crate", "up/cr/upcrate"],
    ["de/mo/demo-crate", "De/mo/demo_crate", "3/d/dem", "1/a", "de/mo", "config.json/x", "nosuch"],
)
FILE_SLOT = slot(
    ["p-1.0.0.tgz", "q-1.0.0.tgz", "u-1.0.0.tgz", "pylib-1.0-py3-none-any.whl", "uplib-1.0-py3-none-any.whl"],
    ["pylib-1.0.tar.gz", "pylib-1.0-py3-none-any.whl.metadata", "other-9.9.9.tgz", "p-1.1.0.tgz"],
)
QUERY = mostly(
    st.sampled_from(["", "?api-version=7.1"]),
    st.one_of(
        st.sampled_from(
            [
                "?api-version=7.1",
                "?api-version=7.1-preview.1&user=alice",
                "?user=%ff",
                "?authorizationId=$feed_id",
                "?authorizationId=" + "a" * 3000,
                "?showDeleted=true",
                "?write=true",
                "?format=application/vnd.pypi.simple.v1+json",
                "?format=%00",
                "?text=p&size=-1&from=99999999999999999999",
                "?size=abc",
                "?a=1&a=2&%ff=%fe",
            ]
        ),
        st.text(alphabet=_PRINTABLE + "/?", max_size=40).map(lambda s: "?" + s),
    ),
)
ANY_METHOD = st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"])


# --- headers --------------------------------------------------------------------------------------

#: The fuzzed organization's users and the tokens they hold (minted with this text by the test).
TOKENS = {
    "admin": ADMIN_TOKEN,  # the organization administrator
    "owen": "fuzz-owen-administrator-manage",
    "alice": "fuzz-alice-contributor-write",
    "carol": "fuzz-carol-collaborator-read",
    "bob": "fuzz-bob-reader-read",
    "nobody": "fuzz-nobody-norole-manage",
}
_TOKEN = st.sampled_from(sorted(TOKENS.values())).map(str.encode)


def _b64(raw: bytes) -> bytes:
    return base64.b64encode(raw)


@st.composite
def authorization(draw: st.DrawFn) -> bytes | None:
    kind = draw(mostly(st.sampled_from(["bearer", "basic"]), st.sampled_from(["none", "garbage"])))
    if kind == "none":
        return None
    if kind == "bearer":
        return b"Bearer " + draw(_TOKEN)
    if kind == "basic":
        user = draw(st.sampled_from([b"", b"x", b"__token__", "é".encode(), b"a" * 300]))
        return b"Basic " + _b64(user + b":" + draw(_TOKEN))
    return draw(
        st.one_of(
            st.sampled_from(
                [
                    b"",
                    b"Basic",
                    b"Basic ",
                    b"Basic \xff\xff",
                    b"Basic " + _b64(b"\xff\xfe:\xff"),
                    b"Basic " + _b64(b"no-colon-at-all"),
                    b"Basic " + _b64(b":"),
                    b"Basic =====",
                    b"Bearer",
                    b"Bearer " + b"x" * 5000,
                    b"bearer  " + TOKENS["alice"].encode(),
                    b"Digest abc",
                    b"Negotiate \x00",
                    b"Basic " + _b64(b"u:" + b"\x00" * 10),
                ]
            ),
            st.binary(max_size=64).map(lambda b: b"Basic " + b),
            st.binary(max_size=64).map(lambda b: b"Basic " + _b64(b)),
            st.binary(max_size=64).filter(lambda b: b"\r" not in b and b"\n" not in b),
        )
    )


@st.composite
def cargo_headers(draw: st.DrawFn) -> tuple[tuple[bytes, bytes], ...]:
    """Headers as cargo sends them: mostly the token raw (no scheme), else any of ``headers()``."""
    if draw(st.integers(0, 2)) == 0:
        return draw(headers())
    out = [(b"authorization", draw(_TOKEN)), (b"host", b"feed.test"), (b"accept", b"application/json")]
    if draw(st.booleans()):
        out.append((b"content-type", b"application/octet-stream"))
    return tuple(out)


CONTENT_TYPES = [
    b"application/json",
    b"application/json; charset=utf-8",
    b"application/json; charset=latin-1",
    b"text/plain",
    b"multipart/form-data",
    b"multipart/form-data; boundary=",
    b"multipart/form-data; boundary=xyz",
    b'multipart/form-data; boundary="' + b"b" * 200 + b'"',
    b"application/x-www-form-urlencoded",
    b"application/octet-stream",
    b"",
    b"\xff\xfe",
]
ACCEPTS = [
    b"application/vnd.npm.install-v1+json",
    b"application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*",
    b"application/vnd.pypi.simple.v1+json",
    b"application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01",
    b"text/html",
    b"*/*",
    b"image/png",
    b"application/vnd.pypi.simple.v1+json; q=abc",
    b"application/vnd.pypi.simple.v1+json; q=nan",
    b"application/vnd.pypi.simple.v1+json; q=1e999",
    b";;;,,,",
    b"a" * 5000,
]
HOSTS = [b"feed.test", b"evil.example", b"feed.test:99999", b"[::1]:7071", b"", b"a" * 300, b"h\xc3\xa9st", b"x y"]


@st.composite
def headers(draw: st.DrawFn, content_type: bytes | None = None) -> tuple[tuple[bytes, bytes], ...]:
    out: list[tuple[bytes, bytes]] = []
    auth = draw(authorization())
    if auth is not None:
        out.append((b"authorization", auth))
    ctype = content_type if content_type is not None else draw(st.one_of(st.none(), st.sampled_from(CONTENT_TYPES)))
    if ctype is not None:
        out.append((b"content-type", ctype))
    optional: dict[bytes, st.SearchStrategy[bytes]] = {
        b"accept": st.sampled_from(ACCEPTS),
        b"host": st.sampled_from(HOSTS),
        b"x-forwarded-host": st.sampled_from(HOSTS),
        b"x-forwarded-proto": st.sampled_from([b"https", b"javascript", b"", b"\xff"]),
        b"if-match": st.sampled_from([b"*", b'"x"', b"", b"\xff"]),
        b"if-none-match": st.sampled_from([b"*", b'"x"', b'W/"x"']),
        b"range": st.sampled_from(
            [b"bytes=0-", b"bytes=-5", b"bytes=5-1", b"bytes=99999999-", b"bytes=a-b", b"bytes=0-0,2-3", b"lines=1-2"]
        ),
    }
    for name, values in optional.items():
        if draw(st.booleans()) and draw(st.booleans()):
            out.append((name, draw(values)))
    return tuple(out)


# --- bodies ---------------------------------------------------------------------------------------

_INTERESTING_STRINGS = [
    "",
    " ",
    "fuzz",
    "up",
    "Release",
    "Local",
    "@Release",
    "fuzz@Release",
    "$feed_id",
    "$up_id",
    "00000000-0000-0000-0000-000000000000",
    "reader",
    "collaborator",
    "contributor",
    "administrator",
    "owner",
    "none",
    "alice",
    "nobody",
    "vso.packaging",
    "vso.packaging_write",
    "vso.packaging_manage",
    "auto",
    "allowExternalVersions",
    "private",
    "collection",
    "organization",
    "npm",
    "pypi",
    "public",
    "internal",
    "2027-01-01T00:00:00Z",
    "2099-01-01T00:00:00Z",
    "1999-01-01",
    "azure-feed://local/up@Local",
    "azure-feed://local/fuzz@Local",
    "azure-feed://nosuch/x@y",
    "http://127.0.0.1:9/",
    "http://[::1]:9/simple/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "../../x",
    "a\x00b",
    "\u202e",
    "𝔘𝔫𝔦",
    "x" * 300,
    "y" * 40_000,
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(_INTERESTING_STRINGS),
    st.text(max_size=30),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(_INTERESTING_STRINGS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=20,
)


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


#: Raw JSON texts no encoder would write: deep nesting and numbers past every parser's limits.
NASTY_JSON = st.one_of(
    st.integers(min_value=1_000, max_value=100_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1_000, max_value=100_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(min_value=4_301, max_value=20_000).map(lambda n: b"9" * n),
    st.sampled_from(["name", "minimumReleaseAgeHours", "description", "upstreamSources", "password", "yanked"]).flatmap(
        lambda key: st.integers(min_value=300, max_value=6_000).map(lambda n: b'{"%s": %s}' % (key.encode(), b"9" * n))
    ),
    st.sampled_from([b"1e999", b"-1e999", b'{"a": NaN}', b'{"a": Infinity}', b'"\\ud800"', b'{"a":1,"a":2}']),
)
RAW_BODIES = st.one_of(st.binary(max_size=512), st.just(b""), NASTY_JSON)
ANY_BODY = st.one_of(JSON_VALUES.map(dumps), RAW_BODIES)

REST_KEYS = [
    "name",
    "description",
    "upstreamEnabled",
    "upstreamSources",
    "hideDeletedPackageVersions",
    "badgesEnabled",
    "defaultViewId",
    "allowUpstreamNameConflict",
    "minimumReleaseAgeHours",
    "minimumReleaseAgeExemptions",
    "visibility",
    "scope",
    "user",
    "validTo",
    "displayName",
    "views",
    "deprecateMessage",
    "yanked",
    "yankedReason",
    "versionsFromExternalUpstreams",
]
SOURCE_KEYS = [
    "name",
    "protocol",
    "location",
    "upstreamSourceType",
    "internalUpstreamFeedId",
    "internalUpstreamViewId",
    "internalUpstreamCollectionId",
    "internalUpstreamProjectId",
    "status",
    "credentials",
    "minimumReleaseAgeHours",
    "id",
]
UPSTREAM_SOURCE = st.dictionaries(st.sampled_from(SOURCE_KEYS), JSON_VALUES, max_size=6)
VALID_SOURCE = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["up", "again", ""]),
        "protocol": st.sampled_from(["npm", "pypi", "nuget", ""]),
        "upstreamSourceType": st.sampled_from(["internal", "public", "custom"]),
        "internalUpstreamFeedId": st.sampled_from(["up", "$up_id", "fuzz", "nosuch"]),
        "internalUpstreamViewId": st.sampled_from(["Local", "Release", "nosuch"]),
    }
)
PERMISSIONS = st.lists(
    st.one_of(
        st.fixed_dictionaries({"role": st.sampled_from(_INTERESTING_STRINGS), "identityDescriptor": JSON_VALUES}),
        st.fixed_dictionaries({"role": JSON_VALUES, "identityDescriptor": st.sampled_from(_INTERESTING_STRINGS)}),
        JSON_VALUES,
    ),
    max_size=4,
)
REST_OBJECT = st.dictionaries(
    st.sampled_from(REST_KEYS),
    st.one_of(
        JSON_VALUES,
        st.lists(st.one_of(UPSTREAM_SOURCE, VALID_SOURCE), max_size=3),
        st.fixed_dictionaries({"op": JSON_VALUES, "path": JSON_VALUES, "value": JSON_VALUES}),
    ),
    max_size=5,
)
REST_BODY = st.one_of(REST_OBJECT.map(dumps), PERMISSIONS.map(dumps))


# npm: publish documents, valid or mutated, and the other documents npm PUTs.
@st.composite
def tarball(draw: st.DrawFn, name: str, version: str) -> bytes:
    return draw(
        st.one_of(
            st.just(make_tarball(name, version)),
            st.binary(max_size=256),
            st.binary(max_size=256).map(lambda b: b"\x1f\x8b\x08\x00" + b),
            st.sampled_from(["x", "other", name]).map(lambda other: make_tarball(other, "9.9.9")),
        )
    )


PUBLISH_PATHS: list[tuple[str, ...]] = [
    ("name",),
    ("_id",),
    ("description",),
    ("readme",),
    ("dist-tags",),
    ("dist-tags", "latest"),
    ("versions",),
    ("versions", "$v"),
    ("versions", "$v", "name"),
    ("versions", "$v", "version"),
    ("versions", "$v", "dist"),
    ("versions", "$v", "dist", "integrity"),
    ("versions", "$v", "dist", "shasum"),
    ("versions", "$v", "dist", "tarball"),
    ("versions", "$v", "scripts"),
    ("versions", "$v", "dependencies"),
    ("versions", "$v", "deprecated"),
    ("_attachments",),
    ("_attachments", "$a"),
    ("_attachments", "$a", "data"),
    ("_attachments", "$a", "length"),
    ("_attachments", "other-9.9.9.tgz"),
]


def _set_path(doc: dict[str, Any], path: tuple[str, ...], value: Any, version: str, attachment: str) -> None:
    keys = [version if k == "$v" else attachment if k == "$a" else k for k in path]
    node: Any = doc
    for key in keys[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            return
        node = node[key]
    if isinstance(node, dict):
        if value is _DELETE:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value


_DELETE = object()


@st.composite
def publish_document(draw: st.DrawFn) -> bytes:
    name = draw(slot(["new", "@sc/new", "p"], ["@sc/q", "u", "Bad Name", "x" * 300]))
    version = draw(slot(["2.0.0", "3.0.0-rc.1"], ["1.0.0", "1.1.0", "01.0.0", "1.0", "x"]))
    doc = publish_body(
        name, version, tarball=draw(mostly(st.just(make_tarball(name, version)), tarball(name, version)))
    )
    attachment = next(iter(doc["_attachments"]))
    mutations = st.lists(
        st.tuples(st.sampled_from(PUBLISH_PATHS), st.one_of(JSON_VALUES, st.just(_DELETE))), max_size=3
    )
    for path, value in draw(mostly(st.just([]), mutations, odds=2)):
        _set_path(doc, path, value, version, attachment)
    if draw(st.integers(0, 5)) == 5:
        data = draw(st.one_of(st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()), st.text(max_size=20)))
        _set_path(doc, ("_attachments", "$a", "data"), data, version, attachment)
    return dumps(doc)


COUCH_LOGIN = st.fixed_dictionaries(
    {"name": JSON_VALUES, "password": st.one_of(st.sampled_from([TOKENS["alice"], "wrong", ""]), JSON_VALUES)}
).map(dumps)
DIST_TAG = st.sampled_from(["1.0.0", "1.1.0", "9.9.9", ""]).map(dumps)
EDIT_DOCUMENT = st.dictionaries(
    st.sampled_from(["1.0.0", "1.1.0", "9.9.9"]), st.fixed_dictionaries({"deprecated": JSON_VALUES}), max_size=2
).map(lambda versions: dumps({"_id": "p", "name": "p", "versions": versions}))
NPM_BODY = mostly(st.one_of(publish_document(), COUCH_LOGIN, DIST_TAG, EDIT_DOCUMENT), ANY_BODY, odds=2)


# PyPI: legacy upload forms, valid or mutated, and garbage that claims to be multipart.
UPLOAD_FIELDS = [
    ":action",
    "name",
    "version",
    "sha256_digest",
    "filetype",
    "pyversion",
    "metadata_version",
    "protocol_version",
]


@st.composite
def upload_form_body(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(content type, body) of an upload: a real wheel or sdist, or random bytes, with mutated fields."""
    name = draw(slot(["newlib", "pylib"], ["PyLib", "bad name"]))
    version = draw(slot(["2.0", "1.0"], ["1.0.post1", "not-a-version"]))
    filename, data, _ = draw(st.sampled_from([make_wheel, make_sdist]))(name.replace(" ", "_"), version)
    if draw(st.integers(0, 3)) == 3:
        data = draw(st.binary(max_size=512))
    if draw(st.integers(0, 3)) == 3:
        filename = draw(st.one_of(st.sampled_from(["../../evil.whl", "x.exe", "", "a" * 300 + ".whl"]), st.text()))
    fields, files = upload_form(name, version, filename, data)
    for key in draw(mostly(st.just([]), st.lists(st.sampled_from(UPLOAD_FIELDS), max_size=3), odds=2)):
        fields[key] = draw(st.one_of(st.sampled_from(_INTERESTING_STRINGS), st.text(max_size=20)))
    if draw(st.booleans()) and draw(st.booleans()):
        fields.pop(draw(st.sampled_from(UPLOAD_FIELDS)), None)
    form_files: list[tuple[str, tuple[str, bytes, str]]] = [("content", files["content"])]
    if draw(st.booleans()) and draw(st.booleans()):
        form_files.append(("content", (filename, data, "application/octet-stream")))
    if draw(st.booleans()) and draw(st.booleans()):
        form_files = []
    request = httpx.Request("POST", "http://x/", data=fields, files=form_files or None)
    return request.headers["content-type"].encode(), request.read()


MULTIPART_GARBAGE = st.one_of(
    st.tuples(st.just(b"multipart/form-data; boundary=xyz"), st.binary(max_size=512)),
    st.tuples(st.just(b"multipart/form-data"), st.binary(max_size=256)),
    st.tuples(
        st.just(b"multipart/form-data; boundary=xyz"),
        st.integers(min_value=1, max_value=700).map(
            lambda n: (
                b"".join(b'--xyz\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i for i in range(n))
                + b"--xyz--\r\n"
            )
        ),
    ),
)


@st.composite
def cargo_publish_body(draw: st.DrawFn) -> bytes:
    """A framed ``cargo publish`` body: metadata that may be mutated, and a .crate that may not match it."""
    name = draw(st.sampled_from(["demo_crate", "Demo_Crate", "demo-crate", "fresh", "1bad", "a" * 65]))
    version = draw(st.sampled_from(["1.0.0", "1.0.0+b", "2.0.0", "1.0", "01.0.0"]))
    meta: dict[str, Any] = metadata(name, version)
    for key in draw(st.lists(st.sampled_from(sorted(meta)), max_size=3)):
        meta[key] = draw(JSON_VALUES)
    crate = draw(
        st.one_of(
            st.just((name, version)).map(lambda nv: crate_bytes(*nv)),
            st.sampled_from([("other", version), (name, "9.9.9")]).map(lambda nv: crate_bytes(*nv)),
            st.binary(max_size=64),
        )
    )
    body = frame(dumps(meta), crate)
    cut = draw(st.sampled_from([None, None, None, 0, 3, 7, len(body) - 1]))
    return body if cut is None else body[:cut]


CARGO_BODY = mostly(cargo_publish_body(), ANY_BODY, odds=3)

UPLOAD_BODY = mostly(
    upload_form_body(), st.one_of(MULTIPART_GARBAGE, st.tuples(st.sampled_from(CONTENT_TYPES), RAW_BODIES)), odds=2
)


# --- whole requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A path template (slots filled from ``_SLOTS``), the methods it answers and the bodies it takes."""

    template: str
    methods: str
    body: st.SearchStrategy[bytes] = ANY_BODY

    def __str__(self) -> str:
        return f"{self.methods} {self.template or '/'}"


REST_OBJECT_BODY = mostly(REST_BODY, ANY_BODY, odds=2)
REST = "/{org}/_apis/"
REST_ENDPOINTS = [
    Endpoint("packaging/feeds", "GET POST", REST_OBJECT_BODY),
    Endpoint("packaging/Feeds/{feed}", "GET PATCH DELETE", REST_OBJECT_BODY),
    Endpoint("packaging/feeds/{feed}/views", "GET POST", REST_OBJECT_BODY),
    Endpoint("packaging/Feeds/{feed}/views/{view}", "GET PATCH DELETE", REST_OBJECT_BODY),
    Endpoint("packaging/feeds/{feed}/permissions", "GET PATCH", mostly(PERMISSIONS.map(dumps), ANY_BODY, odds=2)),
    Endpoint("packaging/feeds/{feed}/health", "GET"),
    Endpoint("tokens/pats", "GET POST DELETE", REST_OBJECT_BODY),
    Endpoint("packaging/feeds/{feed}/npm/packages/{npm}/upstreaming", "GET PATCH", REST_OBJECT_BODY),
    Endpoint("packaging/feeds/{feed}/pypi/packages/{py}/upstreaming", "GET PATCH", REST_OBJECT_BODY),
    Endpoint("packaging/feeds/{feed}/npm/{npm}/versions/{version}", "GET PATCH DELETE", REST_OBJECT_BODY),
    Endpoint("packaging/feeds/{feed}/pypi/packages/{py}/versions/{version}", "GET PATCH DELETE", REST_OBJECT_BODY),
    Endpoint("packaging/Feeds/{feed}/Packages/{seg}/Versions/{seg2}/provenance", "GET"),
    Endpoint("packaging/feeds/{feed}/maven/groups/{seg}/artifacts/{seg2}/upstreaming", "GET PATCH", REST_OBJECT_BODY),
    Endpoint(
        "packaging/feeds/{feed}/maven/groups/{seg}/artifacts/{seg2}/versions/{version}",
        "GET PATCH DELETE",
        REST_OBJECT_BODY,
    ),
    Endpoint("packaging/feeds/{feed}/cargo/packages/{crate}/upstreaming", "GET PATCH", REST_OBJECT_BODY),
    Endpoint("packaging/feeds/{feed}/cargo/packages/{crate}/versions/{version}", "GET PATCH DELETE", REST_OBJECT_BODY),
    Endpoint("packaging/feeds/{feed}/RecycleBin/Packages", "GET DELETE"),
    Endpoint(
        "packaging/feeds/{feed}/npm/RecycleBin/packages/{npm}/versions/{version}", "GET PATCH DELETE", REST_OBJECT_BODY
    ),
    Endpoint(
        "packaging/feeds/{feed}/pypi/RecycleBin/packages/{py}/versions/{version}", "GET PATCH DELETE", REST_OBJECT_BODY
    ),
    Endpoint("packaging/feeds/{feed}/npm/RecycleBin/packagesBatch", "POST", REST_OBJECT_BODY),
    Endpoint("packaging/feeds/{feed}/usage", "GET"),
    Endpoint("packaging/feeds/{feed}/RecycleBin/Packages/{seg}", "GET"),
    Endpoint(
        "packaging/feeds/{feed}/nuget/RecycleBin/packages/{seg}/versions/{version}",
        "GET PATCH DELETE",
        REST_OBJECT_BODY,
    ),
    Endpoint(
        "packaging/feeds/{feed}/cargo/RecycleBin/packages/{crate}/versions/{version}",
        "GET PATCH DELETE",
        REST_OBJECT_BODY,
    ),
    Endpoint(
        "packaging/feeds/{feed}/upack/RecycleBin/packages/{seg}/versions/{version}",
        "GET PATCH DELETE",
        REST_OBJECT_BODY,
    ),
    Endpoint(
        "packaging/feeds/{feed}/maven/RecycleBin/groups/{seg}/artifacts/{seg2}/versions/{version}",
        "GET PATCH DELETE",
        REST_OBJECT_BODY,
    ),
    Endpoint("packaging/feeds/{feed}/maven/RecycleBin/packagesBatch", "POST", REST_OBJECT_BODY),
]
CARGO = "/{org}/_packaging/{ref}/cargo/"
CARGO_ENDPOINTS = [
    Endpoint("me", "GET"),
    Endpoint("index/config.json", "GET"),
    Endpoint("index/{index}", "GET HEAD"),
    Endpoint("api/v1/crates/new", "PUT", CARGO_BODY),
    Endpoint("api/v1/crates", "GET"),
    Endpoint("api/v1/crates/{crate}/{version}/download", "GET HEAD"),
    Endpoint("api/v1/crates/{crate}/{version}/yank", "DELETE"),
    Endpoint("api/v1/crates/{crate}/{version}/unyank", "PUT"),
    Endpoint("api/v1/crates/{crate}/owners", "GET PUT DELETE"),
]
NPM = "/{org}/_packaging/{ref}/npm/registry/"
NPM_ENDPOINTS = [
    Endpoint("", "GET"),
    Endpoint("-/ping", "GET"),
    Endpoint("-/whoami", "GET"),
    Endpoint("-/v1/search", "GET"),
    Endpoint("-/user/org.couchdb.user:{seg}", "PUT GET", mostly(COUCH_LOGIN, ANY_BODY)),
    Endpoint("-/v1/login", "POST"),
    Endpoint("-/package/{npm}/dist-tags", "GET"),
    Endpoint("-/package/{npm}/dist-tags/{tag}", "PUT DELETE", mostly(DIST_TAG, ANY_BODY)),
    Endpoint("-/npm/v1/security/advisories/bulk", "POST"),
    Endpoint("{npm}", "PUT", mostly(publish_document(), ANY_BODY)),
    Endpoint("{npm}", "GET PUT", mostly(EDIT_DOCUMENT, ANY_BODY)),
    Endpoint("{npm}/{version}", "GET"),
    Endpoint("{npm}/-/{file}", "GET HEAD"),
    Endpoint("{npm}/-rev/{seg}", "PUT DELETE", mostly(EDIT_DOCUMENT, ANY_BODY)),
    Endpoint("{npm}/-/{file}/-rev/{seg}", "DELETE"),
]
PYPI = "/{org}/_packaging/{ref}/pypi/"
PYPI_ENDPOINTS = [
    Endpoint("simple/", "GET"),
    Endpoint("simple/{py}/", "GET HEAD"),
    Endpoint("simple/{py}", "GET"),
    Endpoint("upload/", "POST"),
    Endpoint("download/{py}/{version}/{file}", "GET HEAD"),
]
_SLOTS = {
    "feed": FEED_SLOT,
    "view": VIEW_SLOT,
    "npm": NPM_NAME_SLOT,
    "py": PY_NAME_SLOT,
    "version": VERSION_SLOT,
    "file": FILE_SLOT,
    "crate": CRATE_SLOT,
    "index": INDEX_SLOT,
    "tag": slot(["beta", "next"], ["latest", "1.0.0", "-", "x" * 200]),
    "seg": SEGMENT,
    "seg2": SEGMENT,
}


@st.composite
def requests_to(draw: st.DrawFn, prefix: str, endpoint: Endpoint) -> FuzzRequest:
    """Requests to one endpoint under ``prefix`` (which may hold ``{org}`` and ``{ref}``)."""
    slots = {k: draw(v) for k, v in _SLOTS.items()}
    path = (prefix + endpoint.template).format(org=draw(ORG_SLOT), ref=draw(FEED_REF_SLOT), **slots)
    method = draw(mostly(st.sampled_from(endpoint.methods.split()), ANY_METHOD))
    path += draw(QUERY)
    if endpoint.template == "upload/" and method == "POST":
        ctype, body = draw(UPLOAD_BODY)
        return FuzzRequest(method, path, draw(headers(content_type=ctype)), body)
    if endpoint.template.startswith(("index/", "api/v1/", "me")) and prefix == CARGO:
        return FuzzRequest(method, path, draw(cargo_headers()), draw(endpoint.body))
    return FuzzRequest(method, path, draw(headers()), draw(endpoint.body))


@st.composite
def raw_requests(draw: st.DrawFn) -> FuzzRequest:
    """Any path at all, including literal dot segments and query strings only."""
    path = "/" + "/".join(draw(st.lists(SEGMENT, max_size=8))) + draw(QUERY)
    return FuzzRequest(draw(ANY_METHOD), path, draw(headers()), draw(RAW_BODIES))


#: Bodies that broke the feed before (issue 8): they are tried on every endpoint that takes a body,
#: as well as whatever Hypothesis generates.
KNOWN_HOSTILE_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b"9" * 4_301,
    b'{"name": ' + b"9" * 5_000 + b"}",
    b'{"minimumReleaseAgeHours": ' + b"9" * 401 + b"}",
]


def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: bytes = b"xyz") -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += b"--" + boundary + b"\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


#: (content type, body) of uploads that broke the Python index before (issue 8).
KNOWN_HOSTILE_UPLOADS = [
    (b"multipart/form-data; boundary=xyz", bytes(range(256)) * 4),
    (b"multipart/form-data", _multipart([(":action", None, b"file_upload")])),
    (
        b"multipart/form-data; boundary=xyz",
        _multipart([(":action", None, b"file_upload")] + [("content", f"f{i}.whl", b"PK") for i in range(3)]),
    ),
    (b"multipart/form-data; boundary=xyz", _multipart([(f"f{i}", None, b"v") for i in range(600)])),
    (
        b"multipart/form-data; boundary=xyz",
        _multipart([(":action", None, b"file_upload"), ("big", None, b"x" * 9 * 2**20)]),
    ),
]


def known_hostile(prefix: str, endpoint: Endpoint) -> list[FuzzRequest]:
    """Requests that broke the feed before, aimed at ``endpoint`` with its ordinary values, sent by the
    organization administrator (so they get past every role check) and by a garbage Basic header."""
    path = (prefix + endpoint.template).format(
        org=ORG, ref="fuzz", feed="fuzz", view="Release", npm="p", py="pylib", version="1.0.0",
        file="p-1.0.0.tgz", tag="beta", seg="x", seg2="y", crate="demo_crate", index="de/mo/demo_crate",
    )  # fmt: skip
    admin = (b"authorization", b"Bearer " + TOKENS["admin"].encode())
    methods = endpoint.methods.split()
    out = [FuzzRequest(methods[0], path, ((b"authorization", b"Basic \xff\xff"),), b"")]
    for method in methods:
        if endpoint.template == "upload/":
            out += [
                FuzzRequest(method, path, (admin, (b"content-type", ct)), body) for ct, body in KNOWN_HOSTILE_UPLOADS
            ]
        elif method in ("POST", "PUT", "PATCH"):
            json_type = (b"content-type", b"application/json")
            out += [FuzzRequest(method, path, (admin, json_type), body) for body in KNOWN_HOSTILE_BODIES]
    return out
