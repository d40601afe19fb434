"""The real Python clients (twine, pip, uv) against the feed server's Python index (uvicorn in a subprocess).

Every test gets a fresh feed where alice is a contributor (write token) and bob a reader (read token); see
conftest.py. Every client runs with its own HOME, no PIP_*/UV_*/TWINE_* variables, no configuration files
(pip: ``--isolated`` + ``PIP_CONFIG_FILE=/dev/null``; uv: ``--no-config``; twine: an empty ``--config-file``),
no caches shared between tests, no keyring and no proxies. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.conftest import ORG, Api, FeedEnv, FeedServer, clean_env
from tests.python_packages import make_sdist, make_wheel, upload_form

PY = sys.executable
CLIENT_TIMEOUT_SECONDS = 90.0
JSON = "application/vnd.pypi.simple.v1+json"
_DROPPED_PREFIXES = ("PIP_", "UV_", "TWINE_", "PYTHON", "VIRTUAL_ENV", "CONDA_", "NETRC", "REQUESTS_CA_BUNDLE")


def _uv_bin() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:  # pragma: no cover - requirements-dev.txt pins uv
        pytest.fail("uv is not installed: run pip install -r requirements-dev.txt")
    return str(find_uv_bin())


# --- helpers ---------------------------------------------------------------------------------------


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr with runs of whitespace collapsed (twine's rich output wraps long lines)."""
        return " ".join((self.stdout + "\n" + self.stderr).split())

    def __str__(self) -> str:
        command = " ".join(self.argv)
        return f"$ {command}\nexit {self.returncode}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def ok(result: Result) -> Result:
    assert result.returncode == 0, str(result)
    return result


def failed(result: Result) -> Result:
    assert result.returncode != 0, str(result)
    return result


@dataclass
class PyClients:
    """Isolated twine/pip/uv for one test, pointed at one feed."""

    server: FeedServer
    feed: FeedEnv
    root: Path

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.home.mkdir(parents=True)
        self.dist = self.root / "dist"
        self.dist.mkdir()
        self.pypirc = self.root / "empty.pypirc"
        self.pypirc.write_text("")
        self.uv_cache = self.root / "uv-cache"

    # URLs
    def base(self, view: str | None = None) -> str:
        ref = f"{self.feed.name}@{view}" if view else self.feed.name
        return f"{self.server.base_url}/{ORG}/_packaging/{ref}/pypi/"

    def simple(self, token: str | None = None, view: str | None = None) -> str:
        """The index URL with ``__token__:<token>`` in it (bob's read token unless told)."""
        token = self.feed.bob_token if token is None else token
        host = self.server.base_url.split("://", 1)[1]
        return self.base(view).replace(host, f"__token__:{quote(token, safe='')}@{host}", 1) + "simple/"

    @property
    def upload_url(self) -> str:
        return self.base() + "upload/"

    # files
    def write(self, filename: str, data: bytes) -> Path:
        folder = self.dist / uuid.uuid4().hex[:8]
        folder.mkdir()
        path = folder / filename
        path.write_bytes(data)
        return path

    def wheel(
        self, name: str, version: str, *, code: str = "VALUE = 42\n", requires: tuple[str, ...] = ()
    ) -> tuple[Path, bytes, bytes]:
        """An importable pure-Python wheel (module = the name with underscores) in a folder of its own."""
        filename, data, metadata = make_wheel(name, version, code=code, requires=requires)
        return self.write(filename, data), data, metadata

    def sdist(self, name: str, version: str) -> tuple[Path, bytes, bytes]:
        filename, data, metadata = make_sdist(name, version)
        return self.write(filename, data), data, metadata

    def target(self) -> Path:
        path = self.root / f"target-{uuid.uuid4().hex[:8]}"
        path.mkdir()
        return path

    # processes
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in clean_env().items() if not k.upper().startswith(_DROPPED_PREFIXES)}
        env.update(
            {
                "HOME": str(self.home),
                "XDG_CONFIG_HOME": str(self.home / ".config"),
                "XDG_CACHE_HOME": str(self.home / ".cache"),
                "PIP_CONFIG_FILE": "/dev/null",
                "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
                "UV_NO_CONFIG": "1",
                "UV_CACHE_DIR": str(self.uv_cache),
                "UV_PYTHON_DOWNLOADS": "never",
                "UV_KEYRING_PROVIDER": "disabled",
                "NO_COLOR": "1",
                "COLUMNS": "200",
                "PYTHONNOUSERSITE": "1",
            }
        )
        return env

    def run(self, argv: list[str], *, extra_env: dict[str, str] | None = None) -> Result:
        try:
            proc = subprocess.run(
                argv,
                cwd=self.root,
                env={**self.env(), **(extra_env or {})},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=CLIENT_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{' '.join(argv)} did not finish within {CLIENT_TIMEOUT_SECONDS:.0f} s:\n{exc.stdout!r}")
        return Result(argv, proc.returncode, proc.stdout, proc.stderr)

    def twine(self, *files: Path, token: str | None = None, args: tuple[str, ...] = ()) -> Result:
        token = self.feed.alice_token if token is None else token
        return self.run(
            [
                PY,
                "-m",
                "twine",
                "upload",
                "--config-file",
                str(self.pypirc),
                "--repository-url",
                self.upload_url,
                "-u",
                "__token__",
                "-p",
                token,
                "--non-interactive",
                "--disable-progress-bar",
                *args,
                *(str(f) for f in files),
            ]
        )

    def uv_publish(self, *args: str | Path, token: str | None = None) -> Result:
        token = self.feed.alice_token if token is None else token
        return self.run(
            [
                _uv_bin(),
                "publish",
                "--no-config",
                "--publish-url",
                self.upload_url,
                "-u",
                "__token__",
                "-p",
                token,
                *(str(a) for a in args),
            ]
        )

    def pip(self, command: str, *args: str) -> Result:
        return self.run(
            [
                PY,
                "-m",
                "pip",
                command,
                "--isolated",
                "--disable-pip-version-check",
                "--no-input",
                "--no-cache-dir",
                "--keyring-provider",
                "disabled",
                *args,
            ]
        )

    def pip_install(self, *reqs: str, index: str | None = None, target: Path | None = None) -> tuple[Result, Path]:
        target = target or self.target()
        result = self.pip("install", "--index-url", index or self.simple(), "--target", str(target), *reqs)
        return result, target

    def uv_install(self, *reqs: str, index: str | None = None) -> tuple[Result, Path]:
        target = self.target()
        result = self.run(
            [
                _uv_bin(),
                "pip",
                "install",
                "--no-config",
                "--no-python-downloads",
                "--no-progress",
                "--python",
                PY,
                "--target",
                str(target),
                "--index-url",
                index or self.simple(),
                *reqs,
            ]
        )
        return result, target

    def python(self, code: str, path: Path) -> Result:
        return self.run([PY, "-c", code], extra_env={"PYTHONPATH": str(path)})

    def simple_json(self, project: str, view: str | None = None, token: str | None = None) -> httpx.Response:
        with httpx.Client(trust_env=False, timeout=30.0) as client:
            return client.get(
                f"{self.base(view)}simple/{project}/",
                headers={"Accept": JSON},
                auth=("__token__", self.feed.bob_token if token is None else token),
            )

    def get(self, url: str) -> httpx.Response:
        with httpx.Client(trust_env=False, timeout=30.0) as client:
            return client.get(url, auth=("__token__", self.feed.bob_token))


@pytest.fixture
def py(tmp_path: Path, server: FeedServer, feed: FeedEnv) -> PyClients:
    return PyClients(server, feed, tmp_path / "py")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dist_infos(target: Path) -> set[str]:
    return {p.name for p in target.glob("*.dist-info")}


def publish_alpha_beta(py: PyClients, version: str = "1.0") -> dict[str, tuple[Path, bytes, bytes]]:
    """alpha-lib (wheel + sdist, depends on beta-lib>=1.0) and beta-lib (wheel), uploaded by alice with twine."""
    files = {
        "alpha.whl": py.wheel("alpha-lib", version, code=f"VALUE = 'alpha {version}'\n", requires=("beta-lib>=1.0",)),
        "alpha.tar.gz": py.sdist("alpha-lib", version),
        "beta.whl": py.wheel("beta-lib", version, code=f"VALUE = 'beta {version}'\n"),
    }
    result = ok(py.twine(*(path for path, _, _ in files.values())))
    for path, _, _ in files.values():
        assert path.name in result.output, str(result)
    return files


def assert_imports(py: PyClients, target: Path, expected: str) -> None:
    result = ok(py.python("import alpha_lib, beta_lib; print(alpha_lib.VALUE, '|', beta_lib.VALUE)", target))
    assert result.stdout.strip() == expected, str(result)


# --- tests -----------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_twine_upload_then_pip_and_uv_install_with_dependencies(py: PyClients) -> None:
    files = publish_alpha_beta(py)
    doc = py.simple_json("alpha-lib")
    assert doc.status_code == 200, doc.text
    assert {f["filename"] for f in doc.json()["files"]} == {files["alpha.whl"][0].name, files["alpha.tar.gz"][0].name}

    result, target = py.pip_install("alpha-lib")
    ok(result)
    assert dist_infos(target) == {"alpha_lib-1.0.dist-info", "beta_lib-1.0.dist-info"}, str(result)
    assert_imports(py, target, "alpha 1.0 | beta 1.0")

    result, target = py.uv_install("alpha-lib")
    ok(result)
    assert dist_infos(target) == {"alpha_lib-1.0.dist-info", "beta_lib-1.0.dist-info"}, str(result)
    assert_imports(py, target, "alpha 1.0 | beta 1.0")


@pytest.mark.e2e
def test_pip_hash_checking_mode(py: PyClients) -> None:
    files = publish_alpha_beta(py)
    req = py.root / "req.txt"
    req.write_text(
        f"alpha-lib==1.0 --hash=sha256:{sha256(files['alpha.whl'][1])}\n"
        f"beta-lib==1.0 --hash=sha256:{sha256(files['beta.whl'][1])}\n"
    )
    result, target = py.pip_install("--require-hashes", "-r", str(req))
    ok(result)
    assert_imports(py, target, "alpha 1.0 | beta 1.0")

    # a wrong pin is refused by pip: the feed's bytes do not match it
    req.write_text(
        f"alpha-lib==1.0 --hash=sha256:{'0' * 64}\nbeta-lib==1.0 --hash=sha256:{sha256(files['beta.whl'][1])}\n"
    )
    result, _ = py.pip_install("--no-deps", "--require-hashes", "-r", str(req))
    assert failed(result).output.count("THESE PACKAGES DO NOT MATCH THE HASHES") == 1, str(result)


@pytest.mark.e2e
def test_reupload_skip_existing_and_conflicts(py: PyClients) -> None:
    path, data, _ = py.wheel("alpha-lib", "1.0", code="VALUE = 'first'\n")
    ok(py.twine(path))
    # The byte-identical file again: PyPI (and this feed) answer 200, so a plain re-upload succeeds.
    ok(py.twine(path))
    # twine >= 6.2 refuses --skip-existing for any repository but PyPI/TestPyPI (UnsupportedConfiguration,
    # before sending anything), so "skip existing" is exercised with uv publish: plain, and with --check-url.
    ok(py.uv_publish(path))
    result = ok(py.uv_publish(path, "--check-url", py.simple()))
    assert "already exists, skipping" in result.output, str(result)

    # Different bytes under the same file name: 409 "File already exists".
    other, other_data, _ = py.wheel("alpha-lib", "1.0", code="VALUE = 'second'\n")
    assert other.name == path.name and other_data != data
    result = failed(py.twine(other, args=("--verbose",)))
    assert "409 Conflict" in result.output and "File already exists" in result.output, str(result)
    result = failed(py.uv_publish(other))
    assert "409 Conflict" in result.output and "File already exists" in result.output, str(result)
    result = failed(py.uv_publish(other, "--check-url", py.simple()))
    assert "do not match" in result.output, str(result)

    # the feed still serves the first file
    files = py.simple_json("alpha-lib").json()["files"]
    assert [(f["filename"], f["hashes"]["sha256"]) for f in files] == [(path.name, sha256(data))]
    assert py.get(files[0]["url"]).content == data


@pytest.mark.e2e
def test_reader_cannot_upload_and_bad_tokens_fail(py: PyClients) -> None:
    path, _, _ = py.wheel("alpha-lib", "1.0")
    result = failed(py.twine(path, token=py.feed.bob_token))
    assert "403 Forbidden" in result.output, str(result)
    result = failed(py.twine(path, token="not-a-real-token"))
    assert "401 Unauthorized" in result.output, str(result)
    assert py.simple_json("alpha-lib").status_code == 404

    ok(py.twine(path))
    result, target = py.pip_install("-vv", "alpha-lib", index=py.simple(token="not-a-real-token"))
    assert "401 Client Error: Unauthorized" in failed(result).output, str(result)
    assert dist_infos(target) == set()
    result, target = py.uv_install("alpha-lib", index=py.simple(token="not-a-real-token"))
    assert "401 Unauthorized" in failed(result).output, str(result)
    # and bob's real read token works
    result, target = py.pip_install("alpha-lib")
    ok(result)
    assert dist_infos(target) == {"alpha_lib-1.0.dist-info"}


@pytest.mark.e2e
def test_yanked_version_is_skipped_unless_pinned(py: PyClients, api: Api) -> None:
    ok(py.twine(py.wheel("alpha-lib", "1.0", code="VALUE = '1.0'\n")[0]))
    ok(py.twine(py.wheel("alpha-lib", "2.0", code="VALUE = '2.0'\n")[0], py.sdist("alpha-lib", "2.0")[0]))
    r = api.request(
        "PATCH",
        f"/_apis/packaging/feeds/{py.feed.name}/pypi/packages/alpha-lib/versions/2.0",
        params={"api-version": "7.1"},
        json={"yanked": True, "yankedReason": "broken"},
        token=py.feed.alice_token,
    )
    assert r.status_code == 200, r.text
    doc = py.simple_json("alpha-lib").json()
    yanked = {f["filename"]: f["yanked"] for f in doc["files"]}
    assert yanked == {
        "alpha_lib-1.0-py3-none-any.whl": False,
        "alpha_lib-2.0-py3-none-any.whl": "broken",
        "alpha_lib-2.0.tar.gz": "broken",
    }

    result, target = py.pip_install("alpha-lib")
    ok(result)
    assert dist_infos(target) == {"alpha_lib-1.0.dist-info"}, str(result)
    assert ok(py.python("import alpha_lib; print(alpha_lib.VALUE)", target)).stdout.strip() == "1.0"

    result, target = py.uv_install("alpha-lib")
    ok(result)
    assert dist_infos(target) == {"alpha_lib-1.0.dist-info"}, str(result)

    result, target = py.pip_install("alpha-lib==2.0")
    ok(result)
    assert dist_infos(target) == {"alpha_lib-2.0.dist-info"}, str(result)
    assert "is a yanked version" in result.output and "Reason for being yanked: broken" in result.output, str(result)


@pytest.mark.e2e
def test_core_metadata_pep658(py: PyClients) -> None:
    files = publish_alpha_beta(py)
    wheel_path, wheel_bytes, metadata = files["alpha.whl"]
    download = py.root / "download"
    result = ok(py.pip("download", "--index-url", py.simple(), "--no-deps", "-d", str(download), "alpha-lib"))
    assert (download / wheel_path.name).read_bytes() == wheel_bytes, str(result)
    # pip took the dependency information from the .metadata file, not from the wheel
    assert "Obtaining dependency information for alpha-lib" in result.output, str(result)
    assert f"{wheel_path.name}.metadata" in result.output, str(result)

    doc = py.simple_json("alpha-lib")
    entry = next(f for f in doc.json()["files"] if f["filename"] == wheel_path.name)
    advertised = entry["core-metadata"]["sha256"]
    body = py.get(entry["url"] + ".metadata")
    assert body.status_code == 200
    assert sha256(body.content) == advertised == sha256(metadata)
    assert body.content == metadata
    assert "dist-info-metadata" not in entry  # PEP 714: never in JSON


@pytest.mark.e2e
def test_release_view_serves_only_promoted_versions(py: PyClients, api: Api) -> None:
    publish_alpha_beta(py)
    r = api.request(
        "PATCH",
        f"/_apis/packaging/feeds/{py.feed.name}/pypi/packages/beta-lib/versions/1.0",
        params={"api-version": "7.1"},
        json={"views": {"op": "add", "path": "/views/-", "value": "Release"}},
        token=py.feed.alice_token,
    )
    assert r.status_code == 200, r.text
    release = py.simple(view="Release")

    result, target = py.pip_install("beta-lib", index=release)
    ok(result)
    assert dist_infos(target) == {"beta_lib-1.0.dist-info"}, str(result)
    assert "@Release/pypi/download/beta-lib/1.0/" in result.output, str(result)

    result, target = py.pip_install("alpha-lib", index=release)
    assert "No matching distribution found for alpha-lib" in failed(result).output, str(result)
    assert dist_infos(target) == set()
    assert py.simple_json("alpha-lib", view="Release").status_code == 404
    assert py.simple_json("alpha-lib").status_code == 200


@pytest.mark.e2e
def test_malformed_uploads_are_rejected(py: PyClients) -> None:
    # named like a wheel but not a zip: twine itself refuses to read it, nothing is sent
    bogus = py.write("alpha_lib-1.0-py3-none-any.whl", b"this is not a zip archive\n" * 10)
    result = failed(py.twine(bogus))
    assert "not a zip file" in result.output, str(result)
    # the same bytes sent the way twine would send them: the feed answers 400
    fields, form_files = upload_form("alpha-lib", "1.0", bogus.name, bogus.read_bytes())
    with httpx.Client(trust_env=False, timeout=30.0) as client:
        r = client.post(py.upload_url, auth=("__token__", py.feed.alice_token), data=fields, files=form_files)
    assert r.status_code == 400, r.text

    # a zip twine can read (its METADATA is fine) that is not a wheel of what its name says: the feed's
    # 400 reaches twine's output
    _, data, _ = make_wheel("other-lib", "3.0")
    mislabelled = py.write("alpha_lib-1.0-py3-none-any.whl", data)
    result = failed(py.twine(mislabelled, args=("--verbose",)))
    assert "400 Bad Request" in result.output, str(result)
    assert py.simple_json("alpha-lib").status_code == 404
    assert py.simple_json("other-lib").status_code == 404
