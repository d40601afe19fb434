"""The real mvn in tests: Debian's Maven 3.8 on Java 17, one isolated user per ``MavenClient``.

    def test_build(maven, feed_url, token, tmp_path):
        client = maven(feed_url, token)                      # a mirror of every repository at the feed
        client.package(public_project(tmp_path / "app"))    # plugins and libraries through the feed

Each client has its own ``settings.xml`` (``-s``) and an empty global settings file (``-gs``), so nothing of this
machine's Maven configuration applies: one mirror (of ``*``: every repository, plugins included, goes to the feed;
or of ``*,!feed`` at a plugin repository, when the pom's own repository ``feed`` is the feed) and one ``<server>``
``feed`` holding any username and the token as the password, which the pom's ``distributionManagement`` uses too.
Its local repository (``-Dmaven.repo.local``), HOME and temp folder are its own. With the machine's global settings
gone, Maven's http blocker (a mirror of ``external:http:*`` there) is gone too; 127.0.0.1 is exempt from it anyway.

Plugins are pinned (``PLUGINS``) in every generated pom, so that a build asks only for files the seed repository
holds, never for plugin metadata. The seed (``seed_repository``, ~1400 files, 60 MB) is built in ~30 s with mvn
through its own configuration (the public registry that configuration names) by ``python -m tests.maven_client
seed`` (scripts/_maven.sh calls it) and reused while its key matches; the tests serve it on 127.0.0.1 with
tests/maven_repo.py as the feed's upstream (or as the plugin repository).

What was found running it here (mvn 3.8.7, Java 17, 2 shared cores): a JVM start costs ~1 s; a deploy or package
with a warm local repository takes 3-7 s, with an empty one (plugins fetched through the feed) 8-20 s. Maven writes
everything, errors included, to stdout; ``-B -ntp`` keeps it free of colours and transfer lines. A refused PUT
shows as ``transfer failed for <url>, status: 409 Conflict`` in the ``[ERROR]`` lines (the body is not shown). Each
run prints its command and time (pytest shows them with the output of a failed test).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_DIR = REPO_ROOT / ".cache" / "maven-seed"
SEED_KEY_FILE = "SEED-KEY"  # written last: the seed is complete when it holds the current key
MVN_TIMEOUT_SECONDS = 180.0
SERVER_ID = "feed"  # the id of the mirror, the <server> with the credentials and the distribution repository
INSTALL_HINT = (
    "run ./scripts/test once (it installs maven and a JDK with apt-get), or `apt-get install maven default-jdk`"
)

#: Every plugin a test build runs, pinned (org.apache.maven.plugins).
PLUGINS: dict[str, str] = {
    "maven-clean-plugin": "3.3.2",
    "maven-resources-plugin": "3.3.1",
    "maven-compiler-plugin": "3.13.0",
    "maven-surefire-plugin": "3.2.5",
    "maven-jar-plugin": "3.4.1",
    "maven-install-plugin": "3.1.1",
    "maven-deploy-plugin": "3.1.1",
    "maven-dependency-plugin": "3.6.1",
}


@dataclass(frozen=True)
class Dep:
    group_id: str
    artifact_id: str
    version: str
    scope: str = ""

    @property
    def coordinate(self) -> str:
        return f"{self.group_id}:{self.artifact_id}:{self.version}"

    def path(self, extension: str = "jar") -> str:
        """The file's path in a repository (release versions)."""
        g = self.group_id.replace(".", "/")
        return f"{g}/{self.artifact_id}/{self.version}/{self.artifact_id}-{self.version}.{extension}"


#: The public dependencies of ``public_project`` (a couple of libraries and JUnit 5 for its test).
PUBLIC_DEPENDENCIES: tuple[Dep, ...] = (
    Dep("org.apache.commons", "commons-lang3", "3.14.0"),
    Dep("com.google.code.gson", "gson", "2.10.1"),
    Dep("org.junit.jupiter", "junit-jupiter", "5.10.2", "test"),
)


# --- poms and projects -----------------------------------------------------------------------------


def _dependency_xml(dep: Dep) -> str:
    scope = f"<scope>{escape(dep.scope)}</scope>" if dep.scope else ""
    return (
        f"    <dependency><groupId>{escape(dep.group_id)}</groupId><artifactId>{escape(dep.artifact_id)}</artifactId>"
        f"<version>{escape(dep.version)}</version>{scope}</dependency>"
    )


def pom_xml(
    group_id: str,
    artifact_id: str,
    version: str,
    *,
    dependencies: Sequence[Dep] = (),
    repository: str | None = None,
    deploy_to: str | None = None,
) -> str:
    """A jar project's pom: Java 17, every plugin pinned; ``repository`` is declared under SERVER_ID (snapshots on,
    checked on every build) and ``deploy_to`` is the distribution repository for releases and snapshots alike."""
    plugins = "\n".join(
        f"      <plugin><artifactId>{name}</artifactId><version>{version}</version></plugin>"
        for name, version in PLUGINS.items()
    )
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<project xmlns="http://maven.apache.org/POM/4.0.0">',
        "  <modelVersion>4.0.0</modelVersion>",
        f"  <groupId>{escape(group_id)}</groupId>",
        f"  <artifactId>{escape(artifact_id)}</artifactId>",
        f"  <version>{escape(version)}</version>",
        "  <packaging>jar</packaging>",
        f"  <description>{escape(artifact_id)} for the feed's end-to-end tests</description>",
        "  <properties>",
        "    <maven.compiler.release>17</maven.compiler.release>",
        "    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>",
        "  </properties>",
    ]
    if dependencies:
        parts += ["  <dependencies>", *(_dependency_xml(d) for d in dependencies), "  </dependencies>"]
    if repository:
        parts += [
            "  <repositories>",
            f"    <repository><id>{SERVER_ID}</id><url>{escape(repository)}</url>",
            "      <releases><enabled>true</enabled></releases>",
            "      <snapshots><enabled>true</enabled><updatePolicy>always</updatePolicy></snapshots></repository>",
            "  </repositories>",
        ]
    if deploy_to:
        parts += [
            "  <distributionManagement>",
            f"    <repository><id>{SERVER_ID}</id><url>{escape(deploy_to)}</url></repository>",
            f"    <snapshotRepository><id>{SERVER_ID}</id><url>{escape(deploy_to)}</url></snapshotRepository>",
            "  </distributionManagement>",
        ]
    parts += ["  <build><pluginManagement><plugins>", plugins, "  </plugins></pluginManagement></build>", "</project>"]
    return "\n".join(parts) + "\n"


def _java_package(group_id: str, artifact_id: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", f"{group_id}.{artifact_id}".lower().replace("-", ""))


def class_name(artifact_id: str) -> str:
    """The one class a generated library holds: ``greeter-core`` -> ``GreeterCore``."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", artifact_id) if part) or "Lib"


def main_class(group_id: str, artifact_id: str) -> str:
    """The fully qualified name of a generated library's class (it has a ``main`` printing ``message()``)."""
    return f"{_java_package(group_id, artifact_id)}.{class_name(artifact_id)}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def library_project(
    folder: Path,
    group_id: str,
    artifact_id: str,
    version: str,
    *,
    message: str,
    dependencies: Sequence[Dep] = (),
    calls: Sequence[Dep] = (),
    repository: str | None = None,
    deploy_to: str | None = None,
) -> Path:
    """A jar with one class whose ``message()`` returns ``message`` followed by the messages of the libraries in
    ``calls`` (generated libraries it depends on), and a resource ``{artifactId}.txt`` holding ``message``."""
    package = _java_package(group_id, artifact_id)
    imports = "".join(
        f"import {_java_package(d.group_id, d.artifact_id)}.{class_name(d.artifact_id)};\n" for d in calls
    )
    joined = "".join(f' + " < " + {class_name(d.artifact_id)}.message()' for d in calls)
    source = (
        f"package {package};\n\n{imports}\n"
        f"public final class {class_name(artifact_id)} {{\n"
        f"    private {class_name(artifact_id)}() {{}}\n\n"
        f"    public static String message() {{\n        return {json.dumps(message)}{joined};\n    }}\n\n"
        "    public static void main(String[] args) {\n        System.out.println(message());\n    }\n}\n"
    )
    _write(folder / "pom.xml", pom_xml(group_id, artifact_id, version, dependencies=[*calls, *dependencies],
                                       repository=repository, deploy_to=deploy_to))  # fmt: skip
    _write(folder / "src" / "main" / "java" / package.replace(".", "/") / f"{class_name(artifact_id)}.java", source)
    _write(folder / "src" / "main" / "resources" / f"{artifact_id}.txt", message + "\n")
    return folder


def public_project(
    folder: Path, group_id: str = "e2e.app", artifact_id: str = "public-app", version: str = "1.0", **pom: str | None
) -> Path:
    """A small application using the public libraries of PUBLIC_DEPENDENCIES, with a JUnit 5 test (so the build
    runs surefire with its JUnit platform provider)."""
    package = _java_package(group_id, artifact_id)
    main = (
        f"package {package};\n\nimport com.google.gson.Gson;\nimport org.apache.commons.lang3.StringUtils;\n\n"
        "public final class App {\n    private App() {}\n\n"
        "    public static String render(String name) {\n"
        '        return new Gson().toJson(java.util.Map.of("hello", StringUtils.capitalize(name)));\n    }\n}\n'
    )
    test = (
        f"package {package};\n\nimport static org.junit.jupiter.api.Assertions.assertEquals;\n\n"
        "import org.junit.jupiter.api.Test;\n\nclass AppTest {\n    @Test\n    void renders() {\n"
        '        assertEquals("{\\"hello\\":\\"World\\"}", App.render("world"));\n    }\n}\n'
    )
    _write(folder / "pom.xml", pom_xml(group_id, artifact_id, version, dependencies=PUBLIC_DEPENDENCIES, **pom))  # type: ignore[arg-type]
    _write(folder / "src" / "main" / "java" / package.replace(".", "/") / "App.java", main)
    _write(folder / "src" / "test" / "java" / package.replace(".", "/") / "AppTest.java", test)
    return folder


#: Wagon's switch (mvn 3.8) for sending Basic credentials with every request instead of after a 401 challenge.
_PREEMPTIVE = (
    "<configuration><httpConfiguration><all><usePreemptive>true</usePreemptive></all></httpConfiguration>"
    "</configuration>"
)


def settings_xml(
    mirror_url: str | None,
    username: str | None = None,
    password: str | None = None,
    *,
    mirror_of: str = "*",
    mirror_id: str = SERVER_ID,
    preemptive: bool = False,
) -> str:
    """A settings.xml with one mirror (of every repository unless ``mirror_of`` says otherwise) at ``mirror_url``
    and, when a password is given, the <server> SERVER_ID Maven sends it for (Basic; preemptive on PUT, after a 401
    challenge on GET unless ``preemptive``)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<settings xmlns="http://maven.apache.org/SETTINGS/1.2.0">']
    lines.append("  <interactiveMode>false</interactiveMode>")
    if mirror_url:
        lines += [
            "  <mirrors>",
            f"    <mirror><id>{escape(mirror_id)}</id><mirrorOf>{escape(mirror_of)}</mirrorOf>"
            f"<url>{escape(mirror_url)}</url></mirror>",
            "  </mirrors>",
        ]
    if password is not None:
        lines += [
            "  <servers>",
            f"    <server><id>{SERVER_ID}</id><username>{escape(username or 'anything')}</username>"
            f"<password>{escape(password)}</password>{_PREEMPTIVE if preemptive else ''}</server>",
            "  </servers>",
        ]
    lines.append("</settings>")
    return "\n".join(lines) + "\n"


# --- the client ------------------------------------------------------------------------------------


def mvn_executable() -> str:
    """The mvn to run; fails the test (never skips) when it or java is missing."""
    mvn = shutil.which("mvn")
    if mvn is None or shutil.which("java") is None:
        pytest.fail(f"mvn or java is not installed, so the Maven tests cannot run: {INSTALL_HINT}", pytrace=False)
    return mvn


_DROPPED_ENV = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "home", "tmpdir", "maven_opts", "maven_args"}


def mvn_env(home: Path, tmp: Path) -> dict[str, str]:
    """This process's environment without proxies, feed settings or Maven options, with HOME and the temp folder
    moved (mvn reads ``~/.mavenrc`` and ``~/.m2``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEED_") and k.lower() not in _DROPPED_ENV}
    env.update(
        {"HOME": str(home), "TMPDIR": str(tmp), "MAVEN_OPTS": f"-Djava.io.tmpdir={tmp}", "NO_PROXY": "127.0.0.1"}
    )
    return env


@dataclass
class MvnResult:
    argv: list[str]
    returncode: int
    output: str  # stdout and stderr together, in order
    seconds: float

    def __str__(self) -> str:
        return (
            f"{' '.join(self.argv)}\nexit {self.returncode} after {self.seconds:.1f} s\n--- output ---\n{self.output}"
        )

    def errors(self) -> str:
        """The ``[ERROR]`` lines, for assertions on why a build failed."""
        return "\n".join(line for line in self.output.splitlines() if line.startswith("[ERROR]"))


def run_mvn(argv: Sequence[str], *, cwd: Path, env: dict[str, str], timeout: float = MVN_TIMEOUT_SECONDS) -> MvnResult:
    started = time.monotonic()
    try:
        proc = subprocess.run(
            list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return MvnResult(list(argv), -9, out + f"\n(timed out after {timeout:.0f} s)", time.monotonic() - started)
    return MvnResult(list(argv), proc.returncode, proc.stdout, time.monotonic() - started)


@dataclass
class MavenClient:
    """One Maven user on one machine: settings, local repository, HOME and temp folder of its own under ``root``."""

    root: Path
    mirror_url: str | None  # every repository goes here (None: the pom's and Maven's own)
    password: str | None = None  # the token
    username: str = "anything"
    mirror_of: str = "*"  # "*,!feed" with a plugin mirror: the pom's repository SERVER_ID is then reached directly
    mvn: str = field(default_factory=mvn_executable)
    settings: Path = field(init=False)
    local_repo: Path = field(init=False)

    def __post_init__(self) -> None:
        for sub in ("home", "tmp", "repository"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.settings = self.root / "settings.xml"
        mirror_id = SERVER_ID if self.mirror_of == "*" else "mirror"
        text = settings_xml(
            self.mirror_url, self.username, self.password, mirror_of=self.mirror_of, mirror_id=mirror_id
        )
        self.settings.write_text(text)
        (self.root / "global-settings.xml").write_text(settings_xml(None))
        self.local_repo = self.root / "repository"

    def fresh_local_repo(self) -> None:
        """Empty the local repository: the next build fetches everything again."""
        shutil.rmtree(self.local_repo)
        self.local_repo.mkdir()

    def run(self, *args: str, cwd: Path, check: bool = True, timeout: float = MVN_TIMEOUT_SECONDS) -> MvnResult:
        """``mvn -B -ntp -s ours -gs empty -Dmaven.repo.local=ours <args>`` in ``cwd``. With ``check`` a failure
        fails the test with the whole output; a run over ``timeout`` always does."""
        argv = [
            self.mvn, "-B", "-ntp", "-s", str(self.settings), "-gs", str(self.root / "global-settings.xml"),
            f"-Dmaven.repo.local={self.local_repo}", "-Dmaven.wagon.http.retryHandler.count=0",
            "-Dstyle.color=never", *args,
        ]  # fmt: skip
        result = run_mvn(argv, cwd=cwd, env=mvn_env(self.root / "home", self.root / "tmp"), timeout=timeout)
        took = f"exit {result.returncode}, {result.seconds:.1f} s"
        print(f"mvn {' '.join(args)} in {cwd.name} as {self.root.name}: {took}")
        if result.returncode == -9 or (check and result.returncode != 0):
            pytest.fail(f"mvn failed:\n{result}", pytrace=False)
        return result

    def deploy(self, project: Path, *, check: bool = True) -> MvnResult:
        return self.run("deploy", "-DskipTests", cwd=project, check=check)

    def package(self, project: Path, *, check: bool = True) -> MvnResult:
        return self.run("package", cwd=project, check=check)

    def local_file(self, dep: Dep, filename: str) -> Path:
        return self.local_repo / dep.group_id.replace(".", "/") / dep.artifact_id / dep.version / filename

    def java(self, project: Path, main_class: str, *jars: Path) -> str:
        """Runs ``main_class`` from the project's built classes with ``jars`` on the class path; returns stdout."""
        class_path = os.pathsep.join([str(project / "target" / "classes"), *map(str, jars)])
        proc = subprocess.run(
            ["java", "-cp", class_path, main_class], capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, f"java {main_class} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout.strip()


MavenFactory = Callable[..., MavenClient]


@pytest.fixture
def maven(tmp_path: Path) -> MavenFactory:
    """``maven(mirror_url, password=None, name="user", mirror_of="*")`` -> a fresh, isolated Maven client."""
    mvn = mvn_executable()
    counter = iter(range(1000))

    def make(
        mirror_url: str | None, password: str | None = None, name: str = "user", mirror_of: str = "*"
    ) -> MavenClient:
        root = tmp_path / f"mvn-{name}-{next(counter)}"
        return MavenClient(root, mirror_url, password, mirror_of=mirror_of, mvn=mvn)

    return make


def feed_maven_url(base_url: str, org: str, feed: str, view: str | None = None) -> str:
    """The feed's Maven repository URL (what goes into <repositories>, <distributionManagement> and the mirror)."""
    ref = f"{feed}@{view}" if view else feed
    return f"{base_url}/{org}/_packaging/{ref}/maven/v1"


# --- the public registry as mvn's own configuration names it ---------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def central_url(work: Path | None = None) -> str:
    """The URL the default repository ``central`` has in mvn's own configuration (the super POM, or the mirror this
    machine's settings put in front of it), read by asking mvn; it is never written down anywhere."""
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        folder = Path(scratch)
        (folder / "pom.xml").write_text(
            '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
            "<groupId>probe</groupId><artifactId>probe</artifactId><version>1</version><packaging>pom</packaging>"
            "</project>\n"
        )
        env = {k: v for k, v in os.environ.items() if k.lower() not in {"maven_opts", "maven_args"}}
        argv = ["mvn", "-B", "-q", "-ntp", "-Dstyle.color=never", f"-Dmaven.repo.local={SEED_DIR.parent / 'm2-probe'}"]
        settings = run_mvn(
            [*argv, "help:effective-settings", f"-Doutput={folder / 'settings.xml'}"], cwd=folder, env=env
        )
        url = run_mvn([*argv, "help:evaluate", "-Dexpression=project.repositories[0].url", "-DforceStdout"],
                      cwd=folder, env=env)  # fmt: skip
        found = _ANSI.sub("", url.output).strip().splitlines()[-1:] if url.returncode == 0 else []
        if not found or not found[0].startswith(("http://", "https://")):
            raise RuntimeError(f"mvn did not print the central repository's URL (exit {url.returncode})")
        mirror = _mirror_of_central((folder / "settings.xml").read_text()) if settings.returncode == 0 else None
        return (mirror or found[0]).rstrip("/")


def _mirror_of_central(settings: str) -> str | None:
    """The URL of the first unblocked mirror in effective settings that mirrors ``central``."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(settings)  # noqa: S314
    ns = {"s": root.tag.split("}")[0][1:]} if root.tag.startswith("{") else {}
    prefix = "s:" if ns else ""
    for mirror in root.iterfind(f"{prefix}mirrors/{prefix}mirror", ns):
        of = (mirror.findtext(f"{prefix}mirrorOf", "", ns) or "").split(",")
        blocked = (mirror.findtext(f"{prefix}blocked", "false", ns) or "").strip() == "true"
        if not blocked and ({"*", "central", "external:*"} & {o.strip() for o in of}) and "!central" not in of:
            return (mirror.findtext(f"{prefix}url", "", ns) or "").strip() or None
    return None


def guard_allowances(url: str) -> list[str]:
    """The addresses of ``url``'s host that the feed's outbound guard refuses (not globally routable: e.g. a gateway
    in a reserved range), one network each, for FEED_UPSTREAM_ALLOWED_NETWORKS."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    found = {info[4][0] for info in socket.getaddrinfo(parts.hostname or "", port, proto=socket.IPPROTO_TCP)}
    addresses = [ipaddress.ip_address(text.split("%", 1)[0]) for text in sorted(found)]
    return [f"{a}/{a.max_prefixlen}" for a in addresses if not a.is_global]


# --- the seed repository ---------------------------------------------------------------------------


def _seed_projects(folder: Path) -> list[tuple[Path, list[str]]]:
    """The throwaway builds that fetch what every test build needs: a library with no dependencies, one that
    depends on it, the public project with its test, each deployed to a folder (so the deploy and install plugins
    come too), then ``clean``."""
    out = (folder / "deployed").as_uri()
    alt = f"-DaltDeploymentRepository=seed::{out}"
    base = library_project(folder / "base", "seed.demo", "base", "1.0", message="base")
    user = library_project(
        folder / "user", "seed.demo", "user", "1.0-SNAPSHOT", message="user", calls=[Dep("seed.demo", "base", "1.0")]
    )
    app = public_project(folder / "app", "seed.demo", "app")
    return [
        (base, ["clean", "deploy", alt]),
        (user, ["deploy", alt]),
        (app, ["clean", "deploy", alt]),
        (app, ["dependency:go-offline"]),
    ]


def seed_key() -> str:
    """What the seed depends on: the generated projects and goals, and the mvn version."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        parts = [
            f"{p.relative_to(folder)} {' '.join(a.replace(folder.as_uri(), '') for a in goals)}\n"
            + "".join(f.read_text() for f in sorted(p.rglob("*")) if f.is_file())
            for p, goals in _seed_projects(folder)
        ]
    version = subprocess.run(["mvn", "-v"], capture_output=True, text=True, check=False, timeout=60).stdout
    parts.append(_ANSI.sub("", version).splitlines()[0] if version else "")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


#: Files a local repository holds that a remote repository does not.
_LOCAL_ONLY = ("_remote.repositories", "resolver-status.properties", "*.lastUpdated", "maven-metadata-*.xml*")


def build_seed(target: Path = SEED_DIR, *, log: Callable[[str], None] = print) -> Path:
    """Builds the seed repository into ``target`` (replacing it) with mvn through its own configuration, then
    drops the local-repository bookkeeping files and adds a ``.sha1`` beside every file that has none (mvn checked
    each download against the registry's checksum first: ``-C``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="maven-seed-", dir=target.parent))
    try:
        repo = work / "repository"
        env = {k: v for k, v in os.environ.items() if k.lower() not in {"maven_opts", "maven_args"}}
        for project, goals in _seed_projects(work / "projects"):
            argv = ["mvn", "-B", "-ntp", "-C", "-Dstyle.color=never", f"-Dmaven.repo.local={repo}", *goals]
            log(f"  seed: mvn {' '.join(goals[:2])} in {project.name}")
            result = run_mvn(argv, cwd=project, env=env, timeout=600)
            if result.returncode != 0:
                raise RuntimeError(f"building the Maven seed failed:\n{result}")
        shutil.rmtree(repo / "seed", ignore_errors=True)  # the throwaway projects themselves (installed)
        for pattern in _LOCAL_ONLY:
            for path in repo.rglob(pattern):
                path.unlink()
        for path in [p for p in repo.rglob("*") if p.is_file() and p.suffix not in (".sha1", ".md5")]:
            sha1 = path.with_name(path.name + ".sha1")
            if not sha1.exists():
                sha1.write_text(hashlib.sha1(path.read_bytes()).hexdigest() + "\n")  # noqa: S324 - Maven's checksum
        shutil.rmtree(target, ignore_errors=True)
        repo.rename(target)
        (target / SEED_KEY_FILE).write_text(seed_key() + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def seed_repository(target: Path = SEED_DIR) -> Path:
    """The seed repository, built first when it is missing, incomplete or for other projects."""
    marker = target / SEED_KEY_FILE
    if marker.is_file() and marker.read_text().strip() == seed_key():
        return target
    return build_seed(target)


def main(argv: Sequence[str]) -> int:
    if list(argv) != ["seed"]:
        print("usage: python -m tests.maven_client seed", file=sys.stderr)
        return 2
    started = time.monotonic()
    path = seed_repository()
    files = sum(1 for p in path.rglob("*") if p.is_file())
    print(f"Maven seed repository: {path.relative_to(REPO_ROOT)} ({files} files, {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


@pytest.fixture(scope="session")
def maven_seed() -> Path:
    """The seed repository (built by the first test that needs it when scripts/test has not)."""
    mvn_executable()
    return seed_repository()
