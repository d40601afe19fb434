"""Schemathesis against the REST API (about 90 s): as the organization administrator and as a feed reader.

Every operation of the served OpenAPI document gets schema-valid and schema-invalid requests, generated
by schemathesis; their path parameters hit the names and ids of a seeded world half of the time, so the
run reaches handlers rather than 404s. Each answer must

- not be a 5xx;
- conform to the document: a documented status code, its content type, its headers and its body schema;
- if it refuses the request (4xx), leave every SQLite row and every blob of the store as it was.

The app runs in-process (httpx's ASGITransport) on the embedded store, like ``test_fuzz.py``, whose
world and store handling this module reuses. It is the same ASGI app uvicorn serves, minus the socket:
what a case costs is schemathesis generating it, not a round trip through a server process, so more
cases fit in the time. It also lets the store be put back after any request that changed it (the copy
is renewed, the services are rebuilt), so every case starts from the seeded world: a deleted feed or a
revoked token (``DELETE tokens/pats`` may revoke the very token the run uses) cannot turn the rest of the
run into 401s and 404s.

The store check compares every row and every blob (with its size), nothing left out: no refusal writes
anything, not even a last-used time (tokens keep none); caches live in memory, not in the store.

Schema-valid requests are not required to be accepted (schemathesis' ``positive_data_acceptance``):
some refusals cannot be said in a schema (a view id that is none, a date in the past, a stale If-Match,
a feed name taken, source rules that depend on stored state). Examples are derandomized and nothing is
written to a ``.hypothesis`` folder; a time budget bounds the run on a slow machine (each operation gets
at most twice an even share of what is left, and stops early when that is spent: a shorter prefix of the
same cases).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from feed_core.api.rest import ROUTES
from feed_core.domain.roles import Scope
from tests.api.conftest import ORG, MutableClock, running_api
from tests.api.fuzz_inputs import TOKENS
from tests.api.test_fuzz import Fuzzer, State, _settings, build_world, describe_change, loopback_only, snapshot

__all__ = ["loopback_only"]  # a fixture this module uses, from test_fuzz

Operation = APIOperation[Any, Any, Any, Any]
BASE_URL = f"http://feed.test/{ORG}"
#: Who the run calls as: the organization administrator, and bob, a reader of feed ``fuzz`` with a
#: ``vso.packaging`` (read) token.
CALLERS = {"admin": TOKENS["admin"], "reader": TOKENS["bob"]}
#: Examples per operation and caller: 36 operations x 40, about 1,400 requests per caller in 35-45 s on
#: 2 cores (generating the cases is most of the cost).
EXAMPLES = 40
#: The hard limit per caller: each operation gets at most twice an even share of what is left of it (most
#: need far less; the ones with large bodies take longer to generate).
BUDGET_SECONDS = 45.0
#: Longest any one request may take before it counts as a hang.
REQUEST_SECONDS = 10.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,  # a request the document calls invalid is refused
]
RUN = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # no shrinking: it would re-send under the time budget; a failure's own request is shown instead
    phases=[Phase.generate],
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)


class OutOfTime(Exception):
    """The operation's share of the time budget is spent."""


@dataclass
class Tally:
    """What one caller's run sent, for the summary line."""

    requests: int = 0
    by_class: dict[str, int] = field(default_factory=dict)
    resets: int = 0
    cut_short: list[str] = field(default_factory=list)

    def count(self, status: int) -> None:
        self.requests += 1
        key = f"{status // 100}xx"
        self.by_class[key] = self.by_class.get(key, 0) + 1


@dataclass
class SchemaFuzzer(Fuzzer):
    """``test_fuzz.Fuzzer`` (the app on a copy of the saved world, renewed after any request that changed
    it), sending the requests schemathesis prepares."""

    resets: int = 0

    async def _reset(self) -> None:
        self.resets += 1
        await super()._reset()

    def exchange(self, request: requests.PreparedRequest) -> tuple[Response, State]:
        """The app's answer to ``request``, and the store's state after it."""
        if self.dirty:
            self.runner.run(self._reset())
        started = time.perf_counter()
        status, headers, content = self.runner.run(self._send_prepared(request))
        after = snapshot(self.live)
        self.dirty = after != self.baseline
        response = Response(
            status_code=status,
            headers=headers,
            content=content,
            request=request,
            elapsed=time.perf_counter() - started,
            verify=True,
            message="",
            http_version="1.1",
        )
        return response, after

    async def _send_prepared(self, request: requests.PreparedRequest) -> tuple[int, dict[str, list[str]], bytes]:
        assert self.client is not None and request.method is not None and request.url is not None
        body = _latin1(request.body) if isinstance(request.body, str | bytes) else b""
        headers = [(_latin1(k), _latin1(v)) for k, v in request.headers.items()]
        sent = self.client.build_request(request.method, request.url, headers=headers, content=body)
        try:
            answer = await asyncio.wait_for(self.client.send(sent), REQUEST_SECONDS)
        except TimeoutError:
            return 599, {}, f"no answer within {REQUEST_SECONDS} s".encode()
        except Exception:  # an exception out of the app is a 500 on a real server
            return 500, {"content-type": ["text/plain"]}, traceback.format_exc().encode()
        received: dict[str, list[str]] = {}
        for name, value in answer.headers.multi_items():
            received.setdefault(name, []).append(value)
        return answer.status_code, received, answer.content


def _latin1(text: str | bytes) -> bytes:
    """As a client puts it on the wire (httpx itself would encode header values as ASCII)."""
    return text if isinstance(text, bytes) else text.encode("latin-1")


@dataclass(frozen=True)
class Known:
    """Real values for path and query parameters, from the seeded world: ``records`` name things that go
    together (a feed, one of its views, packages in it, a version's ids), ``values`` each one's choices.
    A ``pypi.`` key is the value of a Python route's parameter, a ``bin.`` key a recycle bin route's."""

    records: list[dict[str, str]]
    values: dict[str, list[str]]
    document: dict[str, Any]  # the OpenAPI document the app serves

    def parameters(self, operation: Operation) -> st.SearchStrategy[tuple[dict[str, str], dict[str, str]]] | None:
        """Real path parameters for ``operation`` (from one record, or each from any), and some of its query
        parameters (a token's id, a user); ``None`` if it takes none of them."""
        path, query = self._keys(operation, "path"), self._keys(operation, "query")
        if not path and not query:
            return None
        together = st.sampled_from(self.records).map(lambda r: {name: r[key] for name, key in path.items()})
        apart = st.fixed_dictionaries({name: st.sampled_from(self.values[key]) for name, key in path.items()})
        some = st.fixed_dictionaries({}, optional={n: st.sampled_from(self.values[k]) for n, k in query.items()})
        return st.tuples(st.one_of(together, apart), some)

    def _keys(self, operation: Operation, location: str) -> dict[str, str]:
        kind = "bin." if "/feedrecyclebin/" in operation.path else "pypi." if "/pypi/" in operation.path else ""
        names = sorted(p.name for p in operation.iter_parameters() if p.location == location)
        keys = {name: kind + name if kind + name in self.values else name for name in names}
        return {name: key for name, key in keys.items() if key in self.values}


async def seed(settings_: Any) -> Known:
    """``test_fuzz``'s world (feeds ``fuzz`` and ``up``, staff, npm and Python packages, views, an internal
    upstream source), plus a spare token of bob's to revoke and a deleted feed; and the names and ids it holds."""
    ids = await build_world(settings_)
    async with running_api(settings_, MutableClock()) as api:
        spare = await api.services.identity.mint(ORG, None, user="bob", display_name="spare", scope=Scope.READ)
        admin = api.auth()
        gone = await api.create_feed("gone")
        r = await api.http.delete(f"/{ORG}/_apis/packaging/feeds/gone", headers=admin)
        assert r.status_code == 204, r.text

        async def get(path: str) -> Any:
            r = await api.http.get(f"/{ORG}/_apis/{path}", headers=admin)
            assert r.status_code == 200, r.text
            return r.json()

        views = (await get("packaging/feeds/fuzz/views"))["value"]
        npm = await get("packaging/feeds/fuzz/npm/p/versions/1.0.0")
        pypi = await get("packaging/feeds/fuzz/pypi/packages/pylib/versions/1.0")
        up = await get("packaging/feeds/up/npm/u/versions/1.0.0")
        mine = (await get("tokens/pats"))["patTokens"]
        document = await get("openapi.json")
    feed_id = ids[b"$feed_id"].decode()
    same = {"packageScope": "sc", "unscopedPackageName": "q", "pypi.packageVersion": "1.0"}
    records = [
        {"feedId": "fuzz", "viewId": "Release", "packageName": "p", "packageVersion": "1.0.0", **same}
        | {"pypi.packageName": "pylib", "packageId": npm["packageId"], "packageVersionId": npm["id"]}
        | {"bin.feedId": "gone"},
        {"feedId": feed_id, "viewId": views[-1]["id"], "packageName": "p", "packageVersion": "1.1.0", **same}
        | {"pypi.packageName": "pylib", "packageId": pypi["packageId"], "packageVersionId": pypi["id"]}
        | {"bin.feedId": gone["id"]},
        {"feedId": "up", "viewId": "Local", "packageName": "u", "packageVersion": "1.0.0", **same}
        | {"pypi.packageName": "uplib", "packageId": up["packageId"], "packageVersionId": up["id"]}
        | {"bin.feedId": "fuzz"},  # not deleted
    ]
    values = {key: sorted({r[key] for r in records}) for key in records[0]}
    values["viewId"] = [v["name"] for v in views] + [v["id"] for v in views]
    values["authorizationId"] = [spare.token.authorization_id] + [t["authorizationId"] for t in mine]
    values["user"] = ["bob", "alice"]
    return Known(records, values, document)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, loopback_only: None) -> Iterator[tuple[SchemaFuzzer, Known]]:
    del loopback_only
    root = tmp_path_factory.mktemp("schema-fuzz")
    set_hypothesis_home_dir(root / "hypothesis")  # its caches, which it keeps even without a database
    with asyncio.Runner() as runner:
        known = runner.run(seed(_settings(root / "template")))
        _only_the_entities_table(root / "template")
        fz = SchemaFuzzer(runner, root / "template", root / "live", {})
        try:
            yield fz, known
        finally:
            fz.close()
            set_hypothesis_home_dir(None)


def _only_the_entities_table(data_dir: Path) -> None:
    """``test_fuzz.snapshot`` reads the ``entities`` table: a new table must be added to it."""
    db = sqlite3.connect(f"file:{data_dir / 'feed.sqlite3'}?mode=ro", uri=True)
    try:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()
    assert tables == {"entities"}, f"the store has tables snapshot() does not read: {tables - {'entities'}}"


def strategy(operation: Operation, known: Known) -> st.SearchStrategy[Any]:
    """Schema-valid and schema-invalid cases; half of them with real path (and query) parameters."""
    real = known.parameters(operation)
    branches = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        generated = operation.as_strategy(generation_mode=mode)
        if real is None:
            branches.append(generated)
            continue
        seeded = real.flatmap(functools.partial(_with_parameters, operation, mode))
        branches.append(st.one_of(generated, seeded))
    return st.one_of(branches)


def _with_parameters(
    operation: Operation, mode: GenerationMode, parameters: tuple[dict[str, str], dict[str, str]]
) -> st.SearchStrategy[Any]:
    path, query = parameters
    return operation.as_strategy(generation_mode=mode, path_parameters=path or None, query=query or None)


def fuzz_operation(
    fuzzer: SchemaFuzzer, operation: Operation, known: Known, token: str, deadline: float, tally: Tally
) -> str:
    """Run the operation's examples; the failure's report, or ``""``."""
    auth = {"Authorization": f"Bearer {token}"}

    @RUN
    @given(case=strategy(operation, known))
    def run(case: Any) -> None:
        if time.monotonic() > deadline:
            raise OutOfTime
        kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=auth)
        try:
            response, after = fuzzer.exchange(requests.Request(**kwargs).prepare())
            tally.count(response.status_code)
            if fuzzer.dirty and 400 <= response.status_code < 500:
                raise AssertionError(
                    f"the refused request ({response.status_code}: {response.content[:300]!r}) changed the "
                    f"store:\n{describe_change(fuzzer.baseline, after)}"
                )
        except Exception as exc:
            # as_curl_command leaves the token and any credential-like body field out
            exc.add_note(f"Reproduce with:\n    {case.as_curl_command(headers=auth, base_url=BASE_URL)}")
            raise
        # its failures say which check failed, with the answer and a curl command
        case.validate_response(response, checks=CHECKS, headers=auth, transport_kwargs=kwargs)

    resets = fuzzer.resets
    try:
        run()
    except OutOfTime:
        tally.cut_short.append(f"{operation.method.upper()} {operation.path}")
    except FailureGroup as exc:
        return f"{operation.method.upper()} {operation.path}:\n{exc}"
    except AssertionError as exc:  # the store check
        return f"{operation.method.upper()} {operation.path}:\n" + "".join(traceback.format_exception_only(exc))
    except Exception as exc:  # a fault of this module's: its traceback
        return f"{operation.method.upper()} {operation.path}:\n" + "".join(traceback.format_exception(exc))
    finally:
        tally.resets += fuzzer.resets - resets
    return ""


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_schemathesis_finds_no_server_error_no_answer_off_the_document_and_no_trace_of_a_refusal(
    world: tuple[SchemaFuzzer, Known], caller: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fuzzer, known = world
    assert known.document["servers"] == [{"url": BASE_URL}]
    schema = schemathesis.openapi.from_dict(known.document)
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) == len(ROUTES)
    tally, failures = Tally(), []
    started = time.monotonic()
    for done, operation in enumerate(operations):
        now, end = time.monotonic(), started + BUDGET_SECONDS
        deadline = min(end, now + 2 * (end - now) / (len(operations) - done))
        failure = fuzz_operation(fuzzer, operation, known, CALLERS[caller], deadline, tally)
        if failure:
            failures.append(failure)
    with capsys.disabled():
        print(
            f"\nschemathesis as {caller}: {tally.requests} requests to {len(operations)} operations "
            f"in {time.monotonic() - started:.1f} s, {dict(sorted(tally.by_class.items()))}, "
            f"store renewed {tally.resets} times; {len(tally.cut_short)} operation(s) cut short by the time budget"
        )
    assert not failures, f"{len(failures)} operation(s) failed as {caller}:\n\n" + "\n\n".join(failures)
