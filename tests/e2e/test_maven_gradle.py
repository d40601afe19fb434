"""Gradle resolving from the feed's Maven repository with the real Gradle (Debian's 4.4.1 on Java 17).

The versions are deployed as Gradle's ``maven-publish`` sends them (the files, a ``.module``, four checksum kinds,
then the metadata). Debian's Gradle cannot publish over HTTP itself: its Maven publisher has no transporter
("No transporter factories registered"), a packaging gap of that build, so only its resolution is driven here.
Gradle reads what a feed must get right for it: the 401 challenge before credentials, A-level metadata for a
dynamic version (``1.+``), HEAD and ``.sha1`` requests, and the release it pins.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import httpx

from tests.e2e.conftest import FeedEnv, clean_env

GRADLE = shutil.which("gradle")
GRADLE_TIMEOUT_SECONDS = 300.0
G, A = "e2e.gradle", "greeter"


def _jar(marker: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        z.writestr("greeter.txt", marker)
    return out.getvalue()


def _pom(version: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<project xmlns="http://maven.apache.org/POM/4.0.0">'
        f"<!-- do_not_remove: published-with-gradle-metadata --><modelVersion>4.0.0</modelVersion>"
        f"<groupId>{G}</groupId><artifactId>{A}</artifactId><version>{version}</version></project>"
    ).encode()


def _module(version: str, jar: bytes) -> bytes:
    """A minimal Gradle Module Metadata file naming the jar."""
    file = {"name": f"{A}-{version}.jar", "url": f"{A}-{version}.jar", "size": len(jar)}
    file["sha1"] = hashlib.sha1(jar).hexdigest()  # noqa: S324 - Gradle's own checksum
    variant = {"name": "runtimeElements", "attributes": {"org.gradle.usage": "java-runtime"}, "files": [file]}
    component = {"group": G, "module": A, "version": version}
    return json.dumps({"formatVersion": "1.1", "component": component, "variants": [variant]}).encode()


def _publish(repository: str, token: str, version: str, jar: bytes) -> None:
    """The PUTs Gradle's maven-publish makes for one version (artifacts with their checksums, then metadata)."""
    auth = {"Authorization": "Basic " + base64.b64encode(f"gradle:{token}".encode()).decode()}
    directory = f"{repository}/{G.replace('.', '/')}/{A}/{version}/"
    with httpx.Client(timeout=30) as http:
        for name, data in (
            (f"{A}-{version}.jar", jar),
            (f"{A}-{version}.module", _module(version, jar)),
            (f"{A}-{version}.pom", _pom(version)),
        ):
            r = http.put(directory + name, content=data, headers=auth)
            assert r.status_code in (200, 201), (name, r.status_code, r.text)
            for algorithm in ("md5", "sha1", "sha256", "sha512"):
                digest = hashlib.new(algorithm, data).hexdigest()
                r = http.put(f"{directory}{name}.{algorithm}", content=digest.encode(), headers=auth)
                assert r.status_code in (200, 201), (name, algorithm, r.status_code, r.text)


def _consumer(project: Path, repository: str, token: str, notation: str) -> None:
    project.mkdir(parents=True)
    (project / "settings.gradle").write_text("rootProject.name = 'consumer'\n")
    (project / "build.gradle").write_text(
        "apply plugin: 'java'\n"
        "repositories {\n"
        f"  maven {{ url '{repository}'; credentials {{ username 'anything'; password '{token}' }} }}\n"
        "}\n"
        f"dependencies {{ compile '{notation}' }}\n"
        "task copyDeps(type: Copy) { from configurations.runtime; into 'deps' }\n"
    )


def _gradle(project: Path, home: Path, *tasks: str) -> str:
    assert GRADLE, (
        "gradle is not installed: run ./scripts/test once (it installs Debian's gradle), or apt-get install gradle"
    )
    env = {**clean_env(), "GRADLE_USER_HOME": str(home)}
    done = subprocess.run(
        [GRADLE, "--no-daemon", "--console=plain", "-q", *tasks],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=GRADLE_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"gradle {' '.join(tasks)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def test_gradle_resolves_a_dynamic_version_and_a_pinned_release(feed: FeedEnv, tmp_path: Path) -> None:
    repository = f"{feed.server.base_url}/local/_packaging/{feed.name}/maven/v1"
    first, second = _jar("1.0"), _jar("1.1")
    _publish(repository, feed.alice_token, "1.0", first)
    _publish(repository, feed.alice_token, "1.1", second)

    dynamic = tmp_path / "dynamic"
    _consumer(dynamic, repository, feed.bob_token, f"{G}:{A}:1.+")
    _gradle(dynamic, tmp_path / "gradle-home", "copyDeps")
    assert (dynamic / "deps" / f"{A}-1.1.jar").read_bytes() == second  # the newest by the A-level metadata

    pinned = tmp_path / "pinned"
    _consumer(pinned, repository, feed.bob_token, f"{G}:{A}:1.0")
    _gradle(pinned, tmp_path / "gradle-home-2", "copyDeps")
    assert [p.name for p in (pinned / "deps").iterdir()] == [f"{A}-1.0.jar"]
    assert (pinned / "deps" / f"{A}-1.0.jar").read_bytes() == first
